"""The Jenkins connector against a real local HTTP server (pytest-httpserver).

A small fake Jenkins serves ``allBuilds[…]{m,n}`` range pages, single builds and test reports
from dictionaries; every request is recorded so tests can check what was asked for.
"""

from __future__ import annotations

import base64
import csv
import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug import Response

from connectors.__main__ import main
from net.http import AuthError, SourceError
from connectors.jenkins.cli import sync_jobs
from connectors.jenkins.fetch import BUILD_FIELDS
from connectors.progress import NULL_PROGRESS
from data import schema
from data.config import parse_settings
from data.store import get_engine
from tests.fake_clock import FakeClock

TOKEN = "11a5b3c9d0e4f6a7b8c9d0e1f2a3b4c5d6"
USER = "ci-reader"


class FakeJenkins:
    def __init__(self) -> None:
        self.builds: dict[str, list[dict]] = {}  # job URL path -> builds, newest first
        self.reports: dict[tuple[str, int], dict] = {}
        self.requests: list[tuple[str, str]] = []  # (path, tree)
        self.auth: list[str | None] = []
        self.require_auth: str | None = None

    def install(self, httpserver) -> "FakeJenkins":
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self.handle)
        return self

    def handle(self, request):
        tree = request.args.get("tree", "")
        self.requests.append((request.path, tree))
        self.auth.append(request.headers.get("Authorization"))
        if self.require_auth and request.headers.get("Authorization") != self.require_auth:
            return Response("<html>Unauthorized</html>", status=401,
                            headers={"WWW-Authenticate": 'Basic realm="Jenkins"'})
        m = re.fullmatch(r"(/(?:job/[^/]+/)+)api/json", request.path)
        if m and m.group(1) in self.builds:
            rng = re.search(r"\{(\d+),(\d+)\}$", tree)
            assert tree.startswith("allBuilds[") and rng, tree
            lo, hi = int(rng.group(1)), int(rng.group(2))
            return self.json({"_class": "hudson.model.FreeStyleProject",
                              "allBuilds": self.builds[m.group(1)][lo:hi]})
        m = re.fullmatch(r"(/(?:job/[^/]+/)+)(\d+)/api/json", request.path)
        if m:
            for b in self.builds.get(m.group(1), []):
                if b["number"] == int(m.group(2)):
                    return self.json(b)
        m = re.fullmatch(r"(/(?:job/[^/]+/)+)(\d+)/testReport/api/json", request.path)
        if m and (m.group(1), int(m.group(2))) in self.reports:
            return self.json(self.reports[(m.group(1), int(m.group(2)))])
        return Response("<html>Not Found</html>", status=404)

    @staticmethod
    def json(body) -> Response:
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def jenkins(httpserver):
    fake = FakeJenkins().install(httpserver)
    yield fake
    httpserver.clear()


def settings(**jenkins):
    return parse_settings({"jenkins": jenkins}, None)


def build(number, result="SUCCESS", building=False, ts=1_700_000_000_000, duration=60_000,
          sha="abc1234"):
    return {"_class": "hudson.model.FreeStyleBuild", "number": number, "result": result,
            "building": building, "timestamp": ts + number * 1000, "duration": duration,
            "url": f"https://jenkins.example.com/job/app/job/main/{number}/",
            "actions": [{"_class": "hudson.plugins.git.util.BuildData",
                         "lastBuiltRevision": {"SHA1": sha,
                                               "branch": [{"name": "refs/remotes/origin/main"}]},
                         "remoteUrls": ["git@github.com:acme/web.git"]}]}


def rows(engine, table, *cols, order=None):
    t = getattr(schema, table)
    q = select(*(t.c[c] for c in cols))
    with engine.connect() as conn:
        return sorted(conn.execute(q).all(), key=lambda r: [str(v) for v in r])


# --- DevLake's raw builds give its cicd_pipelines results --------------------------------------
DEVLAKE_JOB = "Test-jenkins-dir/test-jenkins-sub-dir/test-sub-sub-dir/devlake"


