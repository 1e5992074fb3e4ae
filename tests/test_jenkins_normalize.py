"""Jenkins JSON → rows: pure mapping rules, with hand-written build payloads."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.jenkins import normalize as nz
from data.config import MappingSettings

MAPPING = MappingSettings(production_environments=["production", "prod", "live"],
                          staging_environments=["staging", "stage"])


@pytest.mark.parametrize("given, name, path", [
    ("app", "app", "job/app/"),
    ("a/b/c", "a/b/c", "job/a/job/b/job/c/"),
    ("/a/b/", "a/b", "job/a/job/b/"),
    ("job/a/job/b", "a/b", "job/a/job/b/"),
    ("shop/feature%2Flogin", "shop/feature%2Flogin", "job/shop/job/feature%2Flogin/"),
    ("my folder/app", "my folder/app", "job/my%20folder/job/app/"),
])
def test_job_paths(given, name, path):
    assert nz.job_name(given) == name
    assert nz.job_path(given) == path


@pytest.mark.parametrize("ref, branch", [
    ("refs/remotes/origin/main", "main"), ("refs/remotes/upstream/release/2.4", "release/2.4"),
    ("refs/heads/dev", "dev"), ("origin/feature/x", "feature/x"), ("PR-12", "PR-12"),
    (None, None)])
def test_branch_name(ref, branch):
    assert nz.branch_name(ref) == branch


@pytest.mark.parametrize("url, repo", [
    ("https://github.com/merico-dev/lake.git", "merico-dev/lake"),
    ("git@github.com:acme/web.git", "acme/web"),
    ("ssh://git@gitlab.example.com:2222/group/sub/app", "sub/app"),
    ("https://user@bitbucket.org/team/repo/", "team/repo"),
    ("not a url", None), (None, None)])
def test_repo_from_remote(url, repo):
    assert nz.repo_from_remote(url) == repo


def build(number=7, result="SUCCESS", building=False, timestamp=1650017416514, duration=14820,
          actions=None):
    return {"_class": "hudson.model.FreeStyleBuild", "number": number, "result": result,
            "building": building, "timestamp": timestamp, "duration": duration,
            "url": f"https://ci.example.com/job/app/{number}/",
            "actions": actions if actions is not None else [
                {"_class": "hudson.model.CauseAction"}, {},
                {"_class": "hudson.plugins.git.util.BuildData",
                 "lastBuiltRevision": {"SHA1": "ceeffdfd", "branch": [
                     {"name": "refs/remotes/origin/main"}]},
                 "remoteUrls": ["https://github.com/acme/web.git"]}]}


def test_finished_build_to_run():
    row = nz.build_to_run(build(), "folder/app", project_for_repo={"acme/web": "WEB"}.get)
    # 1650017416514 ms = 2022-04-15T10:10:16.514Z; + 14,820 ms = 10:10:31.334
    started = datetime(2022, 4, 15, 10, 10, 16, 514000, tzinfo=timezone.utc)
    assert row == {
        "id": "jenkins:build:folder/app#7", "source": "jenkins", "pipeline": "folder/app",
        "repo": "acme/web", "project": "WEB", "number": 7, "branch": "main", "sha": "ceeffdfd",
        "event": None, "status": "completed", "conclusion": "success", "attempt": None,
        "created_at": started, "started_at": started,
        "finished_at": datetime(2022, 4, 15, 10, 10, 31, 334000, tzinfo=timezone.utc),
        "duration_s": 14.82, "url": "https://ci.example.com/job/app/7/"}


@pytest.mark.parametrize("result, building, status, conclusion", [
    ("SUCCESS", False, "completed", "success"),
    ("FAILURE", False, "completed", "failure"),
    ("UNSTABLE", False, "completed", "failure"),
    ("ABORTED", False, "completed", "cancelled"),
    ("NOT_BUILT", False, "completed", "skipped"),
    (None, True, "in_progress", None),
    (None, False, "in_progress", None),  # result null = still running
    ("SUCCESS", True, "in_progress", None),  # building wins over a premature result
])
def test_status_and_conclusion(result, building, status, conclusion):
    row = nz.build_to_run(build(result=result, building=building), "app")
    assert (row["status"], row["conclusion"]) == (status, conclusion)
    if status == "in_progress":
        assert row["finished_at"] is None and row["duration_s"] is None


def test_build_without_git_data():
    row = nz.build_to_run(build(actions=[{}, {"_class": "hudson.model.CauseAction"}]), "app")
    assert (row["sha"], row["branch"], row["repo"], row["project"]) == (None, None, None, None)


def test_test_report_rows():
    report = {"_class": "hudson.tasks.junit.TestResult", "failCount": 2, "passCount": 3,
              "skipCount": 1, "suites": [
                  {"name": "S1", "cases": [
                      {"className": "a.B", "name": "ok", "status": "PASSED", "duration": 0.5},
                      {"className": "a.B", "name": "fixed", "status": "FIXED", "duration": 1},
                      {"className": "a.B", "name": "reg", "status": "REGRESSION",
                       "duration": 2, "errorDetails": "expected 1"},
                  ]},
                  {"name": "S2", "cases": [
                      {"className": "c.D", "name": "bad", "status": "FAILED", "duration": 0,
                       "errorDetails": "x" * 5000},
                      {"className": "c.D", "name": "skip", "status": "SKIPPED",
                       "skipped": True, "skippedMessage": "later"},
                      {"className": "c.D", "name": "new", "status": "PASSED"},
                  ]}]}
    rows = nz.test_rows(report, "jenkins:build:app#3")
    assert [(r["suite"], r["classname"], r["name"], r["status"], r["duration_s"])
            for r in rows] == [
        ("S1", "a.B", "ok", "passed", 0.5), ("S1", "a.B", "fixed", "passed", 1),
        ("S1", "a.B", "reg", "failed", 2), ("S2", "c.D", "bad", "failed", 0),
        ("S2", "c.D", "skip", "skipped", None), ("S2", "c.D", "new", "passed", None)]
    assert rows[2]["message"] == "expected 1"
    assert len(rows[3]["message"]) == nz.MESSAGE_LIMIT
    assert rows[4]["message"] == "later"
    assert {r["run_id"] for r in rows} == {"jenkins:build:app#3"}
    assert nz.test_rows(None, "x") == []


@pytest.mark.parametrize("job, category, name", [
    ("deploy/production", "production", "production"),
    ("deploy/web-prod", "production", "prod"),
    ("deploy/stage_eu", "staging", "stage"),
    ("deploy/Staging", "staging", "Staging"),
    ("deploy/web", "production", None),  # a deploy job naming no environment
])
def test_environment_from_job_path(job, category, name):
    assert nz.environment_of(job, MAPPING) == (category, name)


def test_deploy_job_pattern():
    assert nz.is_deploy_job("deploy/prod", "deploy/*")
    assert nz.is_deploy_job("Deploy/prod", "deploy/*")
    assert not nz.is_deploy_job("build/app", "deploy/*")
    assert not nz.is_deploy_job("deploy/prod", "")


@pytest.mark.parametrize("result, building, status", [
    ("SUCCESS", False, "success"), ("FAILURE", False, "failure"),
    ("UNSTABLE", False, "failure"), ("ABORTED", False, "cancelled"),
    (None, True, "in_progress")])
def test_build_to_deployment(result, building, status):
    run = nz.build_to_run(build(result=result, building=building), "deploy/prod")
    dep = nz.build_to_deployment(run, "deploy/prod", MAPPING)
    assert (dep["id"], dep["environment"], dep["environment_name"], dep["status"], dep["sha"],
            dep["ref"], dep["repo"]) == ("jenkins:deployment:deploy/prod#7", "production",
                                          "prod", status, "ceeffdfd", "main", "acme/web")
