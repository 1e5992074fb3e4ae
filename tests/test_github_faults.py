"""Scripted faults against the fake GitHub: what the connector asks, how long it waits (on the
injected clock — instantly), what it tells the user, and that stored data survives."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from net.http import AuthError, ConnectionFailed, NotFound, PermissionDenied, RateLimited
from data import schema
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue
from tests.test_github_sync import NOW, settings, sync


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    fake.issues = [issue(n, f"2024-03-0{n}T00:00:00Z") for n in (1, 2, 3)]
    return fake


def work_item_ids(engine):
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.id)).scalars())


def last_run(engine):
    with engine.connect() as conn:
        return conn.execute(select(schema.sync_runs).order_by(schema.sync_runs.c.id.desc())
                            ).first()


def issue_requests(gh):
    return [(p, q) for p, q, _h in gh.log if p.endswith("/issues")]


def test_502_then_success_is_retried(engine, gh):
    gh.fail_next("/issues", 502, body={"message": "Server Error"})
    clock = FakeClock(NOW)
    sync(engine, gh, clock=clock)
    assert len(work_item_ids(engine)) == 3
    assert len(issue_requests(gh)) == 2  # the 502, then the page
    assert clock.sleeps and all(s < 60 for s in clock.sleeps)  # urllib3 backoff, on our clock
    assert last_run(engine).outcome == "success"


def test_secondary_limit_honours_retry_after(engine, gh, capsys):
    gh.fail_next("/issues", 403, {"Retry-After": "60"},
                 {"message": "You have exceeded a secondary rate limit."})
    clock = FakeClock(NOW)
    sync(engine, gh, clock=clock)
    assert clock.sleeps == [60.0]
    assert "github: rate limited — waiting 60 s, then resuming" in capsys.readouterr().err
    assert len(issue_requests(gh)) == 2
    assert len(work_item_ids(engine)) == 3


def test_secondary_limit_without_retry_after_backs_off_from_a_minute(engine, gh):
    gh.fail_next("/issues", 403, body={"message": "You have exceeded a secondary rate limit"})
    gh.fail_next("/issues", 429, body={"message": "slow down"})
    clock = FakeClock(NOW)
    sync(engine, gh, clock=clock)
    assert clock.sleeps == [60.0, 120.0]  # 60 s, then doubled
    assert len(work_item_ids(engine)) == 3


def test_primary_limit_waits_until_reset(engine, gh):
    reset = int(NOW) + 120
    gh.fail_next("/issues", 403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
                 {"message": "API rate limit exceeded for user ID 1."})
    clock = FakeClock(NOW)
    sync(engine, gh, clock=clock)
    assert clock.sleeps == [121.0]  # reset − now = 120 s, plus one second of margin
    assert len(work_item_ids(engine)) == 3


def test_primary_limit_beyond_max_wait_stops_with_a_clear_message(engine, gh):
    sync(engine, gh)  # a first sync stores three items
    gh.issues.append(issue(4, "2024-03-09T00:00:00Z"))
    reset = int(NOW) + 3600
    gh.fail_next("/issues", 403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
                 {"message": "API rate limit exceeded"})
    clock = FakeClock(NOW)
    with pytest.raises(RateLimited) as err:
        sync(engine, gh, clock=clock, max_wait=600)
    assert "3601 s" in str(err.value) and "--max-wait 600" in str(err.value)
    assert clock.sleeps == []
    assert len(work_item_ids(engine)) == 3  # what the first sync stored is intact
    run = last_run(engine)
    assert run.outcome == "failed" and "rate limited" in run.error


def test_remaining_zero_on_a_success_waits_before_the_next_request(engine, gh):
    gh.remaining = 0
    gh.reset_epoch = int(NOW) + 30
    clock = FakeClock(NOW)
    sync(engine, gh, clock=clock)
    # after the first answer says 0 left, the next request waits for the reset (30 s + 1 s);
    # the fake's reset then lies in the past, so no further waits are needed
    assert clock.sleeps[0] == 31.0
    assert len(work_item_ids(engine)) == 3


def test_truncated_json_body_is_fetched_again(engine, gh):
    gh.fail_next("/issues", 200, body=b'[{"number": 1, "title": "cut')
    clock = FakeClock(NOW)
    sync(engine, gh, clock=clock)
    assert len(issue_requests(gh)) == 2
    assert len(work_item_ids(engine)) == 3


def test_401_names_the_variable_to_set(engine, gh):
    gh.fail_next("/milestones", 401, body={"message": "Bad credentials"})
    with pytest.raises(AuthError) as err:
        sync(engine, gh)
    assert "set GITHUB_TOKEN to a valid token" in str(err.value)
    assert work_item_ids(engine) == []
    assert last_run(engine).error == str(err.value)


def test_403_without_rate_limit_signals_is_a_permission_error(engine, gh):
    gh.fail_next("/milestones", 403, body={"message": "Resource not accessible by integration"})
    clock = FakeClock(NOW)
    with pytest.raises(PermissionDenied) as err:
        sync(engine, gh, clock=clock)
    assert "permission denied (403)" in str(err.value)
    assert clock.sleeps == []  # not mistaken for a rate limit


def test_404_says_the_repository_is_missing_or_invisible(engine, gh):
    with pytest.raises(NotFound) as err:
        from connectors.github.cli import sync_repos
        from connectors.progress import Progress

        sync_repos(settings(), engine, Progress("github", terminal=False), ["acme/nope"],
                   api_url=gh.base_url, clock=FakeClock(NOW), token="x", token_env="GH_PAT")
    msg = str(err.value)
    assert "repository acme/nope not found" in msg and "GH_PAT" in msg
    assert "\n" not in msg


def test_connection_refused(engine):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from connectors.github.cli import sync_repos
    from connectors.progress import Progress

    clock = FakeClock(NOW)
    with pytest.raises(ConnectionFailed) as err:
        sync_repos(settings(), engine, Progress("github", terminal=False), ["acme/web"],
                   api_url=f"http://127.0.0.1:{port}", clock=clock, token="x",
                   token_env="GITHUB_TOKEN")
    assert "connection refused" in str(err.value)
    assert len(clock.sleeps) == 4  # retried with backoff on the injected clock first
    assert last_run(engine).outcome == "failed"


def test_failed_run_keeps_data_and_the_next_run_resumes(engine, gh):
    gh.issues = [issue(n, f"2024-03-{n:02d}T00:00:00Z") for n in range(1, 6)]
    s = settings(per_page=2)
    from connectors.github.cli import sync_repos
    from connectors.progress import Progress

    def go():
        return sync_repos(s, engine, Progress("github", terminal=False), ["acme/web"],
                          api_url=gh.base_url, clock=FakeClock(NOW), token="x",
                          token_env="GITHUB_TOKEN")

    gh.fail_next("/repositories/1000/issues", 401, body={"message": "Bad credentials"})
    with pytest.raises(AuthError):
        go()
    # page 1 (#1, #2) was committed with its cursor before page 2 failed
    assert work_item_ids(engine) == ["github:issue:acme/web#1", "github:issue:acme/web#2"]
    gh.clear_log()
    go()
    assert len(work_item_ids(engine)) == 5
    first_issue_query = issue_requests(gh)[0][1]
    assert first_issue_query["since"] == "2024-03-02T00:00:00Z"  # resumed at page 1's newest


def test_merged_pr_deleted_before_its_detail_is_fetched(engine, gh):
    gh.pulls = [{"number": 9, "title": "gone", "user": {"login": "x"}, "state": "closed",
                 "body": "", "base": {"ref": "main"}, "head": {"ref": "b"},
                 "created_at": "2024-03-01T00:00:00Z", "updated_at": "2024-03-02T00:00:00Z",
                 "closed_at": "2024-03-02T00:00:00Z", "merged_at": "2024-03-02T00:00:00Z",
                 "merge_commit_sha": "m9", "html_url": "h"}]
    gh.fail_next("/pulls/9", 404, body={"message": "Not Found"})
    sync(engine, gh)  # not mistaken for a missing repository
    with engine.connect() as conn:
        pr = conn.execute(select(schema.pull_requests)).one()
    assert (pr.merge_sha, pr.review_count, pr.first_commit_at) == ("m9", 0, None)
    assert last_run(engine).outcome == "success"
