"""Store parsed JUnit reports: one ``pipeline_runs`` row, its ``test_results`` per report file.

Each file is atomic: its rows are written inside a savepoint that first deletes what an earlier
import of the same (run, file) stored, so re-importing replaces, and a file that turns out to be
malformed halfway rolls back to exactly what was there before. Rows of other files of the same
run are left alone, so a run's reports may arrive in several imports (one per CI artifact).

Rows go in with the driver's ``executemany`` in chunks, as tuples through the raw DBAPI cursor:
the SQLAlchemy per-row parameter processing would otherwise dominate a million-row import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import BinaryIO

from sqlalchemy import Connection, delete, func, select

from connectors.junit.parse import ERROR, FAILED, JUnitError, ParseInfo, TestCase, iter_cases
from data import schema
from data.store import upsert

CHUNK_ROWS = 5000
_COLUMNS = ("run_id", "suite", "classname", "name", "status", "duration_s", "message", "flaky",
            "file")


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


def _rows(run_id: str, cases: Iterable[TestCase], counts: dict[str, int]) -> Iterator[tuple]:
    for c in cases:
        counts[c.status] = counts.get(c.status, 0) + 1
        yield (run_id, c.suite, c.classname, c.name, c.status, c.duration_s, c.message,
               c.flaky, c.file)


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
    :class:`JUnitError` nothing of this file is stored and the error propagates. Returns the
    rows stored per status and what the file said about itself.
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
        cursor = conn.connection.driver_connection.cursor()
        try:
            rows = _rows(run_id, iter_cases(stream, name, info), counts)
            while chunk := list(islice(rows, CHUNK_ROWS)):
                cursor.executemany(sql, chunk)
                if progress is not None:
                    progress.update("test_results", len(chunk))
        finally:
            cursor.close()
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
