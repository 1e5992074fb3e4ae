"""Cached reads of the metrics layer, shared by the pages.

Every number a page shows comes from a metrics function called through here. The cache key is
the database URL, the configuration file's identity (path and mtime, so an edited
readiness.toml shows at once), the data version the render reads (data/version.py: every
write by any process advances it) and the plain arguments; each read runs in one
transaction (:func:`reading`); values are pickled copies, so pages can
never mutate a cached result. Pages that change data (waive, sync, reload demo) call
:func:`ui.db.clear_caches`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import streamlit as st

from metrics.views import DORA_IDS, QUALITY_IDS, VELOCITY_SPRINTS
from ui import db
from ui.filters import Filters

__all__ = ["DORA_IDS", "QUALITY_IDS", "VELOCITY_SPRINTS"]  # the pages' KPI sets, re-exported

T = TypeVar("T")
TTL = 300  # seconds; a write by any process advances the data version in every key


@dataclass(frozen=True)
class ScopeKey:
    """The filters as plain, hashable values (names, not ids) for resolve_scope."""

    team: str | None = None
    project: str | None = None
    sprint: str | None = None
    release: str | None = None
    since: date | None = None
    until: date | None = None

    def kwargs(self) -> dict:
        return {"team": self.team, "project": self.project, "sprint": self.sprint,
                "release": self.release, "since": self.since, "until": self.until}


def key_for(f: Filters, *, sprint: str | None = None, release: str | None = None,
            window: bool = True) -> ScopeKey:
    """The ScopeKey of the current filters (sprint/release by name, when the page uses them)."""
    return ScopeKey(team=f.team, project=f.project, sprint=sprint, release=release,
                    since=f.since if window else None, until=f.until if window else None)


def config_token() -> str:
    """Identity of the configuration in force: its path and modification time."""
    import os

    path = Path(os.environ.get("READINESS_CONFIG") or "readiness.toml")
    try:
        return f"{path.resolve()}:{path.stat().st_mtime_ns}"
    except OSError:
        return "demo"


def _name(fn: Callable) -> str:
    """The cache key of ``fn``: its module and qualified name (the function object itself is
    not hashed: parameters starting with ``_`` are left out of st.cache_data's key)."""
    return f"{fn.__module__}.{fn.__qualname__}"


def data_token() -> str:
    """Every cache key's data part: the configuration's identity and the data version this
    render reads (pinned once per run by ui.freshness): a write by any process — a sync by
    the scheduler, cron or another app process, a waiver — advances the version, so the next
    render misses the cache instead of showing up to TTL seconds of old numbers."""
    from ui.freshness import pinned_version

    return f"{config_token()}|v{pinned_version()}"


@contextmanager
def reading(url: str):
    """A connection whose reads all see one state of the database (one transaction): a
    snapshot on SQLite (WAL; an explicit BEGIN, since pysqlite would run each SELECT on its
    own) and REPEATABLE READ on PostgreSQL. Yields ``(conn, version)``: the data version in
    that same snapshot, so a result can be checked against the version the render pinned."""
    from data.store import read_snapshot
    from data.version import current

    with read_snapshot(db.engine_for(url)) as conn:
        yield conn, current(conn)


def _checked(result: tuple[int, T]) -> T:
    """The value of a ``(version, value)`` read. When the data moved on since this render
    pinned its version (a sync committed mid-render), render again at the new version —
    at most twice in a row — so a page never shows half its numbers from before a sync and
    half from after."""
    from ui.freshness import PINNED

    version, value = result
    pinned = st.session_state.get(PINNED)
    if pinned is not None and version != pinned:
        tries = st.session_state.get("_version_reruns", 0)
        if tries < 2:
            st.session_state["_version_reruns"] = tries + 1
            st.rerun()
    else:
        st.session_state["_version_reruns"] = 0
    return value


@st.cache_data(ttl=TTL, show_spinner=False)
def _call(url: str, token: str, name: str, _fn: Callable, args: tuple, kwargs: tuple):
    with reading(url) as (conn, version):
        return version, _fn(conn, *args, **dict(kwargs))


def call(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(conn, *args, **kwargs)`` on the app's database, cached."""
    return _checked(_call(db.database_url(), data_token(), _name(fn), fn, args,
                          tuple(sorted(kwargs.items()))))


@st.cache_data(ttl=TTL, show_spinner=False)
def _scope(url: str, token: str, key: ScopeKey):
    from metrics.scope import resolve_scope

    with reading(url) as (conn, version):
        return version, resolve_scope(conn, db.settings(), **key.kwargs())


def scope(key: ScopeKey):
    """The resolved Scope; raises metrics.scope.ScopeError (one line) for unknown names."""
    return _checked(_scope(db.database_url(), data_token(), key))


@st.cache_data(ttl=TTL, show_spinner=False)
def _scoped(url: str, token: str, name: str, _fn: Callable, key: ScopeKey, kwargs: tuple):
    from metrics.scope import resolve_scope

    with reading(url) as (conn, version):
        sc = resolve_scope(conn, db.settings(), **key.kwargs())
        return version, _fn(conn, sc, **dict(kwargs))


def scoped(fn: Callable[..., T], key: ScopeKey, **kwargs) -> T:
    """``fn(conn, scope, **kwargs)`` for the resolved scope, cached."""
    return _checked(_scoped(db.database_url(), data_token(), _name(fn), fn, key,
                            tuple(sorted(kwargs.items()))))


@st.cache_data(ttl=TTL, show_spinner=False)
def _derived(url: str, token: str, view: str, key: ScopeKey, options: tuple):
    from metrics import derived

    cfg = db.settings()
    request = derived.Request(view, derived.scope_args(**key.kwargs()), dict(options))
    with reading(url) as (conn, version):
        value = derived.lookup(conn, cfg, request, version=version)
        if value is not derived.MISSING:
            return version, value
        value = derived.compute(conn, cfg, request)
    # Computed on a miss: stored for the next cold render (at most a short lock wait).
    derived.remember(db.engine_for(url), cfg, request, value, version=version)
    return version, value


def derived_view(view: str, key: ScopeKey, **options):
    """A page view of metrics/views.py (by its name in metrics.derived.VIEWS) for the
    filters in ``key``: the stored one when it was derived for this data version,
    configuration and code (metrics/derived.py), else computed now and stored. Cached."""
    return _checked(_derived(db.database_url(), data_token(), view, key,
                             tuple(sorted(options.items()))))


@st.cache_data(ttl=TTL, show_spinner=False)
def _kpis(url: str, token: str, ids: tuple, key: ScopeKey) -> dict:
    from metrics.scope import resolve_scope

    with reading(url) as (conn, version):
        sc = resolve_scope(conn, db.settings(), **key.kwargs())
        return version, _registry_values(conn, sc, ids)


def kpis(ids: tuple[str, ...], key: ScopeKey) -> dict:
    """``{id: (Metric, MetricValue)}`` from the registry for the scope, cached."""
    return _checked(_kpis(db.database_url(), data_token(), tuple(ids), key))


def settings():
    return db.settings()


@dataclass(frozen=True)
class Context:
    url: str
    settings: object
    filters: Filters
    releases: object  # DataFrame
    sprints: object  # DataFrame


def database_or_stop() -> str:
    """The database URL once the database is reachable (created and upgraded if need be);
    otherwise one line on the page, which stops there."""
    from data.store import DatabaseError

    try:
        url = db.database_url()
        db.engine()
    except DatabaseError as exc:
        st.error(f"Database unavailable: {exc}")
        st.stop()
    return url


def settings_or_stop():
    """The configuration in force; a broken readiness.toml is one line and the page stops."""
    from data.config import ConfigError

    try:
        return db.settings()
    except ConfigError as exc:
        st.error(f"Configuration error: {exc} — fix readiness.toml and reload.")
        st.stop()


def prelude(what: str) -> Context:
    """Checks every metrics page makes first: database reachable, configuration valid, data
    present. Anything wrong is said in one line (or as guidance for an empty database) and
    the page stops there — never a traceback.
    """
    from ui import filters, widgets

    url = database_or_stop()
    cfg = settings_or_stop()
    if not db.load_has_data(url):
        widgets.empty_guidance(what=what)
        st.stop()
    current = filters.current()
    since, until = current.window()
    for note in filters.date_notes():  # a deep link's dates that could not be used
        st.info(f"{note} Showing {since:%d %b %Y} – {until:%d %b %Y}.", icon="ℹ️")
    return Context(url, cfg, current, db.load_releases(url), db.load_sprints(url))


def scope_or_stop(ctx: Context):
    """``(cache key, resolved scope)`` for the page's filters; a filter naming something that
    does not exist (an old link) is one line and the page stops."""
    key = key_for(ctx.filters)
    try:
        return key, scope(key)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()


# --- compositions: several metrics calls that share one connection ---------------------------
# Called through scoped(<function>, key): fn(conn, scope, **kwargs). They only chain
# metrics functions (and list rows to feed them); every number is the metrics layer's. The
# pages' heaviest ones live in metrics/views.py and are read through derived_view.


def _registry_values(conn, scope, ids) -> dict:
    from metrics.views import registry_values

    return registry_values(conn, scope, ids)


def sprint_view(conn, scope, sprint_id: str, ids: tuple[str, ...]):
    """``(report, {kpi id: (Metric, MetricValue)}, burndown)`` of ``sprint_id`` (the scope's
    sprint) on one connection, so the KPIs and the burndown reuse what the report read
    (metrics.sprint keeps the report and its context per connection)."""
    from metrics.sprint import burndown, cached_report

    report = cached_report(conn, sprint_id)
    values = _registry_values(conn, scope, ids)
    return report, values, burndown(conn, sprint_id, tz=scope.timezone,
                                     working_days=scope.working_days)


def sample_times(since, until, points: int = 12) -> list:
    """Up to ``points`` evenly spaced moments from since to until (both included)."""
    if points < 2 or until <= since:
        return [until]
    step = (until - since) / (points - 1)
    return [since + step * i for i in range(points)]


def open_bugs_over_time(conn, scope, points: int = 10):
    """Open bugs per severity at evenly spaced moments of the window (metrics.quality)."""
    import pandas as pd

    from metrics.quality import open_bugs_by_severity_at

    moments = sample_times(scope.since, scope.until, points)
    counts = open_bugs_by_severity_at(conn, scope, moments)
    return pd.DataFrame([{"at": t, **c} for t, c in zip(moments, counts)])


def pass_rate_runs(conn, scope, limit: int = 400):
    """Pass rate (metrics.tests_ci.RunCounts.pass_rate) of every finished run with tests in
    the window: columns run_id, pipeline, branch, finished_at, url, pass_rate, executed."""
    import pandas as pd
    from sqlalchemy import select

    from data.schema import pipeline_runs as pr
    from data.schema import test_results as tr
    from metrics.tests_ci import _runs_where, run_counts

    q = (select(pr.c.id, pr.c.repo, pr.c.pipeline, pr.c.branch, pr.c.finished_at, pr.c.url)
         .where(_runs_where(repos=scope.repos, projects=scope.projects, since=scope.since,
                            until=scope.until),
                select(tr.c.id).where(tr.c.run_id == pr.c.id).exists())
         .order_by(pr.c.finished_at.desc()).limit(limit))
    runs = [dict(r) for r in conn.execute(q).mappings()]
    counts = run_counts(conn, [r["id"] for r in runs])
    for r in runs:
        c = counts[r["id"]]
        r.update(pass_rate=c.pass_rate, executed=c.executed, failed=c.failed + c.error)
    return pd.DataFrame(runs, columns=["id", "repo", "pipeline", "branch", "finished_at", "url",
                                       "pass_rate", "executed", "failed"])


def readiness_view(conn, release_id: str, as_of=None):
    """Everything the Readiness page shows for one release, from the metrics layer:
    the evaluation (now, or ``as_of``), the forecast, the snapshot history (with its timeline
    and every gate's status changes, metrics.snapshots) and the waivers."""
    from metrics.forecast import forecast_release
    from metrics.readiness import evaluate_release
    from metrics.snapshots import flips, list_snapshots, timeline
    from metrics.waivers import list_waivers

    cfg = db.settings()
    evaluation = evaluate_release(conn, cfg, release_id, as_of=as_of)
    forecast = forecast_release(conn, release_id, settings=cfg, as_of=as_of)
    full = list_snapshots(conn, release_id, with_payload=True)
    return {"evaluation": evaluation, "forecast": forecast,
            "snapshots": [{k: v for k, v in s.items() if k != "payload"} for s in full],
            "last_snapshot": full[-1] if full else None,
            "history": full, "timeline": timeline(full), "flips": flips(full),
            "waivers": list_waivers(conn, release_id)}


def portfolio_view(conn):
    """Every upcoming release across teams, evaluated now (metrics.portfolio.portfolio)."""
    from metrics.portfolio import portfolio

    return portfolio(conn, db.settings())


def post_launch(conn, release_id: str, weeks: int = 4):
    """A shipped release's aftermath: escaped defects, and the production deployments of its
    services in the weeks after it shipped with their failures (incidents, rollbacks)."""
    from datetime import timedelta

    from sqlalchemy import select

    from data.schema import releases
    from metrics.dora import deploy_outcomes
    from metrics.quality import escaped_defects
    from metrics.readiness import release_context
    from metrics.snapshots import list_snapshots

    rel = conn.execute(select(releases).where(releases.c.id == release_id)).mappings().first()
    shipped = rel["released_at"]
    ctx = release_context(conn, db.settings(), release_id, shipped)
    outcomes = deploy_outcomes(conn, services=ctx.services, repos=ctx.repos, since=shipped,
                               until=shipped + timedelta(weeks=weeks))
    approved = [s for s in list_snapshots(conn, release_id, with_payload=True)
                if s["evaluated_at"] <= shipped]
    return {"escaped": escaped_defects(conn, release_id), "outcomes": outcomes,
            "approved": approved[-1] if approved else None, "weeks": weeks}


def upcoming_releases(conn, scope):
    """Every unreleased release in scope with its verdict, score and forecast."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from data.schema import releases
    from metrics.forecast import forecast_release
    from metrics.readiness import evaluate_release

    cfg = db.settings()
    q = (select(releases.c.id, releases.c.project, releases.c.name, releases.c.target_date,
                releases.c.url)
         .where(releases.c.released_at.is_(None), releases.c.project.in_(list(scope.projects)))
         .order_by(releases.c.target_date, releases.c.project, releases.c.name))
    out = []
    for r in conn.execute(q).mappings():
        now = datetime.now(timezone.utc)
        ev = evaluate_release(conn, cfg, r["id"], now=now)
        # The forecast gate already ran forecast_release for this release at this moment (same
        # seed): reuse its figures rather than simulate 10,000 trials a second time.
        gate = next((g for g in ev.gates if g.gate.metric == "forecast_on_time"
                     and "p85" in (g.detail or {})), None)
        if gate is not None:
            p85, on_time, remaining = gate.detail["p85"], gate.value, gate.detail["remaining"]
        else:
            fc = forecast_release(conn, r["id"], settings=cfg, as_of=now)
            p85, on_time, remaining = fc.p85, fc.probability_on_time, fc.remaining
        out.append({"release": dict(r), "verdict": ev.verdict, "score": ev.score,
                    "reasons": [g.gate.label for g in ev.reasons()],
                    "p85": p85, "on_time": on_time, "remaining": remaining})
    return out
