"""Storage of derived views: one row per (view, parameters), holding its payload as text.

What is stored, and when a row may be used, is metrics/derived.py's business; this module only
reads and writes the ``derived_views`` table (docs/data-model.md). A stored row is never data:
writing one does not advance the data version (data/version.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError

from data import schema
from data.store import insert_for

# How long a render's write of a derived row may wait for a lock held by a sync: the render
# has its answer already; waiting SQLite's full busy timeout would only delay the page.
STORE_WAIT_MS = 200


def fetch(conn: Connection, name: str, params_hash: str, *, data_version: int,
          newer_than: datetime) -> str | None:
    """The payload stored for ``(name, params_hash)`` when it was computed at
    ``data_version`` after ``newer_than``; None otherwise."""
    t = schema.derived_views
    return conn.execute(
        select(t.c.payload).where(t.c.name == name, t.c.params_hash == params_hash,
                                  t.c.data_version == data_version,
                                  t.c.computed_at > newer_than)).scalar()


def store(engine: Engine, name: str, params_hash: str, *, data_version: int,
          computed_at: datetime, payload: str) -> bool:
    """Write (or replace) one derived row, and drop the rows of older data versions, in one
    short transaction. Best effort: returns False, having written nothing, when the database
    is busy (a sync holds the write lock) or refuses — the caller has its value either way."""
    t = schema.derived_views
    try:
        with engine.connect() as conn, _short_lock_wait(conn):
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{STORE_WAIT_MS}ms'")
                stmt = insert_for(conn, t).values(name=name, params_hash=params_hash,
                                                  data_version=data_version,
                                                  computed_at=computed_at, payload=payload)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["name", "params_hash"],
                    set_={"data_version": data_version, "computed_at": computed_at,
                          "payload": payload}))
                conn.execute(delete(t).where(t.c.data_version < data_version))
        return True
    except SQLAlchemyError:
        return False


@contextmanager
def _short_lock_wait(conn: Connection) -> Iterator[None]:
    """On SQLite, wait at most STORE_WAIT_MS for the write lock, put back as it was afterwards
    (the connection returns to the pool). PostgreSQL's is SET LOCAL: it ends with the
    transaction."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {STORE_WAIT_MS}")
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")
        conn.commit()
