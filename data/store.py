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
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
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

        configured = load_settings().app.database_url
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
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(f"cannot use database {shown}: ShipReady runs on SQLite or "
                            "PostgreSQL (sqlite:///FILE or postgresql+psycopg://USER@HOST/DB)")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_folder(parsed.database, shown)
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
            _ensure_schema_patiently(engine)
        except SQLAlchemyError as exc:
            raise database_error(exc, url, doing="open") from None
    return engine


SCHEMA_LOCK_TRIES = 6


def _ensure_schema_patiently(engine: Engine) -> None:
    """:func:`ensure_schema`, tried again when SQLite answers "database is locked" at once.

    The busy timeout covers most waits, but SQLite skips the busy handler where waiting could
    deadlock — a connection switching a new file to WAL while another creates the schema, a
    reader asking to write — and fails at once instead; under load several processes starting
    together on an empty file met that (4 of 8 in one round). Backing off and starting over is
    SQLite's own advice for that answer; the schema work itself is idempotent under its lock.
    """
    for attempt in range(SCHEMA_LOCK_TRIES):
        try:
            ensure_schema(engine)
            return
        except OperationalError as exc:
            locked = "locked" in str(exc.orig or exc).lower()
            if engine.dialect.name != "sqlite" or not locked or attempt == SCHEMA_LOCK_TRIES - 1:
                raise
            engine.dispose()  # a connection left mid-transaction must not hold the lock
            time.sleep(0.2 * 2 ** attempt + random.uniform(0, 0.2))


