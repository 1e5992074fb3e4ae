"""Table in, table out (DevLake's manner) for Jira: one real issue from the corpus (DevLake's
recorded ``_raw_jira_api_issues``, Jira Cloud, K5-2 with its changelog) and one issue written
here with a sprint and a priority change, served by the local fake Jira; a sync; then whole rows
of ``work_items``, ``work_item_changes`` (raw and derived severity rows), ``membership_changes``,
``sprints``, ``sprint_items`` and ``scopes``, on SQLite and PostgreSQL. Expected rows are worked
out by reading the payloads (quoted in comments)."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors import jira
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.jira_server import FakeJira, history, issue

K2, K9 = "jira:issue:K5-2", "jira:issue:K5-9"
S175 = "jira:sprint:175"
SPRINT_175 = {"id": 175, "name": "K5 Sprint 1", "state": "active", "boardId": 92, "goal": "",
              "startDate": "2022-07-15T22:35:25.617Z", "endDate": "2022-07-29T22:35:00.000Z"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def corpus_issue(corpus, key: str) -> dict:
    path = corpus / "jira/devlake/jira__raw_tables___raw_jira_api_issues.csv"
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            data = json.loads(row["data"])
            if data["key"] == key:
                # the fake serves ``_histories`` as the issue's changelog
                return {**data, "_histories": data["changelog"]["histories"]}
    raise AssertionError(f"{key} not in the corpus")


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch):
    for name in ("JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def table(conn, t, *order):
    return [dict(r) for r in conn.execute(select(t).order_by(*order)).mappings()]


def test_issues_and_changelogs_to_domain_rows(httpserver, engine, corpus):
    k9 = issue("K5-9", summary="Crash on save", issuetype="Bug", priority="Highest",
               created="2022-07-17T09:00:00.000+0000", updated="2022-07-18T10:00:00.000+0000",
               extra={"customfield_10020": [SPRINT_175]},
               histories=[
                   history(501, "2022-07-17T10:00:00.000+0000",
                           {"field": "Sprint", "fieldtype": "custom",
                            "fieldId": "customfield_10020", "from": "", "fromString": "",
                            "to": "175", "toString": "K5 Sprint 1"}),
                   history(502, "2022-07-18T10:00:00.000+0000",
                           {"field": "priority", "fieldtype": "jira", "fieldId": "priority",
                            "from": "3", "fromString": "Medium", "to": "1",
                            "toString": "Highest"}, author="Bo")])
    fake = FakeJira(httpserver, project="K5", issues=[corpus_issue(corpus, "K5-2"), k9])
    jira.run(argparse.Namespace(url=fake.url, project=["K5"], board=None, full=False,
                                max_wait=None), parse_settings({}, None), engine,
             clock=FakeClock())
    with engine.connect() as conn:
        wi, wic, mc = schema.work_items, schema.work_item_changes, schema.membership_changes
        items = table(conn, wi, wi.c.id)
        changes = table(conn, wic, wic.c.id)
        membership = table(conn, mc, mc.c.id)
        sprints = table(conn, schema.sprints, schema.sprints.c.id)
        sprint_items = table(conn, schema.sprint_items, schema.sprint_items.c.item_id)
        scopes = table(conn, schema.scopes, schema.scopes.c.key)

    common = {"source": "jira", "project": "K5", "resolution": None,
              "resolution_category": None, "story_points": None, "assignee": None,
              "labels": [], "components": [], "started_at": None, "resolved_at": None}
    assert items == [
        # K5-2: "first story", Story, status "To Do" (statusCategory key "new"), priority
        # Medium, parent K5-1, created "2022-07-16T06:29:49.026+0800", updated
        # "2022-07-16T06:30:23.341+0800"; never in progress, so no start
        {**common, "id": K2, "key": "K5-2", "title": "first story", "type": "story",
         "type_name": "Story", "status": "To Do", "status_category": "todo",
         "priority": "Medium", "severity": "medium", "found_in": None, "parent_key": "K5-1",
         "created_at": utc(2022, 7, 15, 22, 29, 49, 26000),
         "updated_at": utc(2022, 7, 15, 22, 30, 23, 341000),
         "url": f"{fake.url}/browse/K5-2"},
        # K5-9: Bug, status 1 "Open" (new), Highest → critical; affects no version, so
        # found_in is not production
        {**common, "id": K9, "key": "K5-9", "title": "Crash on save", "type": "bug",
         "type_name": "Bug", "status": "Open", "status_category": "todo",
         "priority": "Highest", "severity": "critical", "found_in": None, "parent_key": None,
         "created_at": utc(2022, 7, 17, 9), "updated_at": utc(2022, 7, 18, 10),
         "url": f"{fake.url}/browse/K5-9"},
    ]
    ka = {"item_id": K2, "source": "jira", "author": "Keon Amini", "from_value": None,
          "from_string": None}
    assert changes == [  # in id order
        # history 422890 at 06:30:23.321+0800: "IssueParentAssociation" → 20707
        {**ka, "id": f"{K2}:422890:0", "at": utc(2022, 7, 15, 22, 30, 23, 321000),
         "field": "issueparentassociation", "to_value": "20707", "to_string": "K5-1"},
        # history 422892 at 06:30:23.343+0800: "Epic Link" → K5-1 (id 20707)
        {**ka, "id": f"{K2}:422892:0", "at": utc(2022, 7, 15, 22, 30, 23, 343000),
         "field": "parent", "to_value": "20707", "to_string": "K5-1"},
        # sprint "" → 175 (an empty side is no sprint)
        {"id": f"{K9}:501:0", "item_id": K9, "source": "jira", "at": utc(2022, 7, 17, 10),
         "field": "sprint", "from_value": None, "to_value": "175", "from_string": None,
         "to_string": "K5 Sprint 1", "author": "Ann"},
        {"id": f"{K9}:502:0", "item_id": K9, "source": "jira", "at": utc(2022, 7, 18, 10),
         "field": "priority", "from_value": "3", "to_value": "1", "from_string": "Medium",
         "to_string": "Highest", "author": "Bo"},
        # derived: Medium → Highest moved the severity from medium to critical
        {"id": f"{K9}:502:0:severity", "item_id": K9, "source": "jira",
         "at": utc(2022, 7, 18, 10), "field": "severity", "from_value": "medium",
         "to_value": "critical", "from_string": "Medium", "to_string": "Highest",
         "author": "Bo"},
    ]
    assert membership == [{
        "id": f"{K9}:501:0:{S175}", "item_id": K9, "scope_type": "sprint", "scope_id": S175,
        "change": "added", "at": utc(2022, 7, 17, 10), "source": "jira", "original": "175"}]
    # from the Sprint field (customfield_10020) of both issues: the same sprint 175
    assert sprints == [{
        "id": S175, "source": "jira", "project": "K5", "board": "92", "name": "K5 Sprint 1",
        "state": "active", "goal": None, "start_at": utc(2022, 7, 15, 22, 35, 25, 617000),
        "end_at": utc(2022, 7, 29, 22, 35), "completed_at": None, "url": None}]
    assert sprint_items == [{"sprint_id": S175, "item_id": K2, "source": "jira"},
                            {"sprint_id": S175, "item_id": K9, "source": "jira"}]
    assert scopes == [{"key": "K5", "kind": "project", "source": "jira", "name": None,
                       "external_id": None}]
