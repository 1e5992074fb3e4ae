"""Readiness over time on the Readiness page: the timeline of every gate from the stored
snapshots, and what changed between two evaluations with the evidence behind it.

Expectations are read from the stored snapshots themselves (the JSON payloads in
readiness_snapshots), not from the page's helpers."""

from __future__ import annotations

import json

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data import schema
from pages_support import APP, TIMEOUT, page_database
from ui import theme


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/readiness.py").run()
    assert not at.exception, at.exception
    return at


def _stored(engine, project: str, name: str) -> list:
    s, r = schema.readiness_snapshots, schema.releases
    with engine.connect() as conn:
        rid = conn.execute(select(r.c.id).where(r.c.project == project,
                                                r.c.name == name)).scalar_one()
        rows = conn.execute(select(s.c.id, s.c.as_of, s.c.payload).where(s.c.release_id == rid)
                            .order_by(s.c.as_of)).all()
    return [(i, a, p if isinstance(p, dict) else json.loads(p)) for i, a, p in rows]


def test_timeline_and_what_changed_between_the_first_and_last_evaluation(demo):
    stored = _stored(demo, "PAY", "2.4")
    assert len(stored) == 21  # data/demo/snapshots.py: the last 21 days of its life
    at = _open({"project": "PAY", "release": "2.4"})
    assert any(h.value == "Readiness over time" for h in at.subheader)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Gate status per evaluation: 21 evaluations" in s for s in specs)
    assert any("Readiness score over time (0–100)" in s for s in specs)
    first, last = stored[0], stored[-1]
    at.selectbox(key="changed_from").select(str(first[0]))
    at.selectbox(key="changed_to").select(str(last[0])).run()
    assert not at.exception, at.exception
    before = {g["id"]: g for g in first[2]["gates"]}
    expected = [f"**{g['label']}**: {theme.status_label(before[g['id']]['status'])} → "
                f"{theme.status_label(g['status'])}"
                for g in last[2]["gates"] if before[g["id"]]["status"] != g["status"]]
    assert expected, "the demo's PAY 2.4 changed over its life"
    flips = next(m.value for m in at.markdown if m.value.startswith("- **"))
    lines = [line.removeprefix("- ") for line in flips.split("\n")]
    assert [line.split(" (")[0] for line in lines] == expected
    # Why: a bug that appeared is named with its link (the open critical bug found in
    # production: README's tour).
    crit = next(g for g in last[2]["gates"] if g["id"] == "open_critical_bugs")
    if before["open_critical_bugs"]["status"] != crit["status"]:
        line = next(x for x in lines if x.startswith(f"**{crit['label']}**"))
        assert "new: [" in line and crit["evidence"][0]["label"] in line
    # Every status change across its life, newest first, with its evidence.
    exp = next(e for e in at.expander if e.label.startswith("Every status change"))
    table = exp.dataframe[0].value
    assert list(table.columns[:3]) == ["Data as of (UTC)", "Gate", "Change"]
    assert table["Data as of (UTC)"].is_monotonic_decreasing


def test_a_release_without_snapshots_says_so(demo):
    at = _open({"project": "PAY", "release": "2.5"})
    assert any("No evaluation stored yet" in c.value for c in at.caption)
    assert not [c for c in at.get("plotly_chart") if "Gate status" in c.proto.spec]


def test_readiness_on_an_empty_database(tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path, monkeypatch):
        at = _open({})
        assert at.info and "python -m connectors demo" in at.info[0].value
        assert not at.get("plotly_chart")
