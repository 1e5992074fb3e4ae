"""Scripted faults against the fake GitLab: what the connector asks again, how long it waits
(on the injected clock — instantly), the one line it prints, and that stored data survives."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from data import schema
from net.http import AuthError, BadResponse, NotFound, OffHost, PermissionDenied, RateLimited
from tests.fake_clock import FakeClock
from tests.gitlab_server import FakeGitLab, Project
from tests.test_gitlab_sync import NOW, PATH, PID, issue, populate, settings, sync


@pytest.fixture
def gl(httpserver):
    fake = FakeGitLab(prefix="/gitlab").install(httpserver)
    populate(fake.add(Project(PID, PATH)))
    return fake


def item_ids(engine):
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.id)).scalars())


def last_run(engine):
    with engine.connect() as conn:
        return conn.execute(select(schema.sync_runs).order_by(schema.sync_runs.c.id.desc())
                            ).first()


def asked(gl, suffix):
    return [q for p, q, _h in gl.log if p.endswith(suffix)]


def test_429_with_a_plain_text_body_waits_retry_after(engine, gl, capsys):
    gl.fail_next("/42/issues", 429, {"Retry-After": "30"}, b"Retry later\n")
    clock = FakeClock(NOW)
    sync(engine, gl, clock=clock)
    assert clock.sleeps == [30.0]
    assert "gitlab: rate limited — waiting 30 s, then resuming" in capsys.readouterr().err
    assert len(asked(gl, "/42/issues")) == 2  # the 429, then the page
    assert len(item_ids(engine)) == 3


def test_429_without_retry_after_waits_until_ratelimit_reset(engine, gl):
    gl.fail_next("/42/merge_requests", 429, {"RateLimit-Reset": str(int(NOW) + 45)},
                 b"Rate limit exceeded; see https://docs.gitlab.com/")
    clock = FakeClock(NOW)
    sync(engine, gl, clock=clock)
    assert clock.sleeps == [45.0]
    assert last_run(engine).outcome == "success"


def test_429_past_max_wait_stops_with_one_line_and_keeps_what_was_stored(engine, gl):
    gl.fail_next("/42/merge_requests", 429, {"Retry-After": "3600"}, b"Retry later")
    with pytest.raises(RateLimited) as err:
        sync(engine, gl, settings_=settings(max_wait=60))
    message = str(err.value)
    assert message.startswith("gitlab: rate limited; the next wait would be 3600 s, more than "
                              "--max-wait 60 s")
    assert "\n" not in message
    assert len(item_ids(engine)) == 3  # issues were committed before the limit
    run = last_run(engine)
    assert (run.outcome, run.error) == ("failed", message)
    # the issue cursor moved with them: the rerun does not read them again
    gl.log.clear()
    sync(engine, gl)
    assert not any("/resource_state_events" in p for p in gl.paths())


def test_502_is_retried(engine, gl):
    gl.fail_next("/42/pipelines", 502, body=b"<html>502 Bad Gateway</html>")
    clock = FakeClock(NOW)
    sync(engine, gl, clock=clock)
    assert len(asked(gl, "/42/pipelines")) == 3  # the 502, the page, the child pipelines
    assert clock.sleeps and all(s < 60 for s in clock.sleeps)
    with engine.connect() as conn:
        assert len(conn.execute(select(schema.pipeline_runs)).all()) == 4


def test_a_truncated_page_is_fetched_again(engine, gl):
    gl.fail_next("/42/merge_requests", 200, {"Content-Type": "application/json"},
                 b'[{"id": 7007, "iid": 7, "title": "Fix')
    sync(engine, gl)
    assert len(asked(gl, "/42/merge_requests")) == 2
    with engine.connect() as conn:
        assert len(conn.execute(select(schema.pull_requests)).all()) == 2


def test_a_page_of_the_wrong_shape_is_one_line(engine, gl):
    gl.fail_next("/42/deployments", 200, {"Content-Type": "application/json"},
                 {"message": "not a list"})
    with pytest.raises(BadResponse) as err:
        sync(engine, gl)
    assert str(err.value) == ("gitlab: malformed answer in page 1 of /projects/42/deployments: "
                              "expected a list, got an object — stored data is intact; rerun, "
                              "and report it if it persists")
    assert len(item_ids(engine)) == 3


def test_401_names_the_variable(engine, gl):
    with pytest.raises(AuthError) as err:
        sync(engine, gl, token="glpat-wrong-token-000")
    assert str(err.value) == ("gitlab: the server rejected the credentials (401) — set "
                              "GITLAB_TOKEN to a valid token")
    assert "glpat-wrong" not in last_run(engine).error


def test_404_names_the_project_and_the_variable(engine, gl):
    with pytest.raises(NotFound) as err:
        sync(engine, gl, projects=("acme/nope",))
    host = gl.url.split("//")[1].split("/")[0]
    assert str(err.value) == (f"gitlab: project acme/nope not found on {host}, or not visible "
                              "to this token (404) — check --project and GITLAB_TOKEN")


def test_403_names_the_permission(engine, gl):
    gl.fail_next("/42/pipelines", 403, {"Content-Type": "application/json"},
                 {"message": "403 Forbidden"})
    with pytest.raises(PermissionDenied) as err:
        sync(engine, gl)
    message = str(err.value)
    assert message.startswith(f"gitlab: {PATH}: permission denied (403) at page 1 of "
                              "/projects/42/pipelines — the token needs the read_api scope")
    assert message.endswith("(set GITLAB_TOKEN)")


def test_one_failing_project_does_not_stop_the_next(engine, gl, capsys):
    other = gl.add(Project(43, "acme/web/site"))
    other.issues = [issue(1, "2024-03-01T00:00:00Z")]
    with pytest.raises(NotFound):
        sync(engine, gl, projects=("acme/missing", "acme/web/site"))
    assert "gitlab:issue:43#1" in item_ids(engine)
    assert "acme/missing" in capsys.readouterr().err


def test_a_redirect_to_another_host_is_not_followed(engine, gl):
    gl.redirects["acme%2Fplatform%2Fapi"] = "42"
    gl.fail_next("acme%2Fplatform%2Fapi", 301,
                 {"Location": "https://elsewhere.example/api/v4/projects/42"})
    with pytest.raises(OffHost) as err:
        sync(engine, gl)
    assert "elsewhere.example" in str(err.value)
    assert item_ids(engine) == []


def test_a_failing_event_list_names_itself_and_stores_nothing_of_its_page(engine, gl):
    gl.fail_next("/issues/2/resource_label_events", 403, {"Content-Type": "application/json"},
                 {"message": "403 Forbidden"})
    with pytest.raises(PermissionDenied) as err:
        sync(engine, gl)
    assert str(err.value).startswith(
        f"gitlab: {PATH}: permission denied (403) at /projects/42/issues/2/"
        "resource_label_events — the token needs the read_api scope")
    assert item_ids(engine) == []  # the page's transaction never ran; the cursor did not move
    gl.log.clear()
    sync(engine, gl)  # the rerun reads the page again
    assert len(item_ids(engine)) == 3


def test_a_429_on_an_event_list_is_waited_out(engine, gl):
    gl.fail_next("/issues/3/resource_state_events", 429, {"Retry-After": "7"}, b"Retry later")
    clock = FakeClock(NOW)
    sync(engine, gl, clock=clock)
    assert 7.0 in clock.sleeps
    assert len(item_ids(engine)) == 3
