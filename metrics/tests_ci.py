"""Tests and CI: pass rate per run, latest run on a branch, new failures, flaky and slow tests,
pipeline success rate and duration.

``test_results`` can hold millions of rows, so every count here is a ``GROUP BY`` in SQL that
runs unchanged on SQLite and PostgreSQL; Python only sees one row per run, per test or per
(run, test) of a bounded number of runs.

A test is identified by ``classname`` + ``name`` (shown as ``classname::name``): suites are
a property of how a report was split into files, and the same test moves between them. Queries
compare and group by ``test_key``, the hash of the full class name and name
(:func:`data.text.test_key`): stored names are capped, and two long names alike up to the cap
are still two tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from data.schema import pipeline_runs as pr
from data.schema import test_results as tr
from data.mapping import FAILURE_CONCLUSIONS, NOT_COUNTED_CONCLUSIONS, SUCCESS_CONCLUSIONS
from metrics.history import per_connection
from metrics.registry import MetricValue, kpi

FAILING = ("failed", "error")
# How a run's conclusion counts is data.mapping's table: success; a failure (failure,
# timed_out, startup_failure); not counted — the run stopped or never ran, which says nothing
# about the code (cancelled, skipped, neutral, stale, action_required; Jenkins ABORTED /
# NOT_BUILT map to cancelled/skipped); anything else (``unknown``, or none on a finished run)
# is unknown: neither a failure nor a success, left out and counted.
COUNTED_CONCLUSIONS = SUCCESS_CONCLUSIONS + FAILURE_CONCLUSIONS
DEFAULT_BRANCHES = ("main", "master", "trunk", "develop")
FLIP_WINDOW = 20


def test_id(classname: str | None, name: str) -> str:
    """The display identity of a test: ``classname::name`` (just ``name`` without a class)."""
    return f"{classname}::{name}" if classname else name


test_id.__test__ = False  # not a pytest test, whatever its name says


# --- runs ---------------------------------------------------------------------------------------
_run_time = func.coalesce(pr.c.finished_at, pr.c.started_at, pr.c.created_at)


def _runs_where(*, repos: Iterable[str] = (), projects: Iterable[str] = (),
                pipelines: Iterable[str] = (), branch: str | Iterable[str] | None = None,
                since: datetime | None = None, until: datetime | None = None, t=pr):
    """Conditions selecting finished runs in scope (on ``t``, ``pipeline_runs`` or an alias).
    Empty repos and projects = every run."""
    conds = [t.c.finished_at.is_not(None)]
    repos, projects, pipelines = tuple(repos), tuple(projects), tuple(pipelines)
    if repos or projects:
        conds.append(or_(t.c.repo.in_(repos), t.c.project.in_(projects)))
    if pipelines:
        conds.append(t.c.pipeline.in_(pipelines))
    if isinstance(branch, str):
        conds.append(t.c.branch == branch)
    elif branch is not None:
        conds.append(t.c.branch.in_(tuple(branch)))
    if since is not None:
        conds.append(t.c.finished_at >= since)
    if until is not None:
        conds.append(t.c.finished_at <= until)
    return and_(*conds)


@dataclass
class RunCounts:
    """Outcome counts of one run's test results."""

    run_id: str
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0

    @property
    def executed(self) -> int:
        """Results that ran to an outcome: passed + failed + error (skips excluded)."""
        return self.passed + self.failed + self.error

    @property
    def pass_rate(self) -> float | None:
        """passed / (passed + failed + error), a fraction; None when nothing ran."""
        return self.passed / self.executed if self.executed else None


def run_counts(conn: Connection, run_ids: Iterable[str]) -> dict[str, RunCounts]:
    """Per run: how many results passed, failed, errored and were skipped (one SQL GROUP BY)."""
    ids = list(dict.fromkeys(run_ids))
    out = {rid: RunCounts(rid) for rid in ids}
    if not ids:
        return out
    q = (select(tr.c.run_id, tr.c.status, func.count()).where(tr.c.run_id.in_(ids))
         .group_by(tr.c.run_id, tr.c.status))
    for run_id, status, n in conn.execute(q):
        if status in ("passed", "failed", "error", "skipped"):
            setattr(out[run_id], status, getattr(out[run_id], status) + n)
    return out


