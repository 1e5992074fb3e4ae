"""A faster ``data.store.upsert`` for the hot path of a sync (pages of issues and their raw
payloads): same contract — insert, or update the columns given when the primary key exists,
last row wins — but values are converted once here and handed to the driver's
``executemany`` as tuples, skipping SQLAlchemy's per-row parameter processing, which cost
more than the HTTP fetch itself (bench/bench_github_sync.py).

The statement is still built and compiled by SQLAlchemy for the connection's dialect, so it
stays dialect-neutral; only values are converted here, the way the column types would:
timestamps as UTC (SQLite: naive text in SQLAlchemy's storage format, so the two paths read
back alike), JSON serialised (PostgreSQL: wrapped for psycopg).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table

from data.schema import UTCDateTime
from data.store import UPSERT_CHUNK, chunked, insert_for


def _to_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _sqlite_time(value: Any) -> str | None:
    # GitHub's "2024-03-05T10:00:00Z" maps straight to the stored text without parsing.
    if isinstance(value, str) and len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return f"{value[:10]} {value[11:19]}.000000"
    if value is None:
        return None
    return _sqlite_datetime(_to_utc(value))


@lru_cache(maxsize=1024)
def _sqlite_datetime(t: datetime) -> str:
    # a page shares one fetched_at; format it once
    return t.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_text(value: Any) -> str:
    # orjson writes the same compact UTF-8 JSON ~10x faster (re-serialising the raw payloads
    # was the largest cost of a big sync); the stdlib takes what orjson refuses (non-str keys,
    # integers beyond 64 bits).
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _encode(value)


def _dumps(value: Any) -> str | None:
    return None if value is None else _json_text(value)


def _converter(column, dialect: str) -> Callable[[Any], Any] | None:
    if isinstance(column.type, UTCDateTime):
        return _sqlite_time if dialect == "sqlite" else _to_utc
    if isinstance(column.type, JSON):
        if dialect == "sqlite":
            return _dumps
        from psycopg.types.json import Json

        return lambda v: None if v is None else Json(v, dumps=_json_text)
    return None


@lru_cache(maxsize=64)
def _plan(table: Table, keys: tuple[str, ...], dialect_name: str, conn_dialect):
    from sqlalchemy.dialects import postgresql, sqlite

    stmt = (sqlite.insert(table) if dialect_name == "sqlite" else postgresql.insert(table))
    pk = [c.name for c in table.primary_key.columns]
    updates = {k: stmt.excluded[k] for k in keys if k not in pk}
    stmt = stmt.values({k: None for k in keys})
    stmt = (stmt.on_conflict_do_update(index_elements=pk, set_=updates) if updates
            else stmt.on_conflict_do_nothing(index_elements=pk))
    compiled = stmt.compile(dialect=conn_dialect)
    order = list(compiled.positiontup) if compiled.positional else list(keys)
    # Bind names can be suffixed (``id_m0``); map each back to its column in ``keys``.
    names = [_column_for(name, keys) for name in order]
    convs = [_converter(table.c[n], dialect_name) for n in names]
    return compiled.string, compiled.positional, names, order, convs, pk


def _column_for(bind: str, keys: tuple[str, ...]) -> str:
    if bind in keys:
        return bind
    base = bind.rsplit("_m", 1)[0]
    if base in keys:
        return base
    raise ValueError(f"unexpected bind parameter {bind}")


def bulk_upsert(conn: Connection, table: Table, rows: Iterable[dict], *,
                chunk_size: int = UPSERT_CHUNK) -> int:
    """Like :func:`data.store.upsert` (rows share their keys); returns the rows written."""
    dialect = conn.dialect.name
    insert_for(conn, table)  # refuses an unsupported dialect, as upsert does
    total = 0
    cursor = None
    for chunk in chunked(rows, chunk_size):
        keys = tuple(chunk[0].keys())
        sql, positional, names, order, convs, pk = _plan(table, keys, dialect, conn.dialect)
        key_of = itemgetter(*pk)
        dedup = {key_of(r): r for r in chunk}  # later wins, as in upsert
        # One C-level itemgetter per row, then only the columns that need converting.
        get = itemgetter(*names) if len(names) > 1 else (lambda r, n=names[0]: (r[n],))
        conv = [(i, c) for i, c in enumerate(convs) if c]
        params: list[Any] = []
        for r in dedup.values():
            values = list(get(r))
            for i, c in conv:
                values[i] = c(values[i])
            params.append(tuple(values) if positional else dict(zip(order, values)))
        if cursor is None:
            cursor = conn.connection.driver_connection.cursor()
        cursor.executemany(sql, params)
        total += len(params)
    if cursor is not None:
        cursor.close()
    return total