def _check_sqlite_folder(database: str | None, shown: str) -> None:
    """A SQLite file must go into a folder that exists: a mistyped DATABASE_URL should not
    quietly create folders (and an empty database) somewhere unexpected. The default,
    data/readiness.db, lives in the repository's data/ folder, which always exists."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if Path(database).is_dir():
        raise DatabaseError(f"cannot open database {shown}: {database} is a folder; name a "
                            "file in it, e.g. sqlite:///data/readiness.db")
    folder = Path(database).parent
    if not folder.is_dir():
        raise DatabaseError(
            f"cannot open database {shown}: the folder {folder} does not exist — create it "
            "(mkdir -p) or point DATABASE_URL at an existing folder")


def database_error(exc: SQLAlchemyError, url: str | None = None, *,
                   doing: str = "use") -> DatabaseError:
    """One line for a database failure: the database (password masked), the driver's reason
    (first line only: never the statement or its parameters) and what to do."""
    orig = getattr(exc, "orig", None)
    reason = (str(orig).strip().splitlines() or [""])[0] if orig is not None else ""
    reason = reason or exc.__class__.__name__
    where = masked(url) if url else "the database"
    low = reason.lower()
    if "readonly" in low or "read-only" in low or "unable to open database file" in low:
        hint = ("this user cannot write the database file or its folder (SQLite needs both): "
                "fix their permissions or point DATABASE_URL elsewhere")
    elif "locked" in low or "busy" in low:
        hint = "another process holds the database; try again when it has finished"
    elif "not a database" in low:
        hint = "the file is not a SQLite database; point DATABASE_URL at a .db file"
    elif "disk" in low and "full" in low:
        hint = "the disk is full; free some space"
    elif isinstance(exc, OperationalError):
        hint = ("check DATABASE_URL, that the server is running and that the user may "
                "connect")
    else:
        hint = "check DATABASE_URL and the database's state"
    return DatabaseError(f"cannot {doing} database {where}: {reason} — {hint}")


# --- schema evolution -------------------------------------------------------------------------
def _migrate_4_outcomes(conn: Connection) -> None:
    """Version 4: re-derive the outcome of every stored GitHub Actions run and Jenkins build —
    ``pipeline_runs.conclusion`` and, for deploy workflows and deploy jobs, the deployment's
    ``status`` — from its raw payload with the explicit tables of :mod:`data.mapping` (before,
    a deploy run concluding neutral, stale or action_required, or a build with an unmapped
    result, was stored as a failed deployment).

    The rules live in data/mapping.py, not in the connectors' normalisers, so this migration
    (data/ sits below connectors/ and must not import them) and the connectors apply the same
    tables. It reads only what version 1 has (raw_records, pipeline_runs, deployments) and
    updates rows by id; a raw record whose row is gone updates nothing. GitHub deployments
    from the deployments API are left as they are: their statuses are not kept raw, the old
    rule already took the latest terminal status (so an ``inactive`` after a success stayed a
    success), and one without a terminal status is still pending, so the next sync reads it
    again with the new rule.
    """
    from data import mapping

    raw, runs, deps = schema.raw_records, schema.pipeline_runs, schema.deployments
    set_conclusion = (runs.update().where(runs.c.id == bindparam("b_id"))
                      .values(conclusion=bindparam("b_conclusion")))
    set_status = (deps.update().where(deps.c.id == bindparam("b_id"))
                  .values(status=bindparam("b_status")))
    for source, resource in (("github", "runs"), ("jenkins", "builds")):
        last = ""
        while True:
            # Keyset paging: a bounded batch of payloads in memory at a time.
            batch = conn.execute(select(raw.c.external_id, raw.c.payload).where(
                raw.c.source == source, raw.c.resource == resource, raw.c.external_id > last)
                .order_by(raw.c.external_id).limit(1000)).all()
            if not batch:
                break
            last = batch[-1][0]
            run_rows, dep_rows = [], []
            for external_id, payload in batch:
                if not isinstance(payload, dict):
                    continue
                if source == "github":  # external id "OWNER/NAME:run id"
                    status, conclusion = mapping.github_run_outcome(payload)
                    run_id = f"github:run:{external_id}"
                    dep_id = f"github:workflow-deploy:{external_id}"
                else:  # external id is the run id, "jenkins:build:<job>#<n>"
                    status, conclusion = mapping.jenkins_build_outcome(payload)
                    run_id = external_id
                    dep_id = external_id.replace("jenkins:build:", "jenkins:deployment:", 1)
                run_rows.append({"b_id": run_id, "b_conclusion": conclusion})
                dep_rows.append({"b_id": dep_id, "b_status": (
                    mapping.deployment_status_for_run(status, conclusion)
                    if source == "github" or status == "completed" else "in_progress")})
            if run_rows:
                conn.execute(set_conclusion, run_rows)
                conn.execute(set_status, dep_rows)


def _add_sync_heartbeat(conn: Connection) -> None:
    """2: ``sync_runs.heartbeat_at``, renewed while a sync runs (see connectors.frame.SyncRun),
    so a run whose process was killed can be told from one still going."""
    column = schema.sync_runs.c.heartbeat_at
    conn.execute(text(f"ALTER TABLE sync_runs ADD COLUMN heartbeat_at "
                      f"{column.type.compile(dialect=conn.dialect)}"))


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


def _migrate_5_domain(conn: Connection) -> None:
    """Version 5: the domain history metrics read instead of each source's encodings —
    ``membership_changes`` from the raw sprint and fix-version changes, ``severity`` changes
    from the priority and label changes, and the ``scopes`` table telling a project key from a
    repository (see data/domain.py).

    The migration has no settings: severities are derived with the default ``[mapping]`` of
    data/config.py. A database whose readiness.toml changes the mapping gets its severity
    history re-derived with it by ``python -m connectors remap`` (a sync re-derives only the
    items it reads). GitHub's label changes are single-label events; Jira's are whole label
    sets, which version 4 never read for severity (its labels count as today's all along).
    """
    from data import domain
    from data.mapping import mapping_rules

    schema.membership_changes.create(conn, checkfirst=True)
    schema.scopes.create(conn, checkfirst=True)
    rules, releases = mapping_rules(None), domain.ReleaseIndex.load(conn)
    for batch in domain.item_ids_with_history(conn):
        domain.rederive(conn, batch, rules, releases=releases,
                        label_events=domain.single_label_events)
    domain.backfill_scopes(conn)


def _migrate_6_categories_and_types(conn: Connection) -> None:
    """Version 6: history metrics read in domain terms only — ``status_category`` rows derived
    from the ``status`` changes of items whose source wrote no categories (GitHub, imports),
    the status → category rule applied once here instead of on every read, and ``work_type``
    rows from the ``type`` and label changes (see data/domain.py). Every item's derived
    history is rewritten in place; no table changes. Like version 5, with the default
    ``[mapping]`` and no ``[jira] status_names``: ``python -m connectors remap`` applies a
    readiness.toml that sets them."""
    from data import domain
    from data.mapping import mapping_rules

    domain.rederive_all(conn, mapping_rules(None))


def _migrate_7_leases(conn: Connection) -> None:
    """Version 7: ``source_leases`` (one sync per source at a time, connectors/frame/lease.py)
    and ``data_version`` (a counter every write advances, so readers' caches see other
    processes' writes; data/version.py)."""
    schema.source_leases.create(conn, checkfirst=True)
    schema.data_version.create(conn, checkfirst=True)


def _migrate_8_notifications(conn: Connection) -> None:
    """Version 8: the notification outbox and the last verdict the notifier saw
    (``notifications``, ``notify_verdicts``; README, Notifications). New tables only."""
    schema.notifications.create(conn, checkfirst=True)
    schema.notify_verdicts.create(conn, checkfirst=True)


def _migrate_9_derived_views(conn: Connection) -> None:
    """Version 9: ``derived_views``, what the pages' default views computed, kept per data
    version (metrics/derived.py). A new table only; it fills itself."""
    schema.derived_views.create(conn, checkfirst=True)


# version -> function(connection) upgrading from version-1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_sync_heartbeat,
    3: _migrate_3_test_key,
    4: _migrate_4_outcomes,
    5: _migrate_5_domain,
    6: _migrate_6_categories_and_types,
    7: _migrate_7_leases,
    8: _migrate_8_notifications,
    9: _migrate_9_derived_views,
}

# Any constant works: it only has to be the same in every ShipReady process on one server.
SCHEMA_LOCK_KEY = 0x5348_4950_5245_4459  # "SHIPREDY"


def current_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table("schema_version"):
        return None
    return conn.execute(select(schema.schema_version.c.version)
                        .order_by(schema.schema_version.c.version.desc())).scalar()


def ensure_schema(engine: Engine) -> None:
    """Create every table on a new database, or run the migrations an older one needs.

    Several processes may start at once on an empty database (cron and the app, CI jobs in
    parallel): the version is checked and the schema changed under a database-wide lock, so
    exactly one of them creates or upgrades and the others then find it done. An up-to-date
    database is recognised first without the lock, so reading a read-only file still works
    and everyday starts never wait for one another.
    """
    with engine.connect() as conn:
        if current_version(conn) == schema.SCHEMA_VERSION:
            return
    with _schema_lock(engine) as conn:
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
            if target in MIGRATIONS:
                MIGRATIONS[target](conn)
            _record_version(conn, target)
        # Tables added since (without altering old ones) are created here too.
        schema.metadata.create_all(conn, checkfirst=True)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the schema lock until it commits.

    PostgreSQL: a transaction-level advisory lock, released by the commit or rollback (DDL is
    transactional there, so a failed upgrade leaves nothing half done). SQLite: the database's
    write lock, taken by ``BEGIN IMMEDIATE`` before the version is read. pysqlite would only
    begin a transaction at the first INSERT — the version check and the CREATE TABLEs would
    run outside it, which is the race — but an explicit BEGIN is honoured, and its COMMIT is
    what the connection's commit() sends (the transactional-DDL recipe of the sqlite3 and
    SQLAlchemy docs, for this one transaction only).
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        yield conn
        conn.commit()


