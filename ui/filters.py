"""The shared selection — team, project, release, sprint, date range — and its URL.

The URL is the state: every selection lives in ``st.query_params`` so a view can be pasted
into a chat. Streamlit clears query parameters on a page switch, so the router calls
:func:`write_query` on every run, and every picker writes its own value back as soon as it
is drawn.

Canonical values are kept in session state under ``sel_<name>`` (not a widget key: widget
state is dropped when a page that drew it is not shown, the selection must survive that).
Each widget is seeded from the canonical value and copies itself back in ``on_change``.
Releases and sprints are held by id; the URL names them (``release=2.4&project=PAY``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import streamlit as st

NAMES = ("team", "project", "release", "sprint", "since", "until")
# A selectbox shows None as an empty placeholder; "all" needs a real option.
ALL = "*"
DEFAULT_DAYS = 30
# Dates a link or the picker may set: beyond these no data exists, and near the ends of
# Python's calendar (year 1, year 9999) the window's arithmetic overflows.
EARLIEST = date(1970, 1, 1)
LATEST = date(2100, 12, 31)


@dataclass(frozen=True)
class Filters:
    """What the user picked; None means "all" (team, project) or "the default"."""

    team: str | None = None
    project: str | None = None
    release_id: str | None = None
    sprint_id: str | None = None
    since: date | None = None
    until: date | None = None

    def window(self, today: date | None = None) -> tuple[date, date]:
        """The date range in force: the picked one, else the last 30 days ending today."""
        until = self.until or today or datetime.now(timezone.utc).date()
        since = self.since or (until - timedelta(days=DEFAULT_DAYS))
        return since, until


def _sel(name: str):
    return st.session_state.get(f"sel_{name}")


def _set(name: str, value) -> None:
    st.session_state[f"sel_{name}"] = value


def _parse_date(name: str, text: str | None, notes: list[str]) -> date | None:
    """The date a link gives for ``name``, or None (the default) with a note saying why it
    was ignored: a mangled link, or a year no data can have (near the ends of the calendar
    the window's arithmetic overflows)."""
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        notes.append(f"The link's {name}={text[:40]!r} is not a date (YYYY-MM-DD); it was "
                     "ignored.")
        return None
    if not EARLIEST <= value <= LATEST:
        notes.append(f"The link's {name}={value.isoformat()} is outside {EARLIEST.year}–"
                     f"{LATEST.year}; it was ignored.")
        return None
    return value


def dates_from_query(since_text: str | None, until_text: str | None,
                     today: date | None = None) -> tuple[date | None, date | None, list[str]]:
    """``(since, until, notes)`` from a link's ``since``/``until``: what cannot be used is
    dropped (the default window applies) and each note says what and why, in one sentence."""
    notes: list[str] = []
    since = _parse_date("since", since_text, notes)
    until = _parse_date("until", until_text, notes)
    end = until or today or datetime.now(timezone.utc).date()
    if since is not None and since > end:
        if until is not None:
            notes.append(f"The link's since={since.isoformat()} is after its "
                         f"until={until.isoformat()}; both were ignored.")
        else:
            notes.append(f"The link's since={since.isoformat()} is after today "
                         f"({end.isoformat()}); it was ignored.")
        since, until = None, None
    return since, until, notes


def date_notes() -> list[str]:
    """What was ignored in the link's dates (each page shows it, see ui.loaders.prelude);
    cleared when the user picks a range."""
    return list(st.session_state.get("_date_notes", []))


def _query() -> dict[str, str]:
    return {k: st.query_params.get(k) for k in st.query_params}


def _followed_link() -> bool:
    """True when the URL changed since the router last wrote it, to something non-empty: a
    link inside the app was followed (Home's links to a release: st.page_link with query
    parameters). A page switch through the navigation clears the parameters (nothing to
    follow); a widget changes the selection, never the URL, before the router writes it."""
    query = _query()
    return bool(query) and query != st.session_state.get("_written_query")


def init_from_query(releases: pd.DataFrame, sprints: pd.DataFrame) -> None:
    """Take the selection from the URL on a session's first run (a pasted deep link) and
    whenever a link inside the app set new query parameters."""
    if st.session_state.get("_filters_ready") and not _followed_link():
        return
    st.session_state["_filters_ready"] = True
    qp = st.query_params
    _set("team", qp.get("team") or None)
    _set("project", qp.get("project") or None)
    since, until, notes = dates_from_query(qp.get("since"), qp.get("until"))
    _set("since", since)
    _set("until", until)
    st.session_state["_date_notes"] = notes
    _set("release", find_release(releases, qp.get("release"), qp.get("project")))
    _set("sprint", find_sprint(sprints, qp.get("sprint"), qp.get("project")))


def find_release(releases: pd.DataFrame, name: str | None, project: str | None) -> str | None:
    """The id of release ``name`` (in ``project`` when given); unknown → None."""
    if not name or releases.empty:
        return None
    hits = releases[releases["name"] == name]
    if project:
        in_project = hits[hits["project"] == project]
        hits = in_project if not in_project.empty else hits
    return None if hits.empty else str(hits.iloc[0]["id"])


def find_sprint(sprints: pd.DataFrame, name: str | None, project: str | None) -> str | None:
    """The id of sprint ``name`` (in ``project`` when given); unknown → None."""
    if not name or sprints.empty:
        return None
    hits = sprints[sprints["name"] == name]
    if project:
        in_project = hits[hits["project"] == project]
        hits = in_project if not in_project.empty else hits
    return None if hits.empty else str(hits.iloc[0]["id"])


def _real(value):
    return None if value in (ALL, "") else value


def current() -> Filters:
    return Filters(team=_real(_sel("team")), project=_real(_sel("project")),
                   release_id=_sel("release"),
                   sprint_id=_sel("sprint"), since=_sel("since"), until=_sel("until"))


def write_query(releases: pd.DataFrame, sprints: pd.DataFrame) -> None:
    """Put the whole selection into the URL (names, not ids); unset values are removed."""
    f = current()
    values = {
        "team": f.team,
        "project": f.project,
        "release": _name_of(releases, f.release_id),
        "sprint": _name_of(sprints, f.sprint_id),
        "since": f.since.isoformat() if f.since else None,
        "until": f.until.isoformat() if f.until else None,
    }
    for key, value in values.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
    st.session_state["_written_query"] = _query()


def _write_one(key: str, value: str | None) -> None:
    """Write one selection into the URL now (the router wrote the others before the page)."""
    if value is None:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != value:
        st.query_params[key] = value
    st.session_state["_written_query"] = _query()


def release_query(project: str, name: str) -> dict[str, str]:
    """The query parameters of a deep link to a release (its Readiness view)."""
    return {"project": project, "release": name}


def _name_of(frame: pd.DataFrame, item_id: str | None) -> str | None:
    if not item_id or frame.empty:
        return None
    hit = frame.loc[frame["id"] == item_id, "name"]
    return None if hit.empty else str(hit.iloc[0])


def _select(container, name: str, label: str, options: Sequence, *,
            format_func: Callable = str, help: str | None = None, default=None):
    """A selectbox bound to ``sel_<name>``; returns the value in force."""
    options = list(options)
    value = _sel(name)
    if value not in options:
        value = default if default in options else (options[0] if options else None)
        _set(name, value)
    widget_key = f"w_{name}"
    st.session_state[widget_key] = value

    def copy_back() -> None:
        _set(name, st.session_state[widget_key])

    container.selectbox(label, options, format_func=format_func, key=widget_key,
                        on_change=copy_back, help=help)
    return _sel(name)


def sidebar(settings, projects: list[str]) -> Filters:
    """Team, project and date range in the sidebar (the filters every KPI page shares)."""
    sb = st.sidebar
    _select(sb, "team", "Team", [ALL, *sorted(settings.teams)],
            format_func=lambda t: "All teams" if t == ALL else t)
    team = _sel("team") if _sel("team") != ALL else None
    if team and team in settings.teams:
        allowed = [p for p in settings.teams[team].projects]
    else:
        allowed = sorted(set(projects) | set(settings.projects))
    _select(sb, "project", "Project", [ALL, *allowed],
            format_func=lambda p: "All projects" if p == ALL else p)
    since, until = current().window()

    def copy_dates() -> None:
        picked = st.session_state["w_dates"]
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            _set("since", picked[0])
            _set("until", picked[1])
            st.session_state["_date_notes"] = []

    st.session_state["w_dates"] = (since, until)
    sb.date_input("Date range", key="w_dates", on_change=copy_dates,
                  min_value=EARLIEST, max_value=LATEST,
                  help="The window that counts, rates and trends cover (default: the last "
                       f"{DEFAULT_DAYS} days).")
    if _sel("since") or _sel("until"):
        if sb.button("Last 30 days", help="Back to the rolling default window"):
            _set("since", None)
            _set("until", None)
            st.session_state["_date_notes"] = []
            st.rerun()
    return current()


def release_picker(container, releases: pd.DataFrame, *, project: str | None = None,
                   default_id: str | None = None) -> str | None:
    """Pick a release (shown as "PAY 2.4 · target 12 Dec"); picking one sets the project."""
    frame = releases if not project else releases[releases["project"] == project]
    if frame.empty:
        frame = releases
    labels = {str(r.id): _release_label(r) for r in frame.itertuples()}
    chosen = _select(container, "release", "Release", list(labels),
                     format_func=lambda i: labels.get(i, str(i)), default=default_id)
    _write_one("release", _name_of(releases, chosen))
    if chosen is not None and not current().project:
        # A release name is unique only within its project: the link names both.
        _write_one("project", str(releases.loc[releases["id"] == chosen, "project"].iloc[0]))
    return chosen


def _release_label(r) -> str:
    text = f"{r.project} {r.name}"
    if r.released_at is not None and not pd.isna(r.released_at):
        return f"{text} · shipped {r.released_at:%d %b %Y}"
    if r.target_date is not None and not pd.isna(r.target_date):
        return f"{text} · target {r.target_date:%d %b %Y}"
    return text


def sprint_picker(container, sprints: pd.DataFrame, *, projects: Sequence[str] | None = None,
                  default_id: str | None = None) -> str | None:
    """Pick a sprint (newest first); defaults to ``default_id`` (the last closed one)."""
    frame = sprints if not projects else sprints[sprints["project"].isin(list(projects))]
    if frame.empty:
        frame = sprints
    labels = {str(r.id): _sprint_label(r) for r in frame.itertuples()}
    chosen = _select(container, "sprint", "Sprint", list(labels),
                     format_func=lambda i: labels.get(i, str(i)), default=default_id)
    _write_one("sprint", _name_of(sprints, chosen))
    return chosen


def _sprint_label(r) -> str:
    text = f"{r.name} ({r.state})"
    if r.start_at is not None and not pd.isna(r.start_at):
        text += f" · {r.start_at:%d %b}"
        if r.end_at is not None and not pd.isna(r.end_at):
            text += f" – {r.end_at:%d %b %Y}"
    return text