def _run_dict(row) -> dict:
    return dict(row._mapping) if row is not None else None


_RUN_COLS = (pr.c.id, pr.c.pipeline, pr.c.repo, pr.c.project, pr.c.branch, pr.c.sha,
             pr.c.conclusion, pr.c.started_at, pr.c.finished_at, pr.c.url)


def latest_run(conn: Connection, *, branch: str | Iterable[str] | None, repos=(), projects=(),
               pipelines=(), as_of: datetime | None = None, with_tests: bool = True) -> dict | None:
    """The most recent finished run (by finish time) on ``branch`` at ``as_of``.

    With ``with_tests`` only runs that recorded test results count: a lint or deploy job on
    the same branch says nothing about the tests.
    """
    q = select(*_RUN_COLS).where(_runs_where(repos=repos, projects=projects, pipelines=pipelines,
                                             branch=branch, until=as_of))
    if with_tests:
        q = q.where(select(tr.c.id).where(tr.c.run_id == pr.c.id).exists())
    return _run_dict(conn.execute(q.order_by(pr.c.finished_at.desc(), pr.c.id.desc())
                                  .limit(1)).first())


def latest_runs_per_pipeline(conn: Connection, *, branch, repos=(), projects=(), pipelines=(),
                             as_of: datetime | None = None) -> list[dict]:
    """The latest finished run with test results of each (repo, pipeline) on ``branch``."""
    shared = per_connection(conn).get(_SHARED_LATEST)
    if shared is None:
        return _latest_runs_per_pipeline(conn, branch=branch, repos=repos, projects=projects,
                                         pipelines=pipelines, as_of=as_of)
    key = (branch if branch is None or isinstance(branch, str) else tuple(branch),
           tuple(repos), tuple(projects), tuple(pipelines), as_of)
    if key not in shared:
        shared[key] = _latest_runs_per_pipeline(conn, branch=branch, repos=repos,
                                                projects=projects, pipelines=pipelines,
                                                as_of=as_of)
    return [dict(r) for r in shared[key]]


def _latest_runs_per_pipeline(conn: Connection, *, branch, repos, projects, pipelines,
                              as_of) -> list[dict]:
    ranked = (select(*_RUN_COLS, func.row_number().over(
        partition_by=(pr.c.repo, pr.c.pipeline),
        order_by=(pr.c.finished_at.desc(), pr.c.id.desc())).label("rn"))
        .where(_runs_where(repos=repos, projects=projects, pipelines=pipelines, branch=branch,
                           until=as_of),
               select(tr.c.id).where(tr.c.run_id == pr.c.id).exists())
        .subquery())
    rows = conn.execute(select(ranked).where(ranked.c.rn == 1).order_by(ranked.c.id))
    return [{k: v for k, v in r._mapping.items() if k != "rn"} for r in rows]


def previous_run(conn: Connection, run: dict, *, with_tests: bool = True) -> dict | None:
    """The run of the same pipeline, repo and branch that finished just before ``run``."""
    conds = [pr.c.pipeline == run["pipeline"], pr.c.finished_at.is_not(None),
             or_(pr.c.finished_at < run["finished_at"],
                 and_(pr.c.finished_at == run["finished_at"], pr.c.id < run["id"]))]
    conds.append(pr.c.branch == run["branch"] if run["branch"] is not None
                 else pr.c.branch.is_(None))
    conds.append(pr.c.repo == run["repo"] if run["repo"] is not None else pr.c.repo.is_(None))
    q = select(*_RUN_COLS).where(*conds)
    if with_tests:
        q = q.where(select(tr.c.id).where(tr.c.run_id == pr.c.id).exists())
    return _run_dict(conn.execute(q.order_by(pr.c.finished_at.desc(), pr.c.id.desc())
                                  .limit(1)).first())


