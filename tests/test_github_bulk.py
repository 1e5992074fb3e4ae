"""bulk_upsert (the sync's fast path) stores exactly what data.store.upsert stores, and the
prefetching page iterator keeps order and hands errors over."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.github import fetch
from connectors.github.bulk import bulk_upsert
from data import schema
from data.store import upsert


def item(n: int, **kw) -> dict:
    row = {"id": f"github:issue:a/b#{n}", "source": "github", "project": "a/b",
           "key": f"a/b#{n}", "title": f"t{n} ünïcode", "type": "bug",
           "status_category": "todo", "labels": ["x", "ü"], "created_at": "2024-03-05T10:00:00Z",
           "resolved_at": None, "updated_at": datetime(2024, 3, 6, 1, 2, 3, 456000,
                                                       tzinfo=timezone.utc)}
    row.update(kw)
    return row


def read(engine, table):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c[
            table.primary_key.columns.keys()[0]]))]


def test_bulk_upsert_matches_upsert(engine):
    rows = [item(1), item(2, labels=None), item(1, title="later wins")]
    with engine.begin() as conn:
        assert bulk_upsert(conn, schema.work_items, rows) == 2
    bulk = read(engine, schema.work_items)
    with engine.begin() as conn:
        conn.execute(schema.work_items.delete())
        upsert(conn, schema.work_items, rows)
    assert read(engine, schema.work_items) == bulk
    assert bulk[0]["title"] == "later wins"
    assert bulk[0]["created_at"] == datetime(2024, 3, 5, 10, tzinfo=timezone.utc)
    assert bulk[0]["updated_at"] == datetime(2024, 3, 6, 1, 2, 3, 456000, tzinfo=timezone.utc)
    # a partial row updates only its columns, as upsert does
    with engine.begin() as conn:
        bulk_upsert(conn, schema.work_items, [{k: v for k, v in item(1, title="new").items()
                                               if k not in ("labels", "updated_at")}])
    one = read(engine, schema.work_items)[0]
    assert (one["title"], one["labels"]) == ("new", ["x", "ü"])  # labels left as they were


def test_bulk_upsert_raw_payload_roundtrip(engine):
    payload = {"number": 1, "nested": {"a": [1, 2.5, None, True]}, "text": "ä\n\"q\""}
    with engine.begin() as conn:
        bulk_upsert(conn, schema.raw_records, [{
            "source": "github", "resource": "issues", "external_id": "a/b#1", "scope": "a/b",
            "fetched_at": datetime(2024, 1, 1, tzinfo=timezone.utc), "payload": payload}])
    assert read(engine, schema.raw_records)[0]["payload"] == payload


def test_bulk_upsert_payload_orjson_refuses_still_stored(engine):
    # orjson refuses integers beyond 64 bits; the stdlib fallback must store them unchanged.
    payload = {"id": 2**70, "ok": "ü"}
    with engine.begin() as conn:
        bulk_upsert(conn, schema.raw_records, [{
            "source": "github", "resource": "issues", "external_id": "a/b#2", "scope": "a/b",
            "fetched_at": datetime(2024, 1, 1, tzinfo=timezone.utc), "payload": payload}])
    assert read(engine, schema.raw_records)[0]["payload"] == {"id": 1180591620717411303424,
                                                             "ok": "ü"}


def test_prefetch_keeps_order_and_raises_after_earlier_pages():
    def pages():
        yield fetch.Page(items=[1])
        yield fetch.Page(items=[2])
        raise RuntimeError("page 3 failed")

    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page in fetch.prefetch(pages()):
            got.append(page.items)
    assert got == [[1], [2]]


def test_prefetch_stops_when_the_consumer_breaks():
    produced = []

    def pages():
        for n in range(1000):
            produced.append(n)
            yield fetch.Page(items=[n])

    for page in fetch.prefetch(pages(), depth=1):
        if page.items == [1]:
            break
    assert len(produced) < 10  # the producer stopped instead of reading all 1000
