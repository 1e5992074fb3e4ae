"""Sync bookkeeping shared by every connector: runs, cursors, raw records.

The rules every connector follows:
- a run is recorded in ``sync_runs`` when it starts and closed with its outcome, counts,
  requests and (one-line, redacted) error — in its own transaction, so a failure is logged;
- each page is written in one transaction: raw records, domain rows, then (last) the cursor, so
  the cursor never moves past data that is not committed and a rerun resumes where it stopped;
- nothing is deleted on failure: earlier syncs' rows stay as they were. Items are removed
  only after a complete listing shows the source no longer has them (:func:`remove_items`):
  complete means its last page was reached by the source's own paging and every page parsed;
  the number listed must then not fall short of the count the source reports, where it
  reports one (:func:`check_listed`); and one sync removes at most ``[app] max_delete_share``
  of a scope's stored items unless ``--allow-mass-delete`` is given (:func:`check_share`);
- an answer of the wrong shape (``null``, a list for an object, a missing id) stops the sync
  with one line naming the resource and page (:func:`reading`); nothing of it is stored.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from net.http import BadResponse, SourceError, redact
from data import schema
from data.store import in_values, upsert


@dataclass
class SyncState:
    cursor: str | None = None
    etag: str | None = None
    pending: list | None = None


def get_state(conn: Connection, source: str, scope: str, resource: str) -> SyncState:
    t = schema.sync_state
    row = conn.execute(select(t.c.cursor, t.c.etag, t.c.pending).where(
        t.c.source == source, t.c.scope == scope, t.c.resource == resource)).first()
    return SyncState(*row) if row else SyncState()


def set_state(conn: Connection, source: str, scope: str, resource: str, *,
              cursor: str | None = None, etag: str | None = None,
              pending: list | None = None) -> None:
    """Store the cursor/etag/pending list. Call it in the transaction that wrote the data."""
    row: dict[str, Any] = {"source": source, "scope": scope, "resource": resource,
                           "updated_at": datetime.now(timezone.utc)}
    if cursor is not None:
        row["cursor"] = cursor
    if etag is not None:
        row["etag"] = etag
    if pending is not None:
        row["pending"] = pending
    upsert(conn, schema.sync_state, [row])


def save_raw(conn: Connection, source: str, resource: str, scope: str,
             items: Iterable[tuple[str, Any]]) -> int:
    """Store API items as received: ``items`` is ``(external_id, payload)`` pairs."""
    now = datetime.now(timezone.utc)
    return upsert(conn, schema.raw_records, (
        {"source": source, "resource": resource, "external_id": str(ext), "scope": scope,
         "fetched_at": now, "payload": payload} for ext, payload in items))


DEFAULT_MAX_DELETE_SHARE = 0.1


@dataclass(frozen=True)
class DeletePolicy:
    """How much one sync may remove: at most ``max_share`` (0..1) of a scope's stored items,
    unless ``allow_mass_delete`` (the ``--allow-mass-delete`` flag) lifts the limit."""

    max_share: float = DEFAULT_MAX_DELETE_SHARE
    allow_mass_delete: bool = False

    @classmethod
    def from_settings(cls, settings: Any, allow_mass_delete: bool = False) -> "DeletePolicy":
        app = getattr(settings, "app", None) or {}
        return cls(float(app.get("max_delete_share", DEFAULT_MAX_DELETE_SHARE)),
                   bool(allow_mass_delete))


class RemovalRefused(SourceError):
    """Items the source no longer lists were kept: the listing could not be trusted, or they
    were too many. What the sync fetched is stored; only the removal is skipped."""

    kind = "removal_refused"


def check_listed(source: str, scope: str, what: str, *, listed: int, reported: int,
                 tolerance: int = 0) -> None:
    """Refuse a removal when a complete listing of ``listed`` items falls short of the count
    the source ``reported`` by more than ``tolerance`` (an approximate count's slack; 0 for an
    exact one): items the source has were then not listed, and would be taken for deleted.
    A listing longer than the count is no such sign (an item deleted while it was read)."""
    if reported - listed > tolerance:
        raise RemovalRefused(
            f"{source}: {scope}: listed {listed} {what} but {source} reports {reported} — "
            "nothing removed (the listing may have been cut short); rerun the sync")


def check_share(source: str, scope: str, what: str, *, gone: int, stored: int,
                policy: DeletePolicy) -> None:
    """Refuse to remove more than ``policy.max_share`` of the ``stored`` items of a scope in
    one sync, unless the policy allows a mass deletion."""
    if gone and not policy.allow_mass_delete and gone > policy.max_share * stored:
        raise RemovalRefused(
            f"{source}: {scope}: {gone} of {stored} stored {what} would be removed, more than "
            f"[app] max_delete_share = {policy.max_share:g} — nothing removed; if they really "
            "were deleted at the source, rerun with --allow-mass-delete")


def note_unverified(run: "SyncRun | None", source: str, scope: str, what: str,
                    reason: str) -> None:
    """Say (on stderr and in the run's counts, as ``unverified_listings``) that a listing's
    size could not be checked against the source's count; the share limit still applies."""
    print(f"{source}: {scope}: could not check the number of {what} listed against "
          f"{source}'s count ({redact(reason)}); removals are held to [app] max_delete_share",
          file=sys.stderr, flush=True)
    if run is not None:
        run.add("unverified_listings", 1)


_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@contextmanager
def reading(source: str, where: Callable[[], str]) -> Iterator[None]:
    """Turn an answer of the wrong shape met while reading it (a missing field, ``null`` or a
    list where an object belongs) into one :class:`BadResponse` line naming ``where()`` —
    the resource and page. Transactions inside roll back, so what was stored stays."""
    try:
        yield
    except SourceError:
        raise
    except _SHAPE_ERRORS as exc:
        detail = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:200]
        raise BadResponse(
            f"{source}: malformed answer in {where()} ({detail}) — stored data is intact; "
            "rerun, and report it if it persists") from None


