"""Pull-request details through GraphQL against the local fake GitHub, whose GraphQL endpoint
checks every query against GitHub's public schema (corpus github/graphql/schema.graphql) when
the corpus has it and executes it, with the subset of that schema kept in
tests/github_graphql_subset.graphql, over the same pull requests, commits and reviews its REST
routes serve. The tests that validate against the full schema, or check that the subset is
GitHub's, need the corpus and skip without it; the rest run everywhere.

Faults: a 502, ``RATE_LIMITED`` in a 200 answer, a query GitHub times out on (the batch must
shrink), a secondary limit (403 with ``retry-after``), points running out (wait for
``resetAt``)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.github.cli import sync_repos
from connectors.github.fetch import ISSUE_COUNT_QUERY
from connectors.github.graphql import COMMITS_MORE, REVIEWS_MORE, details_query
from connectors.github.plan import counts_query
from connectors.progress import Progress
from data import schema
from net.http import BadResponse
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub
from tests.test_github_sync import settings

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def public_schema(corpus):
    """GitHub's full public GraphQL schema from the corpus (skips, or fails under
    SHIPREADY_REQUIRE=corpus, without it)."""
    from conftest import need
    from tests.github_graphql import SCHEMA_REL, github_schema

    schema = github_schema()
    if schema is None:
        need("corpus", f"GitHub's GraphQL schema not in the corpus ({corpus / SCHEMA_REL})")
    return schema


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def pull(n: int, *, author: str = "carol", merged: bool = True) -> dict:
    return {"number": n, "title": f"PR {n}", "user": {"login": author, "type": "User"},
            "state": "closed", "body": "", "base": {"ref": "main"}, "head": {"ref": f"b{n}"},
            "created_at": "2024-03-01T00:00:00Z", "updated_at": f"2024-03-{1 + n % 28:02d}T"
            f"{n % 24:02d}:00:00Z", "closed_at": "2024-03-05T00:00:00Z",
            "merged_at": "2024-03-05T00:00:00Z" if merged else None,
            "merge_commit_sha": f"m{n}", "html_url": f"https://github.com/acme/web/pull/{n}"}


def commit(date: str) -> dict:
    return {"sha": date, "commit": {"author": {"date": date}}}


def review(login: str, at: str | None, state: str = "APPROVED", bot: bool = False) -> dict:
    return {"user": {"login": login, "type": "Bot" if bot else "User"}, "state": state,
            "submitted_at": at}


def many(gh: FakeGitHub, count: int) -> None:
    gh.pulls = [pull(n) for n in range(1, count + 1)]
    gh.pull_details = {n: {"additions": n, "deletions": 1, "changed_files": 2}
                       for n in range(1, count + 1)}
    gh.pull_commits = {n: [commit("2024-03-02T00:00:00Z"), commit("2024-02-28T00:00:00Z")]
                       for n in range(1, count + 1)}
    gh.pull_reviews = {n: [review("alice", "2024-03-03T00:00:00Z")] for n in range(1, count + 1)}


def go(engine, gh, token="t0ken", clock=None, **kw):
    return sync_repos(settings(**kw), engine, Progress("github", terminal=False), ["acme/web"],
                      api_url=gh.base_url, clock=clock or FakeClock(NOW), token=token,
                      token_env="GITHUB_TOKEN")


def stored(engine) -> dict[int, object]:
    with engine.connect() as conn:
        return {r.number: r for r in conn.execute(select(schema.pull_requests))}


def graphql_posts(gh: FakeGitHub) -> list[dict]:
    return [b for b in gh.graphql if "pullRequest" in b["query"]]


CONNECTOR_QUERIES = (details_query([1, 2, 3]), COMMITS_MORE, REVIEWS_MORE, ISSUE_COUNT_QUERY,
                     counts_query(2))


def test_every_query_the_connector_sends_is_valid_for_githubs_schema(public_schema):
    from tests.github_graphql import validation_errors

    for query in CONNECTOR_QUERIES:
        assert validation_errors(query, public_schema) == []
    # the check can fail: a field GitHub's PullRequest does not have
    assert validation_errors(details_query([1]).replace("changedFiles", "filesChanged"),
                             public_schema)


def test_the_subset_executes_every_query_the_connector_sends():
    """Runs without the corpus: the fake's subset holds what every query touches."""
    from tests.github_graphql import subset_schema, validation_errors

    for query in CONNECTOR_QUERIES:
        assert validation_errors(query, subset_schema()) == []
    assert validation_errors(details_query([1]).replace("changedFiles", "filesChanged"),
                             subset_schema())


