"""Readiness of a release: measure every gate, apply waivers, give the verdict and the score.

:func:`evaluate_release` reads only data that existed at ``as_of`` (default now): work item
status rebuilt from history, runs and deployments finished by then, incidents opened by then
(resolved later counts as unresolved), waivers created by then and not expired.

What each measure reads (the metric catalogue, metrics/registry.py, has the definitions):
- bugs and scope: the release's items at ``as_of`` (metrics.membership: today's
  ``release_items`` with later Fix Version / milestone changes undone) through
  metrics.quality and metrics.history;
- tests and CI: runs on the release branch (``release_branch`` of the project in
  readiness.toml, default ``release/{name}``) of the project's repos and pipelines;
- deployments: the project's services (else its repos); change failure rate over the 30 days
  before ``as_of``;
- bug trend: the project's bugs over the last 3 weeks; forecast: metrics.forecast;
- data age: the last successful sync before ``as_of`` of each source the release's rows
  come from (data/freshness.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Connection, func, select

from data.domain import scope_kinds
from data.mapping import DEPLOY_NOT_DEPLOYED, DEPLOY_UNFINISHED, natural_key
from data.schema import deployments as dep
from data.schema import pipeline_runs, release_items, releases
from data.schema import work_item_changes as wic
from data.schema import work_items as wi
from data.store import in_values
from metrics import dora, tests_ci
from metrics import gates as G
from metrics.membership import release_members
from metrics.waivers import active_waivers

CI_WINDOW = timedelta(days=30)
TREND_WINDOW = timedelta(days=28)


class ReleaseNotFound(LookupError):
    """The release id does not exist."""


@dataclass
class Measured:
    """A measure's value (None = no data) with the evidence behind it."""

    value: float | None
    evidence: list[dict] = field(default_factory=list)
    basis: str = ""
    detail: dict = field(default_factory=dict)


@dataclass
class GateResult:
    gate: G.Gate
    status: str
    value: float | None
    evidence: list[dict]
    basis: str = ""
    detail: dict = field(default_factory=dict)
    waiver: dict | None = None

    def to_dict(self) -> dict:
        """The contract keys first (id, label, status, value, threshold, blocking, evidence)."""
        w = self.waiver
        return {"id": self.gate.id, "label": self.gate.label, "status": self.status,
                "value": self.value, "threshold": self.gate.threshold,
                "blocking": self.gate.blocking, "evidence": self.evidence,
                "metric": self.gate.metric, "unit": self.gate.unit,
                "comparator": self.gate.comparator, "warn": self.gate.warn,
                "weight": self.gate.weight, "definition": self.gate.definition,
                "basis": self.basis,
                "waiver": None if w is None else {
                    "reason": w["reason"], "by": w["waived_by"],
                    "expires_at": w["expires_at"].isoformat() if w["expires_at"] else None}}


@dataclass
class Evaluation:
    release_id: str
    release: str
    project: str
    target_date: datetime | None
    released_at: datetime | None
    as_of: datetime
    evaluated_at: datetime
    verdict: str
    score: float
    gates: list[GateResult]
    context: dict = field(default_factory=dict)

    def reasons(self) -> list[GateResult]:
        """Gates that keep the release from GO: FAIL, WARN and blocking NO_DATA."""
        return [g for g in self.gates if g.status in (G.FAIL, G.WARN)
                or (g.status == G.NO_DATA and g.gate.blocking)]

    def to_dict(self) -> dict:
        """The ``--format json`` object (docs/cli.md): contract keys first, then extras."""
        return {"release": self.release, "project": self.project, "verdict": self.verdict,
                "score": self.score, "evaluated_at": self.evaluated_at.isoformat(),
                "gates": [g.to_dict() for g in self.gates],
                "release_id": self.release_id, "as_of": self.as_of.isoformat(),
                "target_date": self.target_date.isoformat() if self.target_date else None,
                "released_at": self.released_at.isoformat() if self.released_at else None,
                "data_age": self.context.get("data_age", []), "context": self.context}


