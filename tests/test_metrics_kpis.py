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
        # every configured project of the demo organisation, its GitLab team included
        assert set(allp.projects) == {"PAY", "OPS", "acme/web", "acme/mobile/app"}
        t = resolve_scope(conn, demo_settings, team="platform")
        assert t.projects == ("OPS",) and t.timezone == "America/New_York"


# --- the `kpis` command -------------------------------------------------------------------

def _cli_fixture(engine):
    from tests.metrics_rows import item

    load(engine,
         work_items=[
             item("PAY-1", created=utc(2026, 3, 1), status_category="done",
                  started=utc(2026, 3, 2), resolved=utc(2026, 3, 4)),
             item("PAY-2", created=utc(2026, 3, 1)),
             item("PAY-9", type="bug", severity="critical", created=utc(2026, 3, 5)),
         ],
         sprints=[sprint("1", "PAY 1", start=utc(2026, 3, 2), end=utc(2026, 3, 13),
                         completed=utc(2026, 3, 13))],
         sprint_items=[{"sprint_id": "t:sprint:1", "item_id": f"t:issue:PAY-{n}", "source": "t"}
                       for n in (1, 2)],
         releases=[release("1", "2.4")])


def _run(argv, monkeypatch, db_url, capsys):
    from metrics.__main__ import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_kpis_json_contract(engine, db_url, demo_settings, monkeypatch, capsys):
    import json

    _cli_fixture(engine)
    code, out, err = _run(["kpis", "--project", "PAY", "--since", "2026-03-01", "--until",
                           "2026-03-31", "--format", "json"], monkeypatch, db_url, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["scope"]["project"] == "PAY" and doc["scope"]["sprint"] == "PAY 1"
    assert doc["scope"]["sprint_default"] is True
    assert doc["scope"]["since"].startswith("2026-03-01") and doc["scope"]["until"].startswith(
        "2026-04-01")  # --until is a whole day
    k = {r["id"]: r for r in doc["kpis"]}
    assert set(CONTRACT_IDS) <= set(k)
    assert all(set(r) == {"id", "label", "value", "unit", "definition"} for r in doc["kpis"])
    # sprint PAY 1 without estimates: 2 items committed, PAY-1 done -> 1 completed, 1 left
    assert (k["sprint_committed"]["value"], k["sprint_committed"]["unit"]) == (2, "items")
    assert k["sprint_completed"]["value"] == 1 and k["sprint_not_completed"]["value"] == 1
    assert k["sprint_added"]["value"] == 0 and k["sprint_removed"]["value"] == 0
    assert k["say_do_ratio"]["value"] == 0.5 and k["velocity"]["value"] == 1
    # PAY-1: started 03-02, done 03-04 -> 48 h cycle; created 03-01 -> 72 h lead
    assert k["cycle_time_p50"]["value"] == 48 and k["lead_time_p50"]["value"] == 72
    assert k["cycle_time_p50"]["unit"] == "hours"
    # PAY-9 critical, created 03-05 and open on 04-01
    assert k["open_bugs_critical"]["value"] == 1 and k["open_bugs_high"]["value"] == 0
    assert k["bug_inflow"]["value"] == 1 and k["bug_outflow"]["value"] == 0
    assert "forecast_on_time" not in k  # only with a release


def test_kpis_csv_and_text(engine, db_url, demo_settings, monkeypatch, capsys):
    import csv
    import io

    _cli_fixture(engine)
    code, out, _ = _run(["kpis", "--sprint", "PAY 1", "--until", "2026-03-31", "--format",
                         "csv"], monkeypatch, db_url, capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    by = {r["id"]: r for r in rows}
    assert by["sprint_committed"]["value"] == "2.0" and by["sprint_committed"]["unit"] == "items"
    assert by["test_pass_rate"]["value"] == ""  # no test runs: empty, not 0
    code, out, _ = _run(["kpis", "--release", "2.4", "--until", "2026-03-31"],
                        monkeypatch, db_url, capsys)
    assert code == 0 and "release: 2.4" in out and "[open_bugs_critical]" in out
    assert "forecast_on_time" in out


@pytest.mark.parametrize("argv, message", [
    (["kpis", "--project", "NOPE"], "unknown project 'NOPE'"),
    (["kpis", "--release", "9.9", "--project", "PAY"],
     "unknown release '9.9' in project PAY; known: 2.4"),
    (["kpis", "--sprint", "Sprint 99"], "unknown sprint 'Sprint 99'; known: PAY 1"),
    (["kpis", "--since", "last week"], "bad date 'last week'"),
    (["kpis", "--format", "xml"], "invalid choice"),
])
def test_kpis_errors_exit_2_with_one_line(engine, db_url, demo_settings, monkeypatch, capsys,
                                          argv, message):
    _cli_fixture(engine)
    with pytest.raises(SystemExit) if "--format" in argv else _nothing():
        code, out, err = _run(argv, monkeypatch, db_url, capsys)
        assert code == 2 and out == ""
        assert message in err and err.count("\n") == 1
    if "--format" in argv:
        assert message in capsys.readouterr().err


def test_kpis_unreachable_database_exits_2(monkeypatch, capsys, demo_settings):
    code, out, err = _run(["kpis"], monkeypatch,
                          "postgresql+psycopg://nobody@127.0.0.1:9/none", capsys)
    assert code == 2 and err.startswith("error: cannot open database") and "\n" == err[-1]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- the demo organisation (smoke: real shapes, cross-checks between views) ----------------

def test_demo_organisation_kpis_are_consistent(engine, demo_settings):
    from datetime import date

    from sqlalchemy import select

    from data.demo import load_demo
    from data.schema import releases
    from metrics.forecast import forecast_release
    from metrics.kpis import compute_all
    from metrics.quality import escaped_defects, open_bugs_in_release
    from metrics.sprint import burndown, sprint_report

    load_demo(engine, scale=0.05, today=date(2026, 3, 18))
    with engine.connect() as conn:
        sc = resolve_scope(conn, demo_settings, project="PAY", release="2.4",
                           until="2026-03-18")
        errors: list[str] = []
        rows = {r.metric.id: r.value for r in compute_all(conn, sc, errors=errors)}
        assert errors == []
        assert set(CONTRACT_IDS) <= set(rows)
        assert sc.labels.get("sprint_default") and sc.sprint_id is not None
        rep = sprint_report(conn, sc.sprint_id)
        assert rep.unit == "points" and rep.committed > 0
        bd = burndown(conn, sc.sprint_id, tz=sc.timezone)
        # the burndown's last day agrees with the sprint report
        assert bd["remaining"].iloc[-1] == pytest.approx(rep.not_completed)
        assert bd["completed"].iloc[-1] == pytest.approx(rep.completed)
        assert rows["sprint_committed"].value == rep.committed
        # 2.4 is at risk with an open critical bug in its scope; 2.3 shipped clean
        assert open_bugs_in_release(conn, sc.release_id, sc.until, ["critical"])
        shipped = conn.execute(select(releases.c.id, releases.c.released_at).where(
            releases.c.project == "PAY", releases.c.name == "2.3")).one()
        assert open_bugs_in_release(conn, shipped.id, shipped.released_at, ["critical"]) == []
        assert escaped_defects(conn, shipped.id, now=sc.until)
        fc = forecast_release(conn, sc.release_id, as_of=sc.until, settings=demo_settings)
        assert fc.remaining and fc.p50 <= fc.p85 <= fc.p95
        assert 0 <= fc.probability_on_time <= 1