def bad_shape(source: str, where: str, expected: str, got: Any) -> BadResponse:
    """The one-line error for an answer that is not what the endpoint returns."""
    return BadResponse(
        f"{source}: malformed answer in {where}: expected {expected}, got {_kind(got)} — "
        "stored data is intact; rerun, and report it if it persists")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def remove_items(conn: Connection, source: str, resource: str, gone: Mapping[str, str], *,
                 scope: str, stored: int, policy: DeletePolicy) -> int:
    """Delete work items their source no longer has — deleted there, or moved to a project or
    repository not synced under this scope. ``gone`` maps each work item id to the external id
    of its raw record. Its changes, sprint and release membership, incident and raw record go
    with it; scope snapshots stay, as the record of what a scope held at the time.

    ``stored`` is how many items the scope holds: removing more than ``policy.max_share`` of
    them raises :class:`RemovalRefused` and removes nothing (:func:`check_share`).
    Returns the number of work items removed."""
    check_share(source, scope, resource, gone=len(gone), stored=stored, policy=policy)
    removed = 0
    pairs = list(gone.items())
    for start in range(0, len(pairs), 500):
        ids = [i for i, _ in pairs[start:start + 500]]
        external = [e for _, e in pairs[start:start + 500]]
        for table, column in ((schema.work_item_changes, "item_id"),
                              (schema.sprint_items, "item_id"),
                              (schema.release_items, "item_id"),
                              (schema.incidents, "work_item_id")):
            conn.execute(delete(table).where(in_values(table.c[column], ids)))
        raw = schema.raw_records
        conn.execute(delete(raw).where(raw.c.source == source, raw.c.resource == resource,
                                       in_values(raw.c.external_id, external)))
        removed += conn.execute(delete(schema.work_items).where(
            in_values(schema.work_items.c.id, ids))).rowcount
    return removed


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
    client: Any = None  # an HttpClient, for request counts
    items: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None
    heartbeat_every: float = HEARTBEAT_EVERY_S
    _t0: float = 0.0
    _requests: int = 0
    _not_modified: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _beater: threading.Thread | None = None

    def __enter__(self) -> "SyncRun":
        self._t0 = time.monotonic()
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
        return self._requests + (self.client.requests_made if self.client else 0)

    @property
    def not_modified(self) -> int:
        return self._not_modified + (self.client.not_modified if self.client else 0)

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
        return False


def sync_each(targets: Iterable[str], sync_one: Callable[[str], dict[str, int]]) -> dict[str, int]:
    """Sync every target (repo, job, project) and add up the items each wrote per resource.

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
