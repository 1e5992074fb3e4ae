"""Readiness of a release on a hand-made fixture (SQLite and PostgreSQL), waivers, as-of,
snapshots — and on the demo organisation.

Fixture: project PAY (repo acme/pay, service pay-api, pipeline ci), release 2.4 (no target date),
evaluated at NOW = 2026-03-10 12:00 UTC (a Tuesday).
  items: PAY-1 story done 03-05; PAY-2 story in progress; PAY-3 critical bug open (created
         03-02); PAY-4 high bug created 03-03, done 03-08; PAY-5 high bug open (created 03-09);
         PAY-6 story created 03-11 (after NOW)
  runs on release/2.4: r1 03-08 success, T1..T4 pass; r2 03-09 failure, T3 fails
  staging pay-api: s1 success 03-08, s2 failure 03-09; production p1 03-01, p2 03-05 success
Project OPS: release 1.0 with one done story and nothing else (no tests, no deployments).
Syncs of source t succeeded at 03-08 06:00 and 03-10 06:00: 6 h old at NOW and at 03-08 12:00.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from metrics_rows import change, item, load, release, utc

from data.config import DEMO_CONFIG_PATH, parse_settings
from metrics import readiness, snapshots, waivers

NOW = utc(2026, 3, 10, 12)
SETTINGS = parse_settings({"projects": {
    "PAY": {"repos": ["acme/pay"], "services": ["pay-api"], "pipelines": ["ci"]},
    "OPS": {"repos": ["acme/ops"], "services": ["ops-gw"], "pipelines": ["ci"]}}},
    Path("readiness.toml"))


def run(rid, day, conclusion):
    fin = utc(2026, 3, day, 10)
    return {"id": rid, "source": "t", "pipeline": "ci", "repo": "acme/pay", "project": "PAY",
            "branch": "release/2.4", "sha": rid, "status": "completed", "conclusion": conclusion,
            "started_at": fin - timedelta(minutes=5), "finished_at": fin, "duration_s": 300.0,
            "url": f"https://ci/{rid}"}


def dep(did, env, day, status):
    at = utc(2026, 3, day, 9)
    return {"id": did, "source": "t", "service": "pay-api", "repo": "acme/pay",
            "environment": env, "status": status, "started_at": at, "finished_at": at,
            "url": f"https://deploy/{did}"}


def load_fixture(engine) -> None:
    """Load the fixture in the module docstring (also used by the CLI tests)."""
    items = [
        item("PAY-1", created=utc(2026, 2, 20), status_category="done",
             resolved=utc(2026, 3, 5)),
        item("PAY-2", created=utc(2026, 2, 20), status_category="in_progress"),
        item("PAY-3", type="bug", severity="critical", created=utc(2026, 3, 2)),
        item("PAY-4", type="bug", severity="high", created=utc(2026, 3, 3),
             status_category="done", resolved=utc(2026, 3, 8)),
        item("PAY-5", type="bug", severity="high", created=utc(2026, 3, 9)),
        item("PAY-6", created=utc(2026, 3, 11)),
        item("OPS-1", project="OPS", created=utc(2026, 2, 1), status_category="done",
             resolved=utc(2026, 2, 10)),
    ]
    rels = [release("pay24", "2.4"), release("ops10", "1.0", project="OPS")]
    members = [{"release_id": "t:release:pay24", "item_id": f"t:issue:PAY-{i}", "source": "t"}
               for i in range(1, 7)]
    members.append({"release_id": "t:release:ops10", "item_id": "t:issue:OPS-1", "source": "t"})
    runs = [run("r1", 8, "success"), run("r2", 9, "failure")]
    results = [{"run_id": r, "classname": "pay", "name": f"T{i}",
                "status": "failed" if (r, i) == ("r2", 3) else "passed", "flaky": False,
                "message": "boom <script>" if (r, i) == ("r2", 3) else None}
               for r in ("r1", "r2") for i in range(1, 5)]
    deps = [dep("s1", "staging", 8, "success"), dep("s2", "staging", 9, "failure"),
            dep("p1", "production", 1, "success"), dep("p2", "production", 5, "success")]
    syncs = [{"source": "t", "scope": "all", "started_at": at - timedelta(minutes=5),
              "finished_at": at, "outcome": "success", "items": {}, "requests": 0,
              "not_modified": 0} for at in (utc(2026, 3, 8, 6), utc(2026, 3, 10, 6))]
    load(engine, work_items=items, releases=rels, release_items=members, pipeline_runs=runs,
         test_results=results, deployments=deps, sync_runs=syncs)


@pytest.fixture
def db(engine):
    load_fixture(engine)
    return engine


def statuses(ev) -> dict:
    return {g.gate.id: (g.status, g.value) for g in ev.gates}


def test_release_due_with_problems(db):
    with db.connect() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", now=NOW)
    got = statuses(ev)
    assert got["open_critical_bugs"] == ("FAIL", 1)          # PAY-3, blocking
    assert got["open_high_bugs"] == ("WARN", 1)              # PAY-5; PAY-4 was done 03-08
    assert got["scope_done"] == ("WARN", pytest.approx(2 / 5))  # PAY-1, PAY-4 of 1..5
    assert got["test_pass_rate"] == ("FAIL", 0.75)           # r2: 3 of 4, blocking
    assert got["new_failures"] == ("WARN", 1)                # T3 passed in r1
    assert got["flaky_tests"] == ("PASS", 0)                 # T3 flipped once only
    assert got["ci_success_rate"] == ("WARN", 0.5)           # r1 success, r2 failure
    assert got["staging_deploy_healthy"] == ("WARN", 0.0)    # latest staging s2 failed
    assert got["change_failure_rate"] == ("PASS", 0.0)       # p1, p2, no incidents
    # weeks (Mon) 02-23, 03-02, 03-09: 3 bugs in (PAY-3, PAY-4, PAY-5), 1 out (PAY-4)
    assert got["bug_trend_converging"] == ("WARN", 0.0)
    assert got["forecast_on_time"] == ("NO_DATA", None)      # no target date
    assert got["data_fresh"] == ("PASS", 6.0)                # t synced at 06:00, NOW 12:00
    assert ev.verdict == "NO_GO"
    # weights 3,2,2,3,1,1,1,2,1,1,2,1 = 20; credit 0+1+1+0+0.5+1+0.5+1+1+0.5+0+1 = 7.5
    # 100 * 7.5 / 20 = 37.5
    assert ev.score == 37.5
    by_id = {g.gate.id: g for g in ev.gates}
    assert [e["label"] for e in by_id["open_critical_bugs"].evidence] == ["PAY-3"]
    assert by_id["open_critical_bugs"].evidence[0]["url"] == "https://t/PAY-3"
    assert "pay::T3" in [e["label"] for e in by_id["test_pass_rate"].evidence]
    assert [e["label"] for e in by_id["new_failures"].evidence] == ["pay::T3"]
    assert by_id["staging_deploy_healthy"].evidence[0]["label"] == "s2"
    assert {g.gate.id for g in ev.reasons()} == {
        "open_critical_bugs", "open_high_bugs", "scope_done", "test_pass_rate", "new_failures",
        "ci_success_rate", "staging_deploy_healthy", "bug_trend_converging"}


def test_json_contract(db):
    with db.connect() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", now=NOW)
    doc = json.loads(json.dumps(ev.to_dict()))
    assert list(doc)[:6] == ["release", "project", "verdict", "score", "evaluated_at", "gates"]
    assert (doc["release"], doc["project"], doc["verdict"]) == ("2.4", "PAY", "NO_GO")
    assert list(doc["gates"][0])[:7] == ["id", "label", "status", "value", "threshold",
                                         "blocking", "evidence"]


def test_waivers_cover_gates_until_they_expire(db):
    with db.begin() as conn:
        waivers.add_waiver(conn, "t:release:pay24", "open_critical_bugs", reason="hotfix ready",
                           by="Ana", expires_at=utc(2026, 3, 20), now=utc(2026, 3, 9))
        waivers.add_waiver(conn, "t:release:pay24", "test_pass_rate", reason="known infra flake",
                           by="Ben", now=utc(2026, 3, 9))
        # expired before NOW: ignored
        waivers.add_waiver(conn, "t:release:pay24", "scope_done", reason="old", by="Cy",
                           expires_at=utc(2026, 3, 9, 12), now=utc(2026, 3, 9))
    with db.connect() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", now=NOW)
        later = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24",
                                           now=utc(2026, 3, 21))
    got = statuses(ev)
    assert got["open_critical_bugs"][0] == "WAIVED" and got["test_pass_rate"][0] == "WAIVED"
    assert got["scope_done"][0] == "WARN"
    # no FAIL left, WARNs remain -> AT_RISK; waived weights 3 + 3 leave 14 (with data_fresh,
    # PASS): 100 * 7.5 / 14 = 53.57
    assert (ev.verdict, ev.score) == ("AT_RISK", 53.6)
    # after 03-20 the critical-bug waiver has expired; the other one never expires
    assert statuses(later)["open_critical_bugs"][0] == "FAIL"
    assert statuses(later)["test_pass_rate"][0] == "WAIVED"


def test_waiver_validation(db):
    with db.begin() as conn:
        with pytest.raises(waivers.WaiverError, match="unknown gate 'nope'"):
            waivers.add_waiver(conn, "t:release:pay24", "nope", reason="r", by="b",
                               known_gates={"flaky_tests"})
        with pytest.raises(waivers.WaiverError, match="needs a reason"):
            waivers.add_waiver(conn, "t:release:pay24", "flaky_tests", reason=" ", by="b")
        with pytest.raises(waivers.WaiverError, match="already past"):
            waivers.add_waiver(conn, "t:release:pay24", "flaky_tests", reason="r", by="b",
                               expires_at=utc(2020, 1, 1))


def test_as_of_uses_only_data_that_existed(db):
    with db.connect() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24",
                                        as_of=utc(2026, 3, 8, 12), now=NOW)
    got = statuses(ev)
    assert got["test_pass_rate"] == ("PASS", 1.0)      # only r1 had finished: 4 of 4
    assert got["new_failures"] == ("PASS", 0)          # r1 has no failures, no previous run
    assert got["ci_success_rate"] == ("PASS", 1.0)
    assert got["staging_deploy_healthy"] == ("PASS", 1.0)  # s2 had not happened
    assert got["open_high_bugs"] == ("PASS", 0)        # PAY-4 done 03-08 00:00, PAY-5 not yet
    # PAY-1 and PAY-4 done of PAY-1..PAY-4 (PAY-5 created 03-09): 2 / 4
    assert got["scope_done"][1] == pytest.approx(0.5)
    assert ev.as_of == utc(2026, 3, 8, 12) and ev.evaluated_at == NOW


def test_as_of_counts_only_items_that_were_in_the_release_then(db):
    # PAY-3 (critical, open) was only put into 2.4 on 03-09
    load(db, work_item_changes=[change("PAY-3", utc(2026, 3, 9), "fix_version", None, "2.4")])
    with db.connect() as conn:
        before = statuses(readiness.evaluate_release(conn, SETTINGS, "t:release:pay24",
                                                     as_of=utc(2026, 3, 8, 12), now=NOW))
        today = statuses(readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", now=NOW))
    assert before["open_critical_bugs"] == ("PASS", 0)
    assert today["open_critical_bugs"] == ("FAIL", 1)
    # then: PAY-1, PAY-2, PAY-4 (PAY-5 created 03-09); done PAY-1 and PAY-4: 2 / 3
    assert before["scope_done"][1] == pytest.approx(2 / 3)


def test_release_without_tests_is_no_data_and_at_risk(db):
    with db.connect() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:ops10", now=NOW)
    got = statuses(ev)
    assert got["test_pass_rate"] == ("NO_DATA", None)
    assert got["open_critical_bugs"] == ("PASS", 0) and got["scope_done"] == ("PASS", 1.0)
    assert ev.verdict == "AT_RISK"  # a blocking gate without data is never a pass
    # PASS weights 3 + 2 + 2 + 1 (data fresh) = 8 of 20 (everything else has no data): 40.0
    assert ev.score == 40.0


def test_snapshots_store_every_evaluation(db):
    with db.begin() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", now=NOW)
        snapshots.save_snapshot(conn, ev)
        ev2 = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24",
                                         as_of=utc(2026, 3, 8, 12), now=NOW + timedelta(hours=1))
        snapshots.save_snapshot(conn, ev2)
    with db.connect() as conn:
        snaps = snapshots.list_snapshots(conn, "t:release:pay24", with_payload=True)
    assert [(s["verdict"], s["score"]) for s in snaps] == [("NO_GO", 37.5),
                                                          (ev2.verdict, ev2.score)]
    assert snaps[0]["payload"] == json.loads(json.dumps(ev.to_dict()))
    assert snaps[1]["as_of"] == utc(2026, 3, 8, 12)


def test_unknown_release(db):
    with db.connect() as conn, pytest.raises(readiness.ReleaseNotFound):
        readiness.evaluate_release(conn, SETTINGS, "t:release:nope", now=NOW)


# --- the demo organisation ---------------------------------------------------------------------
DEMO_TODAY = date(2026, 3, 2)


def demo_settings():
    """The demo organisation's settings (what load_settings gives without readiness.toml)."""
    with open(DEMO_CONFIG_PATH, "rb") as fh:
        return parse_settings(tomllib.load(fh), None)


