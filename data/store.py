"""The database: engine, schema creation and evolution, idempotent bulk upserts.

- The URL comes from ``DATABASE_URL`` (else ``readiness.toml``'s ``app.database_url``, else
  ``sqlite:///data/readiness.db``). SQLite runs with WAL, foreign keys on and a busy timeout so
  the app can read while a sync writes.
- Schema evolution: a ``schema_version`` table and an ordered list of migrations in this file.
  Chosen over Alembic because the schema is small, every command must upgrade a database on its
  own without a separate tool, and the same code path has to work on SQLite and PostgreSQL. To
  change the schema: edit ``data/schema.py``, bump ``SCHEMA_VERSION`` and add a function to
  ``MIGRATIONS`` that takes an existing database from the previous version to the new one.
- Upserts use the dialect's ``INSERT … ON CONFLICT DO UPDATE`` in chunks, so a page loaded twice
  leaves one row and the later values win.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import (Connection, Engine, Table, bindparam, create_engine, delete, event, inspect,
                        select, text)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from data import schema
from data.text import test_key

DEFAULT_URL = "sqlite:///data/readiness.db"
UPSERT_CHUNK = 1000


class DatabaseError(RuntimeError):
    """The database cannot be used; the message is one line naming it (password masked)."""


def database_url(explicit: str | None = None) -> str:
    """The URL to use: explicit, else ``DATABASE_URL``, else config, else the SQLite default."""
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    try:
        from data.config import load_settings

        configured = load_settings().app.get("database_url")
    except Exception:  # a broken config is reported by whoever loads it for real
        configured = None
    return configured or DEFAULT_URL


def masked(url: str) -> str:
    """The URL with any password replaced by ***, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def get_engine(url: str | None = None, *, create_schema: bool = True) -> Engine:
    """An engine for ``url`` (see :func:`database_url`), with the schema created or upgraded.

    Raises :class:`DatabaseError` with a one-line message when the URL is malformed or the
    database cannot be reached.
    """
    url = database_url(url)
    shown = masked(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"DATABASE_URL is not a valid SQLAlchemy URL ({shown}); "
            "expected e.g. sqlite:///data/readiness.db or postgresql+psycopg://user@host/db"
        ) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # psycopg 3 is what we install
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["connect_args"] = {"connect_timeout": 10}
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use database {shown}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create_schema:
        try:
            ensure_schema(engine)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
            raise DatabaseError(
                f"cannot open database {shown}: {reason} — check DATABASE_URL, that the server "
                "is running and that the user may connect"
            ) from None
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot prepare database {shown}: {exc.__class__.__name__}") from None
    return engine


# --- schema evolution -------------------------------------------------------------------------
# version -> function(connection) upgrading from version-1.
def _migrate_3_test_key(conn: Connection) -> None:
    """Version 3: ``test_results.test_key``, a test's identity as a hash of its full class name
    and name, backfilled for every stored result and indexed in place of ``(classname, name)``
    (a btree entry over long names fails on PostgreSQL past ~2.7 KB)."""
    conn.execute(text("ALTER TABLE test_results ADD COLUMN test_key VARCHAR(32)"))
    tr = schema.test_results
    fill = (tr.update().where(tr.c.id == bindparam("rid"))
            .values(test_key=bindparam("key")))
    last = 0
    while True:
        # Keyset paging by id: a bounded batch of names in memory at a time.
        batch = conn.execute(select(tr.c.id, tr.c.classname, tr.c.name)
                             .where(tr.c.id > last).order_by(tr.c.id).limit(2000)).all()
        if not batch:
            break
        conn.execute(fill, [{"rid": i, "key": test_key(c, n)} for i, c, n in batch])
        last = batch[-1][0]
    conn.execute(text("DROP INDEX IF EXISTS ix_test_results_name"))
    next(i for i in tr.indexes if i.name == "ix_test_results_key").create(conn)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    3: _migrate_3_test_key,
}


def current_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table("schema_version"):
        return None
    return conn.execute(select(schema.schema_version.c.version)
                        .order_by(schema.schema_version.c.version.desc())).scalar()


def ensure_schema(engine: Engine) -> None:
    """Create every table on a new database, or run the migrations an older one needs."""
    with engine.begin() as conn:
        version = current_version(conn)
        if version is None:
            schema.metadata.create_all(conn)
            _record_version(conn, schema.SCHEMA_VERSION)
            return
        if version > schema.SCHEMA_VERSION:
            raise DatabaseError(
                f"database schema is version {version}, newer than this code "
                f"({schema.SCHEMA_VERSION}); update ShipReady"
            )
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            _record_version(conn, target)
        # Tables added since (without altering old ones) are created here too.
        schema.metadata.create_all(conn, checkfirst=True)


