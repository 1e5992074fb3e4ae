"""Missing data never passes.

1. Properties of the verdict rules (metrics/gates.py) over any set of gate results, checked
   against the rules as docs/metrics.md writes them, computed here independently (the score with
   exact fractions, never clamped): a gate without data is NO_DATA, never PASS; it earns what a
   FAIL earns; the verdict is NO-GO on any FAIL, else AT RISK on any WARN or blocking NO_DATA,
   else GO.
2. For each source left empty, on the demo organisation (SQLite and PostgreSQL), every gate that
   reads it says NO_DATA — where, with the source present, every gate PASSed (OPS 1.9 is GO).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from data import schema
from data.config import load_settings
from data.demo import load_demo
from data.store import get_engine
from metrics import gates as G
from metrics.readiness import evaluate_release

ROOT = Path(__file__).resolve().parent.parent

# --- 1. the rules --------------------------------------------------------------------------------
COMPARATORS = st.sampled_from(["<=", "<", ">=", ">", "=="])
NUMBERS = st.integers(min_value=0, max_value=20).map(lambda n: n / 4)  # exact in binary


@st.composite
def gate_results(draw):
    """A gate (any comparator, threshold, optional warn, weight, blocking) with a measured value
    (None = no data) and whether a waiver covers it."""
    gate = G.Gate(id=f"g{draw(st.integers(0, 10**6))}", label="g", metric="scope_done",
                  comparator=draw(COMPARATORS), threshold=draw(NUMBERS),
                  weight=float(draw(st.integers(min_value=0, max_value=5))),
                  blocking=draw(st.booleans()), warn=draw(st.none() | NUMBERS))
    value = draw(st.none() | NUMBERS)
    return gate, value, draw(st.booleans())


def _meets(value: float, comparator: str, bound: float) -> bool:
    return {"<=": value <= bound, "<": value < bound, ">=": value >= bound,
            ">": value > bound, "==": value == bound}[comparator]


def written_status(gate: G.Gate, value, waived: bool) -> str:
    """docs/metrics.md: WAIVED when a waiver covers it; NO_DATA when its metric has no data; PASS
    when the threshold is met; else WARN when the warn threshold is met or the gate does not
    block; else FAIL."""
    if waived:
        return "WAIVED"
    if value is None:
        return "NO_DATA"
    if _meets(value, gate.comparator, gate.threshold):
        return "PASS"
    if (gate.warn is not None and _meets(value, gate.comparator, gate.warn)) \
            or not gate.blocking:
        return "WARN"
    return "FAIL"


def written_verdict(pairs) -> str:
    """NO-GO if any gate FAILs; else AT RISK if any gate WARNs or a blocking gate has NO_DATA;
    else GO."""
    if any(s == "FAIL" for s, _ in pairs):
        return "NO_GO"
    if any(s == "WARN" or (s == "NO_DATA" and b) for s, b in pairs):
        return "AT_RISK"
    return "GO"


def written_score(pairs) -> Fraction:
    """100 × Σ weight × credit / Σ weight over gates not waived (PASS 1, WARN ½, FAIL and
    NO_DATA 0); 100 when nothing counts. Exact, and not clamped."""
    credit = {"PASS": Fraction(1), "WARN": Fraction(1, 2), "FAIL": Fraction(0),
              "NO_DATA": Fraction(0)}
    counted = [(s, Fraction(w)) for s, w in pairs if s != "WAIVED"]
    total = sum(w for _, w in counted)
    if total == 0:
        return Fraction(100)
    return 100 * sum(w * credit[s] for s, w in counted) / total


PROPERTY = settings(max_examples=400, deadline=None, derandomize=True)


@PROPERTY
@given(st.lists(gate_results(), min_size=1, max_size=12))
def test_no_data_never_passes_and_the_verdict_follows_the_rules(results):
    statuses = [G.gate_status(g, v, waived=w) for g, v, w in results]
    for (gate, value, waived), status in zip(results, statuses):
        assert status == written_status(gate, value, waived)
        if value is None and not waived:
            assert status == "NO_DATA"  # never PASS, whatever the threshold
    pairs = [(s, g.blocking) for s, (g, _, _) in zip(statuses, results)]
    assert G.verdict(pairs) == written_verdict(pairs)
    if any(s == "NO_DATA" and b for s, b in pairs):
        assert G.verdict(pairs) != "GO"


@PROPERTY
@given(st.lists(gate_results(), min_size=1, max_size=12))
def test_the_score_is_the_written_formula(results):
    """Replaces a check that the score lies in 0..100, which could not fail: the score is
    clamped to that range before it is returned."""
    pairs = [(G.gate_status(g, v, waived=w), g.weight) for g, v, w in results]
    assert G.score(pairs) == pytest.approx(float(written_score(pairs)), abs=1e-9)


@PROPERTY
@given(st.lists(gate_results(), min_size=1, max_size=12), st.data())
def test_a_gate_without_data_earns_what_a_fail_earns(results, data):
    pairs = [(G.gate_status(g, v, waived=w), g.weight) for g, v, w in results]
    missing = [i for i, (s, _) in enumerate(pairs) if s == "NO_DATA"]
    if not missing:
        return
    i = data.draw(st.sampled_from(missing))
    as_fail = pairs[:i] + [("FAIL", pairs[i][1])] + pairs[i + 1:]
    as_pass = pairs[:i] + [("PASS", pairs[i][1])] + pairs[i + 1:]
    assert G.score(pairs) == G.score(as_fail)
    if pairs[i][1] > 0:  # with any weight, the data it lacks would have raised the score
        assert G.score(as_pass) > G.score(pairs)


# --- 2. each source left empty ------------------------------------------------------------------
TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)
RELEASE = "demo:release:OPS:1.9"  # GO with every gate PASSing while every source is present
T = schema
# source → the tables its sync fills, and the gates that read them
SOURCES = {
    "issues": ([T.incidents, T.scope_snapshots, T.work_item_changes, T.release_items,
                T.sprint_items, T.work_items],
               {"open_critical_bugs", "open_high_bugs", "scope_done", "bug_trend_converging",
                "forecast_on_time"}),
    "ci_runs": ([T.test_results, T.pipeline_runs],
                {"test_pass_rate", "new_failures", "flaky_tests", "ci_success_rate"}),
    "test_results": ([T.test_results], {"test_pass_rate", "new_failures", "flaky_tests"}),
    "deployments": ([T.incidents, T.deployment_commits, T.deployments],
                    {"staging_deploy_healthy", "change_failure_rate"}),
}


def _evaluate(engine):
    cfg = load_settings(ROOT / "data" / "demo.toml")
    with engine.connect() as conn:
        return evaluate_release(conn, cfg, RELEASE, now=NOW)


@pytest.mark.parametrize("emptied", [*([s] for s in SOURCES), list(SOURCES)],
                         ids=[*SOURCES, "all"])
def test_each_empty_source_gives_no_data_not_pass(db_url, emptied):
    engine = get_engine(db_url)
    load_demo(engine, scale=0.05, today=TODAY)
    before = {g.gate.id: g.status for g in _evaluate(engine).gates}
    assert set(before.values()) == {"PASS"}, before  # everything is measured and green
    with engine.begin() as conn:
        for source in emptied:
            for table in SOURCES[source][0]:
                conn.execute(delete(table))
    evaluation = _evaluate(engine)
    after = {g.gate.id: g.status for g in evaluation.gates}
    engine.dispose()
    reading = set().union(*(SOURCES[s][1] for s in emptied))
    assert {g: after[g] for g in reading} == {g: "NO_DATA" for g in reading}
    # the gates reading only other sources keep their data
    assert {g for g, s in after.items() if s == "NO_DATA"} == reading
    blocking_missing = {"open_critical_bugs", "test_pass_rate"} & reading
    assert evaluation.verdict == ("AT_RISK" if blocking_missing else "GO")