@pytest.fixture
def demo(engine):
    try:
        from data.demo import load_demo
    except ModuleNotFoundError as exc:
        if exc.name not in ("data.demo",):
            raise
        pytest.skip("data/demo.py has not landed yet")
    load_demo(engine, scale=0.05, today=DEMO_TODAY)
    return engine


def _release_id(conn, project, name):
    from sqlalchemy import select

    from data.schema import releases

    return conn.execute(select(releases.c.id, releases.c.released_at).where(
        releases.c.project == project, releases.c.name == name)).first()


def test_demo_release_due_soon_is_not_go_and_names_its_reasons(demo):
    settings = demo_settings()
    now = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    with demo.connect() as conn:
        rid, _ = _release_id(conn, "PAY", "2.4")
        ev = readiness.evaluate_release(conn, settings, rid, now=now)
    assert ev.verdict != "GO"
    reasons = {g.gate.id: g for g in ev.reasons()}
    # the demo's planted problems: an open critical bug, a new failure on release/2.4, a
    # flaky test and a failed staging deployment — each named with its evidence
    assert "open_critical_bugs" in reasons and reasons["open_critical_bugs"].evidence
    assert reasons["open_critical_bugs"].evidence[0]["label"].startswith("PAY-")
    assert "new_failures" in reasons and reasons["new_failures"].evidence
    assert "flaky_tests" in reasons and reasons["flaky_tests"].evidence
    assert "staging_deploy_healthy" in reasons


