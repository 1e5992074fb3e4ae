"""Cached reads of the metrics layer, shared by the pages.

Every number a page shows comes from a metrics function called through here. The cache key is
the database URL, the configuration file's identity (path and mtime, so an edited
readiness.toml shows at once) and the plain arguments; values are pickled copies, so pages can
never mutate a cached result. Pages that change data (waive, sync, reload demo) call
:func:`ui.db.clear_caches`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import streamlit as st

from ui import db
from ui.filters import Filters

TTL = 300  # seconds; data changes through syncs, which clear the caches of this process


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


def _fn(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def available(path: str) -> bool:
    """True when the metrics function ``module.name`` has landed (pages degrade without it)."""
    try:
        _fn(path)
    except (ImportError, AttributeError):
        return False
    return True


@st.cache_data(ttl=TTL, show_spinner=False)
def _call(url: str, token: str, path: str, args: tuple, kwargs: tuple):
    with db.engine_for(url).connect() as conn:
        return _fn(path)(conn, *args, **dict(kwargs))


def call(path: str, *args, **kwargs):
    """``metrics.<module>.<fn>(conn, *args, **kwargs)``, cached."""
    return _call(db.database_url(), config_token(), path, args, tuple(sorted(kwargs.items())))


@st.cache_data(ttl=TTL, show_spinner=False)
def _scope(url: str, token: str, key: ScopeKey):
    from metrics.scope import resolve_scope

    with db.engine_for(url).connect() as conn:
        return resolve_scope(conn, db.settings(), **key.kwargs())


def scope(key: ScopeKey):
    """The resolved Scope; raises metrics.scope.ScopeError (one line) for unknown names."""
    return _scope(db.database_url(), config_token(), key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _scoped(url: str, token: str, path: str, key: ScopeKey, kwargs: tuple):
    from metrics.scope import resolve_scope

    with db.engine_for(url).connect() as conn:
        sc = resolve_scope(conn, db.settings(), **key.kwargs())
        return _fn(path)(conn, sc, **dict(kwargs))


def scoped(path: str, key: ScopeKey, **kwargs):
    """``fn(conn, scope, **kwargs)`` for the resolved scope, cached."""
    return _scoped(db.database_url(), config_token(), path, key, tuple(sorted(kwargs.items())))


@st.cache_data(ttl=TTL, show_spinner=False)
def _kpis(url: str, token: str, ids: tuple, key: ScopeKey) -> dict:
    from metrics import registry
    from metrics.scope import resolve_scope

    out = {}
    with db.engine_for(url).connect() as conn:
        sc = resolve_scope(conn, db.settings(), **key.kwargs())
        for metric_id in ids:
            reg = registry.get(metric_id)
            out[metric_id] = (reg.metric, registry.compute(metric_id, conn, sc))
    return out


def kpis(ids: tuple[str, ...], key: ScopeKey) -> dict:
    """``{id: (Metric, MetricValue)}`` from the registry for the scope, cached."""
    return _kpis(db.database_url(), config_token(), tuple(ids), key)


def settings():
    return db.settings()


@dataclass(frozen=True)
class Context:
    url: str
    settings: object
    filters: Filters
    releases: object  # DataFrame
    sprints: object  # DataFrame


def prelude(what: str) -> Context:
    """Checks every page makes first: database reachable, configuration valid, data present.

    Anything wrong is said in one line (or as guidance for an empty database) and the page
    stops there — never a traceback.
    """
    from data.config import ConfigError
    from data.store import DatabaseError
    from ui import filters, widgets

    try:
        url = db.database_url()
        db.engine()
    except DatabaseError as exc:
        st.error(f"Database unavailable: {exc}")
        st.stop()
    try:
        cfg = db.settings()
    except ConfigError as exc:
        st.error(f"Configuration error: {exc} — fix readiness.toml and reload.")
        st.stop()
    counts = db.load_table_counts(url)
    if counts.empty:
        widgets.empty_guidance(what=what)
        st.stop()
    return Context(url, cfg, filters.current(), db.load_releases(url), db.load_sprints(url))
