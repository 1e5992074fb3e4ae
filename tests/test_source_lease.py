"""One sync per source at a time (issue 15, part 2): a lease row with a heartbeat, held by one
real process while a second one — the real command line — is told who holds it, skips the
source and exits 0; a lease whose heartbeat stopped (its process killed) is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.frame.lease import LEASE_EXPIRES, LeaseHeld, SourceLease, lease_rows
from data import schema
from data.store import get_engine
from tests.github_server import FakeGitHub, issue

ROOT = Path(__file__).resolve().parent.parent

# A separate process that takes the github lease, says so on stdout, and holds it until killed.
HOLDER = """
import sys, time
from data.store import get_engine
from connectors.frame.lease import SourceLease
lease = SourceLease(get_engine(sys.argv[1]), "github", "scheduler pid X on test-host",
                    heartbeat_every=float(sys.argv[2]))
lease.__enter__()
print("held", flush=True)
time.sleep(600)
"""


def _env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG", "GITHUB_TOKEN")}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=url)
    return env


def _hold(url: str, beat: float = 0.2) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(beat)], env=_env(url),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_second_process_skips_a_source_another_one_is_syncing(db_url, tmp_path, httpserver):
    gh = FakeGitHub().install(httpserver)
    gh.issues = [issue(1, "2024-03-01T00:00:00Z", title="first")]
    holder = _hold(db_url)
    try:
        res = subprocess.run([sys.executable, "-m", "connectors", "sync", "github", "--repo",
                              "acme/web", "--api-url", gh.base_url], cwd=tmp_path,
                             env=_env(db_url), capture_output=True, text=True, timeout=120)
    finally:
        _kill(holder)
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert line.startswith("github: skipped — already being synced by scheduler pid X on "
                           "test-host since "), line
    assert gh.paths() == []  # nothing fetched
    eng = get_engine(db_url)
    with eng.connect() as conn:
        assert conn.execute(select(schema.sync_runs.c.id)).all() == []  # no run recorded
    # The holder was killed: its heartbeat stopped. Five minutes later (the lease's expiry,
    # the clock moved instead of waited) the next sync takes the source over.
    later = datetime.now(timezone.utc) + LEASE_EXPIRES + timedelta(seconds=5)
    lease = SourceLease(eng, "github", "cron pid 9 on test-host", now=lambda: later)
    with lease:
        assert lease.taken_over[0] == "scheduler pid X on test-host"
        assert lease_rows(eng)["github"]["holder"] == "cron pid 9 on test-host"
    assert lease_rows(eng) == {}  # let go on exit
    eng.dispose()


def test_the_command_line_syncs_once_the_lease_is_free(sqlite_url, tmp_path, httpserver):
    gh = FakeGitHub().install(httpserver)
    gh.issues = [issue(1, "2024-03-01T00:00:00Z", title="first")]
    res = subprocess.run([sys.executable, "-m", "connectors", "sync", "github", "--repo",
                          "acme/web", "--api-url", gh.base_url], cwd=tmp_path,
                         env=_env(sqlite_url), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "github: issues 1" in res.stdout
    eng = get_engine(sqlite_url)
    assert lease_rows(eng) == {}  # released after the sync
    eng.dispose()


def test_a_live_lease_is_never_taken_over(engine):
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    clock = [t0]
    first = SourceLease(engine, "jira", "scheduler A", now=lambda: clock[0])
    first.acquire()
    # 4 min 59 s after its last beat it is alive: a second one is refused, told who and since
    clock[0] = t0 + LEASE_EXPIRES - timedelta(seconds=1)
    with pytest.raises(LeaseHeld) as held:
        SourceLease(engine, "jira", "scheduler B", now=lambda: clock[0]).acquire()
    assert str(held.value) == ("jira: skipped — already being synced by scheduler A since "
                               "2026-03-02 12:00:00 UTC")
    # a beat at 12:04:59 keeps it alive for five more minutes
    assert first.renew()
    clock[0] = t0 + 2 * LEASE_EXPIRES - timedelta(seconds=2)
    with pytest.raises(LeaseHeld):
        SourceLease(engine, "jira", "scheduler B", now=lambda: clock[0]).acquire()
    # ten minutes after the last beat: expired, B takes it; A's renewal then fails
    clock[0] = t0 + 2 * LEASE_EXPIRES
    second = SourceLease(engine, "jira", "scheduler B", now=lambda: clock[0])
    second.acquire()
    assert second.taken_over == ("scheduler A", t0)
    assert not first.renew()
    first.release()  # A letting go later must not free B's lease
    assert lease_rows(engine)["jira"]["holder"] == "scheduler B"
    # other sources are independent
    SourceLease(engine, "github", "scheduler A", now=lambda: clock[0]).acquire()
    assert sorted(lease_rows(engine)) == ["github", "jira"]


def test_migration_9_adds_the_lease_and_version_tables_to_a_version_5_database(db_url):
    from sqlalchemy import create_engine, inspect

    from data.store import _record_version
    from old_schema import metadata_at

    old = create_engine(db_url)
    with old.begin() as conn:
        metadata_at(5).create_all(conn)
        _record_version(conn, 5)
    old.dispose()
    engine = get_engine(db_url)  # upgrades
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    assert {"source_leases", "data_version"} <= tables
    assert max(versions) == schema.SCHEMA_VERSION
    SourceLease(engine, "github", "after upgrade").acquire()
    assert lease_rows(engine)["github"]["holder"] == "after upgrade"
    engine.dispose()
