"""Readiness over time: the timeline, the flips and their causes, the score trend, and the
portfolio's "holds it back most" — expectations worked out by hand from the definitions in
metrics/snapshots.py and metrics/portfolio.py, on snapshots stored in a small SQLite file."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import insert

from data.schema import readiness_snapshots
from data.store import get_engine
from metrics import gates as G
from metrics.portfolio import days_to_target, holding_back, points_lost
from metrics.readiness import GateResult
from metrics.snapshots import (daily_scores, flips, gate_changes, list_snapshots,
                               score_change, timeline)

REL = "t:release:r1"


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def ev(label, url=None):
    return {"label": label, "url": url, "detail": ""}


def gate(gid, status, value, evidence=()):
    return {"id": gid, "label": gid.title(), "status": status, "value": value, "unit": "count",
            "evidence": list(evidence)}


# Four evaluations, stored out of order: S4's data is the oldest (20 Feb) but it was stored
# last, as a history rebuilt afterwards is.
S1 = (utc(2026, 3, 1, 6), "NO_GO", 40.0, [
    gate("bugs", "FAIL", 2, [ev("PAY-1", "https://j/PAY-1"), ev("PAY-2", "https://j/PAY-2")]),
    gate("tests", "PASS", 0.99, [ev("run 10", "https://ci/10")]),
    gate("staging", "FAIL", 0.0, [ev("deploy 5")])])
S2 = (utc(2026, 3, 2, 6), "NO_GO", 60.0, [
    gate("bugs", "FAIL", 1, [ev("PAY-2", "https://j/PAY-2")]),
    gate("tests", "FAIL", 0.95, [ev("run 11", "https://ci/11"), ev("test_x", "https://ci/11")]),
    gate("staging", "PASS", 1.0, [ev("deploy 6")])])
S3 = (utc(2026, 3, 2, 18), "GO", 100.0, [
    gate("bugs", "PASS", 0, []),
    gate("tests", "PASS", 1.0, [ev("run 12", "https://ci/12")]),
    gate("staging", "PASS", 1.0, [ev("deploy 6")])])
S4 = (utc(2026, 2, 20, 6), "AT_RISK", 50.0, [
    gate("bugs", "PASS", 0, []),
    gate("tests", "NO_DATA", None, []),
    gate("staging", "FAIL", 0.0, [ev("deploy 5")])])


@pytest.fixture
def snaps(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'snap.db'}")
    with engine.begin() as conn:
        for as_of, verdict, score, gates in (S1, S2, S3, S4):
            conn.execute(insert(readiness_snapshots).values(
                release_id=REL, evaluated_at=as_of if as_of.month == 3 else utc(2026, 3, 3),
                as_of=as_of, verdict=verdict, score=score,
                payload={"verdict": verdict, "score": score, "gates": gates}))
        conn.execute(insert(readiness_snapshots).values(  # another release: never mixed in
            release_id="t:release:other", evaluated_at=utc(2026, 3, 2), as_of=utc(2026, 3, 2),
            verdict="GO", score=100.0, payload={"gates": []}))
    with engine.connect() as conn:
        rows = list_snapshots(conn, REL, with_payload=True)
    engine.dispose()
    return rows


def test_timeline_follows_the_data_moment_not_the_storing_order(snaps):
    points = timeline(snaps)
    assert [p.as_of for p in points] == [S4[0], S1[0], S2[0], S3[0]]
    assert [(p.verdict, p.score) for p in points] == [("AT_RISK", 50), ("NO_GO", 40),
                                                     ("NO_GO", 60), ("GO", 100)]
    assert points[0].statuses == {"bugs": "PASS", "tests": "NO_DATA", "staging": "FAIL"}
    assert points[2].statuses == {"bugs": "FAIL", "tests": "FAIL", "staging": "PASS"}
    assert points[0].labels["staging"] == "Staging"


def _why(change):
    return ([e["label"] for e in change.added], [e["label"] for e in change.removed])


def test_every_flip_with_the_evidence_that_came_and_went(snaps):
    got = [(f.since, f.as_of, f.change.gate_id, f.change.before, f.change.after, _why(f.change))
           for f in flips(snaps)]
    assert got == [
        # 20 Feb → 1 Mar: two bugs appeared; the first test run arrived. Staging stayed FAIL
        # with the same value: not a flip.
        (S4[0], S1[0], "bugs", "PASS", "FAIL", (["PAY-1", "PAY-2"], [])),
        (S4[0], S1[0], "tests", "NO_DATA", "PASS", (["run 10"], [])),
        # 1 Mar → 2 Mar 06:00: run 11 failed test_x; staging went green with deploy 6. The bug
        # count went 2 → 1 without a flip, so it is not listed here.
        (S1[0], S2[0], "tests", "PASS", "FAIL", (["run 11", "test_x"], ["run 10"])),
        (S1[0], S2[0], "staging", "FAIL", "PASS", (["deploy 6"], ["deploy 5"])),
        # 2 Mar 06:00 → 18:00: PAY-2 closed, run 12 green.
        (S2[0], S3[0], "bugs", "FAIL", "PASS", ([], ["PAY-2"])),
        (S2[0], S3[0], "tests", "FAIL", "PASS", (["run 12"], ["run 11", "test_x"])),
    ]


def test_gate_changes_keep_value_moves_and_new_gates():
    before = {"gates": S1[3]}
    after = {"gates": S2[3] + [gate("flaky", "WARN", 3, [ev("test_y")])]}
    got = {c.gate_id: c for c in gate_changes(before, after)}
    assert list(got) == ["bugs", "tests", "staging", "flaky"]
    bugs = got["bugs"]
    assert (bugs.before, bugs.after, bugs.flipped) == ("FAIL", "FAIL", False)
    assert (bugs.value_before, bugs.value_after) == (2, 1) and _why(bugs) == ([], ["PAY-1"])
    flaky = got["flaky"]
    assert (flaky.before, flaky.after, flaky.flipped, flaky.value_before) == (None, "WARN",
                                                                              True, None)
    assert gate_changes(before, before) == []


def test_daily_scores_take_each_days_last_evaluation(snaps):
    # 7 days ending 2 Mar: 24 Feb … 2 Mar. 20 Feb is outside; 2 Mar's last is S3 (18:00).
    assert daily_scores(snaps, until=utc(2026, 3, 2, 20), days=7) == [
        (date(2026, 3, 1), 40.0), (date(2026, 3, 2), 100.0)]
    trend = daily_scores(snaps, until=utc(2026, 3, 2, 20), days=14)
    assert trend == [(date(2026, 2, 20), 50.0), (date(2026, 3, 1), 40.0),
                     (date(2026, 3, 2), 100.0)]
    # Over 7 days: 2 Mar (100) against the latest day at least 7 days earlier, 20 Feb (50).
    assert score_change(trend, 7) == 50.0
    # Over 1 day: against 1 Mar (40).
    assert score_change(trend, 1) == 60.0
    # Not far enough back: no change, not 0.
    assert score_change(trend[1:], 7) is None
    assert score_change([], 7) is None
    assert daily_scores(snaps, until=utc(2026, 2, 1), days=7) == []


def _result(gid, status, weight, blocking):
    g = G.Gate(gid, gid, "open_bugs_critical", "<=", 0.0, weight, blocking)
    return GateResult(g, status, None, [])


def test_points_lost_and_the_gate_holding_back_most():
    a = _result("a", "FAIL", 1, True)
    b = _result("b", "WARN", 5, False)
    c = _result("c", "NO_DATA", 2, True)
    d = _result("d", "PASS", 4, True)
    e = _result("e", "WAIVED", 6, True)
    gates = [a, b, c, d, e]
    # Weights not waived: 1 + 5 + 2 + 4 = 12. Lost: a 100×1/12, b 100×5×½/12, c 100×2/12.
    assert points_lost(a, gates) == pytest.approx(8.333, abs=1e-3)
    assert points_lost(b, gates) == pytest.approx(20.833, abs=1e-3)
    assert points_lost(c, gates) == pytest.approx(16.667, abs=1e-3)
    assert points_lost(d, gates) == 0 and points_lost(e, gates) == 0
    # A blocking FAIL holds it back most even when a WARN costs more points.
    assert holding_back(gates) is a
    # Without it: the most points lost.
    a_ok = _result("a", "PASS", 1, True)
    assert holding_back([a_ok, b, c, d, e]) is b
    # A tie in points (b' WARN weight 4 → 2 of 11; c NO_DATA weight 2 → 2 of 11): blocking first.
    b4 = _result("b", "WARN", 4, False)
    assert holding_back([a_ok, b4, c, d]) is c
    assert holding_back([a_ok, d, e]) is None


def test_days_to_target():
    today = date(2026, 3, 2)
    assert days_to_target(utc(2026, 3, 12), today) == 10
    assert days_to_target(utc(2026, 3, 1, 23, 30), today) == -1
    assert days_to_target(None, today) is None
