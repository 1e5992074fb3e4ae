"""DORA metrics: hand-worked fixture (SQLite and PostgreSQL) and DevLake conformance.

Fixture: service pay-api (repo acme/pay), window 2026-03-01 .. 03-11 (10 days). Production:
  d0 success 02-27 12:00 (before the window)
  d1 success 03-02 10:00 ships m1, m0        d2 success 03-04 10:00 ships m2
  d3 FAILURE 03-05 10:00                      d4 success 03-05 12:00 ships m3
  d5 success 03-07 10:00 ships m4             d6 success ROLLBACK 03-07 13:30 (started 13:20)
  staging s1 and another service's ops1 are out of scope.
Incidents: i1 pay-api opened 03-07 11:00, resolved 15:00, names no deployment (-> d5 by rule);
           i2 pay-api opened 03-09 09:00, unresolved, names d2.
PRs (merged in the window unless said):
  p1 first commit 03-01 08:00, created 10:00, first review 12:00, merged 03-02 09:00, sha m1
  p2 first commit 03-03 09:00 (after creation), created 08:00, no review, merged 03-04 08:00, m2
  p3 first commit 03-05 06:00, created 07:00, review 08:00, merged 09:00, sha m3 (d3 failed; d4)
  p4 first commit 03-07 08:00, created 09:00, review 10:00, merged 03-08 10:00, sha m9 (never)
  p5 first commit 03-05 10:00, created 11:00, review 13:00, merged 03-06 13:00, sha m0 — only in
     d1, which finished BEFORE the merge, so not deployed
  p6 merged 02-20: outside the window
"""

from __future__ import annotations

import csv
import dataclasses
import math
from datetime import datetime, timedelta, timezone

import pytest
from metrics_rows import load, utc

from metrics import dora
from metrics.scope import Scope

SINCE, UNTIL = utc(2026, 3, 1), utc(2026, 3, 11)


def deploy(did, at, *, status="success", env="production", service="pay-api", rollback=False,
           started=None):
    return {"id": did, "source": "t", "service": service,
            "repo": "acme/pay" if service == "pay-api" else "acme/ops",
            "environment": env, "status": status, "sha": did,
            "started_at": started or at - timedelta(minutes=10), "finished_at": at,
            "is_rollback": rollback, "url": f"https://deploy/{did}"}


def pull(pid, *, first_commit, created, review, merged, sha):
    return {"id": pid, "source": "t", "repo": "acme/pay", "number": int(pid[1:]),
            "created_at": created, "first_commit_at": first_commit, "first_review_at": review,
            "merged_at": merged, "merge_sha": sha, "url": f"https://pr/{pid}"}


