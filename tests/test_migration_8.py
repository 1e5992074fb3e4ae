"""Migration 8 (the notification outbox) on a database written at version 5, on SQLite and
PostgreSQL: the two tables appear, stored rows are untouched, and the notifier works on it."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert, inspect, select

from data import schema
from data.store import get_engine
from old_schema import metadata_at


def test_migration_8_adds_the_outbox(db_url):
    old = metadata_at(5)
    assert "notifications" not in old.tables and "notify_verdicts" not in old.tables
    eng = get_engine(db_url, create_schema=False)
    with eng.begin() as conn:
        old.create_all(conn)
        conn.execute(insert(old.tables["schema_version"]), [
            {"version": v, "applied_at": datetime(2026, v, 1, tzinfo=timezone.utc)}
            for v in range(1, 6)])
        conn.execute(insert(old.tables["releases"]), [{
            "id": "t:release:r1", "source": "t", "project": "PAY", "name": "2.4",
            "state": "unreleased"}])
    assert not inspect(eng).has_table("notifications")
    eng.dispose()

    eng = get_engine(db_url)  # upgrades
    try:
        insp = inspect(eng)
        assert insp.has_table("notifications") and insp.has_table("notify_verdicts")
        columns = {c["name"] for c in insp.get_columns("notifications")}
        assert {"key", "status", "payload", "error", "attempts"} <= columns
        with eng.connect() as conn:
            versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
            names = conn.execute(select(schema.releases.c.name)).scalars().all()
        assert sorted(versions) == list(range(1, schema.SCHEMA_VERSION + 1))
        assert names == ["2.4"]
    finally:
        eng.dispose()