def test_demo_shipped_release_was_go_when_it_shipped(demo):
    settings = demo_settings()
    with demo.connect() as conn:
        rid, released_at = _release_id(conn, "PAY", "2.3")
        ev = readiness.evaluate_release(conn, settings, rid, as_of=released_at)
    assert ev.verdict == "GO", [(g.gate.id, g.status, g.value, g.basis) for g in ev.reasons()]


def test_data_fresh_is_judged_by_the_syncs_before_the_moment(db):
    """Syncs of t at 03-08 06:00 and 03-10 06:00 (the fixture)."""
    def fresh(as_of):
        with db.connect() as conn:
            ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", as_of=as_of,
                                            now=NOW)
        g = {r.gate.id: r for r in ev.gates}["data_fresh"]
        return g.status, g.value, ev.to_dict()["data_age"]

    # 03-09 12:00: the 03-10 sync is later and does not count; 03-08 06:00 is 30 h old: WARN
    status, value, ages = fresh(utc(2026, 3, 9, 12))
    assert (status, value) == ("WARN", 30.0)
    assert ages == [{"source": "t", "last_success": "2026-03-08T06:00:00+00:00",
                     "age_hours": 30.0, "state": "stale", "error": None}]
    # 03-10 06:30: the 03-10 06:00 sync counts, 0.5 h old: PASS
    assert fresh(utc(2026, 3, 10, 6, 30))[:2] == ("PASS", 0.5)
    # 03-12 07:00: 49 h after the last sync, past twice the limit: no data, not GO
    assert fresh(utc(2026, 3, 12, 7))[:2] == ("NO_DATA", 49.0)
    # 03-08 05:00: no sync yet at all
    assert fresh(utc(2026, 3, 8, 5))[:2] == ("NO_DATA", None)


def test_reports_state_each_sources_data_age(db):
    from metrics.report import render

    with db.connect() as conn:
        ev = readiness.evaluate_release(conn, SETTINGS, "t:release:pay24", now=NOW)
    line = "Data age: t 6.0 h (last success 2026-03-10 06:00 UTC)"
    assert line in render(ev, "text").splitlines()
    assert f'<p class="meta">{line}</p>' in render(ev, "html")
    assert line in render(ev, "markdown")
    assert json.loads(render(ev, "json"))["data_age"][0]["age_hours"] == 6.0