@pytest.fixture
def delivery(engine):
    deps = [deploy("d0", utc(2026, 2, 27, 12)), deploy("d1", utc(2026, 3, 2, 10)),
            deploy("d2", utc(2026, 3, 4, 10)), deploy("d3", utc(2026, 3, 5, 10), status="failure"),
            deploy("d4", utc(2026, 3, 5, 12)), deploy("d5", utc(2026, 3, 7, 10)),
            deploy("d6", utc(2026, 3, 7, 13, 30), rollback=True, started=utc(2026, 3, 7, 13, 20)),
            deploy("s1", utc(2026, 3, 3, 10), env="staging"),
            deploy("ops1", utc(2026, 3, 3, 10), service="ops-gw")]
    shipped = [("d1", "m1"), ("d1", "m0"), ("d2", "m2"), ("d4", "m3"), ("d5", "m4")]
    commits = [{"deployment_id": d, "sha": s, "source": "t"} for d, s in shipped]
    incidents = [
        {"id": "i1", "source": "t", "service": "pay-api", "opened_at": utc(2026, 3, 7, 11),
         "resolved_at": utc(2026, 3, 7, 15), "deployment_id": None},
        {"id": "i2", "source": "t", "service": "pay-api", "opened_at": utc(2026, 3, 9, 9),
         "resolved_at": None, "deployment_id": "d2"}]
    pulls = [
        pull("p1", first_commit=utc(2026, 3, 1, 8), created=utc(2026, 3, 1, 10),
             review=utc(2026, 3, 1, 12), merged=utc(2026, 3, 2, 9), sha="m1"),
        pull("p2", first_commit=utc(2026, 3, 3, 9), created=utc(2026, 3, 3, 8), review=None,
             merged=utc(2026, 3, 4, 8), sha="m2"),
        pull("p3", first_commit=utc(2026, 3, 5, 6), created=utc(2026, 3, 5, 7),
             review=utc(2026, 3, 5, 8), merged=utc(2026, 3, 5, 9), sha="m3"),
        pull("p4", first_commit=utc(2026, 3, 7, 8), created=utc(2026, 3, 7, 9),
             review=utc(2026, 3, 7, 10), merged=utc(2026, 3, 8, 10), sha="m9"),
        pull("p5", first_commit=utc(2026, 3, 5, 10), created=utc(2026, 3, 5, 11),
             review=utc(2026, 3, 5, 13), merged=utc(2026, 3, 6, 13), sha="m0"),
        pull("p6", first_commit=utc(2026, 2, 19), created=utc(2026, 2, 19), review=None,
             merged=utc(2026, 2, 20), sha="m4")]
    load(engine, deployments=deps, deployment_commits=commits, incidents=incidents,
         pull_requests=pulls)
    return engine


SCOPE = dict(services=("pay-api",), repos=("acme/pay",), since=SINCE, until=UNTIL)


def test_deployment_frequency(delivery):
    with delivery.connect() as conn:
        v = dora.deployment_frequency(conn, **SCOPE)
    # successful production deploys in the window: d1, d2, d4, d5, d6 = 5 over 10 days
    assert (v.value, v.n) == (0.5, 5)
    # 0.5/day is between once a week and once a day: "high" in the 2024 report
    assert v.detail == {"tier": "high", "tier_year": 2024, "unknown": 0}


def test_lead_time_for_changes(delivery):
    with delivery.connect() as conn:
        v = dora.lead_time_for_changes(conn, repos=("acme/pay",), since=SINCE, until=UNTIL)
    # p1: 03-02 10:00 (d1) - 03-01 08:00 = 26 h
    # p2: 03-04 10:00 (d2) - 03-03 08:00 (creation, earlier than its first commit) = 26 h
    # p3: 03-05 12:00 (d4; d3 failed) - 03-05 06:00 = 6 h
    # p4 never shipped, p5's only deployment predates its merge: 2 not yet deployed
    assert (v.value, v.n, v.detail["not_yet_deployed"]) == (26.0, 3, 2)
    assert v.detail["tier"] == "high"  # between one day and one week


def test_lead_time_and_dora_keys_for_many_windows_in_one_pass(delivery):
    windows = [(SINCE, utc(2026, 3, 4, 9)), (utc(2026, 3, 4, 9), UNTIL), (SINCE, UNTIL)]
    scope = Scope(projects=("PAY",), repos=("acme/pay",), services=("pay-api",), since=SINCE,
                  until=UNTIL)
    with delivery.connect() as conn:
        many = dora.lead_time_by_window(conn, repos=("acme/pay",), windows=windows)
        one_by_one = [dora.lead_time_for_changes(conn, repos=("acme/pay",), since=s, until=u)
                      for s, u in windows]
        keys = dora.dora_keys_by_window(conn, scope, windows)
        kpis = {"deployment_frequency": dora.deployment_frequency_kpi,
                "lead_time_for_changes": dora.lead_time_for_changes_kpi,
                "change_failure_rate": dora.change_failure_rate_kpi,
                "failed_deployment_recovery_time": dora.failed_deployment_recovery_time_kpi,
                "deployment_rework_rate": dora.deployment_rework_rate_kpi}
        expected_keys = [{k: f(conn, dataclasses.replace(scope, since=s, until=u))
                          for k, f in kpis.items()} for s, u in windows]
        assert dora.lead_time_by_window(conn, repos=("acme/pay",), windows=[]) == []
    got = [(v.value, v.n, v.detail["not_yet_deployed"]) for v in many]
    # 03-01..03-04 09:00: p1 merged 03-02 09:00, shipped by d1 03-02 10:00: 26 h; p2 merged
    #   03-04 08:00 but d2 finished 10:00, after the window's end: not yet deployed
    # 03-04 09:00..03-11: p3 6 h (d4); p4 never shipped, p5 only in d1 (before its merge)
    # 03-01..03-11: p1 26 h, p2 26 h, p3 6 h -> median 26 h; p4, p5 not deployed
    assert got == [(26.0, 1, 1), (6.0, 1, 2), (26.0, 3, 2)]
    assert many == one_by_one
    assert keys == expected_keys
    # whole window, as in test_kpis_registered_and_use_scope: 0.5/day, 26 h, 50 %, 3 h
    assert [keys[2][k].value for k in list(kpis)[:4]] == [0.5, 26.0, 0.5, 3.0]


