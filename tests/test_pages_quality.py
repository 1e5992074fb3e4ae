"""The Quality page on hand-built bugs and test runs: its numbers are the metrics layer's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from data.config import load_settings
from metrics import registry
from metrics.scope import resolve_scope
from pages_support import APP, TIMEOUT, page_database
from tests.metrics_rows import item, load
from ui.widgets import format_value

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _seed(engine) -> None:
    # Bugs in PAY: 2 critical open, 1 high open, 1 high resolved 2 days ago.
    bugs = [
        item("PAY-1", type="bug", severity="critical", created=NOW - timedelta(days=10)),
        item("PAY-2", type="bug", severity="critical", created=NOW - timedelta(days=4)),
        item("PAY-3", type="bug", severity="high", created=NOW - timedelta(days=3)),
        item("PAY-4", type="bug", severity="high", created=NOW - timedelta(days=9),
             status_category="done", resolved=NOW - timedelta(days=2)),
    ]
    # Two runs of ci on main: run 0 all 4 pass; run 1: test_0 fails (a new failure).
    runs, results = [], []
    for k in range(2):
        rid = f"t:run:{k}"
        runs.append({"id": rid, "source": "t", "pipeline": "ci", "repo": "acme/payments",
                     "project": "PAY", "branch": "main", "sha": f"s{k}", "status": "completed",
                     "conclusion": "success" if k == 0 else "failure",
                     "started_at": NOW - timedelta(days=3 - k, minutes=10),
                     "finished_at": NOW - timedelta(days=3 - k), "duration_s": 600,
                     "url": f"https://ci.example/{k}"})
        for t in range(4):
            failed = k == 1 and t == 0
            results.append({"run_id": rid, "suite": "s", "classname": "pay.Tests",
                            "name": f"test_{t}", "status": "failed" if failed else "passed",
                            "duration_s": 1.0 + t, "flaky": False,
                            "message": "<script>alert(1)</script> assert 1 == 2" if failed
                            else None})
    load(engine, work_items=bugs, pipeline_runs=runs, test_results=results)


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, monkeypatch) as engine:
        _seed(engine)
        yield engine


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/quality.py").run()
    assert not at.exception, at.exception
    return at


def test_headline_numbers_are_the_metrics_layers(seeded):
    at = _open({"project": "PAY"})
    shown = {m.label: m.value for m in at.metric}
    # By hand: open critical = PAY-1, PAY-2 → 2; open high = PAY-3 → 1 (PAY-4 resolved);
    # inflow = 4 bugs created in the last 30 days; outflow = 1 (PAY-4);
    # pass rate of the latest run (run 1) = 3 passed / 4 executed = 75.0 %.
    assert shown["Open critical bugs"] == "2"
    assert shown["Open high bugs"] == "1"
    assert shown["Bug inflow"] == "4"
    assert shown["Bug outflow"] == "1"
    assert shown["Test pass rate"] == "75%"  # one formatter: a trailing .0 is dropped
    # and they are what the registry computes for the same scope
    with seeded.connect() as conn:
        sc = resolve_scope(conn, load_settings(), project="PAY")
        for metric_id in ("open_bugs_critical", "test_pass_rate", "pipeline_success_rate"):
            reg = registry.get(metric_id)
            value = registry.compute(metric_id, conn, sc)
            assert shown[reg.metric.label] == format_value(value.value, value.unit)
    tile = next(m for m in at.metric if m.label == "Test pass rate")
    assert "passed / (passed + failed + error)" in tile.help


def test_new_failure_is_listed_with_its_message_as_text(seeded):
    at = _open({"project": "PAY"})
    heads = [e.label for e in at.expander]
    assert any("ci on main" in h and "1 new failure" in h for h in heads)
    new = next(df.value for df in at.dataframe if "Before" in df.value.columns)
    assert list(new["Test"]) == ["pay.Tests::test_0"]
    assert list(new["Before"]) == ["passed"]
    # the message is data in a table cell, never markup
    assert new["Message"].iloc[0].startswith("<script>")
    assert not any("<script>" in m.value for m in at.markdown)


def test_deep_link_window_is_applied(seeded):
    since = (NOW - timedelta(days=5)).date().isoformat()
    at = _open({"project": "PAY", "since": since})
    shown = {m.label: m.value for m in at.metric}
    # From 5 days ago: created in the window PAY-2 (4 d), PAY-3 (3 d) → inflow 2.
    assert shown["Bug inflow"] == "2"
    assert at.query_params["since"] == since