def _outcomes(conn: Connection, run_id: str) -> dict[str, tuple[str, str]]:
    """Per test (``test_key``) of a run: its display id and "failed" when any of its results
    failed or errored (a retried test that failed once still failed in that run), else
    "passed", else "skipped"."""
    failed = func.max(case((tr.c.status.in_(FAILING), 1), else_=0))
    passed = func.max(case((tr.c.status == "passed", 1), else_=0))
    q = (select(tr.c.test_key, func.max(tr.c.classname), func.max(tr.c.name), failed, passed)
         .where(tr.c.run_id == run_id).group_by(tr.c.test_key))
    return {k: (test_id(c, n), "failed" if f else "passed" if p else "skipped")
            for k, c, n, f, p in conn.execute(q)}


def failing_tests(conn: Connection, run_id: str, limit: int = 50) -> list[dict]:
    """Results of ``run_id`` that failed or errored: ``[{"test", "status", "message"}]``."""
    q = (select(tr.c.classname, tr.c.name, tr.c.status, tr.c.message)
         .where(tr.c.run_id == run_id, tr.c.status.in_(FAILING))
         .order_by(tr.c.classname, tr.c.name).limit(limit))
    return [{"test": test_id(c, n), "status": s, "message": (m or "")[:300]}
            for c, n, s, m in conn.execute(q)]


def new_failures(conn: Connection, run: dict) -> tuple[list[dict], dict | None]:
    """Tests failing (failed/error) in ``run`` that were not failing in the previous run of
    the same pipeline and branch — they passed, were skipped, or did not exist then.

    Returns ``(failures, previous_run)``. Without a previous run every failure is new.
    """
    prev = previous_run(conn, run)
    now = _outcomes(conn, run["id"])
    before = _outcomes(conn, prev["id"]) if prev else {}
    out = [{"test": t, "previous": before.get(k, (t, "absent"))[1]}
           for k, (t, o) in sorted(now.items(), key=lambda kv: (kv[1][0], kv[0]))
           if o == "failed" and before.get(k, (t, None))[1] != "failed"]
    return out, prev


# --- flaky tests ----------------------------------------------------------------------------------
@dataclass
class FlakyTest:
    """A flaky test and the rules that flagged it: ``same_sha`` (passed and failed on one
    commit), ``marker`` (the report marked it flaky, e.g. surefire flakyFailure) and ``flips``
    (2+ changes between pass and fail in the last 20 runs of one pipeline and branch)."""

    test: str
    rules: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)


_SHARED_FLAKY = "tests_ci.flaky_tests"  # keys in metrics.history.per_connection
_SHARED_LATEST = "tests_ci.latest_runs_per_pipeline"


def share_flaky_tests(conn: Connection) -> None:
    """From now on, :func:`flaky_tests` and :func:`latest_runs_per_pipeline` on ``conn``
    answer a repeated question (same arguments) from their first answer instead of scanning
    the test results again — the Quality page's KPIs and its lists ask the same ones. Opt-in
    per connection; the answers live as long as the connection, so nothing outlives the
    request."""
    per_connection(conn).setdefault(_SHARED_FLAKY, {})
    per_connection(conn).setdefault(_SHARED_LATEST, {})


def flaky_tests(conn: Connection, *, repos=(), projects=(), pipelines=(),
                branch: str | Iterable[str] | None = None, since: datetime | None = None,
                until: datetime | None = None, window: int = FLIP_WINDOW) -> list[FlakyTest]:
    """Flaky tests among finished runs in scope (``since``..``until``, ``branch`` if given).

    Rules (every one that fires is listed): ``same_sha`` — the test both passed and failed
    (or errored) on one commit, across runs or retries within a run; ``marker`` — a result
    carries the flaky marker; ``flips`` — in the last ``window`` runs of one pipeline, repo and
    branch the test's outcome changed between passed and failed two or more times (skips
    ignored). Sorted by test id.
    """
    shared = per_connection(conn).get(_SHARED_FLAKY)
    if shared is None:
        return _flaky_tests(conn, repos=repos, projects=projects, pipelines=pipelines,
                            branch=branch, since=since, until=until, window=window)
    key = (tuple(repos), tuple(projects), tuple(pipelines),
           branch if branch is None or isinstance(branch, str) else tuple(branch),
           since, until, window)
    if key not in shared:
        shared[key] = _flaky_tests(conn, repos=repos, projects=projects, pipelines=pipelines,
                                   branch=branch, since=since, until=until, window=window)
    return shared[key]


