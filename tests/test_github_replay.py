"""Real recorded GitHub exchanges (corpus: PyGithub replays, octokit fixtures) served from a
local server with their status, headers and bodies; Link URLs point at the local server."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from sqlalchemy import select
from werkzeug import Response

from connectors.github import fetch
from connectors.github.client import make_client
from connectors.github.sync import RepoSync
from connectors.frame import SyncRun
from data import schema
from tests.fake_clock import FakeClock
from tests.test_github_sync import NOW, settings

API = "https://api.github.com"


class Replay:
    """Serve recorded exchanges by path (+ ``page``), in recorded order; log what was asked."""

    def __init__(self, httpserver) -> None:
        self.routes: dict[tuple[str, str | None], list[tuple[int, list, object]]] = {}
        self.log: list[tuple[str, dict, dict]] = []
        httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self._serve)
        self.base = httpserver.url_for("/").rstrip("/")

    def add(self, path: str, status: int, headers, body, page: str | None = None) -> None:
        if isinstance(headers, dict):
            headers = list(headers.items())
        self.routes.setdefault((path, page), []).append((status, headers, body))

    def add_pygithub(self, exchange: dict, path: str | None = None) -> None:
        url = exchange["request"]["url"]
        self.add(path or url.split("?")[0][len(API):], exchange["status"],
                 exchange["response_headers"], exchange["response_body"])

    def _serve(self, request):
        self.log.append((request.path, dict(request.args),
                         {k.lower(): v for k, v in request.headers.items()}))
        key = (request.path, request.args.get("page"))
        queue = self.routes.get(key) or self.routes.get((request.path, None))
        if not queue:
            return Response(b'{"message": "Not Found"}', status=404)
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        drop = {"content-encoding", "transfer-encoding", "content-length", "connection",
                "status"}
        out = [(k, str(v).replace(API, self.base)) for k, v in headers if k.lower() not in drop]
        data = b"" if body is None or status == 304 else json.dumps(body).encode()
        return Response(data, status=status, headers=out)


def load(corpus, name: str):
    return json.loads((corpus / "github" / name).read_text())


def repo_sync(engine, client, repo: str) -> RepoSync:
    s = settings(lookback_days=36500)
    run = SyncRun(engine, "github", repo, client).__enter__()
    return RepoSync(engine=engine, client=client, repo=repo, project=repo, mapping=s.mapping,
                    github=s.github, run=run)


def test_octokit_pagination_follows_repositories_links(sqlite_engine, corpus, httpserver):
    replay = Replay(httpserver)
    for ex in load(corpus, "octokit-fixtures/paginate-issues.normalized-fixture.json"):
        path, _, query = ex["path"].partition("?")
        page = dict(p.split("=") for p in query.split("&")).get("page")
        replay.add(path, ex["status"], ex["headers"], ex["response"], page=page)
    client = make_client(replay.base, "tok", clock=FakeClock(NOW))
    rs = repo_sync(sqlite_engine, client, "octokit-fixture-org/paginate-issues")
    rs.sync_issues()
    asked = [(p, q.get("page")) for p, q, _h in replay.log]
    # the first page by repo name, then the Link targets: /repositories/1000/…, pages 2–5
    assert asked == [("/repos/octokit-fixture-org/paginate-issues/issues", None)] + [
        ("/repositories/1000/issues", str(n)) for n in (2, 3, 4, 5)]
    assert replay.log[1][1]["per_page"] == "3"  # carried by the server's link, not rebuilt
    with sqlite_engine.connect() as conn:
        keys = conn.execute(select(schema.work_items.c.key)).scalars().all()
    assert sorted(keys, key=lambda k: int(k.split("#")[1])) == [
        f"octokit-fixture-org/paginate-issues#{n}" for n in range(1, 14)]


def test_pygithub_lists_normalise(sqlite_engine, corpus, httpserver):
    replay = Replay(httpserver)
    replay.add_pygithub(load(corpus, "pygithub-replay/Repository.testGetIssues.json")[0])
    replay.add_pygithub(load(corpus, "pygithub-replay/Repository.testGetPulls.json")[0])
    replay.add_pygithub(load(corpus, "pygithub-replay/Repository.testGetWorkflowRuns.json")[1])
    replay.add_pygithub(load(corpus, "pygithub-replay/Repository.testGetDeployments.json")[0])
    statuses = load(corpus, "pygithub-replay/DeploymentStatus.testGetStatuses.json")[0]
    for dep in (263877258, 262350588):
        replay.add_pygithub(statuses, f"/repos/PyGithub/PyGithub/deployments/{dep}/statuses")
    client = make_client(replay.base, "tok", clock=FakeClock(
        datetime(2020, 6, 1, tzinfo=timezone.utc).timestamp()))
    rs = repo_sync(sqlite_engine, client, "PyGithub/PyGithub")
    rs.sync_issues()
    rs.sync_pulls()
    rs.sync_runs()
    rs.sync_deployments()
    with sqlite_engine.connect() as conn:
        items = conn.execute(select(schema.work_items)).all()
        pulls = conn.execute(select(schema.pull_requests)).all()
        runs = {r.id: r for r in conn.execute(select(schema.pipeline_runs))}
        deps = {d.id: d for d in conn.execute(select(schema.deployments))}
        members = conn.execute(select(schema.release_items)).all()
    # 2012 answers give every issue a pull_request object of nulls: all 16 are issues
    assert len(items) == 16
    # all open and assigned to jacquev6: started, by the default started_from
    assert {(i.status_category, i.assignee) for i in items} == {("in_progress", "jacquev6")}
    # #30 27 25 24 17 16 12 9 4 2 sit in milestone #2 "Version 1.0: coherent public interface"
    assert sorted(int(m.item_id.split("#")[1]) for m in members) == [
        2, 4, 9, 12, 16, 17, 24, 25, 27, 30]
    assert [(p.number, p.state, p.merge_sha) for p in pulls] == [(32, "open", None)]
    # 5 runs in the recorded page (of total_count 124); 2020 runs lack run_started_at, so
    # started = created: 110932306 ran 23:59:37 → 00:02:14 = 157 s
    assert len(runs) == 5
    r = runs["github:run:PyGithub/PyGithub:110932306"]
    assert (r.status, r.conclusion, r.duration_s, r.branch, r.event) == (
        "completed", "success", 157.0, "master", "push")
    # the recorded statuses are three "queued": no terminal state yet, so still queued
    d = deps["github:deployment:PyGithub/PyGithub:262350588"]
    assert (d.environment, d.status, d.finished_at) == ("production", "queued", None)
    assert deps["github:deployment:PyGithub/PyGithub:263877258"].environment == "other"
    with sqlite_engine.connect() as conn:
        state = conn.execute(select(schema.sync_state.c.pending).where(
            schema.sync_state.c.resource == "deployments")).scalar()
    assert sorted(state) == [262350588, 263877258]  # fetched again next time


def test_recorded_304_counts_as_not_modified(corpus, httpserver):
    replay = Replay(httpserver)
    ex = load(corpus, "pygithub-replay/ConditionalRequestUpdate.testDidNotUpdate.json")[0]
    replay.add_pygithub(ex)
    client = make_client(replay.base, "tok", clock=FakeClock(NOW))
    etag = ex["request"]["headers"]["If-None-Match"]
    pages = list(fetch.list_pages(client, "/repos/akfish/PyGithub", etag=etag))
    assert [p.not_modified for p in pages] == [True]
    assert replay.log[0][2]["if-none-match"] == etag  # sent back verbatim
    assert (client.requests_made, client.not_modified) == (1, 1)


def test_recorded_primary_limit_waits_then_retries(corpus, httpserver):
    replay = Replay(httpserver)
    ok, limited = load(corpus, "pygithub-replay/SpecificExceptions.testRateLimitExceeded.json")
    replay.add_pygithub(ok)
    replay.add_pygithub(limited)
    replay.add_pygithub(ok)
    clock = FakeClock(NOW)
    client = make_client(replay.base, None, clock=clock)
    client.get_json("/users/jacquev6")
    body, resp = client.get_json("/users/jacquev6")
    # the 403 says remaining 0 but (2013) carries no reset time: back off a minute
    assert clock.sleeps == [60.0]
    assert body["login"] == "jacquev6" and len(replay.log) == 3


def test_recorded_secondary_limit_honours_retry_after(corpus, httpserver):
    replay = Replay(httpserver)
    ok, limited = load(corpus,
                       "pygithub-replay/SpecificExceptions.testAuthenticatedRateLimitExceeded.json")
    replay.add_pygithub(limited)
    replay.add_pygithub(ok)
    clock = FakeClock(NOW)
    client = make_client(replay.base, "tok", clock=clock)
    body, _ = client.get_json("/search/code", params={"q": "jacquev6"})
    assert clock.sleeps == [60.0]  # Retry-After: 60
    assert body["total_count"] == 31140


def test_recorded_release_marks_milestone_shipped(sqlite_engine, corpus, httpserver):
    replay = Replay(httpserver)
    ex = load(corpus, "pygithub-replay/GitRelease.testGetLatestRelease.json")[0]
    replay.add("/repos/rickrickston123/RepoTest/releases", 200, ex["response_headers"],
               [ex["response_body"]])
    client = make_client(replay.base, "tok", clock=FakeClock(NOW))
    rs = repo_sync(sqlite_engine, client, "rickrickston123/RepoTest")
    with sqlite_engine.begin() as conn:
        conn.execute(schema.releases.insert().values(
            id="github:milestone:rickrickston123/RepoTest#1", source="github",
            project="rickrickston123/RepoTest", name="1.0", state="unreleased"))
    rs.sync_releases()
    with sqlite_engine.connect() as conn:
        rel = conn.execute(select(schema.releases)).one()
    # tag v1.0 minus its v names milestone "1.0"; shipped at published_at
    assert (rel.state, rel.released_at, rel.prerelease) == (
        "released", datetime(2020, 7, 14, 0, 58, 20, tzinfo=timezone.utc), False)
