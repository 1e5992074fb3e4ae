"""The app's engine and the cached reads the home page needs."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, func, select

from data import schema
from data.store import database_url, get_engine, masked, table_counts


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    return get_engine(url)


def engine() -> Engine:
    """The engine for the configured database (created and upgraded on first use)."""
    return engine_for(database_url())


def database_label() -> str:
    return masked(database_url())


@st.cache_data(ttl=30, show_spinner=False)
def load_table_counts(url: str) -> pd.DataFrame:
    """Rows per source and table (test results counted through their runs)."""
    with engine_for(url).connect() as conn:
        return pd.DataFrame(table_counts(conn), columns=["table", "source", "rows"])


@st.cache_data(ttl=30, show_spinner=False)
def load_last_syncs(url: str) -> pd.DataFrame:
    """The latest run of each source: when it finished, its outcome and one-line error."""
    runs = schema.sync_runs
    latest = (select(runs.c.source, func.max(runs.c.id).label("id"))
              .group_by(runs.c.source).subquery())
    q = (select(runs.c.source, runs.c.scope, runs.c.started_at, runs.c.finished_at,
                runs.c.outcome, runs.c.error)
         .join(latest, runs.c.id == latest.c.id).order_by(runs.c.source))
    with engine_for(url).connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(),
                            columns=["source", "scope", "started_at", "finished_at",
                                     "outcome", "error"])