def test_pr_stages(delivery):
    with delivery.connect() as conn:
        rows = {r.id: r for r in dora.pr_deliveries(conn, repos=("acme/pay",), since=SINCE,
                                                    until=UNTIL)}
        stages = dora.pr_cycle_breakdown(conn, repos=("acme/pay",), since=SINCE, until=UNTIL)
    assert set(rows) == {"p1", "p2", "p3", "p4", "p5"}
    p1 = rows["p1"]
    # coding 08->10 = 2 h, pickup 10->12 = 2 h, review 12 -> 09 next day = 21 h, deploy 09->10
    assert (p1.coding, p1.pickup, p1.review, p1.deploy) == (2, 2, 21, 1)
    assert rows["p2"].coding is None  # first commit after the PR was opened: not guessed
    assert rows["p5"].deployment_id is None and rows["p3"].deployment_id == "d4"
    # coding [2, 1, 1, 1] -> 1; pickup [2, 1, 1, 2] -> 1.5; review [21, 1, 24, 24] -> 22.5;
    # deploy [1, 2, 3] -> 2
    assert stages == {"coding": 1, "pickup": 1.5, "review": 22.5, "deploy": 2, "prs": 5}


def test_change_failure_rate_recovery_rework(delivery):
    with delivery.connect() as conn:
        outcomes = {o.deployment["id"]: o for o in dora.deploy_outcomes(conn, **SCOPE)}
        cfr = dora.change_failure_rate(conn, **SCOPE)
        rec = dora.failed_deployment_recovery_time(conn, **SCOPE)
        rw = dora.deployment_rework_rate(conn, **SCOPE)
    assert list(outcomes) == ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert outcomes["d2"].reasons == ["incident"]  # i2 names it
    assert outcomes["d3"].reasons == ["failed"]
    assert outcomes["d5"].reasons == ["incident", "rolled_back"]  # i1 by rule, then d6
    # 3 failed of 6 production deployments
    assert cfr.value == 0.5 and cfr.n == 6
    assert cfr.detail["tier"] is None  # above the report's 40 %: no tier
    # d3: 10:00 -> next success d4 12:00 = 2 h; d5: i1 11:00 -> 15:00 = 4 h; d2 unrecovered
    assert (rec.value, rec.n, rec.detail["unrecovered"]) == (3.0, 2, 1)
    assert rec.detail["tier"] == "high"
    # d6 is a rollback started 13:20, while i1 was open: 1 unplanned of 6
    assert outcomes["d6"].unplanned == ["rollback", "fixes_open_incident"]
    assert rw.value == pytest.approx(1 / 6)
    assert rw.detail["tier"] is None  # the report has no clusters for rework


