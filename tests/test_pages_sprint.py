"""The Sprint page on a hand-built sprint (the one tests/test_metrics_sprint.py works out).

The page only renders: the figures it shows must equal what metrics.sprint computes.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from metrics.sprint import sprint_report
from pages_support import APP, TIMEOUT, page_database
from tests.metrics_rows import change, item, load, sprint, utc
from ui.widgets import format_value

START, DONE_AT = utc(2026, 3, 2, 9), utc(2026, 3, 13, 16)
CREATED = utc(2026, 2, 20)


def _seed(engine) -> None:
    items = [
        item("PAY-1", created=CREATED, points=3, status_category="done",
             resolved=utc(2026, 3, 5, 10)),
        item("PAY-2", created=CREATED, points=8),
        item("PAY-3", created=CREATED, points=2, status_category="done",
             resolved=utc(2026, 3, 10, 10)),
        item("PAY-4", created=CREATED, points=1),
    ]
    changes = [
        change("PAY-1", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-1", utc(2026, 3, 5, 10), "status", "To Do", "Done"),
        change("PAY-2", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-2", utc(2026, 3, 4, 8), "story_points", "5", "8"),
        change("PAY-3", utc(2026, 3, 4, 12), "Sprint", "", "1"),
        change("PAY-3", utc(2026, 3, 10, 10), "status", "To Do", "Done"),
        change("PAY-4", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-4", utc(2026, 3, 6, 12), "Sprint", "1", ""),
        change("PAY-2", utc(2026, 3, 16, 9), "Sprint", "1", "1,2"),
    ]
    load(engine, work_items=items, work_item_changes=changes,
         sprints=[sprint("1", "PAY 1", start=START, end=utc(2026, 3, 13, 17), completed=DONE_AT),
                  sprint("2", "PAY 2", start=utc(2026, 3, 16, 9), end=utc(2026, 3, 27, 17),
                         completed=utc(2026, 3, 27, 16))],
         sprint_items=[{"sprint_id": "t:sprint:1", "item_id": f"t:issue:PAY-{n}", "source": "t"}
                       for n in (1, 2, 3)]
         + [{"sprint_id": "t:sprint:2", "item_id": "t:issue:PAY-2", "source": "t"}])


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, monkeypatch) as engine:
        _seed(engine)
        yield engine


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_deep_link_opens_the_sprint_and_shows_the_metrics_layer_numbers(seeded):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sprint"] = "PAY 1"
    at.query_params["project"] = "PAY"
    at.run()
    at.switch_page("pages/sprint.py").run()
    assert not at.exception, at.exception
    with seeded.connect() as conn:
        rep = sprint_report(conn, "t:sprint:1")
    shown = _metrics(at)
    # By hand: committed PAY-1 3 + PAY-2 5 + PAY-4 1 = 9; completed PAY-1 3 + PAY-3 2 = 5;
    # added PAY-3 2; removed PAY-4 1; not completed PAY-2 8. The page must show the same.
    assert (rep.committed, rep.completed, rep.added, rep.removed, rep.not_completed) == \
        (9, 5, 2, 1, 8)
    assert shown["Committed"] == format_value(rep.committed, "points") == "9 pts"
    assert shown["Completed"] == "5 pts"
    assert shown["Added after start"] == "2 pts"
    assert shown["Removed after start"] == "1 pts"
    assert shown["Not completed (carry-over)"] == "8 pts"
    assert shown["Say/do ratio"] == format_value(5 / 9, "ratio") == "0.56"
    # every tile explains itself: definition and basis in the hover help
    committed_tile = next(m for m in at.metric if m.label == "Committed")
    assert "at its start" in committed_tile.help and "sprint PAY 1" in committed_tile.help
    assert at.query_params["sprint"] == "PAY 1"  # the link reproduces the view
    assert len(at.get("plotly_chart")) >= 3  # burndown, burnup, committed vs completed


def test_default_is_the_last_closed_sprint_and_picking_another_updates_the_url(seeded):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/sprint.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="w_sprint").value == "t:sprint:2"  # closed 27 Mar, the latest
    at.selectbox(key="w_sprint").select("t:sprint:1").run()
    assert not at.exception, at.exception
    assert _metrics(at)["Committed"] == "9 pts"
    assert at.query_params["sprint"] == "PAY 1"
