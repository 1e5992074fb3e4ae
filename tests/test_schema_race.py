"""Several processes starting at once on an empty database: one creates the schema, the
others wait for it and find it done (issue 10, item 13). Real processes, real databases."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from data import schema
ROOT = Path(__file__).resolve().parent.parent

PROCESSES = 8

# Each child imports everything first, says "ready", then waits for the word to go: the
# parent releases them together once all are ready, so they reach the schema check at once.
CHILD = """
import sys
from pathlib import Path
from data.store import get_engine
print("ready", flush=True)
sys.stdin.readline()
get_engine(sys.argv[1]).dispose()
print("done", flush=True)
"""


def _start_together(url: str) -> list[subprocess.CompletedProcess]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, url], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for _ in range(PROCESSES)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.parametrize("attempt", range(4))
def test_processes_starting_at_once_create_one_schema(db_url, attempt):
    results = _start_together(db_url)
    failures = [r.stderr.strip().splitlines()[-1] for r in results if r.returncode != 0]
    assert failures == [], failures
    assert all(r.stdout.strip().endswith("done") for r in results)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
            assert versions == [schema.SCHEMA_VERSION]
            # and the schema is whole: every table is there and usable
            for table in schema.metadata.sorted_tables:
                conn.execute(select(func.count()).select_from(table)).scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempt", range(2))
def test_processes_starting_at_once_on_an_old_database_upgrade_it_once(db_url, attempt):
    from old_schema import metadata_at

    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:  # a database as schema version 1 left it
            metadata_at(1).create_all(conn)
            conn.execute(schema.schema_version.insert().values(
                version=1, applied_at=datetime.now(timezone.utc)))
    finally:
        engine.dispose()
    results = _start_together(db_url)
    failures = [r.stderr.strip().splitlines()[-1] for r in results if r.returncode != 0]
    assert failures == [], failures
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(select(schema.schema_version.c.version)
                                    .order_by(schema.schema_version.c.version)).scalars().all()
            assert versions == list(range(1, schema.SCHEMA_VERSION + 1))
            conn.execute(select(schema.sync_runs.c.heartbeat_at)).all()  # migration 2 ran
    finally:
        engine.dispose()
