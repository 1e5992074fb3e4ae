"""Conformance with DevLake's gitlab plugin: its raw tables (gitlab.com answers it stored for
``gitlab-data/snowflake_spend``) are served by the local fake API and synced; each row we store
is then compared, on every field both sides have, with the row DevLake's e2e snapshot expects
(``gitlab/devlake/snapshot_tables``: issues, pull_requests, cicd_pipelines, cicd_deployments).

Every deliberate difference is named in :data:`DIFFERENCES` and asserted as a difference, so a
change on either side shows up here."""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.gitlab.cli import sync_gitlab
from connectors.progress import NULL_PROGRESS
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.gitlab_server import FakeGitLab, corpus_project

csv.field_size_limit(1 << 30)
PID, PATH = 12345678, "gitlab-data/snowflake_spend"

DIFFERENCES = {
    "issues.type": "DevLake leaves it empty without its own type rules; we classify by "
                   "[mapping] (labels, issue_type)",
    "issues.original_status": "DevLake leaves it empty; we keep GitLab's opened/closed",
    "issues.severity": "DevLake writes UNKNOWN (GitLab's incident severity of a plain issue); "
                       "we store no severity: no data",
    "issues.moved": "issue 10 was moved (moved_to_id): DevLake keeps it, we remove it",
    "pull_requests.merge_commit_sha": "DevLake fills it for open and closed MRs too; an "
                                      "unmerged MR ships nothing, so we keep it for merged ones",
    "pull_requests.additions": "DevLake writes 0 without diff stats; we store no data (None)",
    "deployments.status": "completed and undeployed are not GitLab statuses (edited rows): "
                          "DevLake counts completed a success, we store unknown; canceled is a "
                          "FAILURE to DevLake, cancelled (never went out) to us; created and "
                          "blocked are OTHER to DevLake, queued to us",
    "deployments.created_date": "DevLake takes the deploying job's created_at, we the "
                                "deployment's own",
    "deployments.finished_date": "DevLake takes the job's finished_at whatever the status; we "
                                 "only for a finished deployment, its update time when the "
                                 "job has none",
}


def utc(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def snapshot(corpus, name: str) -> list[dict]:
    with (corpus / "gitlab" / "devlake" / "snapshot_tables" / name).open(
            newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def synced(engine, httpserver, corpus):
    gl = FakeGitLab().install(httpserver)
    project = gl.add(corpus_project(corpus))
    settings = parse_settings({"gitlab": {"url": gl.url, "projects": [PATH]}}, None)
    sync_gitlab(settings, engine, NULL_PROGRESS, url=gl.url, projects=[PATH], groups=[],
                include_archived=False, token=gl.token,
                clock=FakeClock(datetime(2023, 12, 1, tzinfo=timezone.utc).timestamp()))
    return engine, project


def ours(engine, table) -> dict[str, object]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(table))}


def test_issues_conform(synced, corpus):
    engine, project = synced
    mine = ours(engine, schema.work_items)
    theirs = snapshot(corpus, "issues.csv")
    raw = {i["iid"]: i for i in project.issues}
    moved = {iid for iid, i in raw.items() if i.get("moved_to_id")}
    assert moved == {10}  # DIFFERENCES["issues.moved"]
    assert len(theirs) == 16 and len(mine) == 15
    for row in theirs:
        iid = int(row["issue_key"])
        wid = f"gitlab:issue:{PID}#{iid}"
        if iid in moved:
            assert wid not in mine
            continue
        me = mine[wid]
        assert me.url == row["url"]
        assert me.created_at == utc(row["created_date"])
        assert me.updated_at == utc(row["updated_date"])
        assert me.resolved_at == utc(row["resolution_date"])
        assert me.status_category == {"DONE": "done", "TODO": "todo"}[row["status"]]
        assert (me.assignee or "") == row["assignee_name"]
        assert me.story_points is None and row["story_point"] == ""
        assert (me.priority or "") == row["priority"]
        # named differences
        assert row["type"] == "" and me.type in ("story", "bug", "incident", "epic", "other")
        assert row["original_status"] == "" and me.status == raw[iid]["state"]
        assert row["severity"] == "UNKNOWN" and me.severity is None


