"""The app's engine and the cached reads the home page needs."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, func, select

from data import schema
from data.store import database_url, get_engine, has_sourced_rows, masked, table_counts


def versioned(ttl: float) -> Callable:
    """``st.cache_data`` whose key also holds the data version now (data/version.py, read
    at each call: these small reads run in the router too, before a page pins its version):
    a write by any process — a sync by the scheduler or cron, a waiver in another session —
    shows at the next render, not after ``ttl``."""
    def wrap(fn: Callable) -> Callable:
        def cached(url: str, version: int, *args, **kwargs):
            return fn(url, *args, **kwargs)

        # st.cache_data tells functions apart by module, qualified name and source: this
        # inner function's source is the same for every wrapped one, its name is not.
        cached.__module__, cached.__qualname__ = fn.__module__, f"{fn.__qualname__}@version"
        cached_fn = st.cache_data(ttl=ttl, show_spinner=False)(cached)

        @functools.wraps(fn)
        def call(url: str, *args, **kwargs):
            from ui.freshness import version_now

            return cached_fn(url, version_now(url), *args, **kwargs)

        return call
    return wrap


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    return get_engine(url)


def engine() -> Engine:
    """The engine for the configured database (created and upgraded on first use)."""
    return engine_for(database_url())


def database_label() -> str:
    return masked(database_url())


@versioned(ttl=30)
def load_table_counts(url: str) -> pd.DataFrame:
    """Rows per source and table (test results counted through their runs)."""
    with engine_for(url).connect() as conn:
        return pd.DataFrame(table_counts(conn), columns=["table", "source", "rows"])


@versioned(ttl=30)
def load_has_data(url: str) -> bool:
    """Whether any source has stored rows (what the pages check before drawing; counting
    every row, as the Data sources page does, cost ~0.3 s at demo scale 10)."""
    with engine_for(url).connect() as conn:
        return has_sourced_rows(conn)


@versioned(ttl=30)
def load_last_syncs(url: str) -> pd.DataFrame:
    """The latest run of each source: when it finished, its outcome and one-line error."""
    runs = schema.sync_runs
    latest = (select(runs.c.source, func.max(runs.c.id).label("id"))
              .group_by(runs.c.source).subquery())
    q = (select(runs.c.source, runs.c.scope, runs.c.started_at, runs.c.finished_at,
                runs.c.outcome, runs.c.error, runs.c.heartbeat_at)
         .join(latest, runs.c.id == latest.c.id).order_by(runs.c.source))
    with engine_for(url).connect() as conn:
        rows = [_live_outcome(dict(r)) for r in conn.execute(q).mappings()]
    return pd.DataFrame(rows, columns=["source", "scope", "started_at", "finished_at",
                                       "outcome", "error", "heartbeat_at"])


@st.cache_data(ttl=30, show_spinner=False)
def load_freshness(url: str) -> pd.DataFrame:
    """How fresh the data is, per source: when its last successful sync (or demo load)
    finished, and the outcome of its latest run (a failure after the last success shows)."""
    runs = schema.sync_runs
    ok = (select(runs.c.source, func.max(runs.c.finished_at).label("last_success"))
          .where(runs.c.outcome == "success").group_by(runs.c.source))
    with engine_for(url).connect() as conn:
        success = {r.source: r.last_success for r in conn.execute(ok)}
    latest = load_last_syncs(url)
    rows = []
    for row in latest.itertuples():
        at = row.finished_at if not pd.isna(row.finished_at) else row.started_at
        rows.append({"source": row.source, "last_success": success.get(row.source),
                     "latest_outcome": row.outcome, "latest_at": at,
                     "latest_error": row.error})
    return pd.DataFrame(rows, columns=["source", "last_success", "latest_outcome", "latest_at",
                                       "latest_error"])


def _live_outcome(row: dict) -> dict:
    """A `running` row whose process stopped beating reads as `abandoned` (see
    connectors.frame.run_outcome); the stored row is left as it is."""
    from connectors.frame import run_outcome

    row["outcome"] = run_outcome(row["outcome"], row["started_at"], row["heartbeat_at"])
    return row


# --- pickers and the data page --------------------------------------------------------------
# Keyed on the data version (see versioned): another process's writes show at the next
# render; the pages that change data (waive, sync, reload demo) also clear the caches.


@versioned(ttl=30)
def load_releases(url: str) -> pd.DataFrame:
    """Every release: id, project, name, target date, when it shipped, state."""
    r = schema.releases
    q = (select(r.c.id, r.c.project, r.c.name, r.c.target_date, r.c.released_at, r.c.state,
                r.c.url)
         .order_by(r.c.project, r.c.target_date.is_(None), r.c.target_date, r.c.name))
    with engine_for(url).connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(),
                            columns=["id", "project", "name", "target_date", "released_at",
                                     "state", "url"])


@versioned(ttl=30)
def load_sprints(url: str) -> pd.DataFrame:
    """Every sprint: id, project, board, name, state and its dates, newest first."""
    s = schema.sprints
    q = (select(s.c.id, s.c.project, s.c.board, s.c.name, s.c.state, s.c.start_at, s.c.end_at,
                s.c.completed_at, s.c.url)
         .order_by(s.c.start_at.desc(), s.c.name))
    with engine_for(url).connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(),
                            columns=["id", "project", "board", "name", "state", "start_at",
                                     "end_at", "completed_at", "url"])


@versioned(ttl=30)
def load_projects(url: str) -> list[str]:
    """Project keys found in the database (work items and releases)."""
    from sqlalchemy import union

    q = union(select(schema.work_items.c.project.label("p")),
              select(schema.releases.c.project.label("p")))
    with engine_for(url).connect() as conn:
        return sorted(p for (p,) in conn.execute(q) if p)


@versioned(ttl=10)
def load_sync_runs(url: str, limit: int = 200) -> pd.DataFrame:
    """The latest sync runs, newest first, with rows written summed over resources."""
    runs = schema.sync_runs
    q = (select(runs.c.id, runs.c.source, runs.c.scope, runs.c.started_at, runs.c.finished_at,
                runs.c.outcome, runs.c["items"], runs.c.requests, runs.c.not_modified,
                runs.c.duration_s, runs.c.error, runs.c.heartbeat_at)
         .order_by(runs.c.id.desc()).limit(limit))
    with engine_for(url).connect() as conn:
        rows = [_live_outcome(dict(r)) for r in conn.execute(q).mappings()]
    for row in rows:
        items = row["items"] or {}
        row["rows"] = int(sum(v for v in items.values() if isinstance(v, (int, float))))
    return pd.DataFrame(rows, columns=["id", "source", "scope", "started_at", "finished_at",
                                       "outcome", "items", "requests", "not_modified",
                                       "duration_s", "error", "heartbeat_at", "rows"])


def clear_caches() -> None:
    """Forget every cached read (after a sync, a demo reload or a waiver)."""
    st.cache_data.clear()


def settings():
    """The configuration in force (readiness.toml, else the demo organisation).

    Read on every run (a few hundred microseconds) so an edited file shows at once; a broken
    file raises :class:`data.config.ConfigError` with its one-line message.
    """
    from data.config import load_settings

    return load_settings()