def devlake(corpus, name):
    path = corpus / "jenkins" / "devlake" / f"jenkins__{name}.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_devlake_builds_match_cicd_pipelines(engine, jenkins, corpus, httpserver):
    raw = [r for r in devlake(corpus, "raw_tables___raw_jenkins_api_builds")
           if json.loads(r["input"])["Name"] == "devlake"]  # build #1 is another job's
    builds = sorted((json.loads(r["data"]) for r in raw), key=lambda b: -b["number"])
    jenkins.builds["/job/Test-jenkins-dir/job/test-jenkins-sub-dir/job/test-sub-sub-dir/"
                   "job/devlake/"] = builds
    written = sync_jobs(settings(), engine, NULL_PROGRESS, httpserver.url_for("/"),
                        [DEVLAKE_JOB], page_size=5)
    expected = {r["id"].split("#")[1]: r for r in devlake(corpus, "snapshot_tables__cicd_pipelines")}
    assert written["builds"] == len(expected) == 13

    got = {r.number: r for r in rows(engine, "pipeline_runs", "id", "number", "status",
                                     "conclusion", "started_at", "finished_at", "duration_s",
                                     "pipeline")}
    assert sorted(got) == sorted(int(n) for n in expected)
    # DevLake result for each original result, and ours (see connectors/jenkins/normalize.py):
    # deliberate differences are ABORTED (DevLake FAILURE, ours cancelled), UNSTABLE (DevLake
    # none, ours failure: tests failed) and NOT_BUILD (DevLake none, ours skipped).
    ours_for = {("SUCCESS", "SUCCESS"): "success", ("FAILURE", "FAILURE"): "failure",
                ("FAILURE", "ABORTED"): "cancelled", ("", "UNSTABLE"): "failure",
                ("", "NOT_BUILD"): "skipped"}
    for number, exp in expected.items():
        run = got[int(number)]
        assert run.id == f"jenkins:build:{DEVLAKE_JOB}#{number}"
        assert run.pipeline == DEVLAKE_JOB
        created = datetime.fromisoformat(exp["created_date"])
        # DevLake keeps whole seconds of the start; we keep the milliseconds
        assert run.started_at.replace(microsecond=0) == created
        if exp["status"] == "IN_PROGRESS":
            # running: no result, no end; DevLake's duration_sec of a running build is not kept
            assert (run.status, run.conclusion, run.finished_at, run.duration_s) == (
                "in_progress", None, None, None)
            continue
        assert run.status == "completed"
        assert run.conclusion == ours_for[(exp["result"], exp["original_result"])]
        assert run.duration_s == pytest.approx(float(exp["duration_sec"]))
        # DevLake's finish = its truncated start + duration; ours = exact start + duration
        assert (run.started_at.replace(microsecond=0)
                + timedelta(seconds=run.duration_s)) == datetime.fromisoformat(
                    exp["finished_date"])
    # sha and branch from the BuildData action, worked out from the raw payloads: builds 31
    # and 21 built 0f886c74… on refs/remotes/origin/main, build 11 ceeffdfd…, the rest none
    git = {r.number: (r.sha, r.branch, r.repo)
           for r in rows(engine, "pipeline_runs", "number", "sha", "branch", "repo")}
    assert git[31] == ("0f886c74949c3ee7e489188911c7dc0c1d547418", "main", "merico-dev/lake")
    assert git[21][0] == git[31][0] and git[11][0].startswith("ceeffdfd")
    assert git[47] == (None, None, None)
    # no build published tests: every completed build's report answered 404
    assert rows(engine, "test_results", "run_id") == []
    assert sum(1 for p, _ in jenkins.requests if p.endswith("/testReport/api/json")) == 10
    # the three nested folders became job/…/job/…/job/…/job/devlake/, paged 5 at a time
    pages = [t for p, t in jenkins.requests if p.endswith("/job/devlake/api/json")]
    assert pages == [f"allBuilds[{BUILD_FIELDS}]{{{lo},{lo + 5}}}" for lo in (0, 5, 10)]


# --- incremental sync, running builds, test reports -----------------------------------------------
JOB_PATH = "/job/app/job/main/"


