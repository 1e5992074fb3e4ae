"""The Readiness page on the demo organisation: verdict, gates, waive form, empty database.

Expected values come from the metrics layer (evaluate_release) for the same release: the page
only renders them, so what it shows must be exactly that.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data import schema
from data.config import load_settings
from metrics.format import format_value as gate_value
from metrics.readiness import evaluate_release
from pages_support import APP, TIMEOUT
from ui import theme


def _release_id(engine, project: str, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(schema.releases.c.id).where(
            schema.releases.c.project == project, schema.releases.c.name == name)).scalar_one()


def _evaluate(engine, release_id: str):
    with engine.connect() as conn:
        return evaluate_release(conn, load_settings(), release_id)


def _open(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/readiness.py").run()
    assert not at.exception, at.exception
    return at


def _banner(at) -> str:
    return "\n".join(e.value for kind in ("success", "warning", "error")
                     for e in getattr(at, kind) if e.value.startswith("###"))


def _gates(at):
    return next(df.value for df in at.dataframe if "Threshold" in df.value.columns)


def test_deep_link_opens_the_release_with_the_metrics_layers_verdict(demo):
    rid = _release_id(demo, "PAY", "2.4")
    at = _open({"release": "2.4", "project": "PAY"})
    assert at.selectbox(key="w_release").value == rid
    ev = _evaluate(demo, rid)
    banner = _banner(at)
    assert theme.verdict_label(ev.verdict) in banner
    assert f"score {ev.score:.0f}/100" in banner
    table = _gates(at)
    assert list(table["Gate"]) == [g.gate.label for g in ev.gates]
    assert list(table["Status"]) == [theme.status_label(g.status) for g in ev.gates]
    assert list(table["Value"]) == [gate_value(g.value, g.gate.unit) for g in ev.gates]
    assert list(table["Definition"]) == [g.gate.definition for g in ev.gates]
    assert at.query_params["release"] == "2.4" and at.query_params["project"] == "PAY"


def test_waiving_a_failing_gate_stores_a_waiver_and_changes_the_verdict(demo):
    rid = _release_id(demo, "PAY", "2.4")
    before = _evaluate(demo, rid)
    failing = [g for g in before.gates if g.status == "FAIL"]
    if not failing:
        pytest.fail(f"the demo's PAY 2.4 should have a failing gate; got {before.verdict}")
    gate = failing[0].gate.id
    at = _open({"release": "2.4", "project": "PAY"})
    at.selectbox(key="waive_gate").select(gate)
    at.text_input(key="waive_reason").input("hotfix planned for the first week")
    at.text_input(key="waive_by").input("Dana (PM)")
    next(b for b in at.button if b.label == "Waive").click()
    at.run()
    assert not at.exception, at.exception
    with demo.connect() as conn:
        rows = conn.execute(select(schema.gate_waivers).where(
            schema.gate_waivers.c.release_id == rid)).mappings().all()
    assert [(r["gate"], r["reason"], r["waived_by"]) for r in rows] == [
        (gate, "hotfix planned for the first week", "Dana (PM)")]
    after = _evaluate(demo, rid)
    assert next(g for g in after.gates if g.gate.id == gate).status == "WAIVED"
    table = _gates(at)
    shown = dict(zip(table["Gate"], table["Status"]))
    assert shown[failing[0].gate.label] == "🛡 WAIVED"
    assert theme.verdict_label(after.verdict) in _banner(at)
    if len(failing) == 1:  # the only FAIL waived: NO-GO is lifted
        assert before.verdict == "NO_GO" and after.verdict != "NO_GO"


def test_a_waiver_without_reason_is_refused_in_one_line(demo):
    rid = _release_id(demo, "PAY", "2.4")
    failing = [g for g in _evaluate(demo, rid).gates if g.status in ("FAIL", "WARN")]
    at = _open({"release": "2.4", "project": "PAY"})
    at.selectbox(key="waive_gate").select(failing[0].gate.id)
    at.text_input(key="waive_by").input("Dana")
    next(b for b in at.button if b.label == "Waive").click()
    at.run()
    assert not at.exception, at.exception
    assert any("needs a reason" in e.value for e in at.error)
    with demo.connect() as conn:
        assert conn.execute(select(schema.gate_waivers)).first() is None


def test_a_shipped_release_shows_its_post_launch_view(demo):
    at = _open({"release": "2.3", "project": "PAY"})
    heads = [h.value for h in at.subheader]
    assert "After the launch" in heads
    assert any("Bugs found in production after shipping" in m.value for m in at.markdown)


def test_unknown_release_in_the_link_falls_back_to_the_next_one_due(demo):
    at = _open({"release": "9.9", "project": "PAY"})
    assert at.selectbox(key="w_release").value == _release_id(demo, "PAY", "2.4")


def test_recording_a_snapshot_then_waiving_shows_what_changed(demo):
    rid = _release_id(demo, "PAY", "2.4")
    failing = [g for g in _evaluate(demo, rid).gates if g.status == "FAIL"]
    at = _open({"release": "2.4", "project": "PAY"})
    snap = schema.readiness_snapshots
    with demo.connect() as conn:
        before = conn.execute(select(snap.c.id).where(snap.c.release_id == rid)).scalars().all()
    next(b for b in at.button if b.label == "Record snapshot").click().run()
    assert not at.exception, at.exception
    with demo.connect() as conn:
        recorded = conn.execute(select(snap.c.id, snap.c.verdict).where(
            snap.c.release_id == rid, snap.c.id.not_in(before))).all()
    # One more snapshot (the demo carries its daily history already): this evaluation.
    assert [v for _, v in recorded] == [_evaluate(demo, rid).verdict]
    at.selectbox(key="changed_from").select(str(recorded[0].id)).run()
    assert any("No gate changed status" in c.value for c in at.caption)
    at.selectbox(key="waive_gate").select(failing[0].gate.id)
    at.text_input(key="waive_reason").input("accepted risk")
    at.text_input(key="waive_by").input("Dana")
    next(b for b in at.button if b.label == "Waive").click()
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="changed_from").value == str(recorded[0].id)
    flips = "\n".join(m.value for m in at.markdown)
    assert f"**{failing[0].gate.label}**: ❌ FAIL → 🛡 WAIVED" in flips