def _record_version(conn: Connection, version: int) -> None:
    conn.execute(schema.schema_version.insert().values(
        version=version, applied_at=datetime.now(timezone.utc)))


# --- writes -----------------------------------------------------------------------------------
def chunked(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def insert_for(conn: Connection, table: Table):
    """The dialect's INSERT for ``table`` (it has ``on_conflict_do_update``), or
    :class:`DatabaseError` for a database other than SQLite or PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise DatabaseError(f"unsupported database dialect {conn.dialect.name}")


def in_values(column, values: Iterable[Any]):
    """``column IN (…values)`` with the values written into the statement (safely quoted).

    For the statements a sync repeats page after page on a growing table: psycopg prepares a
    statement run five times, and PostgreSQL may then keep a generic plan made while the table
    was small — for an IN list, a full scan on every call (5.2 of 8.7 s of a 20,000-issue
    GitHub sync). Inline values make each statement its own, planned with its values, which
    find the index. (An equality keeps its index in a generic plan; only lists need this.)
    """
    return column.in_(bindparam(f"{column.name}_in", list(values), expanding=True,
                                literal_execute=True))


def upsert(conn: Connection, table: Table, rows: Iterable[dict], *,
           chunk_size: int = UPSERT_CHUNK) -> int:
    """Insert ``rows`` into ``table``, updating rows whose primary key exists. Returns the count.

    Only the columns present in the rows are written, so a partial row updates just those
    columns. Rows within one call must share their keys.
    """
    pk = [c.name for c in table.primary_key.columns]
    total = 0
    for chunk in chunked(rows, chunk_size):
        keys = list(chunk[0].keys())
        stmt = insert_for(conn, table)
        updates = {k: stmt.excluded[k] for k in keys if k not in pk}
        if updates:
            stmt = stmt.on_conflict_do_update(index_elements=pk, set_=updates)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=pk)
        # One chunk may name the same key twice (a repeated item on a page); PostgreSQL refuses
        # that in a single statement, so the last occurrence wins here as it would in sequence.
        dedup = {tuple(r[k] for k in pk): r for r in chunk}
        conn.execute(stmt, list(dedup.values()))
        total += len(dedup)
    return total


def replace_rows(conn: Connection, table: Table, where, rows: Iterable[dict], *,
                 chunk_size: int = UPSERT_CHUNK) -> int:
    """Delete the rows matching ``where`` and insert ``rows`` in the same transaction."""
    conn.execute(delete(table).where(where))
    total = 0
    for chunk in chunked(rows, chunk_size):
        conn.execute(table.insert(), chunk)
        total += len(chunk)
    return total


def delete_source(conn: Connection, source: str) -> dict[str, int]:
    """Delete every row a source wrote (and the test results of its runs). Returns counts."""
    counts: dict[str, int] = {}
    runs = select(schema.pipeline_runs.c.id).where(schema.pipeline_runs.c.source == source)
    counts["test_results"] = conn.execute(
        delete(schema.test_results).where(schema.test_results.c.run_id.in_(runs))).rowcount
    release_ids = select(schema.releases.c.id).where(schema.releases.c.source == source)
    for table in (schema.gate_waivers, schema.readiness_snapshots):
        counts[table.name] = conn.execute(
            delete(table).where(table.c.release_id.in_(release_ids))).rowcount
    for table in schema.sourced_tables_children_first():
        counts[table.name] = conn.execute(delete(table).where(table.c.source == source)).rowcount
    return counts


def table_counts(conn: Connection) -> list[dict[str, Any]]:
    """Rows per source and table: ``[{"table", "source", "rows"}]`` (test results by run)."""
    from sqlalchemy import func

    out = []
    for table in schema.metadata.sorted_tables:
        if "source" in table.c:
            q = select(table.c.source, func.count()).group_by(table.c.source)
            out += [{"table": table.name, "source": s, "rows": n} for s, n in conn.execute(q)]
    tr, pr = schema.test_results, schema.pipeline_runs
    q = (select(pr.c.source, func.count()).select_from(tr.join(pr, tr.c.run_id == pr.c.id))
         .group_by(pr.c.source))
    out += [{"table": "test_results", "source": s, "rows": n} for s, n in conn.execute(q)]
    return sorted(out, key=lambda r: (r["source"], r["table"]))


def is_empty(conn: Connection) -> bool:
    """True when no work items, pipeline runs or deployments are stored (any source)."""
    from sqlalchemy import func

    return all(conn.execute(select(func.count()).select_from(t)).scalar() == 0
               for t in (schema.work_items, schema.pipeline_runs, schema.deployments))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


__all__: Sequence[str] = [
    "DatabaseError", "database_url", "masked", "get_engine", "ensure_schema", "upsert", "in_values",
    "replace_rows", "delete_source", "table_counts", "is_empty", "chunked", "utcnow", "MIGRATIONS",
]