def test_running_build_is_fetched_again_and_reports_read_once(engine, jenkins, httpserver):
    url = httpserver.url_for("/")
    jenkins.builds[JOB_PATH] = [build(5), build(4, result=None, building=True), build(3)]
    jenkins.reports[(JOB_PATH, 5)] = {"suites": [{"name": "S", "cases": [
        {"className": "a.B", "name": "t1", "status": "PASSED", "duration": 0.1},
        {"className": "a.B", "name": "t2", "status": "REGRESSION", "duration": 0.2,
         "errorDetails": "boom"}]}]}
    first = sync_jobs(settings(), engine, NULL_PROGRESS, url, ["app/main"], page_size=2)
    assert first == {"builds": 3, "test_results": 2}
    assert rows(engine, "pipeline_runs", "number", "status", "conclusion") == [
        (3, "completed", "success"), (4, "in_progress", None), (5, "completed", "success")]
    with engine.connect() as conn:
        state = conn.execute(select(schema.sync_state.c.cursor, schema.sync_state.c.pending)
                             ).one()
    assert (state.cursor, state.pending) == ("5", [4])

    # build 4 finishes (unstable, with a report), 6 and 7 are new
    jenkins.builds[JOB_PATH] = [build(7), build(6, result="FAILURE"), build(5),
                                build(4, result="UNSTABLE"), build(3)]
    jenkins.reports[(JOB_PATH, 4)] = {"suites": [{"name": "S", "cases": [
        {"className": "a.B", "name": "t1", "status": "FAILED", "duration": 0.3}]}]}
    jenkins.requests.clear()
    second = sync_jobs(settings(), engine, NULL_PROGRESS, url, ["app/main"], page_size=2)
    # 7 and 6 on the first page; the second page (5, 4) reaches the cursor: 4 is pending, so
    # it is read from that page; 5 is not fetched again, nor is its report
    assert second == {"builds": 3, "test_results": 1}
    assert rows(engine, "pipeline_runs", "number", "status", "conclusion") == [
        (3, "completed", "success"), (4, "completed", "failure"),
        (5, "completed", "success"), (6, "completed", "failure"), (7, "completed", "success")]
    reports = [p for p, _ in jenkins.requests if p.endswith("testReport/api/json")]
    assert reports == [f"{JOB_PATH}7/testReport/api/json", f"{JOB_PATH}6/testReport/api/json",
                       f"{JOB_PATH}4/testReport/api/json"]
    assert rows(engine, "test_results", "run_id", "name", "status") == [
        ("jenkins:build:app/main#4", "t1", "failed"),
        ("jenkins:build:app/main#5", "t1", "passed"),
        ("jenkins:build:app/main#5", "t2", "failed")]


def test_pending_build_outside_the_pages_is_fetched_by_number(engine, jenkins, httpserver):
    url = httpserver.url_for("/")
    jenkins.builds[JOB_PATH] = [build(5), build(4, result=None, building=True), build(3)]
    sync_jobs(settings(), engine, NULL_PROGRESS, url, ["app/main"], page_size=1)
    jenkins.builds[JOB_PATH] = [build(6), build(5), build(4, result="ABORTED"), build(3)]
    jenkins.requests.clear()
    sync_jobs(settings(), engine, NULL_PROGRESS, url, ["app/main"], page_size=1)
    # page {0,1} = 6 (new), page {1,2} = 5 reaches the cursor; 4 is then asked for alone
    assert [p for p, _ in jenkins.requests if not p.endswith("testReport/api/json")] == [
        f"{JOB_PATH}api/json", f"{JOB_PATH}api/json", f"{JOB_PATH}4/api/json"]
    assert rows(engine, "pipeline_runs", "number", "status", "conclusion")[1] == (
        4, "completed", "cancelled")
    with engine.connect() as conn:
        assert conn.execute(select(schema.sync_state.c.pending)).scalar() == []


def test_deploy_jobs_become_deployments(engine, jenkins, httpserver):
    jenkins.builds["/job/deploy/job/web-prod/"] = [build(2, result=None, building=True),
                                                   build(1)]
    sync_jobs(settings(deploy_job_pattern="deploy/*"), engine, NULL_PROGRESS,
              httpserver.url_for("/"), ["deploy/web-prod"])
    assert rows(engine, "deployments", "id", "environment", "environment_name", "status",
                "sha", "ref") == [
        ("jenkins:deployment:deploy/web-prod#1", "production", "prod", "success", "abc1234",
         "main"),
        ("jenkins:deployment:deploy/web-prod#2", "production", "prod", "in_progress",
         "abc1234", "main")]


