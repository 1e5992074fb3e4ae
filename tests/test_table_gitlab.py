"""Table in, table out (DevLake's manner) for GitLab: gitlab.com ``gitea/test_repo`` as
gitea's recorder captured it (byte-exact bodies in the corpus: the project by URL-encoded
path, two closed issues, the empty state events of a 2019 issue, the milestones, the release),
served by the local fake API under a relative URL root; a sync; then whole rows of
``work_items``, ``releases``, ``release_items``, ``work_item_changes``,
``membership_changes`` and ``scopes``, on SQLite and PostgreSQL. Expected rows are worked out
by reading the payloads (quoted in comments)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from connectors.gitlab.cli import sync_gitlab
from connectors.progress import NULL_PROGRESS
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.gitlab_server import FakeGitLab, Project, gitea_body

PID, PATH = 15578026, "gitea/test_repo"
I1, I2 = f"gitlab:issue:{PID}#1", f"gitlab:issue:{PID}#2"
M1, M2 = f"gitlab:milestone:{PID}#1082926", f"gitlab:milestone:{PID}#1082927"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def gl(httpserver, corpus):
    fake = FakeGitLab(prefix="/gitlab").install(httpserver)
    project = gitea_body(corpus, "01")
    assert (project["id"], project["path_with_namespace"]) == (PID, PATH)
    p = fake.add(Project(PID, PATH))
    p.issues = gitea_body(corpus, "03")
    empty = gitea_body(corpus, "04")  # issue 2's resource_state_events: []
    p.state_events = {1: empty, 2: empty}
    p.milestones = gitea_body(corpus, "06")
    p.releases = gitea_body(corpus, "07")
    return fake


def table(conn, t, *order):
    return [dict(r) for r in conn.execute(select(t).order_by(*order)).mappings()]


def test_issues_milestones_release_to_domain_rows(engine, gl):
    settings = parse_settings({"gitlab": {"url": gl.url, "projects": [PATH]}}, None)
    sync_gitlab(settings, engine, NULL_PROGRESS, url=gl.url, projects=[PATH], groups=[],
                include_archived=False, clock=FakeClock(utc("2019-12-01T00:00:00Z").timestamp()),
                token=gl.token)
    with engine.connect() as conn:
        items = table(conn, schema.work_items, schema.work_items.c.id)
        releases = table(conn, schema.releases, schema.releases.c.id)
        members = table(conn, schema.release_items, schema.release_items.c.item_id)
        changes = table(conn, schema.work_item_changes, schema.work_item_changes.c.id)
        membership = table(conn, schema.membership_changes, schema.membership_changes.c.id)
        scopes = table(conn, schema.scopes, schema.scopes.c.key)

    # Both issues: closed, no assignee, "severity": "UNKNOWN" (no priority), Free tier (no
    # weight key), "issue_type": "issue".
    common = {"source": "gitlab", "project": PATH, "status": "closed",
              "status_category": "done", "priority": None, "severity": None, "found_in": None,
              "story_points": None, "assignee": None, "components": None, "parent_key": None,
              "started_at": None}
    assert items == [
        # labels ["bug", "discussion"]: "bug" is a bug label
        {**common, "id": I1, "key": f"{PATH}#1",
         "title": "Please add an animated gif icon to the merge button", "type": "bug",
         "type_name": "bug", "resolution": None, "resolution_category": "delivered",
         "labels": ["bug", "discussion"], "created_at": utc("2019-11-28T08:43:35.459Z"),
         "resolved_at": utc("2019-11-28T08:46:23.275Z"),
         "updated_at": utc("2019-11-28T08:46:23.304Z"),
         "url": "https://gitlab.com/gitea/test_repo/-/work_items/1"},
        # labels ["duplicate"]: no type; "duplicate" is a not-delivered resolution
        {**common, "id": I2, "key": f"{PATH}#2", "title": "Test issue", "type": "other",
         "type_name": "issue", "resolution": "duplicate",
         "resolution_category": "not_delivered", "labels": ["duplicate"],
         "created_at": utc("2019-11-28T08:44:46.277Z"),
         "resolved_at": utc("2019-11-28T08:45:44.959Z"),
         "updated_at": utc("2019-11-28T08:45:44.987Z"),
         "url": "https://gitlab.com/gitea/test_repo/-/work_items/2"},
    ]
    # milestone 1.0.0 closed → released, 1.1.0 active → unreleased, neither has a due date;
    # release "First Release" (tag v0.9.99) names no milestone ("milestones" absent) and
    # neither title is 0.9.99: a release of its own, shipped at its released_at
    assert releases == [
        {"id": M1, "source": "gitlab", "project": PATH, "name": "1.0.0", "description": "",
         "target_date": None, "released_at": None, "state": "released", "prerelease": None,
         "url": "https://gitlab.com/gitea/test_repo/-/milestones/1"},
        {"id": M2, "source": "gitlab", "project": PATH, "name": "1.1.0", "description": "",
         "target_date": None, "released_at": None, "state": "unreleased", "prerelease": None,
         "url": "https://gitlab.com/gitea/test_repo/-/milestones/2"},
        {"id": f"gitlab:release:{PID}@v0.9.99", "source": "gitlab", "project": PATH,
         "name": "First Release", "description": None, "target_date": None,
         "released_at": utc("2019-11-28T09:09:48.836Z"), "state": "released",
         "prerelease": None, "url": "https://gitlab.com/gitea/test_repo/-/releases/v0.9.99"},
    ]
    # issue 1 in milestone 1.0.0, issue 2 in 1.1.0
    assert members == [{"release_id": M1, "item_id": I1, "source": "gitlab"},
                       {"release_id": M2, "item_id": I2, "source": "gitlab"}]
    # state events are [] (closed in 2019, before GitLab recorded them): closed_at stands in,
    # by closed_by "lafriks"
    fallback = {"source": "gitlab", "field": "status", "from_value": "opened",
                "to_value": "closed", "from_string": "opened", "to_string": "closed",
                "author": "lafriks"}
    # ... and beside each, its domain row: the status category it moved to (todo → done)
    category = {**fallback, "field": "status_category", "from_value": "todo",
                "to_value": "done"}
    assert changes == [
        {**fallback, "id": f"{I1}:closed_at", "item_id": I1,
         "at": utc("2019-11-28T08:46:23.275Z")},
        {**category, "id": f"{I1}:closed_at:status_category", "item_id": I1,
         "at": utc("2019-11-28T08:46:23.275Z")},
        {**fallback, "id": f"{I2}:closed_at", "item_id": I2,
         "at": utc("2019-11-28T08:45:44.959Z")},
        {**category, "id": f"{I2}:closed_at:status_category", "item_id": I2,
         "at": utc("2019-11-28T08:45:44.959Z")},
    ]
    assert membership == []  # no milestone events recorded: no membership history
    assert scopes == [{"key": PATH, "kind": "repository", "source": "gitlab",
                       "name": "gitea / test_repo", "external_id": PID}]
