"""Table in, table out (DevLake's manner) for GitHub: two real issues from the corpus (PyGithub's
recorded ``GET /repos/PyGithub/PyGithub/issues``, 2012 API) and two issue events written here,
served by the local fake API; a sync; then whole rows of ``work_items``, ``releases``,
``release_items``, ``work_item_changes``, ``membership_changes`` and ``scopes``, on SQLite and
PostgreSQL. Expected rows are worked out by reading the payloads (quoted in comments)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub

REPO = "PyGithub/PyGithub"
I30, I20 = f"github:issue:{REPO}#30", f"github:issue:{REPO}#20"
M2 = f"github:milestone:{REPO}#2"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def corpus_issues(corpus) -> dict[int, dict]:
    entry = json.loads((corpus / "github/pygithub-replay/Repository.testGetIssues.json")
                       .read_text())[0]
    body = entry["response_body"]
    issues = json.loads(body) if isinstance(body, str) else body
    return {i["number"]: i for i in issues}


@pytest.fixture
def gh(httpserver, corpus):
    fake = FakeGitHub(repo=REPO).install(httpserver)
    issues = corpus_issues(corpus)
    fake.issues = [issues[20], issues[30]]
    fake.milestones = [issues[30]["milestone"]]
    fake.events = [
        {"id": 1, "event": "assigned", "created_at": "2012-05-27T06:00:00Z",
         "actor": {"login": "jacquev6"}, "assignee": {"login": "jacquev6"},
         "issue": {"number": 30}},
        {"id": 2, "event": "milestoned", "created_at": "2012-05-27T07:00:00Z",
         "actor": {"login": "jacquev6"},
         "milestone": {"title": "Version 1.0: coherent public interface"},
         "issue": {"number": 30}},
    ]
    return fake


def table(conn, t, *order):
    return [dict(r) for r in conn.execute(select(t).order_by(*order)).mappings()]


def test_issues_milestone_and_events_to_domain_rows(engine, gh):
    settings = parse_settings({"github": {"repos": [REPO]},
                               "projects": {"PYG": {"repos": [REPO]}}}, None)
    sync_repos(settings, engine, Progress("github", terminal=False), [REPO],
               api_url=gh.base_url, clock=FakeClock(utc("2012-06-01T00:00:00Z").timestamp()),
               token="t0ken", token_env="GITHUB_TOKEN")
    with engine.connect() as conn:
        wi = schema.work_items
        items = table(conn, wi, wi.c.id)
        releases = table(conn, schema.releases, schema.releases.c.id)
        members = table(conn, schema.release_items, schema.release_items.c.item_id)
        changes = table(conn, schema.work_item_changes, schema.work_item_changes.c.id)
        membership = table(conn, schema.membership_changes, schema.membership_changes.c.id)
        scopes = table(conn, schema.scopes, schema.scopes.c.key)

    # Both issues carry "pull_request": {"patch_url": null, "diff_url": null, "html_url": null}:
    # the 2012 API's mark on every issue, so both are issues. Neither label ("Question",
    # "Refactoring") names a type or a severity; both are open and assigned to jacquev6, and
    # an assignee means started (mapping.started_from has "assigned").
    common = {"source": "github", "project": "PYG", "type": "other", "type_name": None,
              "status": "open", "status_category": "in_progress", "resolution": None,
              "resolution_category": None, "priority": None, "severity": None,
              "found_in": None, "story_points": None, "assignee": "jacquev6",
              "components": None, "parent_key": None, "resolved_at": None}
    assert items == [
        {**common, "id": I20, "key": f"{REPO}#20", "title": "Rework GitTree.recursive",
         "labels": ["Refactoring"], "created_at": utc("2012-03-19T19:08:18Z"),
         # no event for #20: nothing says when it started
         "started_at": None, "updated_at": utc("2012-03-19T19:08:18Z"),
         "url": f"https://github.com/{REPO}/issues/20"},
        {**common, "id": I30, "key": f"{REPO}#30", "title": "Issue also created by PyGithub",
         "labels": ["Question"], "created_at": utc("2012-05-27T05:40:15Z"),
         # the "assigned" event
         "started_at": utc("2012-05-27T06:00:00Z"), "updated_at": utc("2012-05-27T05:40:15Z"),
         "url": f"https://github.com/{REPO}/issues/30"},
    ]
    # milestone 2: due 2012-06-04T07:00:00Z, open → unreleased; no GitHub release names it
    assert releases == [{
        "id": M2, "source": "github", "project": "PYG",
        "name": "Version 1.0: coherent public interface",
        "description": "Heavy rewrite to have:\r\n* a fully coherent public interface\r\n"
                       "* usable stack-traces in case of exception\r\n* more explicit "
                       "exceptions\r\n* more readable code (for library exploration, "
                       "auto-completion in IDEs, etc.)\r\n\r\nSee working branch "
                       "https://github.com/PyGithub/PyGithub/tree/topic/RewriteWithGeneratedCode",
        "target_date": utc("2012-06-04T07:00:00Z"), "released_at": None,
        "state": "unreleased", "prerelease": None,
        "url": None}]  # the 2012 milestone object has an API url but no html_url
    assert members == [{"release_id": M2, "item_id": I30, "source": "github"}]
    event = {"item_id": I30, "source": "github", "author": "jacquev6", "from_value": None,
             "from_string": None}
    assert changes == [
        {**event, "id": f"{I30}:event:1", "at": utc("2012-05-27T06:00:00Z"),
         "field": "assignee", "to_value": "jacquev6", "to_string": "jacquev6"},
        {**event, "id": f"{I30}:event:2", "at": utc("2012-05-27T07:00:00Z"),
         "field": "fix_version", "to_value": "Version 1.0: coherent public interface",
         "to_string": "Version 1.0: coherent public interface"},
    ]
    # the milestoned change names the release by title: #30 added to milestone 2
    assert membership == [{
        "id": f"{I30}:event:2:{M2}", "item_id": I30, "scope_type": "release", "scope_id": M2,
        "change": "added", "at": utc("2012-05-27T07:00:00Z"), "source": "github",
        "original": "Version 1.0: coherent public interface"}]
    assert scopes == [{"key": REPO, "kind": "repository", "source": "github", "name": None,
                       "external_id": None}]
