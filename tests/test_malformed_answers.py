"""Valid JSON of the wrong shape — ``null``, a list where an object belongs (or the reverse), a
missing field — stops a sync with one line naming the resource and page; what earlier syncs
stored stays, the command exits 1, and a malformed page never counts as a complete listing
(so nothing is removed on its account). GitHub, Jira and Jenkins, each against its local fake.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select
from werkzeug import Response

from connectors.__main__ import main
from net.http import BadResponse
from connectors.jenkins.cli import sync_jobs
from connectors.progress import NULL_PROGRESS
from data import schema
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue
from tests.jira_server import FakeJira, history, status_item
from tests.jira_server import issue as jira_issue
from tests.test_github_sync import populate, sync
from tests.test_jenkins_sync import FakeJenkins, build
from tests.test_jenkins_sync import settings as jenkins_settings
from tests.test_jira_sync import run_sync

TABLES = ("work_items", "work_item_changes", "releases", "release_items", "pull_requests",
          "pipeline_runs", "deployments", "sprints", "sprint_items", "test_results",
          "raw_records")


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(getattr(schema, t)))
                .scalar_one() for t in TABLES}


def last_run(engine):
    runs = schema.sync_runs
    with engine.connect() as conn:
        return conn.execute(select(runs.c.outcome, runs.c.error)
                            .order_by(runs.c.id.desc())).first()


# --- GitHub ------------------------------------------------------------------------------------
@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    populate(fake)
    return fake


GITHUB_CASES = [
    # (path matched, answer, where and what the line says)
    ("/milestones", {"message": "moved"},
     "page 1 of /repos/acme/web/milestones: expected a list, got an object"),
    ("/repos/acme/web/issues", None,
     "page 1 of /repos/acme/web/issues: expected a list, got null"),
    ("/repos/acme/web/issues", [{"title": "no number", "updated_at": "2024-03-01T00:00:00Z"}],
     "page 1 of /repos/acme/web/issues: expected an object with 'number', got null"),
    ("/repos/acme/web/issues", [dict(issue(1, "2024-03-01T00:00:00Z"), created_at=None)],
     "page 1 of /repos/acme/web/issues: expected an object with 'created_at', got null"),
    ("/issues/events", [None],
     "page 1 of /repos/acme/web/issues/events: expected a list of objects, got null"),
    ("/pulls", {"pulls": []},
     "page 1 of /repos/acme/web/pulls: expected a list, got an object"),
    ("/releases", [{"tag_name": "v9"}],
     "page 1 of /repos/acme/web/releases: expected an object with 'id', got null"),
    ("/actions/runs", {"total_count": 3},
     "page 1 of /repos/acme/web/actions/runs: expected an object with a 'workflow_runs' "
     "list, got null"),
    ("/deployments", [{"id": 9}],
     "page 1 of /repos/acme/web/deployments: expected an object with 'created_at', got null"),
    ("/deployments/203/statuses", {"statuses": []},
     "page 1 of /repos/acme/web/deployments/203/statuses: expected a list, got an object"),
]


@pytest.mark.parametrize("match,answer,said", GITHUB_CASES,
                         ids=[f"{c[0]}-{type(c[1]).__name__}" for c in GITHUB_CASES])
def test_github_a_malformed_listing_is_one_line_and_keeps_what_was_stored(
        engine, gh, match, answer, said):
    sync(engine, gh)
    before = counts(engine)
    gh.fail_next(match, 200, body=json.dumps(answer).encode())
    with pytest.raises(BadResponse) as caught:
        sync(engine, gh, full=True)
    assert str(caught.value) == (f"github: malformed answer in {said} — stored data is intact; "
                                 "rerun, and report it if it persists")
    assert counts(engine) == before
    assert last_run(engine) == ("failed", str(caught.value))


def test_github_a_malformed_single_object_is_one_line(engine, gh):
    sync(engine, gh)  # run 102 is still in progress: the next sync fetches it alone
    gh.fail_next("/actions/runs/102", 200, body=b"[]")
    with pytest.raises(BadResponse, match=r"^github: malformed answer in /repos/acme/web/"
                                          r"actions/runs/102: expected an object, got a list"):
        sync(engine, gh)


def test_github_a_malformed_pull_request_detail_is_one_line(engine, gh):
    # REST details: what an anonymous sync reads (GraphQL needs a token)
    gh.fail_next("/pulls/6", 200, body=b"null")  # read once, the first sync
    with pytest.raises(BadResponse, match=r"^github: malformed answer in /repos/acme/web/"
                                          r"pulls/6: expected an object, got null"):
        sync(engine, gh, token=None, token_env="NO_SUCH_TOKEN_ENV")
    pr = schema.pull_requests
    with engine.connect() as conn:
        assert conn.execute(select(pr.c.review_count)).scalars().all() == [None]


def test_github_a_malformed_graphql_pull_request_detail_is_one_line(engine, gh):
    gh.graphql_pulls_answer = {"data": {"rateLimit": None, "repository": {"pr6": [1, 2]}}}
    with pytest.raises(BadResponse, match=r"^github: malformed answer in the GraphQL details "
                                          r"of acme/web#6: expected an object, got a list"):
        sync(engine, gh)
    pr = schema.pull_requests
    with engine.connect() as conn:
        assert conn.execute(select(pr.c.review_count)).scalars().all() == [None]


def test_github_a_wrong_field_deeper_down_is_one_line_naming_the_page(engine, gh):
    """Fields past the ids are read by the normalisers; a wrong one still names the page."""
    sync(engine, gh)
    before = counts(engine)
    odd = issue(3, "2024-03-07T00:00:00Z")
    odd["milestone"] = "v2.4"  # a title where the milestone object belongs
    gh.fail_next("/repos/acme/web/issues", 200, body=json.dumps([odd]).encode())
    with pytest.raises(BadResponse, match=r"^github: malformed answer in acme/web, page 1 of "
                                          r"/repos/acme/web/issues \(TypeError: "):
        sync(engine, gh, full=True)
    assert counts(engine) == before


def test_github_null_on_a_middle_page_ends_nothing_silently(
        httpserver, monkeypatch, tmp_path, db_url, engine, capsys):
    fake = FakeGitHub().install(httpserver)
    fake.issues = [issue(n, f"2024-03-{n:02d}T00:00:00Z") for n in range(1, 26)]
    (tmp_path / "readiness.toml").write_text('[github]\nrepos = ["acme/web"]\nper_page = 10\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "none.toml"))
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken-secret")
    args = ["sync", "github", "--repo", "acme/web", "--api-url", fake.base_url, "--full"]
    assert main(args) == 0
    capsys.readouterr()
    fake.fail_next("/repositories/1000/issues", 200, body=b"null")  # page 2 of 3
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: github: malformed answer in page 2 of /repos/acme/web/issues: "
                   "expected a list, got null — stored data is intact; rerun, and report it "
                   "if it persists"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.work_items)).scalar_one() \
            == 25


# --- Jira ------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_jira_credentials(monkeypatch):
    for name in ("JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def jira_fake(httpserver, **kw) -> FakeJira:
    sprint = {"id": 7, "name": "S7", "state": "active", "originBoardId": 12,
              "startDate": "2024-03-01T09:00:00.000Z", "endDate": "2024-03-15T09:00:00.000Z"}
    long_log = [history(n, f"2024-03-01T{n // 60:02d}:{n % 60:02d}:00.000+0000",
                        status_item("1", "3")) for n in range(120)]
    return FakeJira(httpserver, boards=[{"id": 12, "name": "PAY board", "type": "scrum"}],
                    sprints={"12": [sprint]}, search_page_size=2,
                    versions=[{"id": "40", "name": "2.4", "released": False}],
                    issues=[jira_issue(f"PAY-{n}", updated=f"2024-03-0{n}T09:00:00.000+0000",
                                       histories=long_log if n == 1 else None)
                            for n in range(1, 6)], **kw)


JIRA_CASES = [
    ("/rest/api/3/project/PAY/versions", {"values": []},
     "/rest/api/3/project/PAY/versions: expected a list, got an object"),
    ("/rest/agile/1.0/board", [],
     "/rest/agile/1.0/board (startAt 0): expected an object, got a list"),
    ("/rest/agile/1.0/board/12/sprint", {"values": None, "isLast": True},
     "/rest/agile/1.0/board/12/sprint (startAt 0), 'values': expected a list, got null"),
    ("/rest/api/3/search/jql", None,
     "search page 1 (/rest/api/3/search/jql): expected an object, got null"),
    ("/rest/api/3/search/jql", {"issues": [{"id": "10001"}], "isLast": True},
     "search page 1 (/rest/api/3/search/jql): expected issues with a 'key', got null"),
    ("/rest/api/3/search/jql", {"issues": [{"key": "PAY-1"}], "isLast": True},
     "search page 1 (/rest/api/3/search/jql): expected issue PAY-1 with fields.created, "
     "got null"),
    ("/rest/api/3/issue/PAY-1/changelog", {"values": {}},
     "/rest/api/3/issue/PAY-1/changelog (startAt 0), 'values': expected a list, "
     "got an object"),
]


@pytest.mark.parametrize("path,answer,said", JIRA_CASES,
                         ids=[f"{c[0]}-{type(c[1]).__name__}" for c in JIRA_CASES])
def test_jira_a_malformed_answer_is_one_line_and_keeps_what_was_stored(
        httpserver, engine, path, answer, said):
    fake = jira_fake(httpserver)
    run_sync(fake, engine)
    before = counts(engine)
    fake.answer_next(path, answer)
    with pytest.raises(BadResponse) as caught:
        run_sync(fake, engine, full=True)
    assert str(caught.value) == (f"jira: malformed answer in {said} — stored data is intact; "
                                 "rerun, and report it if it persists")
    assert counts(engine) == before
    assert last_run(engine) == ("failed", str(caught.value))


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_jira_a_malformed_middle_search_page_removes_nothing(httpserver, engine, deployment):
    fake = jira_fake(httpserver, deployment=deployment)
    api = "/rest/api/3/search/jql" if deployment == "Cloud" else "/rest/api/2/search"
    run_sync(fake, engine)
    before = counts(engine)
    page2 = fake.calls[api] + 2
    fake.answer_on_call[(api, page2)] = {"issues": None, "isLast": False, "total": 5}
    with pytest.raises(BadResponse, match=r"^jira: malformed answer in search page 2 .*'issues'"
                                          r": expected a list, got null"):
        run_sync(fake, engine, full=True, clock=FakeClock())
    assert counts(engine) == before


def test_jira_a_wrong_field_deeper_down_names_the_page(httpserver, engine):
    fake = jira_fake(httpserver)
    run_sync(fake, engine)
    before = counts(engine)
    odd = jira_issue("PAY-2", extra={"fixVersions": "2.4"})  # a name where a list belongs
    odd.pop("_histories")
    fake.answer_next("/rest/api/3/search/jql", {"issues": [odd], "isLast": True})
    with pytest.raises(BadResponse, match=r"^jira: malformed answer in PAY, search page 1 "
                                          r"\(/rest/api/3/search/jql\) \((Attribute|Type)Error: "):
        run_sync(fake, engine, full=True)
    assert counts(engine) == before


# --- Jenkins ---------------------------------------------------------------------------------
class OddJenkins(FakeJenkins):
    """The fake Jenkins, with verbatim answers queued in front of paths."""

    def __init__(self) -> None:
        super().__init__()
        self.odd: dict[str, list] = {}

    def handle(self, request):
        queued = self.odd.get(request.path)
        if queued:
            self.requests.append((request.path, request.args.get("tree", "")))
            return Response(json.dumps(queued.pop(0)), content_type="application/json")
        return super().handle(request)


JOB = "/job/app/job/main/"


@pytest.fixture
def jenkins(httpserver):
    fake = OddJenkins().install(httpserver)
    fake.builds[JOB] = [build(5), build(4, result=None, building=True), build(3)]
    fake.reports[(JOB, 5)] = {"suites": [{"name": "S", "cases": [
        {"className": "a.B", "name": "t1", "status": "PASSED", "duration": 0.1}]}]}
    yield fake
    httpserver.clear()


def jenkins_sync(engine, httpserver, full=False):
    return sync_jobs(jenkins_settings(), engine, NULL_PROGRESS, httpserver.url_for("/"),
                     ["app/main"], full=full, clock=FakeClock())


JENKINS_CASES = [
    (f"{JOB}api/json", None,
     "builds 0-100 of app/main: expected an object, got null"),
    (f"{JOB}api/json", {"allBuilds": {}},
     "builds 0-100 of app/main: expected an 'allBuilds' list (is it a job?), got an object"),
    (f"{JOB}api/json", {"allBuilds": [{"result": "SUCCESS"}]},
     "builds 0-100 of app/main: expected a build with a whole 'number', got null"),
    (f"{JOB}5/testReport/api/json", [],
     "the test report of build 5 of app/main: expected an object, got a list"),
    (f"{JOB}5/testReport/api/json", {"suites": None},
     "the test report of build 5 of app/main: expected a 'suites' list, got null"),
    (f"{JOB}4/api/json", None,
     "build 4 of app/main: expected a build object, got null"),
]


@pytest.mark.parametrize("path,answer,said", JENKINS_CASES,
                         ids=[f"{c[0].rsplit('main/', 1)[1]}-{type(c[1]).__name__}"
                              for c in JENKINS_CASES])
def test_jenkins_a_malformed_answer_is_one_line_and_keeps_what_was_stored(
        engine, jenkins, httpserver, path, answer, said):
    jenkins_sync(engine, httpserver)
    before = counts(engine)
    assert before["test_results"] == 1
    jenkins.odd[path] = [answer]
    # the full re-read reads build 5 again; build 4, still running, is fetched alone once
    # the list no longer shows it
    full = "/4/" not in path
    if not full:
        jenkins.builds[JOB] = [build(5), build(3)]
    with pytest.raises(BadResponse) as caught:
        jenkins_sync(engine, httpserver, full=full)
    assert str(caught.value) == (f"jenkins: malformed answer in {said} — stored data is "
                                 "intact; rerun, and report it if it persists")
    assert counts(engine) == before  # build 5's test result is not wiped by a null report
    assert last_run(engine) == ("failed", str(caught.value))


def test_jenkins_a_missing_field_deeper_down_names_the_build(engine, jenkins, httpserver):
    jenkins_sync(engine, httpserver)
    before = counts(engine)
    odd = build(5)
    odd["timestamp"] = "yesterday"
    jenkins.odd[f"{JOB}api/json"] = [{"allBuilds": [odd]}]
    with pytest.raises(BadResponse, match=r"^jenkins: malformed answer in app/main, build 5 "):
        jenkins_sync(engine, httpserver, full=True)
    assert counts(engine) == before
    assert re.search(r"\((TypeError|ValueError): ", last_run(engine).error)
