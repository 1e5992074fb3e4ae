"""``sync_runs`` accounting: one row per scope and run, with its own counts.

A run is recorded when it starts and closed with its outcome, counts, requests and (one-line,
redacted) error — in its own transaction, so a failure is logged. A scope's row counts the
requests made while it ran, even when one client serves several scopes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError

from data import schema
from data.version import bump
from net.http import SourceError, redact


# A running sync renews sync_runs.heartbeat_at this often; a `running` row whose last sign
# of life (heartbeat, else start) is older than ABANDONED_AFTER belongs to a killed process.
# Five minutes is ten missed beats: a busy database can delay a beat, never that long.
HEARTBEAT_EVERY_S = 30.0
ABANDONED_AFTER = timedelta(minutes=5)


def run_outcome(outcome: str | None, started_at: datetime | None,
                heartbeat_at: datetime | None, now: datetime | None = None) -> str | None:
    """The outcome to show and act on: ``abandoned`` for a run still marked ``running``
    whose heartbeat (or start, if it never beat) is older than :data:`ABANDONED_AFTER`;
    otherwise the stored outcome. Finished rows are never reinterpreted."""
    if outcome != "running":
        return outcome
    last = heartbeat_at or started_at
    now = now or datetime.now(timezone.utc)
    if last is not None and now - last > ABANDONED_AFTER:
        return "abandoned"
    return outcome


@dataclass
class SyncRun:
    """Context manager recording one run in ``sync_runs``.

    ``with SyncRun(engine, "github", "acme/web", client) as run: run.add("issues", 30)``
    On an exception the run is closed as failed with a one-line error and the exception
    propagates; the CLI turns a :class:`SourceError` into that same line.

    While the run is open a daemon thread renews ``heartbeat_at`` every
    ``heartbeat_every`` seconds. A thread rather than a renewal at each committed page,
    because a live sync can go much longer than ABANDONED_AFTER without committing: waiting
    out a rate limit (up to max_wait, 15 minutes by default), or importing a large JUnit
    archive in one transaction. The thread dies with the process, which is the point.
    """

    engine: Engine
    source: str
    scope: str
    client: Any = None  # an HttpClient, for request counts (it may serve other scopes too)
    items: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None
    heartbeat_every: float = HEARTBEAT_EVERY_S
    _t0: float = 0.0
    _requests: int = 0
    _not_modified: int = 0
    _client_base: tuple[int, int] = (0, 0)
    _stop: threading.Event = field(default_factory=threading.Event)
    _beater: threading.Thread | None = None

    def __enter__(self) -> "SyncRun":
        self._t0 = time.monotonic()
        # This row counts the client's requests from here on: a client shared by several
        # scopes (projects, jobs) is not charged to each of them in full.
        if self.client is not None:
            self._client_base = (self.client.requests_made, self.client.not_modified)
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            self.run_id = conn.execute(schema.sync_runs.insert().values(
                source=self.source, scope=self.scope, started_at=now, heartbeat_at=now,
                outcome="running", items={}, requests=0, not_modified=0)).inserted_primary_key[0]
        self._stop.clear()
        self._beater = threading.Thread(target=self._beat, daemon=True,
                                        name=f"sync-heartbeat-{self.run_id}")
        self._beater.start()
        return self

    def _beat(self) -> None:
        runs = schema.sync_runs
        while not self._stop.wait(self.heartbeat_every):
            try:
                with self.engine.begin() as conn:
                    conn.execute(update(runs).where(runs.c.id == self.run_id,
                                                    runs.c.outcome == "running")
                                 .values(heartbeat_at=datetime.now(timezone.utc)))
            except SQLAlchemyError:
                pass  # the database is busy or gone for a moment: the next beat tries again

    def _stop_beating(self) -> None:
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout=60)
            self._beater = None

    def add(self, resource: str, count: int) -> None:
        self.items[resource] = self.items.get(resource, 0) + count

    def count_requests(self, requests: int = 0, not_modified: int = 0) -> None:
        """For runs without an HttpClient (file imports), or extra clients."""
        self._requests += requests
        self._not_modified += not_modified

    @property
    def requests(self) -> int:
        return self._requests + (self.client.requests_made - self._client_base[0]
                                 if self.client else 0)

    @property
    def not_modified(self) -> int:
        return self._not_modified + (self.client.not_modified - self._client_base[1]
                                     if self.client else 0)

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._stop_beating()
        if exc is None:
            outcome, error = "success", None
        elif isinstance(exc, SourceError):
            outcome, error = "failed", redact(str(exc))
        elif isinstance(exc, KeyboardInterrupt):
            outcome, error = "failed", "interrupted"
        else:
            outcome, error = "failed", redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:500]
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(update(schema.sync_runs).where(schema.sync_runs.c.id == self.run_id)
                         .values(finished_at=now, heartbeat_at=now, outcome=outcome,
                                 items=dict(self.items), requests=self.requests,
                                 not_modified=self.not_modified, error=error,
                                 duration_s=round(time.monotonic() - self._t0, 3)))
            bump(conn)  # a run's end (removals, imports without a cursor) is new data too
        return False


def sync_scopes(targets: Iterable[str],
                sync_one: Callable[[str], dict[str, int]]) -> dict[str, int]:
    """Sync every target (repo, job, project) — each scope in its own ``SyncRun`` inside
    ``sync_one`` — and add up the items each wrote per resource.

    A failing target does not stop the others — its one-line error is printed when more
    targets follow — and the first failure is raised at the end, so the command still fails.
    """
    targets = list(targets)
    totals: dict[str, int] = {}
    first_error: SourceError | None = None
    for target in targets:
        try:
            written = sync_one(target)
        except SourceError as exc:
            first_error = first_error or exc
            if len(targets) > 1:
                print(f"error: {redact(str(exc))}", file=sys.stderr)
            continue
        for resource, count in written.items():
            totals[resource] = totals.get(resource, 0) + count
    if first_error is not None:
        raise first_error
    return totals
