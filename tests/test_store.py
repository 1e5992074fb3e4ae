"""Schema and upserts, on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, inspect, select

from data import schema
from data.store import (DatabaseError, delete_source, get_engine, has_sourced_rows, in_values,
                        masked, table_counts, upsert)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def _item(n: int, **over) -> dict:
    row = {"id": f"jira:issue:PAY-{n}", "source": "jira", "project": "PAY", "key": f"PAY-{n}",
           "title": f"item {n}", "type": "bug", "status": "Open", "status_category": "todo",
           "created_at": T0, "labels": ["a"]}
    row.update(over)
    return row


def test_every_domain_table_exists_with_contract_columns(engine):
    insp = inspect(engine)
    tables = set(insp.get_table_names())
    for name in ("work_items", "work_item_changes", "sprints", "sprint_items", "releases",
                 "release_items", "pull_requests", "pipeline_runs", "test_results",
                 "deployments", "deployment_commits", "incidents", "raw_records", "sync_state",
                 "sync_runs", "gate_waivers", "readiness_snapshots", "scope_snapshots",
                 "schema_version"):
        assert name in tables, name
    cols = {c["name"] for c in insp.get_columns("work_items")}
    assert {"id", "source", "project", "key", "type", "status_category", "severity",
            "story_points", "created_at", "resolved_at", "updated_at"} <= cols
    assert {"run_id", "name", "status"} <= {c["name"] for c in insp.get_columns("test_results")}
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("test_results")}
    assert ("run_id", "status") in indexed


def test_upsert_twice_leaves_one_row_and_update_wins(engine):
    with engine.begin() as conn:
        upsert(conn, schema.work_items, [_item(1), _item(2)])
        upsert(conn, schema.work_items, [_item(1, status="Done", status_category="done")])
    with engine.connect() as conn:
        rows = conn.execute(select(schema.work_items.c.id, schema.work_items.c.status)
                            .order_by(schema.work_items.c.id)).all()
    assert rows == [("jira:issue:PAY-1", "Done"), ("jira:issue:PAY-2", "Open")]


def test_in_values_matches_exactly_the_values_given_quotes_and_all(engine):
    odd = ["jira:issue:O'Brien-1", "jira:issue:back\\slash-2", "jira:issue:50%_off-3"]
    with engine.begin() as conn:
        upsert(conn, schema.work_items, [_item(1), _item(2)] + [
            {**_item(9), "id": i, "key": i.rsplit(":", 1)[1]} for i in odd])
    wi = schema.work_items
    with engine.connect() as conn:
        def ids(values):
            return sorted(conn.execute(select(wi.c.id).where(in_values(wi.c.id, values)))
                          .scalars())

        assert ids(["jira:issue:PAY-2", "jira:issue:PAY-7"]) == ["jira:issue:PAY-2"]
        assert ids(odd) == sorted(odd)
        assert ids(["jira:issue:O'Brien-1' OR '1'='1"]) == []  # a value, never SQL
        assert ids([]) == []


def test_partial_upsert_keeps_columns_it_does_not_name(engine):
    with engine.begin() as conn:
        upsert(conn, schema.work_items, [_item(1, story_points=5.0)])
        upsert(conn, schema.work_items, [{"id": "jira:issue:PAY-1", "source": "jira",
                                          "project": "PAY", "key": "PAY-1", "type": "bug",
                                          "status_category": "done", "created_at": T0}])
    with engine.connect() as conn:
        assert conn.execute(select(schema.work_items.c.story_points)).scalar() == 5.0


def test_repeated_key_within_one_chunk_keeps_the_last(engine):
    with engine.begin() as conn:
        upsert(conn, schema.work_items, [_item(1, title="first"), _item(1, title="second")])
    with engine.connect() as conn:
        assert conn.execute(select(schema.work_items.c.title)).all() == [("second",)]


def test_chunked_upsert_of_many_rows(engine):
    with engine.begin() as conn:
        assert upsert(conn, schema.work_items, (_item(n) for n in range(2500)),
                      chunk_size=700) == 2500
        upsert(conn, schema.work_items, (_item(n) for n in range(2500)), chunk_size=700)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.work_items)).scalar() == 2500


def test_timestamps_come_back_aware_utc(engine):
    berlin = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        upsert(conn, schema.work_items, [_item(1, created_at=datetime(2026, 3, 1, 10, 30,
                                                                      tzinfo=berlin))])
    with engine.connect() as conn:
        got = conn.execute(select(schema.work_items.c.created_at)).scalar()
    assert got == T0 and got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_delete_source_removes_only_that_source(engine):
    with engine.begin() as conn:
        upsert(conn, schema.work_items, [_item(1), _item(2, id="demo:issue:X-1", source="demo")])
        upsert(conn, schema.pipeline_runs, [
            {"id": "demo:run:1", "source": "demo", "pipeline": "ci"},
            {"id": "junit:run:1", "source": "junit", "pipeline": "ci"}])
        conn.execute(schema.test_results.insert(), [
            {"run_id": "demo:run:1", "name": "t1", "status": "passed", "flaky": False},
            {"run_id": "junit:run:1", "name": "t1", "status": "failed", "flaky": False}])
        counts = delete_source(conn, "demo")
    assert counts["work_items"] == 1 and counts["test_results"] == 1
    with engine.connect() as conn:
        left = {(r["table"], r["source"]): r["rows"] for r in table_counts(conn)}
    assert left == {("work_items", "jira"): 1, ("pipeline_runs", "junit"): 1,
                    ("test_results", "junit"): 1}


def test_a_second_engine_on_the_same_database_does_not_recreate(db_url):
    first = get_engine(db_url)
    with first.begin() as conn:
        upsert(conn, schema.work_items, [_item(1)])
    first.dispose()
    second = get_engine(db_url)
    with second.connect() as conn:
        versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
        assert versions == [schema.SCHEMA_VERSION]
        assert conn.execute(select(func.count()).select_from(schema.work_items)).scalar() == 1
    second.dispose()


def test_malformed_url_is_one_line_error():
    with pytest.raises(DatabaseError) as info:
        get_engine("not a url at all")
    assert "DATABASE_URL" in str(info.value) and "\n" not in str(info.value)


def test_unreachable_database_names_it_with_password_masked():
    url = "postgresql+psycopg://alice:s3cretpw@127.0.0.1:1/nope"
    with pytest.raises(DatabaseError) as info:
        get_engine(url)
    message = str(info.value)
    assert "127.0.0.1:1/nope" in message and "s3cretpw" not in message
    assert "\n" not in message
    assert masked(url) == "postgresql+psycopg://alice:***@127.0.0.1:1/nope"


def test_cli_reports_bad_database_url_without_traceback(tmp_path):
    env = {"DATABASE_URL": "postgresql+psycopg://bob:hunter22@127.0.0.1:1/x", "PATH": "/usr/bin"}
    proc = subprocess.run([sys.executable, "-m", "connectors", "demo", "--remove"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot open database")
    assert "Traceback" not in proc.stderr and "hunter22" not in proc.stderr


def test_has_sourced_rows_says_whether_table_counts_lists_anything(engine):
    with engine.connect() as conn:
        assert has_sourced_rows(conn) is False and table_counts(conn) == []
    with engine.begin() as conn:  # one deployment only: not the first table probed
        upsert(conn, schema.deployments, [{"id": "demo:dep:1", "source": "demo",
                                           "environment": "production", "status": "success"}])
    with engine.connect() as conn:
        assert has_sourced_rows(conn) is True
        assert table_counts(conn) == [{"table": "deployments", "source": "demo", "rows": 1}]
