"""Gate catalogue, overrides from readiness.toml, and the status / verdict / score rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data.config import ConfigError, parse_settings
from metrics import gates as G

DEFAULT_IDS = ["open_critical_bugs", "open_high_bugs", "scope_done", "test_pass_rate",
               "new_failures", "flaky_tests", "ci_success_rate", "staging_deploy_healthy",
               "change_failure_rate", "bug_trend_converging", "forecast_on_time", "data_fresh"]


def settings(doc: dict):
    return parse_settings(doc, Path("readiness.toml"))


def test_catalogue_has_the_default_gates():
    cat = G.load_catalogue()
    assert list(cat) == DEFAULT_IDS
    blocking = sorted(g.id for g in cat.values() if g.blocking)
    assert blocking == ["data_fresh", "open_critical_bugs", "test_pass_rate"]
    assert cat["open_critical_bugs"].threshold == 0 and cat["open_critical_bugs"].comparator == "<="
    assert cat["test_pass_rate"].unit == "fraction"


def test_overrides_apply_global_then_project_then_release():
    s = settings({
        "gates": {"open_high_bugs": {"threshold": 1, "warn": 5}},
        "projects": {"PAY": {
            "gates": {"open_high_bugs": {"threshold": 2}, "flaky_tests": {"enabled": False}},
            "releases": {"2.4": {"gates": {"test_pass_rate": {"threshold": 0.9, "warn": 0.8,
                                                              "blocking": False}}}}}}})
    gates = {g.id: g for g in G.gates_for(s, "PAY", "2.4")}
    assert "flaky_tests" not in gates
    assert (gates["open_high_bugs"].threshold, gates["open_high_bugs"].warn) == (2, 5)
    tp = gates["test_pass_rate"]
    assert (tp.threshold, tp.warn, tp.blocking) == (0.9, 0.8, False)
    # another release of PAY keeps the defaults for test_pass_rate
    other = {g.id: g for g in G.gates_for(s, "PAY", "2.5")}
    assert other["test_pass_rate"].threshold == 0.98 and other["open_high_bugs"].threshold == 2


@pytest.mark.parametrize("doc,message", [
    ({"gates": {"no_such_gate": {"threshold": 1}}},
     "readiness.toml: 'gates.no_such_gate' names an unknown gate 'no_such_gate'"),
    ({"projects": {"PAY": {"releases": {"2.4": {"gates": {"typo_gate": {"weight": 1}}}}}}},
     "'projects.PAY.releases.2.4.gates.typo_gate' names an unknown gate"),
    ({"projects": {"PAY": {"gates": {"test_pass_rate": {"threshold": 95}}}}},
     "'projects.PAY.gates.test_pass_rate.threshold' of gate 'test_pass_rate' is a fraction "
     "between 0 and 1"),
    ({"gates": {"open_high_bugs": {"threshold": -1}}}, "should be >= 0"),
    ({"gates": {"open_high_bugs": {"threshold": "none"}}}, "should be a number"),
    ({"gates": {"test_pass_rate": {"warn": 0.99}}},
     "'gates.test_pass_rate.warn' (0.99) should be at or below the threshold (0.98)"),
    ({"gates": {"open_high_bugs": {"threshold": 5}}},
     "'gates.open_high_bugs.warn' (3) should be at or above the threshold (5)"),
    ({"gates": {"scope_done": {"weight": -2}}}, "weight' should be a number >= 0"),
])
def test_bad_overrides_name_file_and_key(doc, message):
    with pytest.raises(ConfigError) as err:
        G.gates_for(settings(doc), "PAY", "2.4")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_catalogue_names_file_and_key(tmp_path):
    bad = tmp_path / "gates.toml"
    bad.write_text('[x]\nlabel = "X"\nmetric = "velocity_of_light"\ncomparator = "<="\n'
                   "threshold = 0\nweight = 1\nblocking = false\n")
    with pytest.raises(ConfigError, match=r"gates.toml: 'x.metric' names an unknown metric"):
        G.load_catalogue(bad)
    bad.write_text('[x]\nlabel = "X"\nmetric = "flaky_tests"\ncomparator = "~"\n'
                   "threshold = 0\nweight = 1\nblocking = false\n")
    with pytest.raises(ConfigError, match=r"'x.comparator' should be one of"):
        G.load_catalogue(bad)
    bad.write_text('[x]\nlabel = "X"\nmetric = "flaky_tests"\ncomparator = "<="\n'
                   "threshold = 0\nweight = 1\n")
    with pytest.raises(ConfigError, match=r"'x.blocking' is missing"):
        G.load_catalogue(bad)


def gate(**kw) -> G.Gate:
    base = dict(id="g", label="G", metric="test_pass_rate", comparator=">=", threshold=0.98,
                weight=1.0, blocking=True, warn=0.95)
    base.update(kw)
    return G.Gate(**base)


@pytest.mark.parametrize("g,value,expected", [
    (gate(), 0.99, "PASS"), (gate(), 0.98, "PASS"),      # threshold met (>=)
    (gate(), 0.96, "WARN"),                              # only the warn threshold met
    (gate(), 0.90, "FAIL"),                              # blocking, neither met
    (gate(blocking=False), 0.90, "WARN"),                # non-blocking gates never FAIL
    (gate(warn=None), 0.96, "FAIL"),
    (gate(), None, "NO_DATA"),
    (gate(metric="open_bugs_critical", comparator="<=", threshold=0, warn=None), 0, "PASS"),
    (gate(metric="open_bugs_critical", comparator="<=", threshold=0, warn=None), 1, "FAIL"),
])
def test_gate_status(g, value, expected):
    assert G.gate_status(g, value) == expected


def test_waived_wins_even_without_data():
    assert G.gate_status(gate(), 0.1, waived=True) == "WAIVED"
    assert G.gate_status(gate(), None, waived=True) == "WAIVED"


def test_verdict_rules():
    assert G.verdict([("PASS", True), ("PASS", False)]) == "GO"
    assert G.verdict([("PASS", True), ("NO_DATA", False)]) == "GO"  # non-blocking no data
    assert G.verdict([("PASS", True), ("NO_DATA", True)]) == "AT_RISK"
    assert G.verdict([("WARN", False), ("PASS", True)]) == "AT_RISK"
    assert G.verdict([("WARN", False), ("FAIL", True)]) == "NO_GO"
    assert G.verdict([("WAIVED", True), ("PASS", True)]) == "GO"


def test_score_arithmetic():
    # weights 3 PASS, 2 WARN, 1 FAIL, 2 NO_DATA, 5 WAIVED (left out):
    # 100 * (3*1 + 2*0.5 + 1*0 + 2*0) / (3 + 2 + 1 + 2) = 100 * 4 / 8 = 50
    assert G.score([("PASS", 3), ("WARN", 2), ("FAIL", 1), ("NO_DATA", 2),
                    ("WAIVED", 5)]) == 50.0
    assert G.score([("WAIVED", 1)]) == 100.0


def test_format_value():
    assert G.format_value(0.985, "fraction") == "98.5%"
    assert G.format_value(1.0, "fraction") == "100%"
    assert G.format_value(3.0, "count") == "3"
    assert G.format_value(None, "count") == "—"


STATUSES = st.sampled_from(["PASS", "WARN", "FAIL", "NO_DATA", "WAIVED"])
GATES = st.lists(st.tuples(STATUSES, st.floats(min_value=0, max_value=10), st.booleans()),
                 min_size=1, max_size=15)


@given(GATES, st.data())
def test_fail_to_pass_never_lowers_the_score(gs, data):
    fails = [i for i, (s, _, _) in enumerate(gs) if s == "FAIL"]
    if not fails:
        return
    i = data.draw(st.sampled_from(fails))
    before = G.score((s, w) for s, w, _ in gs)
    after_gates = list(gs)
    after_gates[i] = ("PASS", gs[i][1], gs[i][2])
    after = G.score((s, w) for s, w, _ in after_gates)
    assert after >= before - 1e-9


@given(GATES)
def test_a_failing_blocking_gate_means_no_go(gs):
    # statuses come from gate_status, where only blocking gates can FAIL
    pairs = [(s, b) for s, _, b in gs if s != "FAIL" or b]
    if any(s == "FAIL" and b for s, b in pairs):
        assert G.verdict(pairs) == "NO_GO"


@given(st.floats(min_value=0, max_value=1, allow_nan=False), st.booleans())
def test_failing_blocking_gate_through_status(value, blocking):
    g = gate(blocking=blocking, warn=None)
    status = G.gate_status(g, value)
    others = [("PASS", True), ("WARN", False)]
    if blocking and value < g.threshold:
        assert status == "FAIL" and G.verdict(others + [(status, blocking)]) == "NO_GO"
    elif value < g.threshold:
        assert status == "WARN" and G.verdict(others + [(status, blocking)]) == "AT_RISK"


def test_data_fresh_passes_up_to_the_limit_warns_to_twice_and_has_no_data_past_it():
    gate = G.load_catalogue()["data_fresh"]
    # [data_fresh] max_age_hours = 24: threshold 24, warn 48, no data past 48; weight 1
    assert (gate.threshold, gate.warn, gate.no_data_above, gate.weight, gate.blocking) == (
        24.0, 48.0, 48.0, 1.0, True)
    assert [G.gate_status(gate, v) for v in (0.0, 24.0, 24.01, 48.0, 48.01, None)] == [
        "PASS", "PASS", "WARN", "WARN", "NO_DATA", "NO_DATA"]
    # a blocking gate without data: not GO
    assert G.verdict([("PASS", True), ("NO_DATA", True)]) == "AT_RISK"


def test_data_fresh_limit_is_overridden_by_max_age_hours():
    s = settings({"gates": {"data_fresh": {"max_age_hours": 6}},
                  "projects": {"PAY": {"gates": {"data_fresh": {"max_age_hours": 12}}}}})
    glob = {g.id: g for g in G.apply_overrides(G.load_catalogue(), s)}["data_fresh"]
    pay = {g.id: g for g in G.apply_overrides(G.load_catalogue(), s, "PAY")}["data_fresh"]
    assert (glob.threshold, glob.warn, glob.no_data_above) == (6.0, 12.0, 12.0)
    assert (pay.threshold, pay.warn, pay.no_data_above) == (12.0, 24.0, 24.0)
    with pytest.raises(ConfigError, match="applies only to age gates"):
        G.apply_overrides(G.load_catalogue(),
                          settings({"gates": {"scope_done": {"max_age_hours": 6}}}))
    with pytest.raises(ConfigError, match="max_age_hours"):
        settings({"gates": {"data_fresh": {"max_age_hours": 0}}})
