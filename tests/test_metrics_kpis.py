"""Scope resolution, the registry and the `kpis` command."""

from __future__ import annotations

import pytest

from data.config import load_settings
from metrics import registry
from metrics.scope import ScopeError, resolve_scope
from tests.metrics_rows import load, release, sprint, utc

CONTRACT_IDS = [
    "sprint_committed", "sprint_completed", "sprint_added", "sprint_removed",
    "sprint_not_completed", "velocity", "say_do_ratio", "cycle_time_p50", "lead_time_p50",
    "open_bugs_critical", "open_bugs_high", "bug_inflow", "bug_outflow", "test_pass_rate",
    "flaky_tests", "pipeline_success_rate", "deployment_frequency", "lead_time_for_changes",
    "change_failure_rate", "failed_deployment_recovery_time", "deployment_rework_rate",
]


def test_every_contract_id_is_defined_with_a_unit_and_definition():
    ids = [r.metric.id for r in registry.all_kpis()]
    for cid in CONTRACT_IDS:
        assert cid in ids
        m = registry.get(cid).metric
        assert m.definition and m.unit in registry.UNITS


def test_unknown_kpi_names_the_known_ones():
    with pytest.raises(KeyError, match="known: .*velocity"):
        registry.get("nope")


@pytest.fixture
def demo_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no readiness.toml here: the demo organisation
    return load_settings()


def test_resolve_scope_release_sprint_and_window(engine, demo_settings):
    load(engine,
         releases=[release("1", "2.4"), release("2", "2.5"), release("3", "1.0", project="OPS")],
         sprints=[sprint("1", "PAY 1", start=utc(2026, 3, 2), end=utc(2026, 3, 16),
                         completed=utc(2026, 3, 16, 10)),
                  sprint("2", "PAY 2", start=utc(2026, 3, 16), end=utc(2026, 3, 30),
                         completed=utc(2026, 3, 30, 9)),
                  sprint("3", "PAY 3", start=utc(2026, 3, 30), end=utc(2026, 4, 13),
                         state="active")])
    with engine.connect() as conn:
        s = resolve_scope(conn, demo_settings, release="2.4", until="2026-04-05")
        assert s.projects == ("PAY",) and s.release_id == "t:release:1"
        assert s.repos == ("acme/payments",) and s.services == ("payments-api",)
        assert s.timezone == "Europe/Berlin"  # the payments team owns PAY
        # until is a date: the whole day counts -> 2026-04-06 00:00; since = until - 30 days
        assert s.until == utc(2026, 4, 6) and s.since == utc(2026, 3, 7)
        # last closed sprint completed before until: PAY 2 (PAY 3 is still active)
        assert s.sprint_id == "t:sprint:2" and s.labels["sprint"] == "PAY 2"
        # as of 2026-03-20 the last closed one was PAY 1
        s = resolve_scope(conn, demo_settings, project="PAY", until="2026-03-20")
        assert s.sprint_id == "t:sprint:1"
        s = resolve_scope(conn, demo_settings, sprint="PAY 3")
        assert s.sprint_id == "t:sprint:3"
        with pytest.raises(ScopeError, match=r"unknown release '9.9' in project PAY; known: 2.4, 2.5"):
            resolve_scope(conn, demo_settings, project="PAY", release="9.9")
        with pytest.raises(ScopeError, match="unknown project 'ZZZ'"):
            resolve_scope(conn, demo_settings, project="ZZZ")
        with pytest.raises(ScopeError, match="unknown sprint 'X'; known: PAY 1, PAY 2, PAY 3"):
            resolve_scope(conn, demo_settings, project="PAY", sprint="X")
        with pytest.raises(ScopeError, match="unknown team"):
            resolve_scope(conn, demo_settings, team="nobody")
        allp = resolve_scope(conn, demo_settings)
        assert set(allp.projects) == {"PAY", "OPS", "acme/web"}
        t = resolve_scope(conn, demo_settings, team="platform")
        assert t.projects == ("OPS",) and t.timezone == "America/New_York"
