"""The scheduler: a round every ``--every`` seconds (default 1800), each a list of steps.

A round is, in order (:data:`STEPS`):

1. ``sync`` — every source configured in readiness.toml, each under its lease
   (connectors/sources.py): one log line per source — ``ok`` with what it wrote, ``skipped``
   when another process holds the source, ``failed`` with its one-line error, or ``backing
   off`` while a source that failed waits for its next try;
2. ``snapshots`` — the daily readiness snapshot of every upcoming (unreleased) release: at
   most one per release per UTC day, evaluated and stored as ``metrics readiness`` does;
3. ``notifications`` — what is due, through ``metrics.notify.send_due`` (with no
   ``[notify] to``, one line ``notifications: not configured``, said once);
4. ``derived views`` — the pages' default views computed for the data now and stored
   (``metrics.derived.derive_defaults``), so the first render after a sync reads them.

Backoff: after ``n`` consecutive failures a source is next tried ``every × 2^(n-1)`` seconds
after the failure (capped at :data:`MAX_BACKOFF_S`), so a source that is down is not hammered
twice an hour. Jitter: each wait is ``every`` ± 10 %, so schedulers started together (and the
cron jobs of several installations) do not hit a source at the same second.

Nothing configured: one line saying so, then the scheduler idles (it re-reads readiness.toml
every round) instead of exiting — a service manager would only restart it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import SQLAlchemyError

from connectors.frame.lease import LeaseHeld, default_holder
from connectors.progress import Progress
from connectors.sources import sync_source
from data import schema
from data.config import ConfigError
from data.store import read_snapshot
from metrics import notify
from net.http import SourceError, redact

DEFAULT_EVERY_S = 1800.0
STOPPED = 130  # exit code when stopped (SIGTERM, like Ctrl-C)
JITTER = 0.1
MAX_BACKOFF_S = 6 * 3600.0


@dataclass
class RoundResult:
    """What one round did, per source: ``ok``, ``skipped``, ``failed`` or ``backing off``."""

    sources: dict[str, str] = field(default_factory=dict)
    snapshots: int = 0

    @property
    def failed(self) -> list[str]:
        return [s for s, outcome in self.sources.items() if outcome == "failed"]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _print(line: str) -> None:
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC {line}", flush=True)


@dataclass
class Scheduler:
    """Runs rounds. ``load_settings`` is called at each round (so an edited readiness.toml
    counts from the next round); ``clock``, ``sleep`` and ``rand`` are injected so tests
    neither wait nor guess."""

    engine: Engine
    load_settings: Callable[[], object]
    every: float = DEFAULT_EVERY_S
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], object] | None = None  # default: wait on ``stop``
    rand: random.Random = field(default_factory=random.Random)
    log: Callable[[str], None] = _print
    holder: str = field(default_factory=lambda: default_holder("scheduler"))
    stop: threading.Event = field(default_factory=threading.Event)  # set: stop when safe
    failures: dict[str, int] = field(default_factory=dict)
    next_try: dict[str, datetime] = field(default_factory=dict)
    _idle_said: bool = False
    _notify_said: bool = False

    # --- steps -------------------------------------------------------------------------
    def sync_step(self, settings, result: RoundResult) -> None:
        names = settings.configured_sources()
        if not names:
            if not self._idle_said:
                self.log("sync: no source is configured in readiness.toml — idling; "
                         "add [github], [gitlab], [jira] or [jenkins] (see readiness.toml.example)")
                self._idle_said = True
            return
        self._idle_said = False
        for name in names:
            if self.stop.is_set():  # asked to stop: not another source
                return
            result.sources[name] = self._sync_one(settings, name)

    def _sync_one(self, settings, name: str) -> str:
        now = self.clock()
        due = self.next_try.get(name)
        if due is not None and now < due:
            self.log(f"{name}: backing off after {self.failures[name]} failed rounds; next try "
                     f"at {due:%Y-%m-%d %H:%M} UTC")
            return "backing off"
        started = time.monotonic()
        try:
            with Progress(name, terminal=False) as progress:
                written = sync_source(name, settings, self.engine, progress, holder=self.holder)
        except LeaseHeld as held:
            self.log(str(held))
            return "skipped"
        except (SourceError, SQLAlchemyError, OSError) as exc:
            n = self.failures[name] = self.failures.get(name, 0) + 1
            wait = min(self.every * 2 ** (n - 1), MAX_BACKOFF_S)
            self.next_try[name] = self.clock() + timedelta(seconds=wait)
            reason = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(exc, SQLAlchemyError):  # never the statement or its parameters
                reason = f"database: {type(exc).__name__}"
            self.log(f"{name}: failed — {reason}; next try in {_duration(wait)} "
                     f"({n} in a row)")
            return "failed"
        self.failures.pop(name, None)
        self.next_try.pop(name, None)
        summary = ", ".join(f"{k} {v}" for k, v in written.items()) or "nothing new"
        self.log(f"{name}: ok — {summary} ({time.monotonic() - started:.1f} s)")
        return "ok"

    def snapshot_step(self, settings, result: RoundResult) -> None:
        """One readiness snapshot per upcoming release per UTC day."""
        from metrics.readiness import evaluate_release
        from metrics.snapshots import save_snapshot

        now = self.clock()
        day = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
        rel, snap = schema.releases, schema.readiness_snapshots
        with self.engine.connect() as conn:
            due = conn.execute(
                select(rel.c.id).where(rel.c.state == "unreleased", ~select(snap.c.id).where(
                    and_(snap.c.release_id == rel.c.id, snap.c.evaluated_at >= day,
                         snap.c.evaluated_at < day + timedelta(days=1))).exists())
                .order_by(rel.c.id)).scalars().all()
        for release_id in due:
            try:
                with read_snapshot(self.engine) as conn:  # one state of the data
                    ev = evaluate_release(conn, settings, release_id, now=now)
                with self.engine.begin() as conn:
                    save_snapshot(conn, ev)
                result.snapshots += 1
            except (ConfigError, SQLAlchemyError) as exc:
                reason = (str(exc) if isinstance(exc, ConfigError)
                          else f"database: {type(exc).__name__}")
                self.log(f"snapshots: {release_id} not evaluated — {reason}")
        if due:
            self.log(f"snapshots: {result.snapshots} of {len(due)} upcoming releases evaluated")

    def notify_step(self, settings, result: RoundResult) -> None:
        """Verdict changes and the daily digest (``metrics.notify.send_due``; README,
        Notifications). With no ``[notify] to`` it says so once: an idle scheduler stays at
        one line."""
        if settings.notify.to is None:
            if not self._notify_said:
                self.log("notifications: not configured")
                self._notify_said = True
            return
        try:
            outcomes = notify.send_due(self.engine, settings, now=self.clock())
        except Exception as exc:  # a notifier's failure must not stop the next round
            reason = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            self.log(f"notifications: failed — {reason}")
            return
        if not outcomes:
            self.log("notifications: none due")
            return
        by_status: dict[str, int] = {}
        for o in outcomes:
            by_status[o.status] = by_status.get(o.status, 0) + 1
        self.log("notifications: " + ", ".join(f"{n} {status}"
                                                for status, n in sorted(by_status.items())))

    def derive_step(self, settings, result: RoundResult) -> None:
        """The pages' default views for the data this round left (metrics/derived.py): one
        line with what was stored and how long it took, when anything was due."""
        from metrics.derived import MAX_AGE, derive_defaults

        started = time.monotonic()
        try:
            # Views stored less than half their life ago stay: an idle round derives nothing
            # and says nothing.
            done = derive_defaults(self.engine, settings, now=self.clock(),
                                   younger_than=MAX_AGE / 2)
        except Exception as exc:  # only speed is lost: the pages compute on first view
            reason = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
            self.log(f"derived views: failed — {reason}")
            return
        if not done:
            return
        stored = sum(d.stored for d in done)
        self.log(f"derived views: {stored} of {len(done)} stored "
                 f"({time.monotonic() - started:.1f} s)")

    STEPS = ("sync_step", "snapshot_step", "notify_step", "derive_step")

    # --- rounds ------------------------------------------------------------------------
    def round(self) -> RoundResult:
        result = RoundResult()
        settings = self.load_settings()
        for step in self.STEPS:
            getattr(self, step)(settings, result)
        return result

    def wait(self) -> float:
        """Seconds until the next round: ``every`` ± 10 %."""
        return round(self.every * (1 + self.rand.uniform(-JITTER, JITTER)), 3)

    def run(self, *, once: bool = False, rounds: int | None = None) -> int:
        """Run rounds until interrupted (or one with ``once``; ``rounds`` bounds a test).
        Returns the exit code: with ``once``, 1 when a source failed, else 0."""
        done = 0
        while True:
            try:
                result = self.round()
            except ConfigError as exc:  # an edit broke readiness.toml: say so, keep going
                self.log(f"config: {exc} — nothing synced this round")
                result = RoundResult()
                if once:
                    return 2
            done += 1
            if once:
                return 1 if result.failed else 0
            if rounds is not None and done >= rounds:
                return 0
            (self.sleep or self.stop.wait)(self.wait())
            if self.stop.is_set():
                self.log("scheduler stopped")
                return STOPPED


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
