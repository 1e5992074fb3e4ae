"""Store parsed JUnit reports: one ``pipeline_runs`` row, its ``test_results`` per report file.

Each file is atomic: its rows are written inside a savepoint that first deletes what an earlier
import of the same (run, file) stored, so re-importing replaces, and a file that turns out to be
malformed halfway rolls back to exactly what was there before. Rows of other files of the same
run are left alone, so a run's reports may arrive in several imports (one per CI artifact).

Folding — what one file's rows are, whatever the order of its test cases: records with the
same identity (suite, class name — a missing one is the empty one — and a non-empty name, taken
from the full texts before any cap) are attempts of one test, wherever they sit in the file.
The test passed when any attempt passed (flaky when another attempt failed or errored, or an
attempt carries a flaky marker), otherwise it takes the worst outcome, error > failure > skipped;
its duration is the sum of the attempts' and its message the first attempt's that has one. A
record with no name is a test of its own, never folded with another.

Folding happens in the database, so memory stays flat however many tests a file holds: every
record goes first into a temporary table (``junit_attempts``) with its identity hash, then one
set-based ``INSERT … SELECT … GROUP BY`` per file writes the folded rows to ``test_results``.
Records go in with the driver's ``executemany`` in chunks, as tuples through the raw DBAPI
cursor: the SQLAlchemy per-row parameter processing would otherwise dominate a million-row import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import BinaryIO

from sqlalchemy import (Boolean, Column, Connection, Float, Integer, MetaData, String, Table,
                        Text, case, delete, func, insert, literal, select, text)

from connectors.junit.parse import (_RANK, ERROR, FAILED, PASSED, SKIPPED, JUnitError, ParseInfo,
                                    TestCase, iter_cases)
from data import schema
from data.store import upsert

CHUNK_ROWS = 5000

# One file's records before folding; lives only inside that file's savepoint.
attempts = Table(
    "junit_attempts", MetaData(),
    Column("seq", Integer, primary_key=True, autoincrement=False),  # order in the file
    Column("fold", String(40), nullable=False),  # record_key, or "#<seq>" for a nameless record
    Column("suite", Text),
    Column("classname", Text),
    Column("name", Text, nullable=False),
    Column("test_key", String(32), nullable=False),
    Column("rank", Integer, nullable=False),  # parse._RANK of its outcome
    Column("duration_s", Float),
    Column("message", Text),
    Column("flaky", Boolean, nullable=False),
    prefixes=["TEMPORARY"],
)
_COLUMNS = ("seq", "fold", "suite", "classname", "name", "test_key", "rank", "duration_s",
            "message", "flaky")


@dataclass
class ImportResult:
    """What one import did. ``counts`` are test results stored per status."""

    run_id: str
    files: list[str] = field(default_factory=list)  # imported
    errors: list[JUnitError] = field(default_factory=list)  # files refused, nothing stored
    counts: dict[str, int] = field(default_factory=dict)
    suites: int = 0
    earliest: datetime | None = None  # earliest suite/case timestamp in the imported files

    @property
    def tests(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.errors


def _insert_sql(conn: Connection) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {conn.dialect.identifier_preparer.format_table(attempts)} "
            f"({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})")


def _rows(cases: Iterable[TestCase]) -> Iterator[tuple]:
    for seq, c in enumerate(cases):
        yield (seq, c.key or f"#{seq}", c.suite, c.classname, c.name, c.test_key,
               _RANK[c.status], c.duration_s, c.message, c.flaky)


def _fold(conn: Connection, run_id: str, name: str) -> None:
    """Write the file's folded tests from ``junit_attempts`` to ``test_results`` (the rule in
    the module docstring), in the order of each test's first record."""
    a = attempts
    g = (select(func.min(a.c.seq).label("first"),
                func.min(case((a.c.message.is_not(None), a.c.seq))).label("with_message"),
                func.max(case((a.c.rank == _RANK[PASSED], 1), else_=0)).label("passed"),
                func.max(case((a.c.rank >= _RANK[FAILED], 1), else_=0)).label("failing"),
                func.max(case((a.c.flaky, 1), else_=0)).label("marked"),
                func.max(a.c.rank).label("worst"),
                func.sum(a.c.duration_s).label("duration"))
         .group_by(a.c.fold).subquery("g"))
    first, msg = a.alias("f"), a.alias("m")
    status = case((g.c.passed == 1, literal(PASSED)), (g.c.worst == _RANK[ERROR], literal(ERROR)),
                  (g.c.worst == _RANK[FAILED], literal(FAILED)), else_=literal(SKIPPED))
    flaky = case(((g.c.marked == 1) | ((g.c.passed == 1) & (g.c.failing == 1)), True),
                 else_=False)
    rows = (select(literal(run_id), first.c.suite, first.c.classname, first.c.name,
                   first.c.test_key, status, g.c.duration, msg.c.message, flaky, literal(name))
            .select_from(g.join(first, first.c.seq == g.c.first)
                         .outerjoin(msg, msg.c.seq == g.c.with_message))
            .order_by(g.c.first))
    t = schema.test_results
    conn.execute(insert(t).from_select(
        ["run_id", "suite", "classname", "name", "test_key", "status", "duration_s", "message",
         "flaky", "file"], rows))


