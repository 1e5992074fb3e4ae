"""The pure Jira normalisation: expected values worked out by hand from the definitions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.jira.normalize import (
    Mapping,
    change_rows,
    found_in,
    histories_in_order,
    issue_rows,
    parse_sprint_value,
    parse_time,
    release_row,
    sprint_row,
    status_category,
    story_points,
    work_type,
)
from data.config import parse_settings

UTC = timezone.utc
MAPPING = Mapping.from_settings(parse_settings({}, None), story_points_field="customfield_10016",
                                sprint_field="customfield_10020")


def test_times_with_and_without_colon_in_offset():
    # 08:13:13.360 at +08:00 is 00:13:13.360 UTC
    assert parse_time("2020-06-12T08:13:13.360+0800") == datetime(2020, 6, 12, 0, 13, 13, 360000,
                                                                  tzinfo=UTC)
    assert parse_time("2020-06-12T00:38:51.882Z") == datetime(2020, 6, 12, 0, 38, 51, 882000,
                                                              tzinfo=UTC)
    assert parse_time(None) is None and parse_time("") is None and parse_time("<null>") is None


@pytest.mark.parametrize("value, expected", [
    (3, 3.0), (2.5, 2.5), ("5", 5.0), ("-1", -1.0), (" 1.5 ", 1.5), ("", None), ("abc", None),
    (None, None), (True, None), ([1], None)])
def test_story_points_accept_numbers_and_numeric_strings(value, expected):
    assert story_points(value) == expected


def test_status_category_from_key_not_name():
    # "已完成" means "done" but its category is new: the category decides
    assert status_category({"name": "已完成", "statusCategory": {"key": "new"}}, MAPPING) == "todo"
    assert status_category({"name": "Review", "statusCategory": {"key": "indeterminate"}},
                           MAPPING) == "in_progress"
    assert status_category({"name": "Closed", "statusCategory": {"key": "done"}},
                           MAPPING) == "done"
    override = Mapping(status_names={"review": "done"})
    assert status_category({"name": "Review", "statusCategory": {"key": "indeterminate"}},
                           override) == "done"


def test_work_type_from_configured_lists():
    assert work_type({"name": "Bug"}, MAPPING) == "bug"
    assert work_type({"name": "defect"}, MAPPING) == "bug"  # case-insensitive
    assert work_type({"name": "Incident"}, MAPPING) == "incident"
    assert work_type({"name": "Story"}, MAPPING) == "story"
    assert work_type({"name": "Epic"}, MAPPING) == "epic"
    assert work_type({"name": "Initiative", "hierarchyLevel": 1}, MAPPING) == "epic"
    assert work_type({"name": "子任务", "subtask": True}, MAPPING) == "task"
    assert work_type({"name": "Task"}, MAPPING) == "task"
    assert work_type({"name": "Test Execution"}, MAPPING) == "other"


def test_dc_sprint_string_is_parsed():
    value = ("com.atlassian.greenhopper.service.sprint.Sprint@1f2[id=7,rapidViewId=8,"
             "state=CLOSED,name=EE Sprint 7, hotfix,startDate=2020-06-12T08:38:51.882+08:00,"
             "endDate=2020-06-26T08:38:00.000+08:00,completeDate=<null>,sequence=7,goal=]")
    parsed = parse_sprint_value(value)
    assert parsed["id"] == "7" and parsed["boardId"] == "8"
    assert parsed["name"] == "EE Sprint 7, hotfix"  # a comma inside the name survives
    row = sprint_row(parsed, project="EE")
    assert row["id"] == "jira:sprint:7" and row["state"] == "closed" and row["board"] == "8"
    assert row["start_at"] == datetime(2020, 6, 12, 0, 38, 51, 882000, tzinfo=UTC)
    assert row["completed_at"] is None and row["goal"] is None


def test_future_sprint_has_no_dates():
    row = sprint_row({"id": 9, "name": "Next", "state": "future"}, project="PAY", board=3)
    assert (row["state"], row["board"], row["start_at"], row["end_at"]) == ("future", "3", None,
                                                                             None)


def test_release_row_states_and_dates():
    released = release_row({"id": "10", "name": "2.3", "released": True,
                            "releaseDate": "2024-02-20"}, "PAY")
    assert released["state"] == "released"
    assert released["target_date"] == released["released_at"] == datetime(2024, 2, 20,
                                                                          tzinfo=UTC)
    planned = release_row({"id": "11", "name": "2.4", "released": False}, "PAY")
    assert (planned["state"], planned["target_date"], planned["released_at"]) == (
        "unreleased", None, None)
    archived = release_row({"id": "12", "name": "old", "released": False, "archived": True},
                           "PAY")
    assert archived["state"] == "archived"


def test_found_in_production_only_for_released_affected_versions():
    created = "2024-03-01T00:00:00.000+0000"
    before = {"id": "1", "released": True, "releaseDate": "2024-02-20"}
    after = {"id": "2", "released": True, "releaseDate": "2024-03-10"}
    unreleased = {"id": "3", "released": False}
    assert found_in({"created": created, "versions": [before]}, "bug", MAPPING) == "production"
    # released only after the bug was filed: the bug was found before that release shipped
    assert found_in({"created": created, "versions": [after]}, "bug", MAPPING) is None
    assert found_in({"created": created, "versions": [unreleased]}, "bug", MAPPING) is None
    assert found_in({"created": created, "versions": [before]}, "story", MAPPING) is None
    assert found_in({"created": created, "labels": ["production"]}, "bug", MAPPING) == "production"


def test_histories_sorted_oldest_first_and_deduplicated():
    newest_first = [{"id": "3", "created": "2024-03-03T00:00:00.000+0000"},
                    {"id": "2", "created": "2024-03-02T00:00:00.000+0000"},
                    {"id": "2", "created": "2024-03-02T00:00:00.000+0000"},
                    {"id": "1", "created": "2024-03-01T00:00:00.000+0000"}]
    assert [h["id"] for h in histories_in_order(newest_first)] == ["1", "2", "3"]


def test_change_rows_sprint_lists_story_points_and_categories():
    histories = [{"id": "77", "created": "2024-03-02T09:00:00.000+0000",
                  "author": {"displayName": "Ann"}, "items": [
                      {"field": "Sprint", "fieldId": "customfield_10020", "from": "7",
                       "fromString": "S7", "to": "7, 9", "toString": "S7, S9"},
                      {"field": "Story point estimate", "fieldId": "customfield_10016",
                       "from": None, "fromString": "3", "to": None, "toString": "5"},
                      {"field": "status", "fieldId": "status", "from": "1", "fromString": "Open",
                       "to": "3", "toString": "In Progress"},
                      {"field": "Fix Version", "fieldId": "fixVersions", "from": None,
                       "fromString": None, "to": "40", "toString": "2.4"}]}]
    rows = change_rows("PAY-1", histories, MAPPING, {"1": "new", "3": "indeterminate"})
    got = [(r["id"], r["field"], r["from_value"], r["to_value"]) for r in rows]
    assert got == [
        ("jira:issue:PAY-1:77:0", "sprint", "7", "7,9"),
        ("jira:issue:PAY-1:77:1", "story_points", "3", "5"),
        ("jira:issue:PAY-1:77:2", "status", "1", "3"),
        ("jira:issue:PAY-1:77:2c", "status_category", "todo", "in_progress"),
        ("jira:issue:PAY-1:77:3", "fix_version", None, "40"),
    ]
    assert all(r["author"] == "Ann" and r["item_id"] == "jira:issue:PAY-1" for r in rows)
    assert rows[0]["at"] == datetime(2024, 3, 2, 9, tzinfo=UTC)


def test_issue_rows_started_at_falls_back_to_category_change_date():
    issue = {"key": "PAY-5", "fields": {
        "summary": "x", "project": {"key": "PAY"}, "issuetype": {"name": "Story"},
        "status": {"id": "3", "name": "In Progress",
                   "statusCategory": {"key": "indeterminate"}},
        "statuscategorychangedate": "2024-03-04T12:00:00.000+0000",
        "created": "2024-03-01T00:00:00.000+0000", "updated": "2024-03-04T12:00:00.000+0000",
        "resolution": {"name": "Won't Do"}, "priority": {"name": "Low"},
        "customfield_10016": None,
        "customfield_10020": [{"id": 9, "name": "S9", "state": "active", "boardId": 3}]}}
    out = issue_rows(issue, [], MAPPING, {}, "https://acme.atlassian.net/")
    assert out.item["started_at"] == datetime(2024, 3, 4, 12, tzinfo=UTC)
    assert out.item["resolution_category"] == "not_delivered"  # Won't Do is configured
    assert out.item["severity"] == "low" and out.item["story_points"] is None
    assert out.item["url"] == "https://acme.atlassian.net/browse/PAY-5"
    assert out.sprint_ids == ["jira:sprint:9"] and out.sprints[0]["state"] == "active"


def test_category_rows_all_or_nothing():
    histories = [
        {"id": "1", "created": "2024-03-01T09:00:00.000+0000", "items": [
            {"field": "status", "from": "1", "fromString": "Open", "to": "3",
             "toString": "In Progress"}]},
        {"id": "2", "created": "2024-03-02T09:00:00.000+0000", "items": [
            {"field": "status", "from": "3", "fromString": "In Progress", "to": "5",
             "toString": "Resolved"}]}]
    known = {"1": "new", "3": "indeterminate", "5": "done"}
    rows = change_rows("PAY-1", histories, MAPPING, known)
    assert [r["to_value"] for r in rows if r["field"] == "status_category"] == [
        "in_progress", "done"]
    # status 5 was deleted from the workflow: no category rows at all, status rows stay
    del known["5"]
    rows = change_rows("PAY-1", histories, MAPPING, known)
    assert [r["field"] for r in rows] == ["status", "status"]


def test_incident_row_service_and_resolution_fallbacks():
    from connectors.jira.normalize import incident_row

    item = {"id": "jira:issue:OPS-4", "key": "OPS-4", "type": "incident", "title": "down",
            "severity": "critical", "status_category": "done", "components": [],
            "created_at": datetime(2024, 3, 1, tzinfo=UTC), "resolved_at": None,
            "updated_at": datetime(2024, 3, 2, tzinfo=UTC), "url": "u"}
    row = incident_row(item, ["gateway"])
    # the project's only service; done without a resolution date → resolved at last update
    assert row["service"] == "gateway" and row["resolved_at"] == datetime(2024, 3, 2, tzinfo=UTC)
    assert incident_row({**item, "components": ["edge"]}, [])["service"] == "edge"
    assert incident_row({**item, "type": "bug"}, ["gateway"]) is None


def test_a_field_named_like_a_domain_field_is_kept_apart_from_it():
    """A "Severity" or "Work Type" custom field is the source's own value, not the domain
    severity or type data/domain.py derives (docs/data-model.md)."""
    from connectors.jira.normalize import change_field

    assert [change_field({"field": f, "fieldtype": "custom"}, Mapping())
            for f in ("Severity", "Work Type", "Status Category", "issuetype", "Team")] == [
        "jira_severity", "jira_work_type", "jira_status_category", "type", "team"]
