"""Conformance with DevLake's Jira plugin (corpus/jira/devlake): its raw API rows, served by a
local Jira, must give the status, story points, resolution date, sprints, sprint membership
and changelog items of its snapshot tables.

Deliberate differences, each asserted below:
1. Story points: DevLake writes 0 for an issue without an estimate; we keep null, so
   "not estimated" stays distinguishable from "estimated at 0" (velocity and the burndown's
   "no estimates → count items" rule depend on it). Where DevLake has a value we match it,
   including the string "-1" coerced to -1.0.
2. Changelog items: DevLake keys an item by (history id, field name), so a history with two
   items for one field (a fix version removed and another added in one edit) keeps only the
   last. We keep every item (``…:<history id>:<n>``) because a removed fix version changes the
   release's scope. Collapsed the same way, ours equal DevLake's 689 items exactly.
3. Empty from/to values: DevLake writes "", we write null.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import jira
from connectors.jira.normalize import Mapping, change_field
from data import schema
from data.config import parse_settings
from tests.jira_server import FakeJira
from tests.fake_clock import FakeClock

CATEGORY = {"new": "todo", "indeterminate": "in_progress", "done": "done"}


def _csv(corpus: Path, name: str) -> list[dict]:
    with (corpus / "jira" / "devlake" / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _raw_pages(rows: list[dict]) -> list[list[dict]]:
    """DevLake keeps one item per row and the page URL beside it: regroup into pages."""
    pages: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: int(r["id"])):
        pages[row["url"]].append(json.loads(row["data"]))
    return list(pages.values())


def _time(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@pytest.fixture
def synced(corpus, httpserver, sqlite_engine, monkeypatch):
    for name in ("JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    raw_issues = [r for r in _csv(corpus, "jira__raw_tables___raw_jira_api_issues.csv")
                  if json.loads(r["params"])["BoardId"] == 8]
    raw_sprints = _csv(corpus, "jira__raw_tables___raw_jira_api_sprints.csv")
    pages = _raw_pages(raw_issues)
    statuses = {}
    for page in pages:
        for item in page:
            st = item["fields"]["status"]
            statuses[st["id"]] = st
    fake = FakeJira(
        httpserver, project="EE", search_pages=pages, statuses=list(statuses.values()),
        boards=[{"id": 8, "name": "EE board", "type": "scrum"}],
        # DevLake's e2e configuration names customfield_10024 as the story-point field.
        board_configs={"8": {"estimation": {"type": "field", "field": {
            "fieldId": "customfield_10024", "displayName": "Story Points"}}}},
        sprints={"8": [s for p in _raw_pages(raw_sprints) for s in p]})
    args = argparse.Namespace(url=fake.url, project=["EE"], board=None, full=False,
                              max_wait=None)
    jira.run(args, parse_settings({}, None), sqlite_engine, clock=FakeClock())
    return sqlite_engine


def _rows(engine, table):
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(table))]


def test_issues_match_devlake(corpus, synced):
    expected = _csv(corpus, "jira__snapshot_tables___tool_jira_issues.csv")
    ours = {r["key"]: r for r in _rows(synced, schema.work_items)}
    assert set(ours) == {e["issue_key"] for e in expected}
    for e in expected:
        item = ours[e["issue_key"]]
        assert item["status"] == e["status_name"], e["issue_key"]
        assert item["status_category"] == CATEGORY[e["status_key"]], e["issue_key"]
        assert item["resolved_at"] == _time(e["resolution_date"]), e["issue_key"]
        assert item["created_at"] == _time(e["created"]), e["issue_key"]
        assert item["priority"] == e["priority_name"]
        assert item["type_name"] == e["type"]
        devlake_points = float(e["story_point"])
        if item["story_points"] is None:  # difference 1: null where DevLake writes 0
            assert devlake_points == 0, e["issue_key"]
        else:
            assert item["story_points"] == devlake_points, e["issue_key"]
    # EE-1's estimate is the string "-1", EE-2's the number 2.0
    assert ours["EE-1"]["story_points"] == -1.0 and ours["EE-2"]["story_points"] == 2.0


def test_sprints_match_devlake(corpus, synced):
    expected = _csv(corpus, "jira__snapshot_tables___tool_jira_sprints.csv")
    ours = {r["id"]: r for r in _rows(synced, schema.sprints)}
    assert set(ours) == {f"jira:sprint:{e['sprint_id']}" for e in expected}
    for e in expected:
        s = ours[f"jira:sprint:{e['sprint_id']}"]
        assert (s["name"], s["state"], s["board"]) == (e["name"], e["state"],
                                                        e["origin_board_id"])
        assert s["start_at"] == _time(e["start_date"])
        assert s["end_at"] == _time(e["end_date"])
        assert s["completed_at"] == _time(e["complete_date"])
    # sprint 7 closed on 2020-06-22, four days before its planned end (kept as given)
    s7 = ours["jira:sprint:7"]
    assert s7["completed_at"] < s7["end_at"]


def test_sprint_membership_matches_devlake(corpus, synced):
    keys = {e["issue_id"]: e["issue_key"]
            for e in _csv(corpus, "jira__snapshot_tables___tool_jira_issues.csv")}
    expected = {(f"jira:sprint:{e['sprint_id']}", f"jira:issue:{keys[e['issue_id']]}")
                for e in _csv(corpus, "jira__snapshot_tables___tool_jira_sprint_issues.csv")}
    ours = {(r["sprint_id"], r["item_id"]) for r in _rows(synced, schema.sprint_items)}
    assert ours == expected
    assert len(ours) == 28  # 27 issues in sprint 7, EE-17 in sprint 17


def test_changelog_items_match_devlake(corpus, synced):
    expected = _csv(corpus, "jira__snapshot_tables___tool_jira_issue_changelog_items.csv")
    changes = [c for c in _rows(synced, schema.work_item_changes)
               if c["field"] != "status_category"]
    assert len(changes) == 709  # every item of every history of the 30 issues
    # difference 2: collapse to the last item per (history, field) as DevLake does
    collapsed: dict[tuple[str, str], dict] = {}
    for c in sorted(changes, key=lambda c: int(c["id"].rsplit(":", 1)[1])):
        collapsed[(c["id"].split(":")[3], c["field"])] = c
    assert len(collapsed) == len(expected) == 689
    mapping = Mapping(story_points_field="customfield_10024", sprint_field="customfield_10020")
    for e in expected:
        ours = change_field({"field": e["field"], "fieldId": e["field_id"]}, mapping)
        c = collapsed[(e["changelog_id"], ours)]
        got = tuple(v or "" for v in (c["from_value"], c["from_string"], c["to_value"],
                                      c["to_string"]))  # difference 3: null vs ""
        assert got == (e["from_value"], e["from_string"], e["to_value"], e["to_string"]), e


def test_status_changes_carry_ids_and_categories(synced):
    status = [c for c in _rows(synced, schema.work_item_changes) if c["field"] == "status"]
    assert status and all(c["from_value"] is None or c["from_value"].isdigit() for c in status)
    assert all(c["to_value"].isdigit() for c in status)


def test_changelog_endpoint_rows_match_devlake(corpus, httpserver, sqlite_engine, monkeypatch):
    """DevLake's rows from ``/issue/{id}/changelog`` (an issue whose inline changelog was
    incomplete) give the histories of its ``_tool_jira_issue_changelogs``: ids, author, time.
    Its raw table repeats history 57280 (two rows, one per page fetch); Jira never repeats a
    history on one page, and both DevLake and we keep one."""
    monkeypatch.delenv("JIRA_TOKEN", raising=False)
    raw = _csv(corpus, "jira__issue_changelogs___raw_jira_api_issue_changelogs.csv")
    expected = _csv(corpus, "jira__issue_changelogs___tool_jira_issue_changelogs.csv")
    values = [json.loads(r["data"]) for r in raw]
    # The issue itself is not in the corpus: an issue whose inline changelog lists none of
    # its histories, so the connector must page the changelog endpoint.
    summary = {"id": "13383", "key": "EE-99", "fields": {
        "summary": "x", "status": {"id": "1", "name": "Open", "statusCategory": {"key": "new"}},
        "issuetype": {"name": "Task"}, "created": "2021-01-01T00:00:00.000+0000",
        "updated": "2021-03-28T08:08:13.741+0000", "project": {"key": "EE"}},
        "changelog": {"startAt": 0, "maxResults": 0, "total": len(values), "histories": []}}
    fake = FakeJira(httpserver, project="EE", search_pages=[[summary]],
                    changelogs={"EE-99": values})
    args = argparse.Namespace(url=fake.url, project=["EE"], board=None, full=False,
                              max_wait=None)
    jira.run(args, parse_settings({}, None), sqlite_engine, clock=FakeClock())
    assert len(fake.requests("/rest/api/3/issue/EE-99/changelog")) == 1
    ours = {}
    for c in _rows(sqlite_engine, schema.work_item_changes):
        ours[c["id"].split(":")[3]] = (c["author"], c["at"])
    assert ours == {e["changelog_id"]: (e["author_display_name"], _time(e["created"]))
                    for e in expected}