@dataclass
class Context:
    """What the measures of one release need, with a cache for shared lookups."""

    conn: Connection
    settings: object
    release: dict
    as_of: datetime
    repos: tuple[str, ...]
    services: tuple[str, ...]
    pipelines: tuple[str, ...]
    branch: str
    timezone: str
    cache: dict = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.release["project"]

    def item_ids(self) -> list[str]:
        """The release's items at ``as_of``."""
        if "items" not in self.cache:
            self.cache["items"] = release_members(self.conn, self.release["id"], self.as_of)
        return self.cache["items"]

    def data_ages(self) -> list:
        """Freshness at ``as_of`` (data/freshness.py) of every source the release's data comes
        from: the release itself, its items, the CI runs of its repos and pipelines, the
        deployments of its services and repos."""
        if "ages" not in self.cache:
            from data.freshness import max_age_hours, source_ages

            rel_id = self.release["id"]
            found = {self.release["source"]}
            found |= set(self.conn.execute(select(release_items.c.source).where(
                release_items.c.release_id == rel_id).distinct()).scalars())
            if self.repos or self.pipelines:
                found |= set(self.conn.execute(select(pipeline_runs.c.source).where(
                    pipeline_runs.c.repo.in_(self.repos)
                    | pipeline_runs.c.pipeline.in_(self.pipelines)).distinct()).scalars())
            if self.services or self.repos:
                found |= set(self.conn.execute(select(dep.c.source).where(
                    dep.c.service.in_(self.services) | dep.c.repo.in_(self.repos))
                    .distinct()).scalars())
            self.cache["ages"] = source_ages(self.conn, self.as_of, sorted(found),
                                             limit_hours=max_age_hours(self.settings))
        return self.cache["ages"]

    def latest_run(self) -> dict | None:
        if "run" not in self.cache:
            self.cache["run"] = tests_ci.latest_run(
                self.conn, branch=self.branch, repos=self.repos, projects=(self.project,),
                pipelines=self.pipelines, as_of=self.as_of)
        return self.cache["run"]


def _item_evidence(b: dict, detail: str = "") -> dict:
    return {"label": b["key"], "url": b.get("url"), "detail": detail or (b.get("title") or "")}


# --- measures -----------------------------------------------------------------------------------
def _open_bugs(severity: str) -> Callable[[Context], Measured]:
    def measure(ctx: Context) -> Measured:
        if not ctx.item_ids():
            return Measured(None, basis="the release has no items")
        if "bugs" not in ctx.cache:  # one history walk serves both severities
            from metrics.quality import open_bugs

            ctx.cache["bugs"] = open_bugs(ctx.conn, ctx.item_ids(), ctx.as_of,
                                          settings=ctx.settings,
                                          severities=["critical", "high"])
        bugs = [b for b in ctx.cache["bugs"] if b["severity"] == severity]
        return Measured(float(len(bugs)),
                        [_item_evidence(b, f"{b['severity']}: {b.get('title') or ''}")
                         for b in bugs],
                        basis=f"open {severity} bugs: {len(bugs)} among "
                              f"{len(ctx.item_ids())} release items")
    return measure


def _scope_done(ctx: Context) -> Measured:
    """Items changed after ``as_of`` have their status rebuilt from history; for the others
    (nearly all, when evaluating the present) today's row is what they were then: done when
    their category is done and they were resolved by ``as_of``."""
    members = ctx.item_ids()
    changed_later = (select(wic.c.id).where(wic.c.item_id == wi.c.id, wic.c.at > ctx.as_of)
                     .exists())
    cols = (wi.c.id, wi.c.key, wi.c.title, wi.c.url, wi.c.status_category, wi.c.resolved_at)
    base = [in_values(wi.c.id, members), wi.c.type != "epic", wi.c.created_at <= ctx.as_of]
    done, open_ = 0, []
    for r in ctx.conn.execute(select(*cols).where(*base, ~changed_later)).mappings():
        if r["status_category"] == "done" and (r["resolved_at"] is None
                                               or r["resolved_at"] <= ctx.as_of):
            done += 1
        else:
            open_.append(dict(r))
    later = [r[0] for r in ctx.conn.execute(select(wi.c.id).where(*base, changed_later))]
    if later:
        from metrics.history import load_histories

        for i in range(0, len(later), 500):
            for h in load_histories(ctx.conn, later[i:i + 500],
                                    fields={"status_category"}).values():
                if h.category_or_resolved(ctx.as_of) == "done":
                    done += 1
                else:
                    open_.append(h.row)
    total = done + len(open_)
    if not total:
        return Measured(None, basis="the release has no items" if not ctx.item_ids()
                        else "no release items existed then")
    open_.sort(key=lambda r: r["key"])
    return Measured(done / total, [_item_evidence(r, f"not done: {r.get('title') or ''}")
                                   for r in open_[:50]],
                    basis=f"{done} of {total} items done", detail={"not_done": len(open_)})