def stored_files(conn: Connection, run_id: str) -> dict[str, tuple[int, int]]:
    """Report files already stored for a run, each with the (lowest, highest) row id it has."""
    t = schema.test_results
    return {f: (lo, hi) for f, lo, hi in conn.execute(
        select(t.c.file, func.min(t.c.id), func.max(t.c.id)).where(t.c.run_id == run_id)
        .group_by(t.c.file))}


def import_file(conn: Connection, run_id: str, name: str, stream: BinaryIO,
                *, stored: tuple[int, int] | None = None,
                progress=None) -> tuple[dict[str, int], ParseInfo]:
    """Replace the results of report ``name`` in run ``run_id`` with those parsed from ``stream``.

    ``stored`` is the id range of the rows an earlier import of this file left (from
    :func:`stored_files`), None when there are none. Runs in a savepoint: on
    :class:`JUnitError` nothing of this file is stored and the error propagates. Records of one
    test are folded into one row (module docstring). Returns the rows stored per status and
    what the file said about itself.
    """
    t = schema.test_results
    info = ParseInfo()
    sql = _insert_sql(conn)
    with conn.begin_nested():
        if stored is not None:
            # Bounded by the file's id range, and run_id wrapped so SQLite's planner walks that
            # range instead of every row of the run through the (run_id, status) index: a
            # re-import of a 100-file run would otherwise read the whole run 100 times.
            conn.execute(delete(t).where(t.c.id.between(*stored), (t.c.run_id + "") == run_id,
                                         t.c.file == name))
        before = conn.execute(select(func.max(t.c.id))).scalar() or 0
        # A leftover from an import that died inside this connection would hold stale rows.
        conn.execute(text("DROP TABLE IF EXISTS junit_attempts"))
        attempts.create(conn)
        cursor = conn.connection.driver_connection.cursor()
        try:
            rows = _rows(iter_cases(stream, name, info))
            while chunk := list(islice(rows, CHUNK_ROWS)):
                cursor.executemany(sql, chunk)
                if progress is not None:
                    progress.update("test_results", len(chunk))
        finally:
            cursor.close()
        _fold(conn, run_id, name)
        attempts.drop(conn)
        counts = dict(conn.execute(
            select(t.c.status, func.count()).where(t.c.id > before, (t.c.run_id + "") == run_id,
                                                   t.c.file == name).group_by(t.c.status)).all())
    return counts, info


def import_streams(conn: Connection, run: dict, files: Iterable[tuple[str, BinaryIO]],
                   *, progress=None) -> ImportResult:
    """Upsert the ``pipeline_runs`` row ``run`` and import each ``(name, binary stream)``.

    ``run`` needs at least ``id``, ``source`` and ``pipeline``. A file that fails to parse is
    recorded in ``result.errors`` (one-line :class:`JUnitError`) and leaves the database as it
    was; the others are imported. If no file is imported and the run did not exist before, the
    run row is not kept either. The caller owns the transaction (``engine.begin()``).
    """
    pr = schema.pipeline_runs
    existed = conn.execute(select(pr.c.id).where(pr.c.id == run["id"])).first() is not None
    # Written first: it opens the real transaction the per-file savepoints nest in (on SQLite a
    # savepoint opened outside one would commit on release).
    upsert(conn, pr, [run])
    result = ImportResult(run_id=run["id"])
    stored = stored_files(conn, run["id"]) if existed else {}
    for name, stream in files:
        try:
            counts, info = import_file(conn, run["id"], name, stream, stored=stored.get(name),
                                       progress=progress)
        except JUnitError as exc:
            result.errors.append(exc)
            continue
        result.files.append(name)
        for status, n in counts.items():
            result.counts[status] = result.counts.get(status, 0) + n
        result.suites += info.suites
        if info.earliest and (result.earliest is None or info.earliest < result.earliest):
            result.earliest = info.earliest
    if not result.files and not existed:
        conn.execute(delete(pr).where(pr.c.id == run["id"]))
    return result


def run_conclusion(conn: Connection, run_id: str) -> str | None:
    """``failure`` if any stored result of the run failed or errored, ``success`` if it has
    results and none did, None when it has none (no evidence is not a pass)."""
    t = schema.test_results
    rows = dict(conn.execute(select(t.c.status, func.count()).where(t.c.run_id == run_id)
                             .group_by(t.c.status)).all())
    if not rows:
        return None
    return "failure" if rows.get(FAILED, 0) or rows.get(ERROR, 0) else "success"
