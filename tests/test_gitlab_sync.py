"""GitLab sync end to end against a local fake API (tests/gitlab_server.py) under a relative
URL root: what lands in the database, and which requests a first sync and a re-sync make.
Expected values are worked out by hand from the payloads below and the definitions in
connectors/gitlab/normalize.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.gitlab.cli import sync_gitlab
from connectors.progress import NULL_PROGRESS
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.gitlab_server import FakeGitLab, Project

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp()
PID = 42
PATH = "acme/platform/api"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def user(name: str, **extra) -> dict:
    return {"id": abs(hash(name)) % 10_000, "username": name, "name": name.title(), **extra}


def issue(iid: int, updated: str, *, state: str = "opened", created: str = "2024-03-01T00:00:00Z",
          closed: str | None = None, labels=(), milestone: dict | None = None,
          assignees=(), premium: bool = False, **extra) -> dict:
    out = {"id": 1000 + iid, "iid": iid, "project_id": PID, "title": f"Issue {iid}",
           "state": state, "created_at": created, "updated_at": updated,
           "closed_at": closed if state == "closed" else None, "closed_by": None,
           "labels": list(labels), "milestone": milestone,
           "assignees": [user(a) for a in assignees], "author": user("ann"),
           "type": "ISSUE", "issue_type": "issue", "moved_to_id": None,
           "web_url": f"https://gitlab.example.com/{PATH}/-/issues/{iid}"}
    if premium:  # Premium keys: present (maybe null) only on a Premium namespace
        out.update(weight=None, iteration=None, epic=None)
    out.update(extra)
    return out


def milestone(mid: int, title: str, *, state: str = "active", due: str | None = None) -> dict:
    return {"id": mid, "iid": mid - 500, "project_id": PID, "title": title, "description": "",
            "state": state, "due_date": due, "start_date": None,
            "web_url": f"https://gitlab.example.com/{PATH}/-/milestones/{mid - 500}"}


def ev(eid: int, at: str, **extra) -> dict:
    return {"id": eid, "user": user("ann"), "created_at": at, "resource_type": "Issue", **extra}


M24 = milestone(501, "2.4", due="2024-06-10")
M23 = milestone(502, "2.3", state="closed", due="2024-04-01")
ITERATION = {"id": 901, "iid": 5, "group_id": 7, "title": None, "state": 2,
             "iteration_cadence": {"id": 3, "title": "Sprints"},
             "start_date": "2024-05-20", "due_date": "2024-06-02",
             "web_url": "https://gitlab.example.com/groups/acme/-/iterations/901"}


def pipeline(pid_: int, status: str, updated: str, *, source: str = "push",
             started: str | None = None, finished: str | None = None,
             duration: int | None = None) -> dict:
    return {"id": pid_, "iid": pid_ - 99, "project_id": PID, "sha": f"sha{pid_}", "ref": "main",
            "status": status, "source": source, "created_at": started or updated,
            "updated_at": updated, "started_at": started, "finished_at": finished,
            "duration": duration,
            "web_url": f"https://gitlab.example.com/{PATH}/-/pipelines/{pid_}"}


def deployment(did: int, status: str, env: dict, sha: str, updated: str) -> dict:
    return {"id": did, "iid": did - 10, "ref": "main", "sha": sha, "created_at": updated,
            "updated_at": updated, "status": status, "user": user("ann"),
            "environment": {"id": env["id"], "name": env["name"], "external_url": None},
            "deployable": {"id": did * 10, "status": status, "started_at": updated,
                           "finished_at": updated, "web_url": f"https://x/jobs/{did * 10}"}}


PROD = {"id": 1, "name": "prod-eu", "tier": "production", "state": "available"}
REVIEW = {"id": 2, "name": "review/x", "tier": "development", "state": "available"}


def populate(p: Project) -> None:
    p.milestones = [M24, M23]
    p.iterations = [ITERATION]
    p.issues = [
        issue(1, "2024-03-05T00:00:00Z", state="closed", closed="2024-03-05T00:00:00Z",
              labels=("bug", "severity::critical"), milestone=M23, premium=True),
        issue(2, "2024-03-06T00:00:00Z", state="closed", closed="2024-03-06T00:00:00Z",
              premium=True),
        issue(3, "2024-03-07T00:00:00Z", labels=("priority::1",), assignees=("bob",),
              issue_type="incident", type="INCIDENT", severity="HIGH", premium=True,
              weight=3, iteration={"id": 901, "title": None}),
    ]
    p.state_events = {1: [ev(11, "2024-03-03T00:00:00Z", state="closed"),
                          ev(12, "2024-03-04T00:00:00Z", state="reopened"),
                          ev(13, "2024-03-05T00:00:00Z", state="closed")]}
    p.label_events = {1: [ev(21, "2024-03-01T00:00:00Z", action="add",
                             label={"id": 1, "name": "bug"}),
                          ev(22, "2024-03-02T00:00:00Z", action="add",
                             label={"id": 2, "name": "severity::critical"})]}
    p.milestone_events = {1: [ev(31, "2024-03-01T00:00:00Z", action="add",
                                 milestone={"id": 502, "title": "2.3"})]}
    p.iteration_events = {3: [ev(41, "2024-05-21T00:00:00Z", action="add",
                                 iteration={"id": 901, "title": None, "state": 2})]}
    p.releases = [{"name": "2.3", "tag_name": "v2.3", "released_at": "2024-04-02T10:00:00Z",
                   "upcoming_release": False, "milestones": [{"id": 502, "title": "2.3"}]}]
    p.mrs = [
        {"id": 7007, "iid": 7, "project_id": PID, "title": "Fix it", "state": "merged",
         "description": "Closes #3", "author": user("ann"), "target_branch": "main",
         "source_branch": "feat", "created_at": "2024-03-01T10:00:00Z",
         "updated_at": "2024-03-02T10:00:00Z", "merged_at": "2024-03-02T10:00:00Z",
         "closed_at": None, "merge_commit_sha": "m7", "merge_user": user("bob"),
         "changes_count": "12", "web_url": f"https://gitlab.example.com/{PATH}/-/merge_requests/7"},
        {"id": 7008, "iid": 8, "project_id": PID, "title": "WIP", "state": "opened",
         "description": "", "author": user("bob"), "target_branch": "main",
         "source_branch": "wip", "created_at": "2024-03-03T10:00:00Z",
         "updated_at": "2024-03-03T10:00:00Z", "merged_at": None, "closed_at": None},
    ]
    # newest first, as GitLab lists them
    p.mr_commits = {7: [{"id": "c2", "authored_date": "2024-03-01T09:00:00Z"},
                        {"id": "c1", "authored_date": "2024-02-28T12:00:00Z"}]}
    p.mr_approvals = {7: {"approved_by": [
        {"user": user("bob"), "approved_at": "2024-03-01T15:00:00Z"},
        {"user": user("gitlab-bot"), "approved_at": "2024-03-01T10:30:00Z"}]}}
    p.mr_notes = {7: [
        {"id": 1, "system": True, "body": "assigned to @bob", "author": user("bob"),
         "created_at": "2024-03-01T11:00:00Z"},
        {"id": 2, "system": False, "body": "I wrote this", "author": user("ann"),
         "created_at": "2024-03-01T12:00:00Z"},
        {"id": 3, "system": False, "body": "deps", "author": user("renovate-bot"),
         "created_at": "2024-03-01T11:30:00Z"},
        {"id": 4, "system": False, "body": "LGTM", "author": user("carol"),
         "created_at": "2024-03-01T14:00:00Z"}]}
    p.pipelines = [
        pipeline(100, "success", "2024-05-02T10:05:00Z", started="2024-05-02T10:00:00Z",
                 finished="2024-05-02T10:05:00Z", duration=300),
        pipeline(101, "failed", "2024-05-03T10:05:00Z", started="2024-05-03T10:00:00Z",
                 finished="2024-05-03T10:04:00Z", duration=240),
        pipeline(102, "running", "2024-05-03T11:00:00Z", source="parent_pipeline",
                 started="2024-05-03T10:59:00Z"),
        pipeline(103, "manual", "2024-05-04T10:00:00Z"),
    ]
    p.test_reports = {101: {"total_count": 2, "test_suites": [{
        "name": "rspec", "total_count": 2, "suite_error": None, "test_cases": [
            {"status": "success", "name": "adds", "classname": "Calc", "execution_time": 0.5,
             "system_output": None, "file": "spec/calc_spec.rb"},
            {"status": "failed", "name": "divides", "classname": "Calc", "execution_time": 1.5,
             "system_output": ["expected 2", "got 3"], "stack_trace": None,
             "file": "spec/calc_spec.rb"}]}]}}
    p.environments = [PROD, REVIEW]
    p.deployments = [deployment(11, "success", PROD, "aaa", "2024-05-02T11:00:00Z"),
                     deployment(12, "success", PROD, "bbb", "2024-05-04T11:00:00Z"),
                     deployment(13, "failed", REVIEW, "ccc", "2024-05-05T11:00:00Z")]
    p.compares = {("aaa", "bbb"): [{"id": "c3", "committed_date": "2024-05-03T09:00:00Z"},
                                   {"id": "c4", "committed_date": "2024-05-03T10:00:00Z"}]}


def settings(**gitlab):
    return parse_settings({"gitlab": {"projects": [PATH], **gitlab},
                           "app": {"max_delete_share": 0.5}}, None)


def sync(engine, gl: FakeGitLab, *, clock=None, full=False, settings_=None, projects=(PATH,),
         groups=(), token=None):
    s = settings_ or settings()
    return sync_gitlab(s, engine, NULL_PROGRESS, url=gl.url, projects=list(projects),
                       groups=list(groups), include_archived=False, full=full,
                       clock=clock or FakeClock(NOW), token=token or gl.token)


@pytest.fixture
def gl(httpserver):
    fake = FakeGitLab(prefix="/gitlab").install(httpserver)
    populate(fake.add(Project(PID, PATH)))
    return fake


def rows(engine, table, *where):
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(table).where(*where))}


def test_first_sync_stores_every_resource(engine, gl):
    written = sync(engine, gl)
    items = rows(engine, schema.work_items)
    assert sorted(items) == ["gitlab:issue:42#1", "gitlab:issue:42#2", "gitlab:issue:42#3"]
    one, three = items["gitlab:issue:42#1"], items["gitlab:issue:42#3"]
    assert (one.type, one.severity, one.status, one.status_category, one.project, one.key) == \
        ("bug", "critical", "closed", "done", PATH, f"{PATH}#1")
    # incident by issue_type; its own severity HIGH (as priority) wins over priority::1
    assert (three.type, three.priority, three.severity, three.status_category) == \
        ("incident", "High", "high", "in_progress")
    assert three.story_points is None  # weight_as_story_points is off
    inc = rows(engine, schema.incidents)
    assert list(inc) == ["gitlab:incident:42#3"]
    assert (inc["gitlab:incident:42#3"].service, inc["gitlab:incident:42#3"].severity) == \
        (PATH, "high")

    rel = rows(engine, schema.releases)
    assert rel["gitlab:milestone:42#501"].state == "unreleased"
    assert rel["gitlab:milestone:42#501"].target_date == utc("2024-06-10T00:00:00Z")
    assert rel["gitlab:milestone:42#502"].state == "released"
    assert rel["gitlab:milestone:42#502"].released_at == utc("2024-04-02T10:00:00Z")
    with engine.connect() as conn:
        members = conn.execute(select(schema.release_items.c.release_id,
                                      schema.release_items.c.item_id)).all()
        sprint_members = conn.execute(select(schema.sprint_items.c.sprint_id,
                                             schema.sprint_items.c.item_id)).all()
        membership = conn.execute(select(
            schema.membership_changes.c.item_id, schema.membership_changes.c.scope_id,
            schema.membership_changes.c.change, schema.membership_changes.c.at)
            .order_by(schema.membership_changes.c.at)).all()
        scope = conn.execute(select(schema.scopes)).one()
    assert members == [("gitlab:milestone:42#502", "gitlab:issue:42#1")]
    assert sprint_members == [("gitlab:iteration:901", "gitlab:issue:42#3")]
    assert membership == [
        ("gitlab:issue:42#1", "gitlab:milestone:42#502", "added", utc("2024-03-01T00:00:00Z")),
        ("gitlab:issue:42#3", "gitlab:iteration:901", "added", utc("2024-05-21T00:00:00Z"))]
    assert (scope.key, scope.kind, scope.source, scope.external_id) == \
        (PATH, "repository", "gitlab", PID)
    sprint = rows(engine, schema.sprints)["gitlab:iteration:901"]
    assert (sprint.name, sprint.state, sprint.start_at) == \
        ("Sprints 2024-05-20–2024-06-02", "active", utc("2024-05-20T00:00:00Z"))

    changes = rows(engine, schema.work_item_changes)
    status_1 = sorted((c.at, c.to_value) for c in changes.values()
                      if c.item_id == "gitlab:issue:42#1" and c.field == "status")
    assert status_1 == [(utc("2024-03-03T00:00:00Z"), "closed"),
                        (utc("2024-03-04T00:00:00Z"), "opened"),
                        (utc("2024-03-05T00:00:00Z"), "closed")]
    # issue 2 has no state events (closed before GitLab recorded them): closed_at stands in
    fallback = changes["gitlab:issue:42#2:closed_at"]
    assert (fallback.field, fallback.to_value, fallback.at) == \
        ("status", "closed", utc("2024-03-06T00:00:00Z"))
    severity = [(c.at, c.from_value, c.to_value) for c in changes.values()
                if c.field == "severity"]
    assert severity == [(utc("2024-03-02T00:00:00Z"), None, "critical")]

    prs = rows(engine, schema.pull_requests)
    seven, eight = prs["gitlab:mr:42#7"], prs["gitlab:mr:42#8"]
    assert (seven.state, seven.base_branch, seven.merged_at, seven.merge_sha) == \
        ("merged", "main", utc("2024-03-02T10:00:00Z"), "m7")
    assert seven.first_commit_at == utc("2024-02-28T12:00:00Z")  # the last listed: oldest
    # carol's note (14:00) before bob's approval (15:00); the author, system notes and bots
    # are not reviews
    assert (seven.first_review_at, seven.review_count, seven.changed_files) == \
        (utc("2024-03-01T14:00:00Z"), 2, 12)
    assert seven.linked_items == ["gitlab:issue:42#3"]
    assert (eight.state, eight.review_count, eight.first_commit_at) == ("open", None, None)

    runs = rows(engine, schema.pipeline_runs)
    got = {k: (r.status, r.conclusion, r.pipeline) for k, r in runs.items()}
    assert got == {
        "gitlab:pipeline:42:100": ("completed", "success", PATH),
        "gitlab:pipeline:42:101": ("completed", "failure", PATH),
        "gitlab:pipeline:42:102": ("in_progress", None, f"{PATH} (child)"),
        "gitlab:pipeline:42:103": ("completed", "action_required", PATH)}
    assert runs["gitlab:pipeline:42:100"].duration_s == 300
    with engine.connect() as conn:
        tests = conn.execute(select(schema.test_results.c.run_id, schema.test_results.c.name,
                                    schema.test_results.c.status,
                                    schema.test_results.c.message)
                             .order_by(schema.test_results.c.name)).all()
    # pipeline 100's report has total_count 0: no report, no rows
    assert tests == [("gitlab:pipeline:42:101", "adds", "passed", None),
                     ("gitlab:pipeline:42:101", "divides", "failed", "expected 2\ngot 3")]

    deps = rows(engine, schema.deployments)
    assert {k: (d.environment, d.environment_name, d.status) for k, d in deps.items()} == {
        "gitlab:deployment:42:11": ("production", "prod-eu", "success"),
        "gitlab:deployment:42:12": ("production", "prod-eu", "success"),
        "gitlab:deployment:42:13": ("other", "review/x", "failure")}
    with engine.connect() as conn:
        shipped = sorted(conn.execute(select(schema.deployment_commits.c.deployment_id,
                                             schema.deployment_commits.c.sha)).all())
    assert shipped == [("gitlab:deployment:42:11", "aaa"), ("gitlab:deployment:42:12", "bbb"),
                       ("gitlab:deployment:42:12", "c3"), ("gitlab:deployment:42:12", "c4")]
    assert written["issues"] == 3 and written["merge_requests"] == 2


def test_requests_first_sync_and_nothing_new(engine, gl):
    sync(engine, gl)
    first = gl.log[0]
    assert first[0] == "/gitlab/api/v4/projects/acme%2Fplatform%2Fapi"  # encoded whole
    assert all(h.get("private-token") == gl.token for _p, _q, h in gl.log)
    issues_q = next(q for p, q, _h in gl.log if p.endswith("/42/issues"))
    assert issues_q == {"state": "all", "sort": "asc", "per_page": "100",
                        "pagination": "keyset", "order_by": "updated_at"}
    gl.log.clear()
    written = sync(engine, gl)
    paths = [p.removeprefix("/gitlab/api/v4") for p, _q, _h in gl.log]
    # one page per list; nothing re-fetched per item (the items at the cursors are stored)
    assert paths == ["/projects/acme%2Fplatform%2Fapi", "/projects/42/milestones",
                     "/projects/42/iterations", "/projects/42/issues",
                     "/projects/42/merge_requests", "/projects/42/releases",
                     "/projects/42/pipelines", "/projects/42/pipelines",
                     "/projects/42/deployments", "/projects/42/environments"]
    queries = {p: q for p, q, _h in gl.log}
    assert queries["/gitlab/api/v4/projects/42/issues"]["updated_after"] == "2024-03-07T00:00:00Z"
    assert queries["/gitlab/api/v4/projects/42/merge_requests"]["updated_after"] == \
        "2024-03-03T10:00:00Z"
    assert "issues" not in written and "merge_requests" not in written


def test_incremental_picks_up_a_change_and_a_moved_issue(engine, gl):
    sync(engine, gl)
    p = gl.projects[PID]
    p.issues[0] = dict(p.issues[0], moved_to_id=9999, updated_at="2024-05-10T00:00:00Z")
    p.issues[1] = dict(p.issues[1], state="opened", closed_at=None,
                       updated_at="2024-05-11T00:00:00Z")
    p.state_events[2] = [ev(51, "2024-05-11T00:00:00Z", state="reopened")]
    written = sync(engine, gl)
    items = rows(engine, schema.work_items)
    assert sorted(items) == ["gitlab:issue:42#2", "gitlab:issue:42#3"]  # #1 moved away
    assert items["gitlab:issue:42#2"].status_category == "todo"
    changes = rows(engine, schema.work_item_changes,
                   schema.work_item_changes.c.item_id == "gitlab:issue:42#2")
    # the closed_at stand-in is replaced by the events GitLab now has, and the reopening gets
    # its category change derived beside it (data/domain.py), out of done
    assert sorted(changes) == ["gitlab:issue:42#2:state:51",
                               "gitlab:issue:42#2:state:51:status_category"]
    assert changes["gitlab:issue:42#2:state:51:status_category"].from_value == "done"
    assert written["moved"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(schema.release_items)).all() == []


def test_full_sync_removes_deleted_issues(engine, gl):
    sync(engine, gl)
    gl.projects[PID].issues.pop(1)
    sync(engine, gl, full=True)
    assert sorted(rows(engine, schema.work_items)) == ["gitlab:issue:42#1", "gitlab:issue:42#3"]


def test_weight_as_story_points_and_free_tier(engine, gl):
    p = gl.projects[PID]
    p.iterations = None  # Free tier: no iterations endpoint, no Premium keys
    for i in p.issues:
        for key in ("weight", "iteration", "epic"):
            i.pop(key, None)
    p.issues[2]["weight"] = 3  # only issue 3 carries a weight
    sync(engine, gl, settings_=settings(weight_as_story_points=True))
    items = rows(engine, schema.work_items)
    assert items["gitlab:issue:42#3"].story_points == 3.0
    assert items["gitlab:issue:42#1"].story_points is None  # absent: no data, never 0
    assert rows(engine, schema.sprints) == {}
    # iteration events are not asked for issues without the Premium key
    assert not any("resource_iteration_events" in path for path in gl.paths())


def test_keyset_refused_falls_back_to_offset_pages_without_link(engine, httpserver):
    gl = FakeGitLab(keyset=False).install(httpserver)
    p = gl.add(Project(PID, PATH))
    p.issues = [issue(n, f"2024-03-0{n}T00:00:00Z") for n in range(1, 6)]
    s = settings(per_page=2)
    sync(engine, gl, settings_=s)
    assert len(rows(engine, schema.work_items)) == 5
    issue_queries = [q for path, q, _h in gl.log if path.endswith("/42/issues")]
    assert issue_queries[0].get("pagination") == "keyset"  # answered 405
    assert [q.get("page") for q in issue_queries[1:]] == [None, "2", "3"]
    assert all("pagination" not in q for q in issue_queries[1:])


def test_renamed_project_keeps_its_rows(engine, gl):
    sync(engine, gl)
    p = gl.projects[PID]
    p.path = "acme/platform/api-v2"
    gl.redirects["acme%2Fplatform%2Fapi"] = str(PID)  # GitLab redirects the old path
    sync(engine, gl)
    items = rows(engine, schema.work_items)
    assert sorted(items) == ["gitlab:issue:42#1", "gitlab:issue:42#2", "gitlab:issue:42#3"]
    assert {i.project for i in items.values()} == {"acme/platform/api-v2"}
    assert items["gitlab:issue:42#1"].key == "acme/platform/api-v2#1"
    assert {r.repo for r in rows(engine, schema.pull_requests).values()} == \
        {"acme/platform/api-v2"}
    assert {d.service for d in rows(engine, schema.deployments).values()} == \
        {"acme/platform/api-v2"}
    with engine.connect() as conn:
        assert conn.execute(select(schema.scopes.c.key)).scalars().all() == \
            ["acme/platform/api-v2"]


def test_group_lists_subgroup_projects_without_archived(engine, gl):
    other = gl.add(Project(43, "acme/web/site"))
    gl.add(Project(44, "acme/old", archived=True))
    gl.groups = {"acme/platform": [PID], "acme/web": [43], "acme": [44]}
    other.issues = [issue(1, "2024-03-01T00:00:00Z")]
    sync(engine, gl, projects=(), groups=("acme",))
    with engine.connect() as conn:
        runs = conn.execute(select(schema.sync_runs.c.scope, schema.sync_runs.c.outcome)
                            .order_by(schema.sync_runs.c.id)).all()
    assert runs == [(PATH, "success"), ("acme/web/site", "success")]


def test_project_key_from_readiness_toml(engine, gl):
    s = parse_settings({"gitlab": {"projects": [PATH]},
                        "projects": {"API": {"repos": [PATH]}}}, None)
    sync(engine, gl, settings_=s)
    items = rows(engine, schema.work_items)
    # the project listing the path owns the items; the key stays the path's
    assert {i.project for i in items.values()} == {"API"}
    assert items["gitlab:issue:42#1"].key == f"{PATH}#1"
    assert {r.project for r in rows(engine, schema.releases).values()} == {"API"}
    assert {r.repo for r in rows(engine, schema.pull_requests).values()} == {PATH}
    runs = rows(engine, schema.pipeline_runs).values()
    assert {(r.repo, r.project) for r in runs} == {(PATH, "API")}


def test_started_at_from_an_in_progress_label_or_a_linked_merge_request(engine, gl):
    p = gl.projects[PID]
    p.issues.append(issue(5, "2024-03-08T00:00:00Z", labels=("in progress",)))
    p.label_events[5] = [ev(61, "2024-03-06T12:00:00Z", action="add",
                            label={"id": 9, "name": "In Progress"})]
    sync(engine, gl)
    items = rows(engine, schema.work_items)
    # issue 5: the label was added at 03-06 12:00
    assert (items["gitlab:issue:42#5"].started_at, items["gitlab:issue:42#5"].status_category) \
        == (utc("2024-03-06T12:00:00Z"), "in_progress")
    # issue 3: MR !7 ("Closes #3") was created at 03-01 10:00
    assert items["gitlab:issue:42#3"].started_at == utc("2024-03-01T10:00:00Z")
    assert items["gitlab:issue:42#2"].started_at is None  # no signal