def _run_label(run: dict) -> dict:
    when = run["finished_at"].strftime("%Y-%m-%d %H:%M")
    return {"label": f"run {run['id']}", "url": run.get("url"),
            "detail": f"{run['pipeline']} on {run['branch']} ({run.get('sha') or 'no sha'}), "
                      f"finished {when}"}


def _test_pass_rate(ctx: Context) -> Measured:
    run = ctx.latest_run()
    if run is None:
        return Measured(None, basis=f"no test results on {ctx.branch}")
    c = tests_ci.run_counts(ctx.conn, [run["id"]])[run["id"]]
    failing = tests_ci.failing_tests(ctx.conn, run["id"], limit=30)
    evidence = [{"label": f["test"], "url": run.get("url"),
                 "detail": f"{f['status']}: {f['message']}"} for f in failing]
    return Measured(c.pass_rate, [_run_label(run)] + evidence,
                    basis=f"{c.passed} of {c.executed} passed ({c.skipped} skipped) in the "
                          f"latest run on {ctx.branch}")


def _new_failures(ctx: Context) -> Measured:
    run = ctx.latest_run()
    if run is None:
        return Measured(None, basis=f"no test results on {ctx.branch}")
    new, prev = tests_ci.new_failures(ctx.conn, run)
    against = f"run {prev['id']}" if prev else "no previous run"
    return Measured(float(len(new)),
                    [{"label": f["test"], "url": run.get("url"),
                      "detail": f"failing now; {f['previous']} in {against}"} for f in new],
                    basis=f"latest run {run['id']} against {against}")


def _flaky(ctx: Context) -> Measured:
    if ctx.latest_run() is None:
        return Measured(None, basis=f"no test results on {ctx.branch}")
    flaky = tests_ci.flaky_tests(ctx.conn, branch=ctx.branch, repos=ctx.repos,
                                 projects=(ctx.project,), pipelines=ctx.pipelines,
                                 until=ctx.as_of)
    names = {"same_sha": "passed and failed on one commit", "marker": "marked flaky",
             "flips": "2+ flips in the last 20 runs"}
    return Measured(float(len(flaky)),
                    [{"label": f.test, "url": None,
                      "detail": "; ".join(names[r] for r in f.rules)} for f in flaky],
                    basis=f"runs on {ctx.branch}")


def _ci_success(ctx: Context) -> Measured:
    s = tests_ci.pipeline_stats(ctx.conn, branch=ctx.branch, repos=ctx.repos,
                                projects=(ctx.project,), pipelines=ctx.pipelines,
                                since=ctx.as_of - CI_WINDOW, until=ctx.as_of)
    return Measured(s.rate, [{"label": f"run {r['id']}", "url": r["url"],
                              "detail": f"{r['pipeline']}: {r['conclusion']}"}
                             for r in s.failed_runs],
                    basis=f"{s.success} of {s.counted} runs on {ctx.branch} in 30 days "
                          f"succeeded ({s.left_out()})",
                    detail={"not_counted": s.excluded, "unknown": s.unknown})