def _record_version(conn: Connection, version: int) -> None:
    conn.execute(schema.schema_version.insert().values(
        version=version, applied_at=datetime.now(timezone.utc)))


# --- reads ------------------------------------------------------------------------------------
@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one state of the database, for a page render or a
    report while a sync writes: on SQLite (WAL) an explicit deferred ``BEGIN`` — pysqlite
    would otherwise run each SELECT on its own, each seeing the latest commit — and on
    PostgreSQL a REPEATABLE READ transaction. Readers never wait for the writer in either.
    Rolled back at the end: write in a transaction of its own (upgrading a SQLite read
    snapshot to a write fails at once when a sync committed in between)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
            conn.begin()
        else:
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


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


def has_sourced_rows(conn: Connection) -> bool:
    """True when any table with a ``source`` column holds a row: exactly when
    :func:`table_counts` would list something (a test result belongs to a run, which has a
    source), at the cost of one indexed probe per table instead of counting every row."""
    for table in schema.metadata.sorted_tables:
        if "source" in table.c and conn.execute(select(table.c.source).limit(1)).first():
            return True
    return False


def is_empty(conn: Connection) -> bool:
    """True when no work items, pipeline runs or deployments are stored (any source)."""
    from sqlalchemy import func

    return all(conn.execute(select(func.count()).select_from(t)).scalar() == 0
               for t in (schema.work_items, schema.pipeline_runs, schema.deployments))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


__all__: Sequence[str] = [
    "DatabaseError", "database_error", "database_url", "masked", "get_engine", "ensure_schema",
    "upsert", "in_values",
    "replace_rows", "delete_source", "table_counts", "has_sourced_rows", "is_empty", "chunked", "utcnow", "MIGRATIONS",
]