def _flaky_tests(conn: Connection, *, repos, projects, pipelines, branch, since, until,
                 window) -> list[FlakyTest]:
    found: dict[str, FlakyTest] = {}  # by test_key

    def add(key: str, test: str, rule: str, **detail) -> None:
        item = found.setdefault(key, FlakyTest(test))
        if rule not in item.rules:
            item.rules.append(rule)
        item.detail.setdefault(rule, detail)

    scope = dict(repos=repos, projects=projects, pipelines=pipelines, branch=branch,
                 since=since, until=until)
    where = _runs_where(**scope)
    # Only a test with a failing result can be flaky by outcome, and failures are few: start
    # from them and look for a passing result of the same test on the same commit (same run
    # for retries, or another run of that sha). Each lookup walks an index, so the cost follows
    # the failures, not the millions of passing results.
    f, p, fr, r2 = tr.alias("f"), tr.alias("p"), pr.alias("fr"), pr.alias("r2")
    # Compared as test_key || '' so the planner cannot walk the test_key index — every result
    # of that test in every run — and looks the run's passing rows up by (run_id, status)
    # instead: 3.8 s -> 0.13 s for the Quality page's window at demo scale 10 on SQLite.
    same_test = (p.c.test_key + literal("")) == f.c.test_key
    in_run = (select(p.c.id).where(p.c.run_id == f.c.run_id, p.c.status == "passed", same_test)
              .exists())
    in_sha = (select(p.c.id).select_from(p.join(r2, p.c.run_id == r2.c.id))
              .where(r2.c.sha == fr.c.sha, r2.c.id != fr.c.id, _runs_where(**scope, t=r2),
                     p.c.status == "passed", same_test).exists())
    q = (select(func.coalesce(fr.c.sha, fr.c.id), f.c.test_key, f.c.classname, f.c.name)
         .select_from(f.join(fr, f.c.run_id == fr.c.id))
         .where(_runs_where(**scope, t=fr), f.c.status.in_(FAILING), or_(in_run, in_sha)))
    for sha, k, c, n in conn.execute(q):
        add(k, test_id(c, n), "same_sha", sha=sha)

    # No GROUP BY here: grouping by test name would make SQLite walk the whole table in name
    # order instead of only the runs in scope; flaky-marked rows are few.
    q = (select(tr.c.test_key, tr.c.classname, tr.c.name, tr.c.run_id)
         .where(tr.c.run_id.in_(select(pr.c.id).where(where)), tr.c.flaky.is_(True))
         .order_by(tr.c.run_id))
    for k, c, n, run_id in conn.execute(q):
        add(k, test_id(c, n), "marker", run_id=run_id)

    for key, test, flips, runs in _flips(conn, where, window):
        if flips >= 2:
            add(key, test, "flips", flips=flips, runs=runs)
    return [found[k] for k in sorted(found, key=lambda k: (found[k].test, k))]


def _flips(conn: Connection, where, window: int):
    """(test_key, test, flips, runs) per test and pipeline/repo/branch over its last ``window``
    runs."""
    ranked = (select(pr.c.id, pr.c.pipeline, pr.c.repo, pr.c.branch, pr.c.finished_at,
                     func.row_number().over(
                         partition_by=(pr.c.pipeline, pr.c.repo, pr.c.branch),
                         order_by=(pr.c.finished_at.desc(), pr.c.id.desc())).label("rn"))
              .where(where, select(tr.c.id).where(tr.c.run_id == pr.c.id).exists())
              .subquery())
    failed = func.max(case((tr.c.status.in_(FAILING), 1), else_=0))
    passed = func.max(case((tr.c.status == "passed", 1), else_=0))
    q = (select(ranked.c.pipeline, ranked.c.repo, ranked.c.branch, ranked.c.finished_at,
                ranked.c.id, tr.c.test_key, func.max(tr.c.classname), func.max(tr.c.name),
                failed, passed)
         .select_from(tr.join(ranked, tr.c.run_id == ranked.c.id))
         .where(ranked.c.rn <= window)
         .group_by(ranked.c.pipeline, ranked.c.repo, ranked.c.branch, ranked.c.finished_at,
                   ranked.c.id, tr.c.test_key)
         .order_by(ranked.c.finished_at, ranked.c.id))
    state: dict[tuple, list] = {}  # (group, test) -> [last outcome, flips, runs, display]
    for pipe, repo, br, _at, _rid, k, c, n, f, p in conn.execute(q):
        if not f and not p:
            continue  # skipped: no outcome to flip from or to
        outcome = "failed" if f else "passed"
        s = state.setdefault((pipe, repo, br, k), [None, 0, 0, test_id(c, n)])
        if s[0] is not None and s[0] != outcome:
            s[1] += 1
        s[0] = outcome
        s[2] += 1
    for (_p, _r, _b, key), (_last, flips, runs, test) in state.items():
        yield key, test, flips, runs


