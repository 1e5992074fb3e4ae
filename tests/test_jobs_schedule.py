"""``python -m jobs schedule`` (issue 15, part 2): a round syncs every configured source
(here a real local GitHub server), takes one readiness snapshot per upcoming release per day
and reports notifications; failures back off; nothing configured idles with one line.
The clock, the sleep and the jitter are injected: no test waits out a schedule."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from data import schema
from data.config import parse_settings
from data.store import get_engine
from jobs.schedule import Scheduler
from tests.github_server import FakeGitHub, issue, milestone

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ghp_" + "FAKEtoken1234567890abcdefSCHED"


def _fake(httpserver) -> FakeGitHub:
    gh = FakeGitHub().install(httpserver)
    m = milestone(1, "v1.0", due="2030-01-01T00:00:00Z")
    gh.milestones = [m]
    gh.issues = [issue(1, "2024-03-01T00:00:00Z", title="first", milestone=m)]
    return gh


def _schedule(tmp_path, url, config, *args):
    (tmp_path / "readiness.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG",)}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=url, GITHUB_TOKEN=TOKEN,
               SHIPREADY_SECRETS=str(tmp_path / "none.toml"))
    return subprocess.run([sys.executable, "-m", "jobs", "schedule", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)


def _lines(out: str) -> list[str]:
    """Log lines without their timestamp (``YYYY-MM-DD HH:MM:SS UTC ``)."""
    return [line[24:] for line in out.splitlines()]


def test_once_syncs_snapshots_once_a_day_and_exits_0(db_url, tmp_path, httpserver):
    gh = _fake(httpserver)
    config = f'[github]\nrepos = ["acme/web"]\napi_url = "{gh.base_url}"\n'
    first = _schedule(tmp_path, db_url, config, "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    lines = _lines(first.stdout)
    # one line per source, snapshots, notifications, derived views
    assert len(lines) == 4, lines
    assert lines[0].startswith("github: ok — ") and "issues 1" in lines[0]
    assert lines[1:3] == ["snapshots: 1 of 1 upcoming releases evaluated",
                          "notifications: not configured"]
    # GitHub alone has no sprint: Delivery's and Quality's views, not velocity.
    assert lines[3].startswith("derived views: 2 of 2 stored ("), lines[3]
    # The same day again: synced again, no second snapshot of the milestone; the sync wrote
    # (the data version moved), so the views are derived again.
    second = _schedule(tmp_path, db_url, config, "--once")
    assert second.returncode == 0, second.stderr
    assert [line.split(" — ")[0].split(" (")[0] for line in _lines(second.stdout)] == [
        "github: ok", "notifications: not configured", "derived views: 2 of 2 stored"]
    eng = get_engine(db_url)
    with eng.connect() as conn:
        snaps = conn.execute(select(schema.readiness_snapshots.c.release_id)).scalars().all()
        runs = conn.execute(select(func.count()).select_from(schema.sync_runs)).scalar()
    eng.dispose()
    assert snaps == ["github:milestone:acme/web#1"]
    assert runs == 2
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr


def test_once_exits_1_when_a_source_failed(sqlite_url, tmp_path, httpserver):
    gh = _fake(httpserver)
    gh.fail_next("/repos/acme/web/milestones", 401)
    config = f'[github]\nrepos = ["acme/web"]\napi_url = "{gh.base_url}"\n'
    res = _schedule(tmp_path, sqlite_url, config, "--once")
    assert res.returncode == 1, res.stdout + res.stderr
    line = _lines(res.stdout)[0]
    assert line.startswith("github: failed — github: the server rejected the credentials (401)")
    assert line.endswith("; next try in 30 min (1 in a row)")
    assert TOKEN not in res.stdout + res.stderr


def test_nothing_configured_idles_with_one_line(sqlite_url, tmp_path):
    res = _schedule(tmp_path, sqlite_url, "", "--once")
    assert res.returncode == 0, res.stderr
    assert _lines(res.stdout) == [
        "sync: no source is configured in readiness.toml — idling; add [github], [gitlab], "
        "[jira] or [jenkins] (see readiness.toml.example)", "notifications: not configured"]
    # Over several rounds in process: still those two lines, and a wait between rounds.
    log, waits = [], []
    eng = get_engine(sqlite_url)
    Scheduler(eng, lambda: parse_settings({}, None), every=60, log=log.append,
              sleep=waits.append).run(rounds=3)
    eng.dispose()
    assert len(log) == 2 and len(waits) == 2


class _Rand:
    """Jitter pinned to the edges: uniform(a, b) gives b, then a, alternately."""

    def __init__(self):
        self.calls = 0

    def uniform(self, a, b):
        self.calls += 1
        return b if self.calls % 2 else a


def test_failures_back_off_and_waits_jitter(sqlite_url, httpserver):
    gh = _fake(httpserver)
    for _ in range(10):
        gh.fail_next("/repos/acme/web/milestones", 401)
    settings = parse_settings({"github": {"repos": ["acme/web"], "api_url": gh.base_url}},
                              None)
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    clock = [t0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    log: list[str] = []
    eng = get_engine(sqlite_url)
    sched = Scheduler(eng, lambda: settings, every=100, clock=lambda: clock[0], sleep=sleep,
                      rand=_Rand(), log=log.append)
    sched.notify_step = lambda s, r: None
    sched.snapshot_step = lambda s, r: None
    sched.derive_step = lambda s, r: None
    sched.run(rounds=5)
    eng.dispose()
    # every 100 s ± 10 %: 110, 90, 110, 90
    assert waits == [110.0, 90.0, 110.0, 90.0]
    # t0: fails (1) → next try t0+100.  t0+110: fails (2) → next t0+110+200 = t0+310.
    # t0+200: backing off.  t0+310: fails (3) → next t0+310+400 = t0+710.  t0+400: backing off.
    outcome = [line.split(" — ")[0].split(";")[0] for line in log]
    assert outcome == ["github: failed", "github: failed",
                       "github: backing off after 2 failed rounds",
                       "github: failed", "github: backing off after 3 failed rounds"]
    assert log[1].endswith("next try in 3 min (2 in a row)")
    assert log[2].endswith("next try at 2026-03-02 12:05 UTC")
    assert log[4].endswith("next try at 2026-03-02 12:11 UTC")
    # The source recovers: one success clears the backoff.
    gh.faults.clear()
    clock[0] = t0 + timedelta(seconds=711)
    assert sched.round().sources == {"github": "ok"}
    assert sched.failures == {} and sched.next_try == {}


def test_the_notifications_step_posts_a_verdict_change_once(sqlite_url, monkeypatch, httpserver,
                                                            tmp_path):
    """Round 1 snapshots PAY 2.4 (NO-GO: an open critical bug) and the notifier, seeing it
    first, takes that as the verdict before: nothing due. The bug is fixed; round 2 (no new
    snapshot the same day) finds the verdict moved off NO-GO and posts it, once; round 3 has
    nothing left to send (tests/test_notify.py covers the messages themselves)."""
    from sqlalchemy import update

    from tests.test_notify import NOW, PATH, org

    monkeypatch.setenv("TEST_HOOK", httpserver.url_for(PATH))
    monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "no-secrets.toml"))
    httpserver.expect_request(PATH, method="POST").respond_with_data("ok")
    eng = get_engine(sqlite_url)
    org(eng)
    settings = parse_settings({"app": {"base_url": "https://ship.example"},
                               "notify": {"to": "slack", "webhook_env": "TEST_HOOK",
                                          "digest_days": 0}}, None)
    clock = [NOW]
    log: list[str] = []
    sched = Scheduler(eng, lambda: settings, clock=lambda: clock[0], log=log.append)
    sched.derive_step = lambda s, r: None  # its own test: tests/test_derived_views.py
    sched.round()
    assert log[-1] == "notifications: none due" and not httpserver.log
    with eng.begin() as conn:
        conn.execute(update(schema.work_items).values(
            status="done", status_category="done", resolved_at=NOW - timedelta(hours=2),
            resolution_category="delivered"))
    clock[0] = NOW + timedelta(hours=1)
    sched.round()
    assert log[-1] == "notifications: 1 sent" and len(httpserver.log) == 1
    clock[0] = NOW + timedelta(hours=2)
    sched.round()
    assert log[-1] == "notifications: none due" and len(httpserver.log) == 1
    eng.dispose()


def test_sigterm_stops_the_scheduler_and_frees_its_leases(sqlite_url, tmp_path, httpserver):
    import signal

    from connectors.frame.lease import lease_rows

    gh = _fake(httpserver)
    (tmp_path / "readiness.toml").write_text(
        f'[github]\nrepos = ["acme/web"]\napi_url = "{gh.base_url}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG",)}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=sqlite_url, GITHUB_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "jobs", "schedule", "--every", "3600"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the first round has synced github
        assert "github: ok" in first, first
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert _lines(_out)[-1] == "scheduler stopped"
    eng = get_engine(sqlite_url)
    assert lease_rows(eng) == {}
    eng.dispose()
