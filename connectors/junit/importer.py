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

Folding happens in the database, so memory stays flat however many tests a file holds:
records go straight into ``test_results`` (with the driver's ``executemany`` in chunks, as
tuples through the raw DBAPI cursor: SQLAlchemy's per-row parameter processing would otherwise
dominate a million-row import). A fixed-size Bloom filter (8 MB) notes each identity; one it
may have seen before goes to a temporary table (``junit_repeats``), and only rows with those
keys are grouped afterwards (none when the file has no repeats). Their folded outcome is written
to each test's first row and the later rows are deleted — set-based statements through a small
temporary table (``junit_folds``), never a Python structure per test. The identity in the
database is (``suite``, ``test_key``): ``test_key`` hashes the full class name and name, and
the suite is capped with :func:`data.text.cap_unique`, so capping never merges two identities.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import BinaryIO

from sqlalchemy import (Boolean, Column, Connection, Float, Index, Integer, MetaData, String,
                        Table, Text, and_, case, delete, func, insert, literal, select, text,
                        update)

from connectors.junit.parse import (ERROR, FAILED, PASSED, SKIPPED, JUnitError, ParseInfo,
                                    TestCase, iter_cases)
from data import schema
from data.store import upsert

CHUNK_ROWS = 5000

_COLUMNS = ("run_id", "suite", "classname", "name", "test_key", "status", "duration_s",
            "message", "flaky", "file")
_STATUS_RANK = {PASSED: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}

# Identities of one file that may occur more than once (_rows' filter said so), and those that do,
# with their folded outcome; both live only inside that file's savepoint.
repeats = Table(
    "junit_repeats", MetaData(),
    Column("test_key", String(32), nullable=False),
    prefixes=["TEMPORARY"],
)

folds = Table(
    "junit_folds", MetaData(),
    Column("first", Integer, primary_key=True, autoincrement=False),  # row that keeps the test
    Column("suite", Text, nullable=False),  # coalesce(suite, ''): no suite is the empty one
    Column("test_key", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("flaky", Boolean, nullable=False),
    Column("duration_s", Float),
    Column("with_message", Integer),  # first row of the test that has a message
    Column("message", Text),
    Index("ix_junit_folds_key", "test_key"),
    prefixes=["TEMPORARY"],
)


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
    t = schema.test_results
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {conn.dialect.identifier_preparer.format_table(t)} "
            f"({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})")


FILTER_BITS = 1 << 26  # the Bloom filter of one file: 8 MB, whatever the file holds


def _rows(run_id: str, cases: Iterable[TestCase], counts: dict[str, int],
          maybe_repeated: list[str]) -> Iterator[tuple]:
    """Row tuples for ``test_results``; the ``test_key`` of every named record whose identity
    (suite, test_key) may have been met before in this file goes to ``maybe_repeated``.

    "May": a Bloom filter of :data:`FILTER_BITS` bits, two positions per identity, answers —
    always yes for a repeat, and by chance for about 1 in 1,000 identities of a million-test
    file (those are grouped for nothing, which is harmless). Inlined: it runs once per record."""
    bits = bytearray(FILTER_BITS >> 3)
    mask = FILTER_BITS - 1
    for c in cases:
        counts[c.status] = counts.get(c.status, 0) + 1
        if c.name:
            # test_key is already a uniform hash: two 26-bit slices of it, mixed with the
            # suite's hash, are the two positions.
            h = int(c.test_key[:13], 16) ^ hash(c.suite)
            p1, p2 = h & mask, (h >> 26) & mask
            i1, f1, i2, f2 = p1 >> 3, 1 << (p1 & 7), p2 >> 3, 1 << (p2 & 7)
            if bits[i1] & f1 and bits[i2] & f2:
                maybe_repeated.append(c.test_key)
            bits[i1] |= f1
            bits[i2] |= f2
        yield (run_id, c.suite, c.classname, c.name, c.test_key, c.status, c.duration_s,
               c.message, c.flaky, c.file)