def test_merge_requests_conform(synced, corpus):
    engine, project = synced
    mine = ours(engine, schema.pull_requests)
    theirs = snapshot(corpus, "pull_requests.csv")
    assert len(mine) == len(theirs) == 18
    for row in theirs:
        me = mine[f"gitlab:mr:{PID}#{int(row['pull_request_key'])}"]
        assert me.state == {"MERGED": "merged", "CLOSED": "closed", "OPEN": "open"}[row["status"]]
        assert me.url == row["url"]
        assert me.author == row["author_name"]
        assert me.created_at == utc(row["created_date"])
        assert me.merged_at == utc(row["merged_date"])
        assert me.closed_at == utc(row["closed_date"])
        assert (me.head_branch, me.base_branch) == (row["head_ref"], row["base_ref"])
        if me.state == "merged":
            assert me.merge_sha == row["merge_commit_sha"]
        else:  # DIFFERENCES["pull_requests.merge_commit_sha"]
            assert me.merge_sha is None and row["merge_commit_sha"]
        assert row["additions"] == "0" and me.additions is None  # DIFFERENCES


def test_first_commit_is_the_oldest_of_the_newest_first_list(synced, corpus):
    engine, project = synced
    mine = ours(engine, schema.pull_requests)
    # MR 1's commits as GitLab listed them, newest first; the first commit is the last one
    listed = project.mr_commits[1]
    dates = [utc(c["authored_date"]) for c in listed]
    assert dates == sorted(dates, reverse=True)
    assert mine[f"gitlab:mr:{PID}#1"].first_commit_at == dates[-1]


def test_pipelines_conform(synced, corpus):
    engine, _project = synced
    mine = ours(engine, schema.pipeline_runs)
    theirs = snapshot(corpus, "cicd_pipelines.csv")
    assert len(mine) == len(theirs) == 16
    for row in theirs:
        me = mine[f"gitlab:pipeline:{PID}:{row['id'].rsplit(':', 1)[1]}"]
        assert me.conclusion == {"SUCCESS": "success", "FAILURE": "failure"}[row["result"]]
        assert me.status == {"DONE": "completed"}[row["status"]]
        assert me.duration_s == float(row["duration_sec"])
        assert me.created_at == utc(row["created_date"])
        assert me.started_at == utc(row["started_date"])
        assert me.finished_at == utc(row["finished_date"])
        assert me.url == row["url"]


def test_deployments_conform(synced, corpus):
    engine, project = synced
    mine = ours(engine, schema.deployments)
    theirs = snapshot(corpus, "cicd_deployments.csv")
    raw = {d["id"]: d for d in project.deployments}
    assert len(mine) == len(theirs) == 8
    expected_status = {"success": "success", "completed": "unknown", "failed": "failure",
                       "canceled": "cancelled", "created": "queued", "running": "in_progress",
                       "undeployed": "unknown", "blocked": "queued"}
    for row in theirs:
        did = int(row["id"].rsplit(":", 1)[1])
        me, dep = mine[f"gitlab:deployment:{PID}:{did}"], raw[did]
        assert me.environment == row["environment"]
        assert me.environment_name == row["original_environment"]
        assert me.status == expected_status[row["original_status"]]  # DIFFERENCES
        assert me.started_at == (utc(row["started_date"]) or utc(dep["created_at"]))
        # DIFFERENCES["deployments.created_date"]: the job's time, not the deployment's
        assert me.created_at == utc(dep["created_at"])
        assert utc(row["created_date"]) == utc((dep["deployable"] or {}).get("created_at"))
        if row["original_status"] in ("success", "completed", "canceled"):
            # both read the job's finish where the deployment finished and the job has one
            if row["original_status"] != "completed":
                assert me.finished_at == utc(row["finished_date"])
            else:
                assert me.finished_at is None  # unknown: not finished as far as we know
        elif row["original_status"] == "failed":
            # DIFFERENCES["deployments.finished_date"]: no job finish → the update time
            assert row["finished_date"] == "" and me.finished_at == utc(dep["updated_at"])
        else:
            assert me.finished_at is None
    assert set(DIFFERENCES)  # each named difference is asserted above