def test_the_subset_agrees_with_githubs_schema(public_schema):
    """Every type, field, argument, interface and enum value in
    tests/github_graphql_subset.graphql is GitHub's, with GitHub's type."""
    from graphql import build_schema

    from tests.github_graphql import subset_disagreements, subset_schema

    assert subset_disagreements(public_schema, subset_schema()) == []
    # the check can fail: a field GitHub does not have, a loosened type, a made-up enum
    # value, an argument GitHub requires left out
    invented = build_schema("""
        type Query { repository(owner: String!): Repository  rateLimit: RateLimit }
        type Repository { pullRequest(number: Int!): PullRequest }
        type PullRequest { number: Int  filesChanged: Int! }
        type RateLimit { cost: Int! }
        enum PullRequestReviewState { APPROVED  MERGED }
    """)
    assert sorted(subset_disagreements(public_schema, invented)) == [
        "PullRequest.filesChanged: not in GitHub's schema",
        "PullRequest.number: Int, GitHub's is Int!",
        "Query.repository(name:): required by GitHub, missing here",
        "enum PullRequestReviewState: value MERGED is not GitHub's",
    ]


def test_the_fake_refuses_a_field_github_does_not_have():
    """With or without the corpus, the fake answers as GitHub does: errors, no data."""
    from tests.github_graphql import execute

    gh = FakeGitHub()
    many(gh, 1)
    ok = execute(details_query([1]), {"owner": "acme", "name": "web"}, {"acme/web": gh})
    assert ok["data"]["repository"]["pr1"]["changedFiles"] == 2
    bad = execute(details_query([1]).replace("changedFiles", "filesChanged"),
                  {"owner": "acme", "name": "web"}, {"acme/web": gh})
    assert "data" not in bad
    assert any("filesChanged" in e["message"] for e in bad["errors"])


def test_with_the_corpus_the_fake_checks_githubs_schema_first(public_schema, monkeypatch):
    """Each query the fake receives is validated against GitHub's full schema; a field GitHub
    has but the subset lacks is refused with a message saying the subset needs it."""
    import tests.github_graphql as gg
    from tests.github_graphql import execute, validation_errors

    gh = FakeGitHub()
    many(gh, 1)
    seen: list = []

    def recording(query, schema=None):
        seen.append(schema)
        return validation_errors(query, schema)

    monkeypatch.setattr(gg, "validation_errors", recording)
    execute(details_query([1]), {"owner": "acme", "name": "web"}, {"acme/web": gh})
    assert seen and seen[0] is public_schema
    query = details_query([1]).replace("  changedFiles\n", "  changedFiles\n  title\n")
    assert validation_errors(query, public_schema) == []
    answer = execute(query, {"owner": "acme", "name": "web"}, {"acme/web": gh})
    assert "data" not in answer
    assert any("title" in e["message"] and "github_graphql_subset.graphql" in e["message"]
               for e in answer["errors"])


def test_details_of_250_pull_requests_in_three_queries(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 250)
    written = go(sqlite_engine, gh)
    # 100 + 100 + 50 pull requests; no REST request per pull request
    assert [b["query"].count("pullRequest(number:") for b in graphql_posts(gh)] == [100, 100, 50]
    assert not [p for p in gh.paths() if "/pulls/" in p]
    assert written["pull_details"] == 250
    rows = stored(sqlite_engine)
    assert len(rows) == 250
    pr = rows[137]
    assert (pr.additions, pr.deletions, pr.changed_files, pr.merge_sha) == (137, 1, 2, "m137")
    assert pr.first_commit_at == utc("2024-02-28T00:00:00Z")  # the earlier of the two
    assert (pr.first_review_at, pr.review_count) == (utc("2024-03-03T00:00:00Z"), 1)
    with sqlite_engine.connect() as conn:
        run = conn.execute(select(schema.sync_runs)).first()
    assert run.outcome == "success"


def test_own_and_bot_reviews_do_not_count_and_long_lists_are_followed(sqlite_engine,
                                                                       httpserver):
    gh = FakeGitHub().install(httpserver)
    gh.pulls = [pull(1, author="carol"), pull(2, merged=False)]
    gh.pull_details = {1: {"additions": 5, "deletions": 0, "changed_files": 1}}
    # 230 commits: the earliest is the last one, on the third page of 100
    gh.pull_commits = {1: [commit(f"2024-02-{1 + i % 27:02d}T10:00:00Z") for i in range(229)]
                       + [commit("2024-01-15T09:00:00Z")]}
    gh.pull_reviews = {1: [
        review("carol", "2024-03-01T08:00:00Z", "COMMENTED"),  # the author's own
        review("dependabot[bot]", "2024-03-01T09:00:00Z", bot=True),  # an app
        review("renovate", "2024-03-01T09:30:00Z", bot=True),
        review("dan", None, "PENDING"),  # not submitted
        *[review(f"r{i}", f"2024-03-0{2 + i % 3}T12:00:00Z", "COMMENTED") for i in range(120)],
    ]}
    go(sqlite_engine, gh)
    pr = stored(sqlite_engine)[1]
    assert pr.first_commit_at == utc("2024-01-15T09:00:00Z")
    # 120 reviews by others (r0 at 2 Mar 12:00 is the first); carol's, the bots' and the
    # pending one left out
    assert (pr.review_count, pr.first_review_at) == (120, utc("2024-03-02T12:00:00Z"))
    # only #1 is merged: one details query for it alone; then two more commit pages
    # (100 → 200 → 230) and one more review page (100 → 124), each naming pullRequest once
    posts = graphql_posts(gh)
    assert [b["query"].count("pullRequest(number:") for b in posts] == [1, 1, 1, 1]
    assert sum("commits(first: 100, after: $after)" in b["query"] for b in posts) == 2
    assert sum("reviews(first: 100, after: $after)" in b["query"] for b in posts) == 1
    assert stored(sqlite_engine)[2].review_count is None  # not merged: no details