def _staging(ctx: Context) -> Measured:
    """Each service's latest finished (succeeded or failed) staging deployment by ``as_of``;
    at the same moment the source's higher number is the later one. Deployments that never
    went out or whose outcome is unknown are skipped over, and the unknown ones counted."""
    when = func.coalesce(dep.c.finished_at, dep.c.started_at, dep.c.created_at)
    keys = [("service", s) for s in ctx.services] or [("repo", r) for r in ctx.repos]
    healthy, seen, unknown, evidence = 0, 0, 0, []
    for col, key in keys:
        base = (dep.c.environment == "staging", dep.c[col] == key, when <= ctx.as_of)
        finished = base + (dep.c.status.in_(dora.FINISHED_STATUSES),)
        latest = select(func.max(when)).where(*finished).scalar_subquery()
        rows = ctx.conn.execute(
            select(dep.c.id, dep.c.status, dep.c.url, dep.c.ref, when.label("at"))
            .where(*finished, when == latest)).mappings().all()
        unknown += ctx.conn.execute(select(func.count()).where(
            *base, dep.c.status.not_in(dora.FINISHED_STATUSES + DEPLOY_NOT_DEPLOYED
                                       + DEPLOY_UNFINISHED))).scalar()
        if not rows:
            continue
        row = max(rows, key=lambda r: natural_key(r["id"]))
        seen += 1
        healthy += row["status"] == "success"
        evidence.append({"label": row["id"], "url": row["url"],
                         "detail": f"{key}: latest staging deployment {row['status']} "
                                   f"{row['at']:%Y-%m-%d %H:%M}"})
    left_out = f"{unknown} with an unknown outcome left out"
    if not seen:
        return Measured(None, basis=f"no finished staging deployment of the release's services "
                                    f"({left_out})", detail={"unknown": unknown})
    evidence.sort(key=lambda e: "success" in e["detail"])  # the red ones first
    return Measured(healthy / seen, evidence,
                    basis=f"{healthy} of {seen} services' latest staging deployment succeeded "
                          f"({left_out})", detail={"unknown": unknown})


def _cfr(ctx: Context) -> Measured:
    if not ctx.services and not ctx.repos:
        return Measured(None, basis="the project names no services or repos")
    v = dora.change_failure_rate(ctx.conn, services=ctx.services, repos=ctx.repos,
                                 since=ctx.as_of - CI_WINDOW, until=ctx.as_of)
    return Measured(v.value, v.evidence, basis=v.basis + " in the last 30 days",
                    detail={k: v.detail[k] for k in ("not_deployed", "unknown")})


def _bug_trend(ctx: Context) -> Measured:
    from metrics.quality import bug_flow_weekly, bug_trend_converging

    flow = bug_flow_weekly(ctx.conn, [ctx.project], ctx.as_of - TREND_WINDOW, ctx.as_of,
                           tz=ctx.timezone)
    converging = bug_trend_converging(flow, weeks=3)
    tail = flow.tail(3)
    inflow, outflow = int(tail["inflow"].sum()), int(tail["outflow"].sum())
    basis = f"last 3 weeks: {inflow} bugs in, {outflow} out"
    if converging is None:
        return Measured(None, basis=basis)
    evidence = [{"label": f"week of {w:%Y-%m-%d}", "url": None,
                 "detail": f"{i} in, {o} out"}
                for w, i, o in zip(tail["week"], tail["inflow"], tail["outflow"])]
    return Measured(1.0 if converging else 0.0, evidence, basis=basis)


def _forecast(ctx: Context) -> Measured:
    from metrics.forecast import forecast_release
    if not ctx.item_ids():  # nothing to forecast is no data, not "nothing left to do"
        return Measured(None, basis="the release has no items")
    fc = forecast_release(ctx.conn, ctx.release["id"], as_of=ctx.as_of, settings=ctx.settings)
    if fc.target_date is None:
        return Measured(None, basis="the release has no target date")
    detail = {"p50": fc.p50, "p85": fc.p85, "p95": fc.p95, "target": fc.target_date,
              "remaining": fc.remaining,
              "distribution": (fc.samples or {}).get("distribution", [])}
    evidence = [{"label": "forecast", "url": None,
                 "detail": f"P50 {fc.p50 or '—'}, P85 {fc.p85 or '—'}, P95 {fc.p95 or '—'}; "
                           f"target {fc.target_date}; {fc.remaining} items left"}]
    return Measured(fc.probability_on_time, evidence, basis=fc.basis, detail=detail)