def test_as_of_sees_only_what_existed(delivery):
    as_of = utc(2026, 3, 7, 12)
    with delivery.connect() as conn:
        cfr = dora.change_failure_rate(conn, services=("pay-api",), repos=("acme/pay",),
                                       since=SINCE, until=as_of)
        rec = dora.failed_deployment_recovery_time(conn, services=("pay-api",),
                                                   repos=("acme/pay",), since=SINCE, until=as_of)
    # d1..d5 = 5 deployments; d3 failed and d5 has i1 (open then); i2 and d6 did not exist yet
    assert (cfr.value, cfr.n) == (0.4, 5)
    # d3 recovered in 2 h; i1 was still open at 12:00 -> d5 unrecovered
    assert (rec.value, rec.detail["unrecovered"]) == (2.0, 1)


def test_zero_deployments_is_no_data(delivery):
    with delivery.connect() as conn:
        other = dict(services=("nothing",), repos=("acme/none",), since=SINCE, until=UNTIL)
        assert dora.deployment_frequency(conn, **other).value is None
        assert dora.change_failure_rate(conn, **other).value is None
        assert dora.failed_deployment_recovery_time(conn, **other).value is None
        assert dora.deployment_rework_rate(conn, **other).value is None
        assert dora.lead_time_for_changes(conn, repos=("acme/none",), since=SINCE,
                                          until=UNTIL).value is None
        # deployments exist, just none in this window: a real zero
        quiet = dict(SCOPE, since=utc(2026, 1, 1), until=utc(2026, 1, 11))
        assert dora.deployment_frequency(conn, **quiet).value is None  # none existed by then
        late = dict(SCOPE, since=utc(2026, 4, 1), until=utc(2026, 4, 11))
        assert dora.deployment_frequency(conn, **late).value == 0.0


def test_kpis_registered_and_use_scope(delivery):
    scope = Scope(projects=("PAY",), repos=("acme/pay",), services=("pay-api",), since=SINCE,
                  until=UNTIL)
    with delivery.connect() as conn:
        assert dora.deployment_frequency_kpi(conn, scope).value == 0.5
        assert dora.lead_time_for_changes_kpi(conn, scope).value == 26.0
        assert dora.change_failure_rate_kpi(conn, scope).value == 0.5
        assert dora.failed_deployment_recovery_time_kpi(conn, scope).value == 3.0
        assert dora.deployment_rework_rate_kpi(conn, scope).value == pytest.approx(1 / 6)


@pytest.mark.parametrize("metric,value,expected", [
    ("deployment_frequency", 3.0, "elite"), ("deployment_frequency", 1.0, "high"),
    ("deployment_frequency", 1 / 7, "high"), ("deployment_frequency", 0.1, "medium"),
    ("deployment_frequency", 0.01, "low"), ("deployment_frequency", 0.001, None),
    ("lead_time_for_changes", 23.0, "elite"), ("lead_time_for_changes", 100.0, "high"),
    ("lead_time_for_changes", 500.0, "medium"), ("lead_time_for_changes", 2000.0, "low"),
    ("lead_time_for_changes", 5000.0, None),
    ("change_failure_rate", 0.05, "elite"), ("change_failure_rate", 0.15, "high"),
    ("change_failure_rate", 0.3, "low"), ("change_failure_rate", 0.5, None),
    ("failed_deployment_recovery_time", 0.5, "elite"),
    ("failed_deployment_recovery_time", 10.0, "high"),
    ("failed_deployment_recovery_time", 48.0, None),  # 1 day..1 week: no 2024 cluster
    ("failed_deployment_recovery_time", 200.0, "low"),
    ("deployment_rework_rate", 0.1, None), ("lead_time_for_changes", None, None),
])
def test_tiers_2024(metric, value, expected):
    assert dora.tier(metric, value) == expected


