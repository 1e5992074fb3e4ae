"""A running sync renews a heartbeat; a `running` row whose heartbeat stopped (its process was
killed) reads as abandoned on Home and Data sources, without rewriting any row (issue 10,
item 15). Also migration 2, which adds the column to a database written at version 1."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData, Table, create_engine, inspect, select
from streamlit.testing.v1 import AppTest

from connectors.sync import ABANDONED_AFTER, SyncRun, run_outcome
from data import schema
from data.store import get_engine
from old_schema import metadata_at
from pages_support import APP, TIMEOUT, page_database

NOW = datetime.now(timezone.utc).replace(microsecond=0)


# --- the rule -------------------------------------------------------------------------------
def test_a_running_row_is_abandoned_once_its_last_sign_of_life_is_older_than_the_limit():
    t = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    five = timedelta(minutes=5)
    assert ABANDONED_AFTER == five
    # heartbeat 4 min ago (start 2 h ago): alive; 6 min ago: abandoned
    assert run_outcome("running", t - timedelta(hours=2), t - timedelta(minutes=4), t) == "running"
    assert run_outcome("running", t - timedelta(hours=2), t - timedelta(minutes=6), t) == \
        "abandoned"
    # no heartbeat at all (a row written before the column existed): its start counts
    assert run_outcome("running", t - timedelta(minutes=6), None, t) == "abandoned"
    assert run_outcome("running", t - timedelta(minutes=1), None, t) == "running"
    # finished rows are what they are, however old
    assert run_outcome("success", t - timedelta(days=9), None, t) == "success"
    assert run_outcome("failed", t - timedelta(days=9), t - timedelta(days=9), t) == "failed"


# --- the heartbeat --------------------------------------------------------------------------
def test_a_running_sync_renews_its_heartbeat_and_stops_when_it_ends(engine):
    runs = schema.sync_runs
    with SyncRun(engine, "github", "acme/web", heartbeat_every=0.05) as run:
        with engine.connect() as conn:
            first = conn.execute(select(runs.c.heartbeat_at)
                                 .where(runs.c.id == run.run_id)).scalar()
        assert first is not None  # the start counts as the first beat
        deadline = time.monotonic() + 30
        beat = first
        while beat == first and time.monotonic() < deadline:
            time.sleep(0.05)
            with engine.connect() as conn:
                beat = conn.execute(select(runs.c.heartbeat_at)
                                    .where(runs.c.id == run.run_id)).scalar()
        assert beat > first, "the heartbeat was not renewed while the sync ran"
    with engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run.run_id)).mappings().one()
    assert row["outcome"] == "success" and row["heartbeat_at"] == row["finished_at"]
    assert run._beater is None  # the thread was stopped and joined


# --- migration 2 ----------------------------------------------------------------------------
def test_migration_2_adds_the_heartbeat_to_a_version_1_database(db_url):
    old_engine = create_engine(db_url)
    with old_engine.begin() as conn:
        metadata_at(1).create_all(conn)
        conn.execute(schema.schema_version.insert().values(version=1, applied_at=NOW))
        v1_runs = Table("sync_runs", MetaData(), autoload_with=conn)
        assert "heartbeat_at" not in v1_runs.c
        conn.execute(v1_runs.insert().values(source="jira", scope="PAY", started_at=NOW,
                                             finished_at=NOW, outcome="success", requests=3,
                                             not_modified=0, error=None))
    old_engine.dispose()

    engine = get_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(select(schema.schema_version.c.version)
                                    .order_by(schema.schema_version.c.version)).scalars().all()
            assert versions == list(range(1, schema.SCHEMA_VERSION + 1))
            assert "heartbeat_at" in {c["name"] for c in inspect(conn).get_columns("sync_runs")}
            row = conn.execute(select(schema.sync_runs)).mappings().one()
        assert (row["source"], row["outcome"], row["requests"]) == ("jira", "success", 3)
        assert row["heartbeat_at"] is None
        # and the new column is usable: a sync runs on the upgraded database
        with SyncRun(engine, "github", "acme/web"):
            pass
    finally:
        engine.dispose()


# --- the pages ------------------------------------------------------------------------------
@pytest.fixture
def aged(tmp_path, monkeypatch):
    """A database holding a killed sync aged by hand, a live one and an old finished one."""
    now = datetime.now(timezone.utc)  # not the module's NOW: the ages are relative to the test
    with page_database(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, monkeypatch) as engine:
        with engine.begin() as conn:
            conn.execute(schema.work_items.insert(), [
                {"id": f"{s}:issue:1", "source": s, "project": "P", "key": "P-1", "title": "t",
                 "type": "task", "status": "Open", "status_category": "todo",
                 "created_at": now - timedelta(days=3), "updated_at": now - timedelta(days=3)}
                for s in ("github", "jira", "jenkins")])
            conn.execute(schema.sync_runs.insert(), [
                # killed: still `running`, last heartbeat 20 minutes ago
                {"source": "github", "scope": "acme/web", "outcome": "running",
                 "started_at": now - timedelta(minutes=50),
                 "heartbeat_at": now - timedelta(minutes=20), "items": {}, "requests": 40,
                 "not_modified": 0},
                # alive: started an hour ago, beat a minute ago
                {"source": "jira", "scope": "PAY", "outcome": "running",
                 "started_at": now - timedelta(hours=1),
                 "heartbeat_at": now - timedelta(minutes=1), "items": {}, "requests": 9,
                 "not_modified": 0},
                # finished long ago: stays a success
                {"source": "jenkins", "scope": "app", "outcome": "success",
                 "started_at": now - timedelta(days=2), "finished_at": now - timedelta(days=2),
                 "heartbeat_at": now - timedelta(days=2), "items": {"runs": 1}, "requests": 2,
                 "not_modified": 0},
            ])
        yield engine


def _stored_outcomes(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(schema.sync_runs.c.source,
                                        schema.sync_runs.c.outcome)).all())


def test_data_sources_shows_a_killed_sync_as_abandoned(aged):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/data_sources.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("Source")
    assert table.loc["github", "Outcome"] == "⚠️ abandoned"
    assert table.loc["jira", "Outcome"] == "⏳ running"
    assert table.loc["jenkins", "Outcome"] == "✅ success"
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("github: the sync started")
    assert "stopped without finishing" in warnings[0]
    # shown, not written: the rows are as they were
    assert _stored_outcomes(aged) == {"github": "running", "jira": "running",
                                      "jenkins": "success"}


def test_home_shows_a_killed_sync_as_abandoned(aged):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("⚠️ abandoned · ") for c in captions), captions
    assert any(c.startswith("⏳ running · ") for c in captions), captions
    assert any(c.startswith("✅ success · ") for c in captions), captions
    assert any("stopped without finishing" in c for c in captions)
    assert _stored_outcomes(aged)["github"] == "running"


# --- a real killed sync ---------------------------------------------------------------------
KILLED_CHILD = """
import sys, time
from connectors.sync import SyncRun
from data.store import get_engine
run = SyncRun(get_engine(sys.argv[1]), "github", "acme/web", heartbeat_every=0.05).__enter__()
print(run.run_id, flush=True)
time.sleep(600)
"""


def test_a_killed_sync_stays_running_and_reads_as_abandoned_once_its_heartbeat_is_old(db_url):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import update

    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, db_url], cwd=root,
                             env=dict(os.environ, PYTHONPATH=str(root)), text=True,
                             stdout=subprocess.PIPE)
    runs = schema.sync_runs
    engine = get_engine(db_url)
    try:
        run_id = int(child.stdout.readline())
        with engine.connect() as conn:
            first = conn.execute(select(runs.c.heartbeat_at).where(runs.c.id == run_id)).scalar()
        beat, deadline = first, time.monotonic() + 30
        while beat == first and time.monotonic() < deadline:
            time.sleep(0.05)
            with engine.connect() as conn:
                beat = conn.execute(select(runs.c.heartbeat_at)
                                    .where(runs.c.id == run_id)).scalar()
        assert beat > first  # alive: it beats
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        with engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
        # killed: nobody closed the row, and it still reads as running while the beat is fresh
        assert row["outcome"] == "running" and row["finished_at"] is None
        assert run_outcome(row["outcome"], row["started_at"], row["heartbeat_at"],
                           row["heartbeat_at"] + timedelta(minutes=4)) == "running"
        # aged by hand: its last beat 6 minutes ago
        old = datetime.now(timezone.utc) - timedelta(minutes=6)
        with engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id)
                         .values(started_at=old - timedelta(minutes=1), heartbeat_at=old))
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
        assert run_outcome(row["outcome"], row["started_at"], row["heartbeat_at"]) == "abandoned"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        engine.dispose()
