"""Table in, table out (DevLake's manner) for Jenkins: real builds from the corpus (DevLake's
recorded ``_raw_jenkins_api_builds``) and one test report written here, served by the local fake
Jenkins of tests/test_jenkins_sync.py; a sync; then whole rows of ``pipeline_runs``,
``test_results`` and ``deployments``, on SQLite and PostgreSQL. Expected rows are worked out by
reading the payloads (quoted in comments); epoch milliseconds are converted by hand below."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.jenkins.cli import sync_jobs
from connectors.progress import NULL_PROGRESS
from data import schema
from data.config import parse_settings
from tests.test_jenkins_sync import FakeJenkins

JOB = "Test-jenkins-dir/test-jenkins-sub-dir/test-sub-sub-dir/devlake"
JOB_PATH = "/job/Test-jenkins-dir/job/test-jenkins-sub-dir/job/test-sub-sub-dir/job/devlake/"
B31, B10003 = f"jenkins:build:{JOB}#31", f"jenkins:build:{JOB}#10003"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def key(classname: str, name: str) -> str:
    """test_results.test_key as documented: blake2b-128 of ``len(classname):classname+name``."""
    return hashlib.blake2b(f"{len(classname)}:{classname}{name}".encode(),
                           digest_size=16).hexdigest()


def corpus_builds(corpus) -> dict[tuple[str, int], dict]:
    path = corpus / "jenkins/devlake/jenkins__raw_tables___raw_jenkins_api_builds.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return {(json.loads(r["input"])["Name"], json.loads(r["data"])["number"]):
                json.loads(r["data"]) for r in csv.DictReader(fh)}


@pytest.fixture
def jenkins(httpserver):
    fake = FakeJenkins().install(httpserver)
    yield fake
    httpserver.clear()


def table(conn, t, *order):
    return [dict(r) for r in conn.execute(select(t).order_by(*order)).mappings()]


def test_builds_reports_and_a_deploy_job_to_domain_rows(engine, jenkins, corpus, httpserver):
    builds = corpus_builds(corpus)
    # newest first, as Jenkins lists them
    jenkins.builds[JOB_PATH] = [builds[("devlake", 10003)], builds[("devlake", 31)]]
    jenkins.builds["/job/pipeline-test2/"] = [builds[("pipeline-test2", 1)]]
    jenkins.reports[(JOB_PATH, 31)] = {"suites": [{"name": "unit", "cases": [
        {"className": "app.Calc", "name": "adds", "status": "FIXED", "duration": 0.25},
        {"className": "app.Calc", "name": "divides", "status": "REGRESSION", "duration": 1.5,
         "errorDetails": "expected 2 but was 3"},
        {"className": "app.Calc", "name": "rounds", "status": "SKIPPED", "duration": 0.0,
         "skipped": True, "skippedMessage": "flaky on CI"},
    ]}]}
    settings = parse_settings({"jenkins": {"deploy_job_pattern": "pipeline-*"}}, None)
    sync_jobs(settings, engine, NULL_PROGRESS, httpserver.url_for("/"), [JOB, "pipeline-test2"])
    with engine.connect() as conn:
        runs = table(conn, schema.pipeline_runs, schema.pipeline_runs.c.id)
        tr = schema.test_results
        tests = table(conn, tr, tr.c.name)
        deployments = table(conn, schema.deployments, schema.deployments.c.id)

    none = {"source": "jenkins", "event": None, "attempt": None, "url": None,
            "status": "completed"}  # no build in the corpus carries a url
    # pipeline-test2 #1: SUCCESS, timestamp 1662651613681 ms = 2022-09-08T15:40:13.681Z,
    # duration 4564 ms; no BuildData action, so no sha, branch or repo
    p1 = {**none, "id": "jenkins:build:pipeline-test2#1", "pipeline": "pipeline-test2",
          "repo": None, "project": None, "number": 1, "branch": None, "sha": None,
          "conclusion": "success", "created_at": utc(2022, 9, 8, 15, 40, 13, 681000),
          "started_at": utc(2022, 9, 8, 15, 40, 13, 681000),
          "finished_at": utc(2022, 9, 8, 15, 40, 18, 245000), "duration_s": 4.564}
    assert runs == [
        # devlake #10003: ABORTED (building false) → cancelled; timestamp 1650017177939 ms =
        # 2022-04-15T10:06:17.939Z, duration 4 ms; no BuildData
        {**none, "id": B10003, "pipeline": JOB, "repo": None, "project": None,
         "number": 10003, "branch": None, "sha": None, "conclusion": "cancelled",
         "created_at": utc(2022, 4, 15, 10, 6, 17, 939000),
         "started_at": utc(2022, 4, 15, 10, 6, 17, 939000),
         "finished_at": utc(2022, 4, 15, 10, 6, 17, 943000), "duration_s": 0.004},
        # devlake #31: SUCCESS; timestamp 1650024049161 ms = 2022-04-15T12:00:49.161Z,
        # duration 1587 ms; BuildData: 0f886c74… on refs/remotes/origin/main from
        # https://github.com/merico-dev/lake.git (no project names that repository)
        {**none, "id": B31, "pipeline": JOB, "repo": "merico-dev/lake", "project": None,
         "number": 31, "branch": "main", "sha": "0f886c74949c3ee7e489188911c7dc0c1d547418",
         "conclusion": "success", "created_at": utc(2022, 4, 15, 12, 0, 49, 161000),
         "started_at": utc(2022, 4, 15, 12, 0, 49, 161000),
         "finished_at": utc(2022, 4, 15, 12, 0, 50, 748000), "duration_s": 1.587},
        p1,
    ]
    for r in tests:
        assert isinstance(r.pop("id"), int)
    case = {"run_id": B31, "suite": "unit", "classname": "app.Calc", "flaky": False,
            "file": None}
    assert tests == [
        {**case, "name": "adds", "test_key": key("app.Calc", "adds"), "status": "passed",
         "duration_s": 0.25, "message": None},  # FIXED counts as passed
        {**case, "name": "divides", "test_key": key("app.Calc", "divides"),
         "status": "failed", "duration_s": 1.5, "message": "expected 2 but was 3"},
        {**case, "name": "rounds", "test_key": key("app.Calc", "rounds"), "status": "skipped",
         "duration_s": 0.0, "message": "flaky on CI"},
    ]
    # pipeline-test2 matches pipeline-*: a deploy job; its path names no environment, so it
    # counts as production with no environment name
    assert deployments == [{
        "id": "jenkins:deployment:pipeline-test2#1", "source": "jenkins",
        "service": "pipeline-test2", "repo": None, "environment": "production",
        "environment_name": None, "sha": None, "ref": None, "status": "success",
        "created_at": p1["created_at"], "started_at": p1["started_at"],
        "finished_at": p1["finished_at"], "is_rollback": None, "url": None}]
