"""One sync per source at a time, across processes and hosts: a lease row in the database.

The scheduler, a second scheduler, a cron job, a manual ``python -m connectors sync`` and the
page's Sync now all go through :class:`SourceLease`. The first takes the source's row in
``source_leases`` and renews its ``heartbeat_at`` from a thread while it syncs; the second
finds the row held, is told who holds it and since when (:class:`LeaseHeld`), and skips that
source. A row whose heartbeat is older than :data:`LEASE_EXPIRES` belongs to a process that
died without letting go: the next one takes it over.

A row rather than an advisory lock because it works the same on SQLite and PostgreSQL, from
several hosts, and says who holds it. Every step is one short transaction: an insert that does
nothing on conflict, and updates guarded by the holder's own random ``token``, so two
processes racing for an expired lease cannot both win.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from data import schema
from data.store import insert_for

from connectors.frame.runs import ABANDONED_AFTER, HEARTBEAT_EVERY_S

# The same clock as a sync run's heartbeat (connectors/frame/runs.py): ten missed beats.
LEASE_EXPIRES = ABANDONED_AFTER


class LeaseHeld(RuntimeError):
    """Another live process syncs this source; the message names it and since when."""

    def __init__(self, source: str, holder: str, since: datetime):
        self.source, self.holder, self.since = source, holder, since
        super().__init__(f"{source}: skipped — already being synced by {holder} since "
                         f"{since:%Y-%m-%d %H:%M:%S} UTC")


def default_holder(role: str = "sync") -> str:
    """Who this process is, for the other side's message: ``sync pid 412 on web-1``."""
    return f"{role} pid {os.getpid()} on {socket.gethostname()}"[:255]


@dataclass
class SourceLease:
    """``with SourceLease(engine, "github", holder):`` — raises :class:`LeaseHeld` on entry
    when a live holder has the source; renews the heartbeat while open; lets go on exit."""

    engine: Engine
    source: str
    holder: str = field(default_factory=default_holder)
    heartbeat_every: float = HEARTBEAT_EVERY_S
    expires: timedelta = LEASE_EXPIRES
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    taken_over: tuple[str, datetime] | None = None  # (holder, since) of a dead lease taken
    _stop: threading.Event = field(default_factory=threading.Event)
    _beater: threading.Thread | None = None

    def _insert(self, conn, now: datetime) -> bool:
        """Take a free source; False when a row exists. RETURNING tells, not ``rowcount``:
        through psycopg, SQLAlchemy reported 1 for an INSERT … ON CONFLICT DO NOTHING that
        inserted nothing (seen in tests/test_source_lease.py)."""
        t = schema.source_leases
        return conn.execute(insert_for(conn, t).values(
            source=self.source, token=self.token, holder=self.holder, acquired_at=now,
            heartbeat_at=now).on_conflict_do_nothing(index_elements=["source"])
            .returning(t.c.source)).first() is not None

    def acquire(self) -> None:
        t = schema.source_leases
        now = self.now()
        with self.engine.begin() as conn:
            if self._insert(conn, now):
                return
            row = conn.execute(select(t.c.token, t.c.holder, t.c.acquired_at, t.c.heartbeat_at)
                               .where(t.c.source == self.source)).first()
            if row is None:  # let go between our insert and our look: try once more
                if self._insert(conn, now):
                    return
                row = conn.execute(select(t.c.token, t.c.holder, t.c.acquired_at,
                                          t.c.heartbeat_at)
                                   .where(t.c.source == self.source)).first()
            token, holder, since, beat = row
            if now - beat <= self.expires:
                raise LeaseHeld(self.source, holder, since)
            # Dead holder: take over, only if nobody else did in between (same token).
            taken = conn.execute(update(t).where(t.c.source == self.source, t.c.token == token)
                                 .values(token=self.token, holder=self.holder,
                                         acquired_at=now, heartbeat_at=now)).rowcount
            if not taken:
                current = conn.execute(select(t.c.holder, t.c.acquired_at)
                                       .where(t.c.source == self.source)).first()
                raise LeaseHeld(self.source, *(current or (holder, since)))
            self.taken_over = (holder, since)

    def renew(self) -> bool:
        """One heartbeat; False when the lease is no longer ours (taken over)."""
        t = schema.source_leases
        with self.engine.begin() as conn:
            return bool(conn.execute(update(t).where(t.c.source == self.source,
                                                     t.c.token == self.token)
                                     .values(heartbeat_at=self.now())).rowcount)

    def release(self) -> None:
        t = schema.source_leases
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.source == self.source, t.c.token == self.token))

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                self.renew()
            except SQLAlchemyError:
                pass  # busy for a moment: the next beat tries again, well before expiry

    def __enter__(self) -> "SourceLease":
        self.acquire()
        self._stop.clear()
        self._beater = threading.Thread(target=self._beat, daemon=True,
                                        name=f"lease-{self.source}")
        self._beater.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout=60)
            self._beater = None
        try:
            self.release()
        except SQLAlchemyError:
            pass  # the row expires on its own: the next sync takes it over
        return False


def lease_rows(engine: Engine) -> dict[str, dict]:
    """Every current lease by source: holder, acquired_at, heartbeat_at."""
    t = schema.source_leases
    with engine.connect() as conn:
        return {r.source: {"holder": r.holder, "acquired_at": r.acquired_at,
                           "heartbeat_at": r.heartbeat_at}
                for r in conn.execute(select(t.c.source, t.c.holder, t.c.acquired_at,
                                             t.c.heartbeat_at))}