# --- failures and secrets -----------------------------------------------------------------------
def test_401_is_one_clear_line_and_logged(engine, jenkins, httpserver, monkeypatch):
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    jenkins.require_auth = "Basic bm9ib2R5Om5vcGU="  # someone else's credentials
    jenkins.builds[JOB_PATH] = [build(1)]
    with pytest.raises(AuthError) as err:
        sync_jobs(settings(), engine, NULL_PROGRESS, httpserver.url_for("/"), ["app/main"])
    message = str(err.value)
    assert "401" in message and "JENKINS_TOKEN" in message and TOKEN not in message
    assert rows(engine, "sync_runs", "source", "scope", "outcome", "error") == [
        ("jenkins", "app/main", "failed", message)]
    assert rows(engine, "pipeline_runs", "id") == []


def test_failed_sync_keeps_earlier_builds_and_cursor(engine, jenkins, httpserver):
    url = httpserver.url_for("/")
    jenkins.builds[JOB_PATH] = [build(2), build(1)]
    sync_jobs(settings(), engine, NULL_PROGRESS, url, ["app/main"])
    jenkins.require_auth = "Basic x"  # the server now refuses us
    jenkins.builds[JOB_PATH] = [build(3), build(2), build(1)]
    with pytest.raises(SourceError):
        sync_jobs(settings(), engine, NULL_PROGRESS, url, ["app/main"])
    assert rows(engine, "pipeline_runs", "number") == [(1,), (2,)]
    with engine.connect() as conn:
        assert conn.execute(select(schema.sync_state.c.cursor)).scalar() == "2"


def test_cli_sends_basic_auth_and_never_prints_the_token(jenkins, httpserver, sqlite_url,
                                                         monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    basic = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    jenkins.require_auth = basic
    jenkins.builds[JOB_PATH] = [build(1)]
    assert main(["sync", "jenkins", "--url", httpserver.url_for("/"), "--job", "app/main"]) == 0
    assert set(jenkins.auth) == {basic}
    jenkins.require_auth = "Basic other"
    assert main(["sync", "jenkins", "--url", httpserver.url_for("/"), "--job", "app/main",
                 "--full"]) == 1
    out = capsys.readouterr()
    assert "jenkins: builds 1" in out.out
    assert out.err.startswith("error: jenkins: the server rejected the credentials (401)")
    for secret in (TOKEN, basic.split()[1]):
        assert secret not in out.out + out.err
    engine = get_engine(sqlite_url)
    with engine.connect() as conn:
        dump = repr([conn.execute(select(t)).all() for t in schema.metadata.sorted_tables])
    engine.dispose()
    assert TOKEN not in dump and basic.split()[1] not in dump


def test_429_waits_retry_after_through_the_clock(engine, jenkins, httpserver):
    jenkins.builds[JOB_PATH] = [build(1)]
    limited = {"left": 2}
    handle = jenkins.handle

    def throttled(request):
        if request.path.endswith("/main/api/json") and limited["left"]:
            limited["left"] -= 1
            return Response("slow down", status=429, headers={"Retry-After": "7"})
        return handle(request)

    httpserver.clear()
    httpserver.expect_request(re.compile(".*")).respond_with_handler(throttled)
    clock = FakeClock()
    written = sync_jobs(settings(), engine, NULL_PROGRESS, httpserver.url_for("/"),
                        ["app/main"], clock=clock)
    assert written == {"builds": 1}
    assert clock.sleeps == [7.0, 7.0]


def test_unknown_job_is_a_clear_404(engine, jenkins, httpserver):
    with pytest.raises(SourceError, match=r"not found \(404\): /job/nope/api/json"):
        sync_jobs(settings(), engine, NULL_PROGRESS, httpserver.url_for("/"), ["nope"])
    assert rows(engine, "sync_runs", "scope", "outcome") == [("nope", "failed")]