def _fold(conn: Connection, run_id: str, name: str, after: int, few: bool) -> bool:
    """Fold the records of report ``name`` (its rows in ``run_id`` with ids above ``after``)
    whose ``test_key`` is in ``junit_repeats``, by identity (the rule in the module docstring).
    ``few``: those keys are few next to the file's rows, so they are looked up through the
    ``test_key`` index rather than by reading every row of the file. True when any record was
    folded."""
    t = schema.test_results
    # run_id wrapped so SQLite walks the id range, not the whole run through its index.
    file_rows = and_(t.c.id > after, (t.c.run_id + "") == run_id, t.c.file == name,
                     t.c.name != "")
    mine = and_(file_rows, t.c.test_key.in_(select(repeats.c.test_key))) if few else file_rows
    suite = func.coalesce(t.c.suite, "")
    rank = case(*((t.c.status == s, r) for s, r in _STATUS_RANK.items()), else_=0)
    passed = func.max(case((t.c.status == PASSED, 1), else_=0))
    failing = func.max(case((t.c.status.in_((FAILED, ERROR)), 1), else_=0))
    marked = func.max(case((t.c.flaky, 1), else_=0))
    worst = func.max(rank)
    status = case((passed == 1, literal(PASSED)), (worst == _STATUS_RANK[ERROR], literal(ERROR)),
                  (worst == _STATUS_RANK[FAILED], literal(FAILED)), else_=literal(SKIPPED))
    flaky = case(((marked == 1) | ((passed == 1) & (failing == 1)), True), else_=False)
    groups = (select(func.min(t.c.id), suite, t.c.test_key, status, flaky,
                     func.sum(t.c.duration_s), func.min(case((t.c.message.is_not(None), t.c.id))))
              .where(mine).group_by(suite, t.c.test_key).having(func.count() > 1))
    conn.execute(text("DROP TABLE IF EXISTS junit_folds"))  # a leftover of a dead import
    folds.create(conn)
    conn.execute(insert(folds).from_select(
        ["first", "suite", "test_key", "status", "flaky", "duration_s", "with_message"], groups))
    folded = conn.execute(select(folds.c.first).limit(1)).first() is not None
    if folded:
        m = t.alias("m")
        conn.execute(update(folds).values(message=select(m.c.message).where(
            m.c.id == folds.c.with_message).scalar_subquery()))
        g = folds.alias("g")

        def pick(column):
            return select(column).where(g.c.first == t.c.id).scalar_subquery()

        conn.execute(update(t).where(t.c.id.in_(select(folds.c.first))).values(
            status=pick(g.c.status), flaky=pick(g.c.flaky), duration_s=pick(g.c.duration_s),
            message=pick(g.c.message)))
        conn.execute(delete(t).where(
            file_rows, t.c.id.not_in(select(folds.c.first)),
            select(g.c.first).where(g.c.test_key == t.c.test_key, g.c.suite == suite).exists()))
    folds.drop(conn)
    repeats.drop(conn)
    return folded


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
    counts: dict[str, int] = {}
    sql = _insert_sql(conn)
    with conn.begin_nested():
        if stored is not None:
            # Bounded by the file's id range, and run_id wrapped so SQLite's planner walks that
            # range instead of every row of the run through the (run_id, status) index: a
            # re-import of a 100-file run would otherwise read the whole run 100 times.
            conn.execute(delete(t).where(t.c.id.between(*stored), (t.c.run_id + "") == run_id,
                                         t.c.file == name))
        after = conn.execute(select(func.max(t.c.id))).scalar() or 0
        # Identities that may repeat go to a temporary table as they are met (a chunk at a
        # time), so only those are grouped afterwards; a file without repeats is not.
        maybe: list[str] = []
        flagged = 0
        cursor = conn.connection.driver_connection.cursor()
        try:
            rows = _rows(run_id, iter_cases(stream, name, info), counts, maybe)
            while chunk := list(islice(rows, CHUNK_ROWS)):
                cursor.executemany(sql, chunk)
                if maybe:
                    if not flagged:
                        conn.execute(text("DROP TABLE IF EXISTS junit_repeats"))  # leftover
                        repeats.create(conn)
                    flagged += len(maybe)
                    conn.execute(insert(repeats), [{"test_key": k} for k in maybe])
                    maybe.clear()
                if progress is not None:
                    progress.update("test_results", len(chunk))
        finally:
            cursor.close()
        if flagged and _fold(conn, run_id, name, after, few=flagged * 16 < sum(counts.values())):
            counts = dict(conn.execute(
                select(t.c.status, func.count())
                .where(t.c.id > after, (t.c.run_id + "") == run_id, t.c.file == name)
                .group_by(t.c.status)).all())
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
