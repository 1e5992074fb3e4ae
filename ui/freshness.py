"""Every page: how old each source's data is, a warning past the configured age, and the data
version this render reads (the key every cached read includes; data/version.py).

Called once per run by :func:`ui.ensure_router`, the first line of every page (rather than
from app.py, so a page run on its own — AppTest's ``switch_page`` — shows it too).
"""

from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from data.config import ConfigError
from data.freshness import format_age, max_age_hours, source_ages
from data.store import DatabaseError
from data.version import current
from ui import db

PINNED = "_data_version"  # session key: the data version this render reads at


def pin_version() -> int:
    """Read the data version now and keep it for this run (every cache key includes it)."""
    with db.engine().connect() as conn:
        version = current(conn)
    st.session_state[PINNED] = version
    return version


def version_now(url: str) -> int:
    """The data version at this moment (-1 when the database cannot say: the read that
    follows reports that in its own words)."""
    try:
        with db.engine_for(url).connect() as conn:
            return current(conn)
    except (SQLAlchemyError, DatabaseError):
        return -1


def pinned_version() -> int:
    """The version pinned by this run (read now when no page pinned one yet). -1 when the
    database cannot say: the read that follows reports that in the page's own words."""
    version = st.session_state.get(PINNED)
    if version is not None:
        return version
    try:
        return pin_version()
    except (SQLAlchemyError, DatabaseError):
        return -1


@st.cache_data(ttl=300, show_spinner=False)
def _last_successes(url: str, version: int, sources: tuple[str, ...] | None) -> list:
    # Keyed on the data version: a sync by any process shows at the next render. Ages are
    # measured from these times at render time, outside the cache.
    with db.engine_for(url).connect() as conn:
        return [(a.source, a.last_success, a.state, a.error)
                for a in source_ages(conn, datetime.now(timezone.utc), list(sources)
                                     if sources else None)]


def show() -> None:
    """Pin this run's data version and show each source's data age in the sidebar; a warning
    names every source past ``[gates.data_fresh] max_age_hours``, failing or never synced.
    A database or configuration problem is left to the page, which says it in one line."""
    try:
        version = pin_version()
        settings = db.settings()
        rows = _last_successes(db.database_url(), version,
                               tuple(settings.configured_sources()) or None)
    except (SQLAlchemyError, DatabaseError, ConfigError):  # the page says it in its words
        return
    limit = max_age_hours(settings)
    now = datetime.now(timezone.utc)
    parts, late = [], []
    for source, last, state, _error in rows:
        age = None if last is None else (now - last).total_seconds() / 3600
        parts.append(f"{source} {format_age(age)}")
        if age is None or age > limit or state == "failing":
            why = ("never synced" if age is None else
                   "its last sync failed" if state == "failing" else f"{format_age(age)} old")
            late.append(f"{source} ({why})")
    if not parts:
        return
    st.sidebar.caption("Data age: " + " · ".join(parts))
    if late:
        st.sidebar.warning(f"Data older than {limit:g} h or not syncing: {', '.join(late)}. "
                           "Verdicts on it are not GO (gate *Data fresh*).", icon="⏳")