def _data_age(ctx: Context) -> Measured:
    from data.freshness import format_age

    ages = ctx.data_ages()
    evidence = [{"label": a.source, "url": None, "detail": (
        f"{format_age(a.age_hours)} old (last successful sync "
        f"{a.last_success:%Y-%m-%d %H:%M} UTC)" if a.last_success
        else "no successful sync before this moment")} for a in ages]
    detail = {"sources": [a.to_dict() for a in ages]}
    if not ages or any(a.age_hours is None for a in ages):
        return Measured(None, evidence, basis="a source of the release's data has no "
                        "successful sync before this moment", detail=detail)
    oldest = max(ages, key=lambda a: a.age_hours)
    return Measured(round(oldest.age_hours, 2), evidence,
                    basis=f"oldest: {oldest.source}, {format_age(oldest.age_hours)}",
                    detail=detail)


MEASURES: dict[str, Callable[[Context], Measured]] = {
    "open_bugs_critical": _open_bugs("critical"),
    "open_bugs_high": _open_bugs("high"),
    "scope_done": _scope_done,
    "test_pass_rate": _test_pass_rate,
    "new_failures": _new_failures,
    "flaky_tests": _flaky,
    "pipeline_success_rate": _ci_success,
    "staging_deploy_healthy": _staging,
    "change_failure_rate": _cfr,
    "bug_trend_converging": _bug_trend,
    "forecast_on_time": _forecast,
    "data_age_hours": _data_age,
}
assert set(MEASURES) == set(G.GATE_METRICS), "every gate metric needs a measure"


# --- evaluation -----------------------------------------------------------------------------------
def release_context(conn: Connection, settings, release_id: str, as_of: datetime) -> Context:
    """The release row plus its repos, services, pipelines and branch from settings."""
    rel = conn.execute(select(releases).where(releases.c.id == release_id)).mappings().first()
    if rel is None:
        raise ReleaseNotFound(f"unknown release id '{release_id}'")
    rel = dict(rel)
    proj = settings.projects.get(rel["project"])
    if proj is not None:
        repos, services = tuple(proj.repos), tuple(proj.services)
        pipelines, pattern = tuple(proj.pipelines), proj.release_branch
    else:  # a GitHub project is its repository
        repos = ((rel["project"],)
                 if scope_kinds(conn, [rel["project"]]).get(rel["project"]) == "repository"
                 else ())
        services, pipelines, pattern = (), (), "release/{name}"
    team = settings.team_for_project(rel["project"])
    return Context(conn, settings, rel, as_of, repos, services, pipelines,
                   pattern.format(name=rel["name"]), team.timezone if team else "UTC")


def evaluate_release(conn: Connection, settings, release_id: str, *,
                     as_of: datetime | None = None, now: datetime | None = None,
                     gates: list[G.Gate] | None = None) -> Evaluation:
    """Evaluate every gate of ``release_id`` with the data that existed at ``as_of``.

    ``gates`` defaults to the catalogue with this release's overrides from settings (a bad
    override raises ConfigError). Returns an :class:`Evaluation`; storing it is the caller's
    choice (:func:`metrics.snapshots.save_snapshot`).
    """
    now = now or datetime.now(timezone.utc)
    as_of = as_of or now
    ctx = release_context(conn, settings, release_id, as_of)
    if gates is None:
        gates = G.gates_for(settings, ctx.project, ctx.release["name"])
    waivers = active_waivers(conn, release_id, as_of)
    results = []
    for gate in gates:
        m = MEASURES[gate.metric](ctx)
        waiver = waivers.get(gate.id)
        results.append(GateResult(gate, G.gate_status(gate, m.value, waived=waiver is not None),
                                  m.value, m.evidence, m.basis, m.detail, waiver))
    verdict = G.verdict((r.status, r.gate.blocking) for r in results)
    score = round(G.score((r.status, r.gate.weight) for r in results), 1)
    return Evaluation(release_id=release_id, release=ctx.release["name"], project=ctx.project,
                      target_date=ctx.release["target_date"],
                      released_at=ctx.release["released_at"], as_of=as_of, evaluated_at=now,
                      verdict=verdict, score=score, gates=results,
                      context={"branch": ctx.branch, "repos": list(ctx.repos),
                               "services": list(ctx.services),
                               "pipelines": list(ctx.pipelines),
                               "data_age": [a.to_dict() for a in ctx.data_ages()]})
