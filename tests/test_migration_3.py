"""Migration 3 (``test_results.test_key``) on a database written at version 2, on SQLite and
PostgreSQL: the key is backfilled from the stored names, the index over the names is replaced
by one over the key, and a 16 MB test name can be stored afterwards."""

from __future__ import annotations

import io
import random
from datetime import datetime, timezone

from sqlalchemy import insert, inspect, select

from connectors.junit.importer import import_streams
from data import schema
from data.store import get_engine
from data.text import test_key
from old_schema import metadata_at


def huge_name() -> str:
    cjk = {b: chr(0x4E00 + b) for b in range(256)}
    return random.Random(7).randbytes((16 << 20) // 3).decode("latin-1").translate(cjk)


def test_migration_3_backfills_test_key_and_swaps_the_index(db_url):
    old = metadata_at(2)
    eng = get_engine(db_url, create_schema=False)
    with eng.begin() as conn:
        old.create_all(conn)
        conn.execute(insert(old.tables["schema_version"]), [
            {"version": 1, "applied_at": datetime(2026, 1, 1, tzinfo=timezone.utc)},
            {"version": 2, "applied_at": datetime(2026, 2, 1, tzinfo=timezone.utc)}])
        conn.execute(insert(old.tables["pipeline_runs"]),
                     [{"id": "r", "source": "junit", "pipeline": "ci"}])
        # 2,500 rows: more than one backfill batch
        conn.execute(insert(old.tables["test_results"]), [
            {"run_id": "r", "classname": None if i % 7 == 0 else f"C{i % 3}", "name": f"t{i}",
             "status": "passed", "flaky": False} for i in range(2500)])
    assert "test_key" not in {c["name"] for c in inspect(eng).get_columns("test_results")}
    eng.dispose()

    eng = get_engine(db_url)  # upgrades
    try:
        insp = inspect(eng)
        indexes = {i["name"]: tuple(i["column_names"]) for i in insp.get_indexes("test_results")}
        assert indexes.get("ix_test_results_key") == ("test_key",)
        assert "ix_test_results_name" not in indexes
        t = schema.test_results
        with eng.connect() as conn:
            got = conn.execute(select(t.c.classname, t.c.name, t.c.test_key)).all()
            versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
        assert len(got) == 2500
        assert all(k == test_key(c, n) for c, n, k in got)
        assert test_key(None, "t0") == test_key("", "t0")  # a missing class is the empty one
        assert sorted(versions) == list(range(1, schema.SCHEMA_VERSION + 1))

        # A name far past PostgreSQL's ~2.7 KB btree entry limit now goes in.
        # 16 MB of random CJK characters (3 bytes each in UTF-8): incompressible, as PostgreSQL
        # would otherwise compress a repetitive name's index entry below its limit, and even
        # capped at 2,000 characters it is 6 KB, past that limit.
        huge = huge_name()
        xml = f'<testsuite name="S"><testcase classname="C" name="{huge}"/></testsuite>'
        with eng.begin() as conn:
            result = import_streams(conn, {"id": "junit:run:m", "source": "junit",
                                           "pipeline": "ci"}, [("h.xml", io.BytesIO(xml.encode()))])
        assert result.errors == [] and result.tests == 1
    finally:
        eng.dispose()
