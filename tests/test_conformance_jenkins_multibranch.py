"""Conformance with DevLake's Jenkins multibranch e2e (corpus jenkins/devlake): the raw builds
of a multibranch pipeline's branch and PR jobs, served by the local fake Jenkins, compared
field by field with DevLake's ``_tool_jenkins_builds``, ``cicd_pipelines`` and
``cicd_pipeline_commits`` for the same builds.

Deliberate differences, each asserted below:
- ABORTED is ``cancelled`` (DevLake: FAILURE) — a person stopped the build; the change did not
  fail. SUCCESS and FAILURE are the same on both sides;
- millisecond times: we keep the start to the millisecond (DevLake's cicd ``created_date``
  drops them), so our finish is start + duration exactly, DevLake's the truncated start +
  duration — the same instant but for the start's milliseconds;
- the repository: DevLake keeps the remote URL, we keep ``owner/name`` parsed from it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from connectors.jenkins.cli import sync_jobs
from connectors.jenkins.normalize import repo_from_remote
from connectors.progress import NULL_PROGRESS
from tests.test_jenkins_sync import devlake, jenkins, rows, settings  # noqa: F401 (fixture)

JOBS = ["github_org/devlake-jenkins/main", "github_org/devlake-jenkins/PR-2",
        "github_org/devlake-jenkins/feature-1", "github_org/devlake-jenkins/feature-2"]
CONCLUSION = {"SUCCESS": "success", "FAILURE": "failure", "ABORTED": "cancelled"}


def test_devlake_multibranch_builds(engine, jenkins, corpus, httpserver):
    for r in devlake(corpus, "raw_tables___raw_jenkins_api_builds_multibranch"):
        path = "/" + re.search(r"/view/all/(.*)api/json", r["url"]).group(1)
        jenkins.builds.setdefault(path, []).append(json.loads(r["data"]))
    for builds in jenkins.builds.values():
        builds.sort(key=lambda b: -b["number"])  # Jenkins lists newest first
    written = sync_jobs(settings(), engine, NULL_PROGRESS, httpserver.url_for("/"), JOBS)
    assert written["builds"] == 15

    ours = {f"{r.pipeline}#{r.number}": r for r in rows(
        engine, "pipeline_runs", "id", "pipeline", "number", "status", "conclusion",
        "started_at", "finished_at", "duration_s", "sha", "branch", "repo")}
    tool = {e["full_name"]: e for e in
            devlake(corpus, "snapshot_tables___tool_jenkins_builds_multibranch")}
    pipelines = {e["name"]: e for e in
                 devlake(corpus, "snapshot_tables__cicd_pipelines_multibranch")}
    commits = {e["pipeline_id"].split(":", 3)[3]: e for e in
               devlake(corpus, "snapshot_tables__cicd_pipeline_commits_multibranch")}
    assert sorted(ours) == sorted(tool) == sorted(pipelines)
    aborted = []
    for name, t in tool.items():
        run, p = ours[name], pipelines[name]
        assert run.id == f"jenkins:build:{name}"
        assert run.number == int(t["number"])
        # tool layer: the raw result, start in epoch milliseconds, duration in milliseconds
        assert run.conclusion == CONCLUSION[t["result"]], name
        if t["result"] == "ABORTED":
            assert p["result"] == "FAILURE"  # difference: an abort is not a failed change
            aborted.append(name)
        else:
            assert run.conclusion == p["result"].lower(), name
        assert run.started_at == datetime.fromtimestamp(int(t["timestamp"]) / 1000,
                                                        timezone.utc), name
        assert round(run.duration_s * 1000) == int(t["duration"]), name
        # domain layer: DONE, seconds, and times with the start truncated to the second
        assert (run.status, p["status"]) == ("completed", "DONE"), name
        assert run.duration_s == pytest.approx(float(p["duration_sec"])), name
        assert run.started_at.replace(microsecond=0) == datetime.fromisoformat(
            p["created_date"]), name
        assert run.finished_at == run.started_at + timedelta(seconds=run.duration_s)
        assert (run.started_at.replace(microsecond=0) + timedelta(seconds=run.duration_s)
                == datetime.fromisoformat(p["finished_date"])), name
        c = commits.get(name)
        if c is None:  # feature-2 #4 and #5 failed before checking out: no BuildData
            assert (run.sha, run.branch, run.repo) == (None, None, None), name
            continue
        assert (run.sha, run.branch) == (c["commit_sha"], c["branch"]), name
        assert run.repo == repo_from_remote(c["repo_url"]) == "gustavobini/devlake-jenkins"
    assert sorted(aborted) == ["github_org/devlake-jenkins/PR-2#1",
                               "github_org/devlake-jenkins/feature-2#6"]
    assert sorted(set(tool) - set(commits)) == ["github_org/devlake-jenkins/feature-2#4",
                                                "github_org/devlake-jenkins/feature-2#5"]