# --- slow tests, pipelines -------------------------------------------------------------------------
def slowest_tests(conn: Connection, *, repos=(), projects=(), pipelines=(), branch=None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = 10) -> list[dict]:
    """The ``limit`` tests with the longest mean duration (seconds) over finished runs in scope:
    ``[{"test", "mean_s", "max_s", "runs"}]``."""
    where = _runs_where(repos=repos, projects=projects, pipelines=pipelines, branch=branch,
                        since=since, until=until)
    mean = func.avg(tr.c.duration_s)
    # Grouping by an expression rather than the bare indexed test_key keeps SQLite from
    # walking the whole table in index order (2.1M rows: 10.8 s) instead of reading just the
    # runs in scope through the run index (0.4 s).
    key = func.coalesce(tr.c.test_key, "")
    q = (select(func.max(tr.c.classname), func.max(tr.c.name), mean, func.max(tr.c.duration_s),
                func.count(func.distinct(tr.c.run_id)))
         .where(tr.c.run_id.in_(select(pr.c.id).where(where)), tr.c.duration_s.is_not(None),
                tr.c.status != "skipped")
         .group_by(key).order_by(mean.desc(), func.max(tr.c.name), key).limit(limit))
    return [{"test": test_id(c, n), "mean_s": float(m), "max_s": float(mx), "runs": k}
            for c, n, m, mx, k in conn.execute(q)]


@dataclass
class PipelineStats:
    """Finished pipeline runs in a window: success / counted runs, durations in minutes."""

    success: int
    counted: int  # finished runs that succeeded or failed
    excluded: int  # cancelled/skipped/neutral/stale/action_required runs, left out
    rate: float | None
    p50_minutes: float | None
    p85_minutes: float | None
    failed_runs: list[dict]
    unknown: int = 0  # finished runs with an unknown (or no) conclusion, left out

    def left_out(self) -> str:
        """What the rate leaves out, for a basis line."""
        return (f"{self.excluded} cancelled/skipped/not run and {self.unknown} with an unknown "
                "outcome left out")