def test_a_502_is_retried(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 3)
    gh.fail_next("graphql", 502, body=b"<html>502 Bad Gateway</html>")
    clock = FakeClock(NOW)
    go(sqlite_engine, gh, clock=clock)
    assert all(r.review_count == 1 for r in stored(sqlite_engine).values())
    assert len([p for p in gh.paths() if p == "/graphql"]) == 2  # the 502, then the answer


def test_rate_limited_in_a_200_answer_waits_for_the_reset(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 3)
    gh.fail_next("graphql", 200, headers={"X-RateLimit-Remaining": "0",
                                          "X-RateLimit-Reset": str(int(NOW) + 600),
                                          "X-RateLimit-Resource": "graphql"},
                 body={"errors": [{"type": "RATE_LIMITED",
                                   "message": "API rate limit exceeded for user ID 1."}]})
    clock = FakeClock(NOW)
    go(sqlite_engine, gh, clock=clock)
    assert 601 in clock.sleeps  # until the reset, plus a second's margin
    assert all(r.review_count == 1 for r in stored(sqlite_engine).values())


def test_rate_limited_past_max_wait_stops_with_one_line(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 3)
    gh.fail_next("graphql", 200, headers={"X-RateLimit-Reset": str(int(NOW) + 7200)},
                 body={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]})
    with pytest.raises(Exception) as err:
        go(sqlite_engine, gh, max_wait=900.0)
    assert "GraphQL rate limit used up" in str(err.value) and "--max-wait" in str(err.value)
    assert "\n" not in str(err.value)
    assert len(stored(sqlite_engine)) == 3  # the listing was stored all the same


def test_a_timed_out_query_is_asked_again_smaller(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 120)
    gh.graphql_max_batch = 30  # GitHub gives up on more than 30 at a time
    go(sqlite_engine, gh)
    sizes = [b["query"].count("pullRequest(number:") for b in graphql_posts(gh)]
    # 100 times out, 50 times out, 25 passes — and the rest go by 25 too
    assert sizes == [100, 50, 25, 25, 25, 25, 20]
    assert sum(1 for r in stored(sqlite_engine).values() if r.review_count == 1) == 120


def test_a_query_timing_out_for_one_pull_request_stops_with_one_line(sqlite_engine,
                                                                      httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 2)
    gh.graphql_max_batch = 0
    with pytest.raises(BadResponse) as err:
        go(sqlite_engine, gh)
    assert "timed out on pull request #1 of acme/web alone" in str(err.value)


def test_a_secondary_limit_is_waited_out(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 3)
    gh.fail_next("graphql", 403, headers={"Retry-After": "42"},
                 body={"message": "You have exceeded a secondary rate limit."})
    clock = FakeClock(NOW)
    go(sqlite_engine, gh, clock=clock)
    assert 42 in clock.sleeps
    assert all(r.review_count == 1 for r in stored(sqlite_engine).values())


def test_points_running_out_wait_for_reset_before_the_next_query(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 250)
    # 3 points left: the first query (100 PRs, 2 points) leaves 1, too few for the next
    # 100 (2 points): wait until resetAt (5 minutes on), then go on
    gh.graphql_remaining = 3
    gh.graphql_reset_at = "2024-06-01T00:05:00Z"
    clock = FakeClock(NOW)
    go(sqlite_engine, gh, clock=clock)
    assert clock.sleeps == [301]
    assert sum(1 for r in stored(sqlite_engine).values() if r.review_count == 1) == 250


def test_anonymous_sync_reads_details_by_rest(sqlite_engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    many(gh, 2)
    sync_repos(settings(), sqlite_engine, Progress("github", terminal=False), ["acme/web"],
               api_url=gh.base_url, clock=FakeClock(NOW), token=None, token_env="NO_SUCH_ENV")
    assert not graphql_posts(gh)  # GraphQL needs a token
    assert "/repos/acme/web/pulls/1/commits" in gh.paths()
    assert stored(sqlite_engine)[2].review_count == 1


def test_enterprise_server_details_go_to_api_graphql(sqlite_engine, httpserver):
    gh = FakeGitHub(prefix="/api/v3").install(httpserver)
    many(gh, 2)
    go(sqlite_engine, gh)
    assert "/api/graphql" in gh.paths() and "/graphql" not in gh.paths()
    assert stored(sqlite_engine)[1].review_count == 1
