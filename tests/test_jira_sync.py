"""The Jira connector against a real local HTTP server (tests/jira_server.py), on SQLite and
PostgreSQL: paging on Cloud and Data Center, long changelogs, rate limits, errors, cursors."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors import jira
from net.http import AuthError, NotFound, RateLimited
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.jira_server import FakeJira, history, issue, status_item


def settings(**jira_section):
    return parse_settings({"jira": jira_section} if jira_section else {}, None)


def run_sync(fake: FakeJira, engine, *, board=None, full=False, clock=None, max_wait=None,
             cfg=None):
    args = argparse.Namespace(url=fake.url, project=[fake.project], board=board, full=full,
                              max_wait=max_wait)
    return jira.run(args, cfg or settings(), engine, clock=clock or FakeClock())


def rows(engine, table, *where):
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(table).where(*where))]


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch):
    for name in ("JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_cloud_search_follows_next_page_token(httpserver, engine):
    # 7 issues, the server caps pages at 3 → pages of 3, 3, 1; the 3rd has no token.
    fake = FakeJira(httpserver, search_page_size=3, issues=[
        issue(f"PAY-{n}", updated=f"2024-03-0{n}T10:00:00.000+0000") for n in range(1, 8)])
    written = run_sync(fake, engine)
    assert written["issues"] == 7
    searches = fake.requests("/rest/api/3/search/jql")
    assert [r.args.get("nextPageToken") for r in searches] == [None, "tok-3", "tok-6"]
    # explicit fields (Cloud returns ids only otherwise) and the changelog expanded
    first = searches[0].args
    assert "status" in first["fields"].split(",") and "customfield_10020" in first["fields"]
    assert first["expand"] == "changelog"
    assert first["jql"] == 'project = "PAY" ORDER BY updated ASC'
    keys = sorted(r["key"] for r in rows(engine, schema.work_items))
    assert keys == sorted(f"PAY-{n}" for n in range(1, 8))
    item = rows(engine, schema.work_items, schema.work_items.c.key == "PAY-2")[0]
    assert item["id"] == "jira:issue:PAY-2"
    assert item["url"] == f"{fake.url}/browse/PAY-2"
    assert item["status_category"] == "todo"  # status 1 "Open" is category new
    # cursor = the newest updated (PAY-7, 2024-03-07 10:00 UTC), committed with the last page
    with engine.connect() as conn:
        from connectors.frame import get_state
        state = get_state(conn, "jira", "PAY", "issues")
    assert datetime.fromisoformat(state.cursor) == datetime(2024, 3, 7, 10, tzinfo=timezone.utc)


def test_issue_fields_map_to_work_item(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue(
        "PAY-9", status_id="10002", issuetype="Bug", priority="Highest", resolution="Done",
        created="2024-03-01T08:00:00.000+0800", resolutiondate="2024-03-05T18:30:00.000+0200",
        extra={"labels": ["payments"], "components": [{"name": "api"}],
               "assignee": {"displayName": "Bo"}, "customfield_10016": "5",
               "versions": [{"id": "31", "name": "2.3", "released": True,
                             "releaseDate": "2024-02-20"}],
               "fixVersions": [{"id": "40", "name": "2.4", "released": False,
                                "releaseDate": "2024-04-01"}]},
        histories=[history(501, "2024-03-02T10:00:00.000+0000", status_item("1", "3")),
                   history(502, "2024-03-05T16:30:00.000+0000", status_item("3", "10002"))])])
    run_sync(fake, engine)
    item = rows(engine, schema.work_items)[0]
    assert item["type"] == "bug" and item["type_name"] == "Bug"
    assert item["status"] == "Done" and item["status_category"] == "done"
    assert item["severity"] == "critical"  # Highest → critical in the default mapping
    assert item["resolution"] == "Done" and item["resolution_category"] == "delivered"
    assert item["story_points"] == 5.0  # "5" (a string) from "Story point estimate"
    # 08:00 at +08:00 = 00:00 UTC; 18:30 at +02:00 = 16:30 UTC
    assert item["created_at"] == datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc)
    assert item["resolved_at"] == datetime(2024, 3, 5, 16, 30, tzinfo=timezone.utc)
    # first move into an in-progress category: history 501
    assert item["started_at"] == datetime(2024, 3, 2, 10, 0, tzinfo=timezone.utc)
    # affects 2.3, released 2024-02-20, before the bug was created → found in production
    assert item["found_in"] == "production"
    assert item["labels"] == ["payments"] and item["components"] == ["api"]
    rel = rows(engine, schema.releases)
    assert [(r["id"], r["name"], r["state"]) for r in rel] == [("jira:version:40", "2.4",
                                                                "unreleased")]
    assert rel[0]["target_date"] == datetime(2024, 4, 1, tzinfo=timezone.utc)
    assert rel[0]["released_at"] is None
    assert [(r["release_id"], r["item_id"]) for r in rows(engine, schema.release_items)] == [
        ("jira:version:40", "jira:issue:PAY-9")]
    changes = sorted(rows(engine, schema.work_item_changes), key=lambda c: c["id"])
    assert [(c["id"], c["field"], c["from_value"], c["to_value"]) for c in changes] == [
        ("jira:issue:PAY-9:501:0", "status", "1", "3"),
        ("jira:issue:PAY-9:501:0c", "status_category", "todo", "in_progress"),
        ("jira:issue:PAY-9:502:0", "status", "3", "10002"),
        ("jira:issue:PAY-9:502:0c", "status_category", "in_progress", "done"),
    ]


def test_250_history_changelog_is_fetched_in_full(httpserver, engine):
    # 250 histories: inline gives the newest 100, the changelog endpoint pages 100+100+50.
    hist = [history(1000 + n, f"2024-03-01T{n // 60:02d}:{n % 60:02d}:00.000+0000",
                    {"field": "labels", "fieldtype": "jira", "from": None, "fromString": "",
                     "to": None, "toString": f"l{n}"}) for n in range(250)]
    fake = FakeJira(httpserver, issues=[issue("PAY-1", histories=hist)])
    written = run_sync(fake, engine)
    assert written["changes"] == 250
    calls = fake.requests("/rest/api/3/issue/PAY-1/changelog")
    assert [r.args.get("startAt") for r in calls] == ["0", "100", "200"]
    ids = {c["id"] for c in rows(engine, schema.work_item_changes)}
    assert ids == {f"jira:issue:PAY-1:{1000 + n}:0" for n in range(250)}
    # the raw record holds the complete changelog, so re-deriving needs no re-sync
    raw = rows(engine, schema.raw_records, schema.raw_records.c.resource == "issues")[0]
    assert len(raw["payload"]["changelog"]["histories"]) == 250


def test_board_with_custom_estimation_field(httpserver, engine):
    # The board names customfield_10002 as its estimate; the field called "Story point
    # estimate" (customfield_10016) must then be ignored.
    sprint_closed = {"id": 7, "name": "S7", "state": "closed", "originBoardId": 12,
                     "startDate": "2024-03-01T09:00:00.000Z", "endDate": "2024-03-15T09:00:00.000Z",
                     "completeDate": "2024-03-14T17:00:00.000Z", "goal": "ship"}
    sprint_future = {"id": 8, "name": "S8", "state": "future", "originBoardId": 12}
    fake = FakeJira(
        httpserver, boards=[{"id": 12, "name": "PAY board", "type": "scrum"}],
        board_configs={"12": {"estimation": {"type": "field", "field": {
            "fieldId": "customfield_10002", "displayName": "Story Points"}}}},
        sprints={"12": [sprint_closed, sprint_future]},
        sprint_issues={"8": ["PAY-2"]},
        issues=[issue("PAY-1", extra={"customfield_10002": 3, "customfield_10016": 8,
                                      "customfield_10020": [{**sprint_closed, "boardId": 12}]}),
                issue("PAY-2", extra={"customfield_10002": "2.5", "customfield_10020": []})])
    written = run_sync(fake, engine)  # no --board: boards discovered for the project
    pts = {r["key"]: r["story_points"] for r in rows(engine, schema.work_items)}
    assert pts == {"PAY-1": 3.0, "PAY-2": 2.5}
    sprints = {r["id"]: r for r in rows(engine, schema.sprints)}
    assert set(sprints) == {"jira:sprint:7", "jira:sprint:8"}
    s7, s8 = sprints["jira:sprint:7"], sprints["jira:sprint:8"]
    assert (s7["state"], s7["board"], s7["project"], s7["goal"]) == ("closed", "12", "PAY", "ship")
    # completed a day before the planned end, both kept
    assert s7["completed_at"] < s7["end_at"]
    assert s8["state"] == "future" and s8["start_at"] is None and s8["end_at"] is None
    members = sorted((r["sprint_id"], r["item_id"]) for r in rows(engine, schema.sprint_items))
    # PAY-1 from its Sprint field; PAY-2 from the future sprint's issue list (Agile API)
    assert members == [("jira:sprint:7", "jira:issue:PAY-1"), ("jira:sprint:8", "jira:issue:PAY-2")]
    assert written["sprints"] == 2


def test_data_center_pages_with_start_at(httpserver, engine, monkeypatch):
    monkeypatch.setenv("JIRA_TOKEN", "dc-pat-secret-123")
    fake = FakeJira(httpserver, deployment="DataCenter", search_page_size=2,
                    require_auth="Bearer dc-pat-secret-123", issues=[
                        issue(f"PAY-{n}", updated=f"2024-03-0{n}T10:00:00.000+0000")
                        for n in range(1, 6)])
    written = run_sync(fake, engine)
    assert written["issues"] == 5
    assert [r.args.get("startAt") for r in fake.requests("/rest/api/2/search")] == ["0", "2", "4"]
    assert fake.requests("/rest/api/3/") == []  # Data Center has no v3 API


def test_data_center_long_changelog_from_single_issue(httpserver, engine):
    hist = [history(n, f"2024-03-01T{n // 60:02d}:{n % 60:02d}:00.000+0000",
                    status_item("1", "3")) for n in range(120)]
    fake = FakeJira(httpserver, deployment="Server", issues=[issue("PAY-1", histories=hist)])
    run_sync(fake, engine)
    assert len(fake.requests("/rest/api/2/issue/PAY-1")) == 1
    changes = rows(engine, schema.work_item_changes, schema.work_item_changes.c.field == "status")
    assert len(changes) == 120


def test_429_with_retry_after_waits_through_the_clock(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue("PAY-1")])
    fake.fail_next("/rest/api/3/search/jql", 429, {"Retry-After": "7"})
    clock = FakeClock()
    written = run_sync(fake, engine, clock=clock)
    assert written["issues"] == 1
    assert clock.sleeps == [7.0]
    assert len(fake.requests("/rest/api/3/search/jql")) == 2


def test_503_with_retry_after_waits_through_the_clock(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue("PAY-1")])
    fake.fail_next("/rest/api/3/field", 503, {"Retry-After": "3"})
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    assert clock.sleeps == [3.0]


def test_rate_limit_longer_than_max_wait_stops_and_keeps_data(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue("PAY-1")])
    run_sync(fake, engine)
    fake.fail_next("/rest/api/3/search/jql", 429, {"Retry-After": "5000"})
    with pytest.raises(RateLimited, match="max-wait"):
        run_sync(fake, engine, max_wait=60)
    assert [r["key"] for r in rows(engine, schema.work_items)] == ["PAY-1"]
    runs = rows(engine, schema.sync_runs)
    assert [r["outcome"] for r in sorted(runs, key=lambda r: r["id"])] == ["success", "failed"]


def test_401_is_one_line_naming_the_variables(httpserver, engine, monkeypatch):
    monkeypatch.setenv("JIRA_EMAIL", "me@example.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "wrong-token-value")
    fake = FakeJira(httpserver, require_auth="Basic something-else")
    with pytest.raises(AuthError) as err:
        run_sync(fake, engine)
    message = str(err.value)
    assert "\n" not in message and "401" in message and "JIRA_API_TOKEN" in message
    assert "wrong-token-value" not in message
    failed = rows(engine, schema.sync_runs)[0]
    assert failed["outcome"] == "failed" and "401" in failed["error"]


def test_404_project(httpserver, engine):
    fake = FakeJira(httpserver, project="PAY")
    args = argparse.Namespace(url=fake.url, project=["NOPE"], board=None, full=False,
                              max_wait=None)
    with pytest.raises(NotFound) as err:
        jira.run(args, settings(), engine, clock=FakeClock())
    assert str(err.value) == ("jira: project NOPE not found (404) — check --project, and that "
                              "this account may browse it")


def test_incremental_sync_uses_cursor_with_overlap(httpserver, engine):
    fake = FakeJira(httpserver, issues=[
        issue("PAY-1", updated="2024-03-01T10:00:00.000+0000"),
        issue("PAY-2", updated="2024-03-02T10:30:00.000+0000")])
    run_sync(fake, engine)
    fake.issues.append(issue("PAY-3", updated="2024-03-03T08:00:00.000+0000"))
    httpserver.clear_log()
    written = run_sync(fake, engine)
    jql = fake.requests("/rest/api/3/search/jql")[0].args["jql"]
    # cursor 2024-03-02 10:30 UTC minus 5 minutes overlap, in the account's zone (UTC)
    assert jql == 'project = "PAY" AND updated >= "2024/03/02 10:25" ORDER BY updated ASC'
    assert written["issues"] == 2  # PAY-2 again (overlap) and PAY-3
    # --full ignores the cursor
    httpserver.clear_log()
    run_sync(fake, engine, full=True)
    assert "updated >=" not in fake.requests("/rest/api/3/search/jql")[0].args["jql"]


def test_cursor_in_account_time_zone(httpserver, engine):
    fake = FakeJira(httpserver, time_zone="Asia/Shanghai", issues=[
        issue("PAY-1", updated="2024-03-02T10:30:00.000+0000")])
    run_sync(fake, engine)
    httpserver.clear_log()
    run_sync(fake, engine)
    # 10:25 UTC is 18:25 in Shanghai (UTC+8), where Jira reads JQL dates for this account
    assert '"2024/03/02 18:25"' in fake.requests("/rest/api/3/search/jql")[0].args["jql"]


def test_failure_mid_sync_keeps_committed_pages_and_cursor(httpserver, engine):
    fake = FakeJira(httpserver, search_page_size=2, issues=[
        issue(f"PAY-{n}", updated=f"2024-03-0{n}T10:00:00.000+0000") for n in range(1, 5)])
    run_sync(fake, engine)
    fake.issues = [issue(f"PAY-{n}", summary="renamed", updated=f"2024-03-1{n}T10:00:00.000+0000")
                   for n in range(1, 5)]
    # second run: page 1 is fine, page 2 answers 401 (token revoked mid-sync)
    fake.calls.clear()
    fake.fail_on_call[("/rest/api/3/search/jql", 2)] = 401
    with pytest.raises(AuthError):
        run_sync(fake, engine)
    titles = {r["key"]: r["title"] for r in rows(engine, schema.work_items)}
    # page 1 (PAY-1, PAY-2) of the second run was committed; PAY-3/4 keep the first run's data
    assert titles == {"PAY-1": "renamed", "PAY-2": "renamed", "PAY-3": "Issue PAY-3",
                      "PAY-4": "Issue PAY-4"}
    with engine.connect() as conn:
        from connectors.frame import get_state
        cursor = get_state(conn, "jira", "PAY", "issues").cursor
    # the cursor stands at the last committed page's newest update (PAY-2, 2024-03-12 10:00)
    assert datetime.fromisoformat(cursor) == datetime(2024, 3, 12, 10, tzinfo=timezone.utc)


def test_repeated_sync_is_idempotent(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue(
        "PAY-1", extra={"fixVersions": [{"id": "40", "name": "2.4", "released": True,
                                         "releaseDate": "2024-04-01"}]},
        histories=[history(1, "2024-03-02T10:00:00.000+0000", status_item("1", "3"))])])
    run_sync(fake, engine)
    run_sync(fake, engine, full=True)
    with engine.connect() as conn:
        from data.store import table_counts
        counts = {(c["table"]): c["rows"] for c in table_counts(conn) if c["source"] == "jira"}
    # one issue, its status change + category row, one release and its membership
    assert counts["work_items"] == 1 and counts["work_item_changes"] == 2
    assert counts["releases"] == 1 and counts["release_items"] == 1
    rel = rows(engine, schema.releases)[0]
    assert rel["state"] == "released"
    assert rel["released_at"] == datetime(2024, 4, 1, tzinfo=timezone.utc)


def test_data_center_sprint_field_strings_give_sprints(httpserver, engine):
    # Data Center's Sprint field holds strings; the field is found by its gh-sprint schema.
    value = ("com.atlassian.greenhopper.service.sprint.Sprint@5a[id=31,rapidViewId=4,"
             "state=ACTIVE,name=Team Sprint 31,startDate=2024-03-04T09:00:00.000+01:00,"
             "endDate=2024-03-18T09:00:00.000+01:00,completeDate=<null>,sequence=31,goal=]")
    fake = FakeJira(httpserver, deployment="DataCenter", fields=[
        {"id": "customfield_10105", "name": "Sprint", "custom": True,
         "schema": {"custom": "com.pyxis.greenhopper.jira:gh-sprint"}},
        {"id": "customfield_10106", "name": "Story Points", "custom": True}],
        issues=[issue("PAY-1", extra={"customfield_10105": [value], "customfield_10106": 8.0})])
    run_sync(fake, engine)
    sprint = rows(engine, schema.sprints)[0]
    # 09:00 at +01:00 is 08:00 UTC
    assert (sprint["id"], sprint["state"], sprint["board"], sprint["name"]) == (
        "jira:sprint:31", "active", "4", "Team Sprint 31")
    assert sprint["start_at"] == datetime(2024, 3, 4, 8, tzinfo=timezone.utc)
    assert [(r["sprint_id"], r["item_id"]) for r in rows(engine, schema.sprint_items)] == [
        ("jira:sprint:31", "jira:issue:PAY-1")]
    # no board: the story-point field is found by its name "Story Points"
    assert rows(engine, schema.work_items)[0]["story_points"] == 8.0


def test_sync_configured_reads_readiness_toml(httpserver, engine):
    fake = FakeJira(httpserver, boards=[{"id": 5, "name": "kanban", "type": "kanban"}],
                    issues=[issue("PAY-1")])
    fake.fail_next("/rest/agile/1.0/board/5/sprint", 400)  # a kanban board has no sprints
    cfg = parse_settings({"jira": {"url": fake.url, "projects": ["PAY"], "boards": [5],
                                   "status_names": {"Open": "in_progress"}}}, None)
    written = jira.sync_configured(cfg, engine, clock=FakeClock())
    assert written["issues"] == 1 and written["sprints"] == 0
    # the configured status name wins over the status category (Open is category new)
    assert rows(engine, schema.work_items)[0]["status_category"] == "in_progress"


def test_moving_an_issue_out_of_a_sprint_and_version_updates_membership(httpserver, engine):
    sprint = {"id": 7, "name": "S7", "state": "active", "boardId": 1}
    version = {"id": "40", "name": "2.4", "released": False}
    fake = FakeJira(httpserver, issues=[issue(
        "PAY-1", updated="2024-03-02T09:00:00.000+0000",
        extra={"customfield_10020": [sprint], "fixVersions": [version]})])
    run_sync(fake, engine)
    assert len(rows(engine, schema.sprint_items)) == 1
    assert len(rows(engine, schema.release_items)) == 1
    fake.issues = [issue("PAY-1", updated="2024-03-03T09:00:00.000+0000",
                         extra={"customfield_10020": [], "fixVersions": []})]
    run_sync(fake, engine)
    assert rows(engine, schema.sprint_items) == [] and rows(engine, schema.release_items) == []
    # the sprint and the release themselves stay
    assert len(rows(engine, schema.sprints)) == 1 and len(rows(engine, schema.releases)) == 1


def test_unknown_board_is_one_line(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue("PAY-1")])
    fake.fail_next("/rest/agile/1.0/board/99/configuration", 404)
    with pytest.raises(NotFound) as err:
        run_sync(fake, engine, board=[99])
    assert str(err.value).startswith("jira: board 99 not found (404) — check --board")


def test_incident_issues_become_incidents(httpserver, engine):
    cfg = parse_settings({"projects": {"PAY": {"services": ["payments-api", "ledger"]}}}, None)
    fake = FakeJira(httpserver, issues=[
        issue("PAY-1", issuetype="Incident", priority="High", status_id="10002",
              created="2024-03-01T10:00:00.000+0000", resolution="Done",
              resolutiondate="2024-03-01T13:30:00.000+0000",
              extra={"components": [{"name": "Ledger"}]}),
        issue("PAY-2", issuetype="Incident", created="2024-03-02T10:00:00.000+0000"),
        issue("PAY-3", issuetype="Story")])
    written = run_sync(fake, engine, cfg=cfg)
    assert written["incidents"] == 2
    got = {r["id"]: r for r in rows(engine, schema.incidents)}
    one = got["jira:incident:PAY-1"]
    # the component "Ledger" names the configured service "ledger"; High → high
    assert (one["service"], one["severity"], one["work_item_id"]) == (
        "ledger", "high", "jira:issue:PAY-1")
    assert one["opened_at"] == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert one["resolved_at"] == datetime(2024, 3, 1, 13, 30, tzinfo=timezone.utc)
    # no component and two services: the service is unknown, still open
    two = got["jira:incident:PAY-2"]
    assert two["service"] is None and two["resolved_at"] is None
    # PAY-2 is retyped to a bug: its incident goes
    fake.issues[1] = issue("PAY-2", issuetype="Bug", created="2024-03-02T10:00:00.000+0000",
                           updated="2024-03-05T10:00:00.000+0000")
    run_sync(fake, engine, cfg=cfg)
    assert [r["id"] for r in rows(engine, schema.incidents)] == ["jira:incident:PAY-1"]


def test_429_without_retry_after_waits_until_rate_limit_reset(httpserver, engine):
    # FakeClock starts at 1_700_000_000 = 2023-11-14T22:13:20Z; reset at 22:14 → 40 s
    fake = FakeJira(httpserver, issues=[issue("PAY-1")])
    fake.fail_next("/rest/api/3/status", 429, {"X-RateLimit-Reset": "2023-11-14T22:14Z"})
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    assert clock.sleeps == [40.0]


def test_403_is_a_permission_error_and_run_is_logged(httpserver, engine):
    fake = FakeJira(httpserver, issues=[issue("PAY-1")])
    fake.fail_next("/rest/api/3/project/PAY/versions", 403)
    from net.http import PermissionDenied
    with pytest.raises(PermissionDenied) as err:
        run_sync(fake, engine)
    assert "403" in str(err.value) and "\n" not in str(err.value)
    run = rows(engine, schema.sync_runs)[0]
    assert run["outcome"] == "failed" and run["requests"] == 3  # serverInfo, project, versions


def test_a_failing_project_does_not_stop_the_next_and_each_row_counts_its_own(httpserver,
                                                                             engine):
    """Per-scope isolation: project GONE answers 404, PAY after it is still synced; each
    sync_runs row counts the requests made for its own project only."""
    fake = FakeJira(httpserver, issues=[issue("PAY-1", updated="2024-03-01T10:00:00.000+0000")])
    args = argparse.Namespace(url=fake.url, project=["GONE", "PAY"], board=None, full=False,
                              max_wait=None)
    with pytest.raises(NotFound) as err:
        jira.run(args, settings(), engine, clock=FakeClock())
    assert "GONE" in str(err.value)  # the first failure is raised at the end
    assert [r["key"] for r in rows(engine, schema.work_items)] == ["PAY-1"]
    runs = {r["scope"]: r for r in rows(engine, schema.sync_runs)}
    assert runs["GONE"]["outcome"] == "failed" and runs["PAY"]["outcome"] == "success"
    # GONE: serverInfo, then its project → 404; everything after that is PAY's
    assert runs["GONE"]["requests"] == 2
    assert runs["PAY"]["requests"] == len(httpserver.log) - 2
