"""GitHub sync end to end against a local fake API: what lands in the database, and which
requests a first sync and a re-sync make."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue, milestone, run

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def settings(**github):
    return parse_settings({
        "github": {"repos": ["acme/web"], "deploy_workflows": ["deploy.yml"], **github},
        "projects": {"WEB": {"repos": ["acme/web"]}},
    }, None)


def populate(gh: FakeGitHub) -> None:
    m24 = milestone(1, "v2.4", due="2024-06-10T07:00:00Z")
    m23 = milestone(2, "2.3", state="closed", due="2024-04-01T07:00:00Z")
    gh.milestones = [m24, m23]
    gh.issues = [
        issue(1, "2024-03-05T00:00:00Z", state="closed", closed="2024-03-05T00:00:00Z",
              created="2024-03-01T00:00:00Z", labels=("bug", "sev1"), milestone=m23,
              state_reason="completed"),
        issue(2, "2024-03-06T00:00:00Z", state="closed", closed="2024-03-06T00:00:00Z",
              labels=("enhancement",), milestone=m23, state_reason="not_planned"),
        issue(3, "2024-03-07T00:00:00Z", labels=("in progress",), milestone=m24),
        issue(4, "2024-03-08T00:00:00Z", assignee="bob", milestone=m24),
        issue(5, "2024-03-09T00:00:00Z", milestone=m24, created="2024-02-20T00:00:00Z"),
        issue(6, "2024-03-09T12:00:00Z", pr=True),
        issue(7, "2024-03-10T00:00:00Z", labels=("incident", "production")),
    ]

    def ev(eid, kind, number, at, **extra):
        return {"id": eid, "event": kind, "created_at": at, "actor": {"login": "ann"},
                "issue": {"number": number, **({"pull_request": {}} if number == 6 else {})},
                **extra}

    gh.events = [
        ev(1, "closed", 1, "2024-03-03T00:00:00Z"),
        ev(2, "reopened", 1, "2024-03-04T00:00:00Z"),
        ev(3, "closed", 1, "2024-03-05T00:00:00Z"),
        ev(4, "assigned", 4, "2024-03-02T00:00:00Z", assignee={"login": "bob"}),
        ev(5, "labeled", 3, "2024-03-01T10:00:00Z", label={"name": "In Progress"}),
        ev(6, "closed", 6, "2024-03-04T00:00:00Z"),
    ]
    gh.pulls = [{
        "number": 6, "title": "Fix 5", "user": {"login": "carol"}, "state": "closed",
        "body": "This Fixes #5.", "base": {"ref": "main"}, "head": {"ref": "fix-5"},
        "created_at": "2024-03-02T09:00:00Z", "updated_at": "2024-03-09T12:00:00Z",
        "closed_at": "2024-03-04T00:00:00Z", "merged_at": "2024-03-04T00:00:00Z",
        "merge_commit_sha": "m6", "html_url": "https://github.com/acme/web/pull/6"}]
    gh.pull_details = {6: {"additions": 10, "deletions": 2, "changed_files": 3}}
    gh.pull_commits = {6: [{"sha": "a", "commit": {"author": {"date": "2024-03-01T12:00:00Z"}}},
                           {"sha": "b", "commit": {"author": {"date": "2024-03-01T08:00:00Z"}}}]}
    gh.pull_reviews = {6: [
        {"user": {"login": "alice"}, "state": "APPROVED", "submitted_at": "2024-03-03T10:00:00Z"},
        {"user": {"login": "carol"}, "state": "COMMENTED", "submitted_at": "2024-03-02T10:00:00Z"},
        {"user": {"login": "bob"}, "state": "COMMENTED", "submitted_at": "2024-03-03T09:00:00Z"},
        {"user": {"login": "dan"}, "state": "PENDING"},
    ]}
    gh.releases = [
        {"id": 1, "tag_name": "v2.3", "name": "Release 2.3", "draft": False, "prerelease": False,
         "published_at": "2024-04-02T12:00:00Z", "html_url": "https://github.com/r/1"},
        {"id": 2, "tag_name": "v2.5", "name": "2.5", "draft": True, "prerelease": False,
         "published_at": None},
        {"id": 3, "tag_name": "v2.4.1-rc1", "name": None, "draft": False, "prerelease": True,
         "published_at": "2024-05-01T00:00:00Z"},
    ]
    gh.runs = [
        run(101, "2024-03-10T10:00:00Z", updated="2024-03-10T10:05:00Z"),
        run(102, "2024-03-11T10:00:00Z", status="in_progress", conclusion=None),
        run(103, "2024-03-12T10:00:00Z", name="Deploy", updated="2024-03-12T10:10:00Z",
            sha="d2", path=".github/workflows/deploy.yml"),
    ]
    gh.deployments = [
        {"id": 201, "environment": "Production", "sha": "d1", "ref": "main",
         "created_at": "2024-03-09T10:00:00Z", "url": "u201"},
        {"id": 202, "environment": "staging", "sha": "d1", "ref": "main",
         "created_at": "2024-03-10T10:00:00Z", "url": "u202"},
        {"id": 203, "environment": "prod", "sha": "d3", "ref": "main",
         "created_at": "2024-03-13T10:00:00Z", "url": "u203"},
    ]
    gh.statuses = {
        201: [{"id": 1, "state": "queued", "created_at": "2024-03-09T10:00:00Z"},
              {"id": 2, "state": "success", "created_at": "2024-03-09T10:05:00Z"},
              {"id": 3, "state": "inactive", "created_at": "2024-03-12T10:10:00Z"}],
        202: [{"id": 4, "state": "failure", "created_at": "2024-03-10T10:03:00Z"}],
        203: [{"id": 5, "state": "in_progress", "created_at": "2024-03-13T10:01:00Z"}],
    }
    gh.compares = {("d1", "d2"): [
        {"sha": "c1", "commit": {"committer": {"date": "2024-03-11T00:00:00Z"}}},
        {"sha": "d2", "commit": {"committer": {"date": "2024-03-12T09:00:00Z"}}}]}


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    populate(fake)
    return fake


def sync(engine, gh, clock=None, token="t0ken-secret", token_env="GITHUB_TOKEN", **kw):
    return sync_repos(settings(), engine, Progress("github", terminal=False), ["acme/web"],
                      api_url=gh.base_url, clock=clock or FakeClock(NOW), token=token,
                      token_env=token_env, **kw)


def rows(engine, table, *where):
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(table).where(*where))}


def test_first_sync_work_items(engine, gh):
    sync(engine, gh)
    items = rows(engine, schema.work_items)
    # 7 entries in the issue list, #6 is a pull request
    assert sorted(items) == [f"github:issue:acme/web#{n}" for n in (1, 2, 3, 4, 5, 7)]
    one, two, three, four, five, seven = (items[f"github:issue:acme/web#{n}"]
                                          for n in (1, 2, 3, 4, 5, 7))
    assert (one.project, one.key, one.type, one.severity) == ("WEB", "acme/web#1", "bug",
                                                               "critical")
    assert (one.status_category, one.resolution, one.resolution_category) == (
        "done", "completed", "delivered")
    assert one.resolved_at == utc("2024-03-05T00:00:00Z")
    assert (two.type, two.resolution, two.resolution_category) == (
        "story", "not_planned", "not_delivered")
    # started: #3 labelled "In Progress" on 1 Mar 10:00; #4 assigned 2 Mar;
    # #5 linked from PR #6 opened 2 Mar 09:00
    assert (three.status_category, three.started_at) == ("in_progress",
                                                         utc("2024-03-01T10:00:00Z"))
    assert (four.status_category, four.started_at) == ("in_progress", utc("2024-03-02T00:00:00Z"))
    assert (five.status_category, five.started_at) == ("in_progress", utc("2024-03-02T09:00:00Z"))
    assert (seven.type, seven.found_in, seven.status_category) == ("incident", "production",
                                                                   "todo")


def test_first_sync_changes_releases_membership(engine, gh):
    sync(engine, gh)
    changes = rows(engine, schema.work_item_changes)
    status = sorted((c.at, c.from_value, c.to_value) for c in changes.values()
                    if c.item_id == "github:issue:acme/web#1" and c.field == "status")
    assert status == [(utc("2024-03-03T00:00:00Z"), "open", "closed"),
                      (utc("2024-03-04T00:00:00Z"), "closed", "open"),
                      (utc("2024-03-05T00:00:00Z"), "open", "closed")]
    assert not [c for c in changes.values() if "#6" in c.item_id]  # PR events left out

    rel = rows(engine, schema.releases)
    m24, m23 = rel["github:milestone:acme/web#1"], rel["github:milestone:acme/web#2"]
    assert (m24.name, m24.state, m24.target_date, m24.released_at) == (
        "v2.4", "unreleased", utc("2024-06-10T07:00:00Z"), None)
    # GitHub release "v2.3" (tag minus v) ships milestone "2.3"
    assert (m23.state, m23.released_at, m23.prerelease) == (
        "released", utc("2024-04-02T12:00:00Z"), False)
    rc = rel["github:release:acme/web@v2.4.1-rc1"]
    assert (rc.name, rc.prerelease, rc.released_at) == ("2.4.1-rc1", True,
                                                        utc("2024-05-01T00:00:00Z"))
    assert len(rel) == 3  # the draft v2.5 is ignored

    with engine.connect() as conn:
        members = sorted(conn.execute(select(schema.release_items.c.release_id,
                                             schema.release_items.c.item_id)).all())
        snaps = conn.execute(select(schema.scope_snapshots)).all()
    assert members == [("github:milestone:acme/web#1", f"github:issue:acme/web#{n}")
                       for n in (3, 4, 5)] + [
                          ("github:milestone:acme/web#2", f"github:issue:acme/web#{n}")
                          for n in (1, 2)]
    # first sync: both milestones snapshotted, 3 + 2 items, at the clock's time
    assert len(snaps) == 5
    taken = datetime.fromtimestamp(NOW, timezone.utc)
    assert {s.taken_at for s in snaps} == {taken}
    by_item = {s.item_id: s for s in snaps}
    s3 = by_item["github:issue:acme/web#3"]
    assert s3.id == f"github:milestone:acme/web#1:github:issue:acme/web#3:{taken.isoformat()}"
    assert (s3.source, s3.scope_type, s3.scope_id) == ("github", "release",
                                                       "github:milestone:acme/web#1")
    assert {i: s.status_category for i, s in by_item.items()} == {
        i: w.status_category for i, w in rows(engine, schema.work_items).items() if i in by_item}


def test_first_sync_pulls_runs_deployments(engine, gh):
    sync(engine, gh)
    pr = rows(engine, schema.pull_requests)["github:pr:acme/web#6"]
    assert (pr.state, pr.merge_sha, pr.base_branch, pr.additions, pr.deletions) == (
        "merged", "m6", "main", 10, 2)
    # earliest commit 08:00 on 1 Mar; reviews by others than carol: bob 09:00, alice 10:00
    assert pr.first_commit_at == utc("2024-03-01T08:00:00Z")
    assert (pr.first_review_at, pr.review_count) == (utc("2024-03-03T09:00:00Z"), 2)
    assert pr.linked_items == ["github:issue:acme/web#5"]

    runs = rows(engine, schema.pipeline_runs)
    r101 = runs["github:run:acme/web:101"]
    assert (r101.pipeline, r101.status, r101.conclusion, r101.duration_s) == (
        "CI", "completed", "success", 300.0)  # 10:00 → 10:05
    r102 = runs["github:run:acme/web:102"]
    assert (r102.status, r102.conclusion, r102.finished_at) == ("in_progress", None, None)

    deps = rows(engine, schema.deployments)
    d201 = deps["github:deployment:acme/web:201"]
    # success at 10:05 wins over the later auto_inactive status
    assert (d201.environment, d201.environment_name, d201.status, d201.finished_at) == (
        "production", "Production", "success", utc("2024-03-09T10:05:00Z"))
    assert (deps["github:deployment:acme/web:202"].environment,
            deps["github:deployment:acme/web:202"].status) == ("staging", "failure")
    assert deps["github:deployment:acme/web:203"].status == "in_progress"
    wf = deps["github:workflow-deploy:acme/web:103"]
    assert (wf.environment, wf.status, wf.sha) == ("production", "success", "d2")

    with engine.connect() as conn:
        commits = sorted(conn.execute(select(schema.deployment_commits.c.deployment_id,
                                             schema.deployment_commits.c.sha)).all())
    # 201 is the first successful production deploy: its own sha; run 103 ships d1...d2
    assert commits == [("github:deployment:acme/web:201", "d1"),
                       ("github:workflow-deploy:acme/web:103", "c1"),
                       ("github:workflow-deploy:acme/web:103", "d2")]


def test_resync_with_nothing_new_makes_one_request_per_list(engine, gh):
    sync(engine, gh)
    gh.clear_log()
    sync(engine, gh)
    second = gh.paths()
    # one request per list, plus run 102 and deployment 203, which were still in progress
    assert sorted(second) == sorted([
        "/repos/acme/web/milestones", "/repos/acme/web/issues", "/repos/acme/web/issues/events",
        "/repos/acme/web/pulls", "/repos/acme/web/releases", "/repos/acme/web/actions/runs",
        "/repos/acme/web/actions/runs/102", "/repos/acme/web/deployments",
        "/repos/acme/web/deployments/203/statuses"])
    gh.clear_log()
    sync(engine, gh)
    assert len(gh.paths()) == 9
    with engine.connect() as conn:
        last = conn.execute(select(schema.sync_runs).order_by(schema.sync_runs.c.id.desc())
                            ).first()
    # by the third sync every list query has an ETag of its own: all seven lists answer 304
    assert (last.outcome, last.requests, last.not_modified) == ("success", 9, 7)


def test_resync_picks_up_changes(engine, gh):
    sync(engine, gh)
    # #4 is unassigned later: still open, and its work started when it was assigned (2 Mar)
    gh.issues[3] = issue(4, "2024-05-02T00:00:00Z", milestone=gh.milestones[0])
    gh.issues[6] = issue(7, "2024-05-01T00:00:00Z", state="closed",
                         closed="2024-05-01T00:00:00Z", state_reason="duplicate",
                         labels=("incident",))
    gh.runs[1] = run(102, "2024-03-11T10:00:00Z", conclusion="failure",
                     updated="2024-03-11T10:20:00Z")
    gh.statuses[203].append({"id": 6, "state": "success", "created_at": "2024-03-13T10:09:00Z"})
    gh.compares[("d2", "d3")] = [
        {"sha": "d3", "commit": {"committer": {"date": "2024-03-13T09:00:00Z"}}}]
    sync(engine, gh)
    four = rows(engine, schema.work_items)["github:issue:acme/web#4"]
    assert (four.assignee, four.status_category, four.started_at) == (
        None, "in_progress", utc("2024-03-02T00:00:00Z"))
    seven = rows(engine, schema.work_items)["github:issue:acme/web#7"]
    assert (seven.status_category, seven.resolution_category) == ("done", "not_delivered")
    r102 = rows(engine, schema.pipeline_runs)["github:run:acme/web:102"]
    assert (r102.conclusion, r102.duration_s) == ("failure", 1200.0)  # 10:00 → 10:20
    assert rows(engine, schema.deployments)["github:deployment:acme/web:203"].status == "success"
    with engine.connect() as conn:
        state = {r.resource: r for r in conn.execute(select(schema.sync_state))}
        shipped = conn.execute(select(schema.deployment_commits.c.sha).where(
            schema.deployment_commits.c.deployment_id == "github:deployment:acme/web:203")
        ).scalars().all()
    assert state["runs"].pending == [] and state["deployments"].pending == []
    assert shipped == ["d3"]  # compare of run 103's d2 with d3