def test_attribute_incidents_pure():
    t = utc(2026, 1, 1)
    deps = [{"id": "a", "service": "s", "status": "success", "at": t},
            {"id": "b", "service": "s", "status": "failure", "at": t + timedelta(hours=1)},
            {"id": "c", "service": "s", "status": "success", "at": t + timedelta(hours=2)},
            {"id": "x", "service": "s", "status": "success", "at": t, "environment": "staging"}]
    incs = [{"id": "1", "service": "s", "opened_at": t + timedelta(hours=1, minutes=30)},
            {"id": "2", "service": "s", "opened_at": t + timedelta(hours=2)},  # same instant
            {"id": "3", "service": "s", "opened_at": t - timedelta(hours=1)},  # before any
            {"id": "4", "service": "s", "opened_at": t, "deployment_id": "named"},
            {"id": "5", "service": None, "opened_at": t + timedelta(hours=5)}]
    assert dora.attribute_incidents(incs, deps) == {"1": "a", "2": "c", "3": None,
                                                    "4": "named", "5": None}


# --- DevLake conformance ------------------------------------------------------------------------
def _csv(corpus, name):
    with open(corpus / "dora" / "devlake" / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _ts(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    if "T" in text:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def test_devlake_change_lead_time(engine, corpus):
    """DevLake's change-lead-time test: nine inputs, expected project_pr_metrics in minutes.

    Loaded into our tables: each cicd_deployment_commit is a deployment (environment and result
    lower-cased); commits_diffs become deployment_commits of the deployment whose commit is the
    new side. Deliberate differences, each checked below:
    - a diff with no old commit (the first deployment of a scope) is not loaded: our connectors
      take shipped commits from the compare with the previous successful deployment, and there
      is none. DevLake also leaves such deployments out, so pr0 is not deployed in both.
    - first review = the first comment by someone other than the PR's author (DevLake's rule).
    - DevLake's pr_cycle_time ends at the merge when the PR is not deployed; we report no lead
      time for undeployed changes (counted as "not yet deployed"), so cycle time is compared only
      for deployed PRs.
    - a PR whose only deployment finished before its merge (pr3) is not deployed for us;
      DevLake names the deployment but also gives it no deploy time.
    Minutes are rounded up as DevLake does.
    """
    deps, owner = [], {}
    for r in _csv(corpus, "dora__change_lead_time__cicd_deployment_commits.csv"):
        did = f"dl:{r['id']}"
        deps.append({"id": did, "source": "t", "service": r["cicd_scope_id"],
                     "repo": r["repo_url"], "environment": (r["environment"] or "other").lower(),
                     "status": r["result"].lower(), "sha": r["commit_sha"],
                     "started_at": _ts(r["started_date"]), "finished_at": _ts(r["finished_date"])})
        owner[r["commit_sha"]] = did
    commits = [{"deployment_id": owner[r["new_commit_sha"]], "sha": r["commit_sha"], "source": "t"}
               for r in _csv(corpus, "dora__change_lead_time__commits_diffs.csv")
               if r["old_commit_sha"]]
    authored: dict[str, list[datetime]] = {}
    for r in _csv(corpus, "dora__change_lead_time__pull_request_commits.csv"):
        authored.setdefault(r["pull_request_id"], []).append(_ts(r["commit_authored_date"]))
    raw_prs = _csv(corpus, "dora__change_lead_time__pull_requests.csv")
    authors = {r["id"]: r["author_id"] for r in raw_prs}
    reviews: dict[str, list[datetime]] = {}
    for r in _csv(corpus, "dora__change_lead_time__pull_request_comments.csv"):
        if r["account_id"] != authors.get(r["pull_request_id"]):
            reviews.setdefault(r["pull_request_id"], []).append(_ts(r["created_date"]))
    pulls = [{"id": r["id"], "source": "t", "repo": r["base_repo_id"], "number": n,
              "created_at": _ts(r["created_date"]), "merged_at": _ts(r["merged_date"]),
              "merge_sha": r["merge_commit_sha"],
              "first_commit_at": min(authored[r["id"]]) if r["id"] in authored else None,
              "first_review_at": min(reviews[r["id"]]) if r["id"] in reviews else None}
             for n, r in enumerate(raw_prs)]
    load(engine, deployments=deps, deployment_commits=commits, pull_requests=pulls)

    with engine.connect() as conn:
        ours = {r.id: r for r in dora.pr_deliveries(conn)}
    expected = _csv(corpus, "dora__change_lead_time__project_pr_metrics.csv")
    assert set(ours) == {e["id"] for e in expected}  # pr6 was never merged: in neither

    def num(text):
        return int(text) if text else None

    for e in expected:
        got = ours[e["id"]]
        assert dora.ceil_minutes(got.coding) == num(e["pr_coding_time"]), e["id"]
        assert dora.ceil_minutes(got.pickup) == num(e["pr_pickup_time"]), e["id"]
        assert dora.ceil_minutes(got.review) == num(e["pr_review_time"]), e["id"]
        assert dora.ceil_minutes(got.deploy) == num(e["pr_deploy_time"]), e["id"]
        if e["pr_deploy_time"]:
            assert dora.ceil_minutes(got.lead_time) == num(e["pr_cycle_time"]), e["id"]
            assert got.deployed_at == _ts(e["pr_deployed_date"])
        else:
            assert got.lead_time is None and got.deployed_at is None, e["id"]
    deployed = sorted(k for k, r in ours.items() if r.deployed_at)
    assert deployed == ["pr1", "pr2"]
    assert math.isclose(ours["pr1"].deploy * 60, 2977.45, abs_tol=0.01)


def test_devlake_incident_attribution(engine, corpus):
    """DevLake's connect-incident-to-deployment test.

    Deployments are the deployment commits (production, success) with the project of their
    cicd scope as our service; an incident's service is the project its repo or board maps to
    (repo3 maps to no project, so that incident is attributed to nothing — as expected).
    DevLake attributes to a cicd_deployment (a pipeline holding several deployment commits);
    we attribute to a deployment row and compare the pipeline it belongs to.
    """
    prefix = "dora__connect_incident_to_deployment__"
    mapping = {(r["table"], r["row_id"]): r["project_name"]
               for r in _csv(corpus, prefix + "raw_tables_project_mapping.csv")}
    deps, pipeline = [], {}
    for r in _csv(corpus, prefix + "prev_success_deployment_commit_cicd_deployment_commits_"
                             "after.csv"):
        did = f"dl:{r['id']}"
        pipeline[did] = r["cicd_deployment_id"]
        deps.append({"id": did, "source": "t",
                     "service": mapping.get(("cicd_scopes", r["cicd_scope_id"])),
                     "environment": (r["environment"] or "other").lower(),
                     "status": r["result"].lower(), "sha": r["commit_sha"],
                     "started_at": _ts(r["started_date"]), "finished_at": _ts(r["finished_date"])})
    incs = [{"id": r["id"], "source": "t", "service": mapping.get((r["table"], r["scope_id"])),
             "opened_at": _ts(r["created_date"]), "resolved_at": _ts(r["updated_date"])}
            for r in _csv(corpus, prefix + "raw_tables_incidents.csv")]
    load(engine, deployments=deps, incidents=incs)
    with engine.connect() as conn:
        causes = dora.incident_causes(conn)
    got = {i: pipeline[d] for i, d in causes.items() if d is not None}
    expected = {r["id"]: r["deployment_id"] for r in _csv(
        corpus, prefix + "snapshot_tables_project_incident_deployment_relationships.csv")}
    assert got == expected
    assert len(causes) == 7  # the repo3 incident is known but attributed to nothing


def test_scope_without_services_or_repos_has_no_delivery_data(delivery):
    scope = Scope(projects=("XYZ",), repos=(), services=(), since=SINCE, until=UNTIL)
    with delivery.connect() as conn:
        for fn in (dora.deployment_frequency_kpi, dora.lead_time_for_changes_kpi,
                   dora.change_failure_rate_kpi, dora.failed_deployment_recovery_time_kpi,
                   dora.deployment_rework_rate_kpi):
            assert fn(conn, scope).value is None