def _quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolation quantile (numpy's default), None for no values."""
    if not values:
        return None
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def pipeline_stats(conn: Connection, *, repos=(), projects=(), pipelines=(), branch=None,
                   since: datetime | None = None, until: datetime | None = None) -> PipelineStats:
    """Pipeline success rate = runs concluding ``success`` / runs that succeeded or failed
    (failure, timed_out, startup_failure). Runs that stopped or never ran (cancelled, skipped,
    neutral, stale, action_required) say nothing about the code and are left out, as are runs
    with an unknown or no conclusion (counted in ``unknown``); None when no run counts.
    Durations (minutes) over the counted runs."""
    where = _runs_where(repos=repos, projects=projects, pipelines=pipelines, branch=branch,
                        since=since, until=until)
    concl = func.lower(func.coalesce(pr.c.conclusion, literal("")))
    q = select(concl, func.count()).where(where).group_by(concl)
    success = counted = excluded = unknown = 0
    for c, n in conn.execute(q):
        if c in NOT_COUNTED_CONCLUSIONS:
            excluded += n
        elif c in COUNTED_CONCLUSIONS:
            counted += n
            success += n if c in SUCCESS_CONCLUSIONS else 0
        else:
            unknown += n
    durations = [d / 60 for (d,) in conn.execute(
        select(pr.c.duration_s).where(where, pr.c.duration_s.is_not(None),
                                      concl.in_(COUNTED_CONCLUSIONS)))]
    failed = conn.execute(
        select(pr.c.id, pr.c.pipeline, pr.c.branch, pr.c.conclusion, pr.c.url, pr.c.finished_at)
        .where(where, concl.in_(FAILURE_CONCLUSIONS))
        .order_by(pr.c.finished_at.desc()).limit(20)).mappings().all()
    return PipelineStats(success, counted, excluded, success / counted if counted else None,
                         _quantile(durations, 0.5), _quantile(durations, 0.85),
                         [dict(r) for r in failed], unknown=unknown)


# --- KPIs -------------------------------------------------------------------------------------------
def _scope_filters(scope) -> dict:
    # The functions read "no repos and no projects" as every run; a KPI scope naming neither
    # must match nothing, so an impossible project stands in.
    if not scope.repos and not scope.projects:
        return {"repos": (), "projects": ("\x00none",)}
    return {"repos": scope.repos, "projects": scope.projects}


@kpi("test_pass_rate")
def test_pass_rate_kpi(conn: Connection, scope) -> MetricValue:
    """passed / (passed + failed + error) over the latest run with test results of each
    pipeline on the default branch (main/master/trunk/develop) at the window's end."""
    runs = latest_runs_per_pipeline(conn, branch=DEFAULT_BRANCHES, as_of=scope.until,
                                    **_scope_filters(scope))
    counts = run_counts(conn, [r["id"] for r in runs])
    passed = sum(c.passed for c in counts.values())
    executed = sum(c.executed for c in counts.values())
    evidence = [{"label": f"{r['pipeline']} on {r['branch']}", "url": r["url"],
                 "detail": f"{counts[r['id']].passed}/{counts[r['id']].executed} passed"}
                for r in runs]
    return MetricValue(passed / executed if executed else None, "fraction", n=executed,
                       basis=f"from {executed} test results in {len(runs)} latest runs",
                       evidence=evidence)


test_pass_rate_kpi.__test__ = False


@kpi("flaky_tests")
def flaky_tests_kpi(conn: Connection, scope) -> MetricValue:
    """Number of flaky tests among runs finished in the window (rules in :func:`flaky_tests`)."""
    flaky = flaky_tests(conn, since=scope.since, until=scope.until, **_scope_filters(scope))
    runs = conn.execute(select(func.count()).select_from(pr).where(
        _runs_where(since=scope.since, until=scope.until, **_scope_filters(scope)))).scalar()
    if not runs:
        return MetricValue(None, "count", basis="no pipeline runs in the window")
    return MetricValue(float(len(flaky)), "count", n=runs,
                       basis=f"from {runs} runs in the window",
                       evidence=[{"label": f.test, "url": None, "detail": ", ".join(f.rules)}
                                 for f in flaky])


@kpi("pipeline_success_rate")
def pipeline_success_rate_kpi(conn: Connection, scope) -> MetricValue:
    """Runs concluding success / runs that succeeded or failed in the window; the runs left
    out (stopped, never run, unknown outcome) are counted in the basis."""
    s = pipeline_stats(conn, since=scope.since, until=scope.until, **_scope_filters(scope))
    return MetricValue(s.rate, "fraction", n=s.counted,
                       basis=f"from {s.counted} finished runs ({s.left_out()})",
                       evidence=[{"label": f"{r['pipeline']} on {r['branch']}: {r['conclusion']}",
                                  "url": r["url"], "detail": r["id"]} for r in s.failed_runs],
                       detail={"p50_minutes": s.p50_minutes, "p85_minutes": s.p85_minutes,
                               "not_counted": s.excluded, "unknown": s.unknown})


__all__ = ["RunCounts", "run_counts", "latest_run", "latest_runs_per_pipeline", "previous_run",
           "new_failures", "failing_tests", "FlakyTest", "flaky_tests", "slowest_tests",
           "PipelineStats", "pipeline_stats", "test_id"]
