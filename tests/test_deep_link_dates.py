"""Deep links with dates no window can use — out of range, not dates, since after until —
open every filtered page with the default window and a note saying what was ignored, never an
exception (issue 10, item 12)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from pages_support import APP, TIMEOUT
from ui.filters import dates_from_query

TODAY = date(2026, 3, 2)
FILTERED_PAGES = ["pages/readiness.py", "pages/sprint.py", "pages/quality.py",
                  "pages/delivery.py"]


# --- the rule (pure) ------------------------------------------------------------------------
@pytest.mark.parametrize("since, until, expected, note", [
    ("2026-02-01", "2026-02-20", (date(2026, 2, 1), date(2026, 2, 20)), None),
    ("1970-01-01", "2100-12-31", (date(1970, 1, 1), date(2100, 12, 31)), None),  # the ends
    (None, "0001-01-01", (None, None), "until=0001-01-01 is outside 1970–2100"),
    ("9999-12-31", None, (None, None), "since=9999-12-31 is outside 1970–2100"),
    ("1969-12-31", "2026-02-20", (None, date(2026, 2, 20)), "since=1969-12-31 is outside"),
    ("2026-02-01", "2101-01-01", (date(2026, 2, 1), None), "until=2101-01-01 is outside"),
    ("abc", None, (None, None), "since='abc' is not a date"),
    ("2026-06-01", "2026-01-01", (None, None),
     "since=2026-06-01 is after its until=2026-01-01; both were ignored"),
    # since alone, later than today: the default window would end before it starts
    ("2026-04-01", None, (None, None), "since=2026-04-01 is after today (2026-03-02)"),
])
def test_dates_from_a_link_are_kept_or_dropped_with_a_note(since, until, expected, note):
    got_since, got_until, notes = dates_from_query(since, until, today=TODAY)
    assert (got_since, got_until) == expected
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0]


# --- the pages ------------------------------------------------------------------------------
def _open(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _default_window() -> tuple[date, date]:
    today = datetime.now(timezone.utc).date()
    return today - timedelta(days=30), today


@pytest.mark.parametrize("page", FILTERED_PAGES)
@pytest.mark.parametrize("query, note", [
    ({"until": "0001-01-01"}, "until=0001-01-01 is outside 1970–2100; it was ignored"),
    ({"since": "9999-12-31"}, "since=9999-12-31 is outside 1970–2100; it was ignored"),
    ({"since": "2026-06-01", "until": "2026-01-01"}, "both were ignored"),
])
def test_a_link_with_unusable_dates_opens_with_the_default_window_and_a_note(demo, page, query,
                                                                             note):
    at = _open(page, query)
    notes = [i.value for i in at.info]
    assert any(note in n for n in notes), notes
    since, until = _default_window()
    assert any(f"Showing {since:%d %b %Y} – {until:%d %b %Y}." in n for n in notes), notes
    assert not [e.value for e in at.error]  # no "since must be before until" either
    # the link is rewritten to what is shown: the ignored dates are gone from the URL
    assert "since" not in at.query_params and "until" not in at.query_params


def test_a_date_that_is_not_a_date_is_noted_too(demo):
    at = _open("pages/quality.py", {"since": "abc", "project": "PAY"})
    assert any("since='abc' is not a date" in i.value for i in at.info)


@pytest.mark.parametrize("page", FILTERED_PAGES)
def test_the_widest_window_allowed_opens_every_page(demo, page):
    at = _open(page, {"since": "1970-01-01", "until": "2100-12-31"})
    assert not [i.value for i in at.info if "link" in i.value]  # nothing was ignored
    assert not [e.value for e in at.error]
