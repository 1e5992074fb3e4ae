"""Incremental rules: runs in created windows under the result cap, pulls and issue events read
newest first down to the watermark, and GitHub Enterprise Server URLs."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from connectors.github import fetch
from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue, run
from tests.test_github_sync import NOW, settings


def go(engine, gh, **github):
    return sync_repos(settings(**github), engine, Progress("github", terminal=False),
                      ["acme/web"], api_url=gh.base_url, clock=FakeClock(NOW), token="t",
                      token_env="GITHUB_TOKEN")


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def pull(number: int, updated: str) -> dict:
    return {"number": number, "title": f"PR {number}", "user": {"login": "x"}, "state": "open",
            "body": "", "base": {"ref": "main"}, "head": {"ref": f"b{number}"},
            "created_at": "2024-01-01T00:00:00Z", "updated_at": updated, "closed_at": None,
            "merged_at": None, "merge_commit_sha": "t", "html_url": "h"}


def test_runs_split_into_windows_under_the_cap(engine, httpserver, monkeypatch):
    monkeypatch.setattr(fetch, "RUNS_RESULT_CAP", 5)  # GitHub's is 1,000; 5 keeps this small
    gh = FakeGitHub().install(httpserver)
    # 12 runs, one a day from 1 to 12 May 2024
    gh.runs = [run(500 + d, f"2024-05-{d:02d}T12:00:00Z") for d in range(1, 13)]
    go(engine, gh, lookback_days=40)  # now = 1 June: the window starts 22 April
    assert count(engine, schema.pipeline_runs) == 12
    probes = over = 0
    for path, query, _h in gh.log:
        if not (path.endswith("/actions/runs") and "created" in query):
            continue
        created = query["created"]
        a, _, b = created.removeprefix(">=").partition("..")
        n = sum(1 for r in gh.runs if fetch.iso(datetime.fromisoformat(a)) <= r["created_at"]
                and (not b or r["created_at"] <= b))
        if n > 5:
            over += 1
            assert "page" not in query  # a window over the cap is only probed, never paged
        else:
            probes += 1
    # ≥22 Apr (12 runs) → 22 Apr..12 May (11: split) → 22 Apr..2 May (1) and 2..12 May
    # (10: split) → 2..7 May (5) and 7..12 May (5); then ≥12 May (1), the open window
    assert (over, probes) == (3, 4)
    with engine.connect() as conn:
        cursor = conn.execute(select(schema.sync_state.c.cursor).where(
            schema.sync_state.c.resource == "runs")).scalar()
    assert cursor == "2024-05-12T12:00:00Z"  # the newest run: the next sync starts there


def test_pulls_are_read_down_to_the_watermark(engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    gh.pulls = [pull(n, f"2024-03-{n:02d}T00:00:00Z") for n in range(1, 8)]
    go(engine, gh, per_page=2)
    assert count(engine, schema.pull_requests) == 7
    gh.pulls[2] = pull(3, "2024-04-01T00:00:00Z")  # one PR changed
    gh.clear_log()
    go(engine, gh, per_page=2)
    asked = [q.get("page", "1") for p, q, _h in gh.log if p.endswith("/pulls")]
    # newest first: page 1 holds #3 (changed) and #7 (the watermark, inclusive); page 2
    # (#6, #5) is older than the watermark, so the walk stops there — pages 3 and 4 unread
    assert asked == ["1", "2"]
    with engine.connect() as conn:
        title_updated = conn.execute(select(schema.pull_requests.c.updated_at).where(
            schema.pull_requests.c.number == 3)).scalar()
    assert title_updated == datetime(2024, 4, 1, tzinfo=timezone.utc)


def test_issue_events_stop_at_the_watermark(engine, httpserver):
    gh = FakeGitHub().install(httpserver)
    gh.issues = [issue(1, "2024-03-01T00:00:00Z")]
    gh.events = [{"id": n, "event": "labeled", "label": {"name": f"l{n}"},
                  "created_at": f"2024-03-{n:02d}T00:00:00Z", "issue": {"number": 1}}
                 for n in range(1, 8)]
    go(engine, gh, per_page=2)
    assert count(engine, schema.work_item_changes) == 7
    gh.events.append({"id": 8, "event": "unlabeled", "label": {"name": "l1"},
                      "created_at": "2024-03-20T00:00:00Z", "issue": {"number": 1}})
    gh.clear_log()
    go(engine, gh, per_page=2)
    pages = [q.get("page", "1") for p, q, _h in gh.log if p.endswith("/issues/events")]
    # page 1 = #8 (new) and #7 (watermark, inclusive); page 2 (#6, #5) is all older: stop
    assert pages == ["1", "2"]
    assert count(engine, schema.work_item_changes) == 8


def test_enterprise_server_api_url(engine, httpserver):
    gh = FakeGitHub(prefix="/api/v3").install(httpserver)
    gh.issues = [issue(n, f"2024-03-0{n}T00:00:00Z") for n in range(1, 6)]
    go(engine, gh, per_page=2)
    assert count(engine, schema.work_items) == 5
    issue_paths = [p for p, _q, _h in gh.log if p.endswith("/issues")]
    assert issue_paths == ["/api/v3/repos/acme/web/issues", "/api/v3/repositories/1000/issues",
                           "/api/v3/repositories/1000/issues"]
