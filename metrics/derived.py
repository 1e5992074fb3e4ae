"""Derived views: what a page's default view computes, stored once per data version.

The heaviest part of a first render is the same work every time until the data changes: the
DORA keys now, before and per month with each team's (Delivery), the test KPIs with the
flaky, slowest and newly failing tests (Quality), and velocity over the last closed sprints
(Sprint). :func:`derive_defaults` computes those for the pages' default filters and stores
them in ``derived_views`` (data/derived.py); a render asks :func:`lookup` first and computes
only on a miss — then stores what it computed, so the next cold render (another browser, a
restart, another app process) reads it.

A stored view is used only when all of these hold (anything else is a miss, never a guess):
- it was computed at the data version the render reads (data/version.py: every write by any
  process advances it), so a sync is never hidden;
- with the same configuration (readiness.toml's content: teams, mapping, gates) and the same
  code (metrics/ and data/ sources), both in its parameter hash, so an edit or an upgrade
  recomputes;
- for the same parameters (filters, options) on the same UTC day;
- less than :data:`MAX_AGE` ago: a default window ends "now", so a stored one may lag the
  clock by up to that much at its start (never the data: no write happened since). The page
  caches (ui/loaders.py) allow the same kind of lag, for five minutes.

The definitions are the views' own (metrics/views.py); storing changes no number: tests
compare each view read back with the view computed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from data import derived as store
from data.schema import sprints
from data.store import has_sourced_rows, read_snapshot
from data.version import current
from metrics import codec, views
from metrics.scope import resolve_scope

MAX_AGE = timedelta(hours=1)
SCOPE_KEYS = ("team", "project", "sprint", "release", "since", "until")
MISSING = object()

# view name -> fn(conn, settings, resolved scope, **options)
VIEWS: dict[str, Callable[..., Any]] = {
    "delivery": lambda conn, settings, sc, previous: views.delivery_view(
        conn, settings, sc, previous),
    "quality_tests": lambda conn, settings, sc, ids: views.quality_tests_view(conn, sc, ids),
    "velocity": lambda conn, settings, sc, n: views.sprint_velocity(conn, sc, n),
}


def scope_args(**given) -> dict:
    """resolve_scope's filter arguments with every key present (None when not given), so one
    request has one form whoever builds it."""
    unknown = set(given) - set(SCOPE_KEYS)
    if unknown:
        raise TypeError(f"not a scope argument: {sorted(unknown)}")
    return {k: given.get(k) for k in SCOPE_KEYS}


@dataclass(frozen=True)
class Request:
    """One view for one set of filters: ``scope`` are resolve_scope's arguments (names and
    dates, as a page holds them) and ``options`` the view's own, plain values."""

    view: str
    scope: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def params_hash(self, settings, day) -> str:
        """sha256 of the request, the UTC day, the configuration and the code."""
        text = json.dumps(codec.encode({"view": self.view, "scope": scope_args(**self.scope),
                                        "options": self.options, "day": day}),
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(
            f"{text}|{settings_fingerprint(settings)}|{code_fingerprint()}".encode()
        ).hexdigest()


def compute(conn: Connection, settings, request: Request) -> Any:
    """The view computed now, on ``conn`` (what is stored, and what a miss renders)."""
    sc = resolve_scope(conn, settings, **scope_args(**request.scope))
    return VIEWS[request.view](conn, settings, sc, **request.options)


def lookup(conn: Connection, settings, request: Request, *, version: int,
           now: datetime | None = None) -> Any:
    """The stored view for ``request`` at data ``version`` (read on ``conn``, in the render's
    snapshot), or :data:`MISSING`. A payload that does not decode is a miss."""
    now = now or datetime.now(timezone.utc)
    text = store.fetch(conn, request.view, request.params_hash(settings, now.date()),
                       data_version=version, newer_than=now - MAX_AGE)
    if text is None:
        return MISSING
    try:
        return codec.loads(text)
    except (ValueError, TypeError, KeyError):
        return MISSING


def remember(engine: Engine, settings, request: Request, value: Any, *, version: int,
             now: datetime | None = None) -> bool:
    """Store ``value`` as ``request``'s view computed at data ``version``. Best effort: False
    when the value has no stored form or the database is busy (nothing is written)."""
    now = now or datetime.now(timezone.utc)
    try:
        payload = codec.dumps(value)
    except TypeError:
        return False
    return store.store(engine, request.view, request.params_hash(settings, now.date()),
                       data_version=version, computed_at=now, payload=payload)


def default_requests(conn: Connection, settings, *, now: datetime | None = None
                     ) -> list[Request]:
    """The requests the pages make with no filter set: Delivery (DORA keys now and over the
    window before, monthly, teams), Quality (its headline and test lists) and Sprint
    (velocity of the default sprint's project)."""
    base = resolve_scope(conn, settings, now=now)
    out = [Request("delivery", scope_args(),
                   {"previous": scope_args(**views.previous_window(base))}),
           Request("quality_tests", scope_args(), {"ids": views.QUALITY_IDS})]
    if base.sprint_id is not None:
        project = conn.execute(select(sprints.c.project)
                               .where(sprints.c.id == base.sprint_id)).scalar()
        out.append(Request("velocity", scope_args(project=project),
                           {"n": views.VELOCITY_SPRINTS}))
    return out


@dataclass(frozen=True)
class Derived:
    """What :func:`derive_defaults` did for one request."""

    request: Request
    seconds: float
    stored: bool


def derive_defaults(engine: Engine, settings, *, now: datetime | None = None,
                    younger_than: timedelta | None = None) -> list[Derived]:
    """Compute the pages' default views on one state of the data and store them (the
    scheduler after each round, ``python -m metrics derive``, ``make run``). Nothing on a
    database without data. ``younger_than``: leave out the views already stored for this
    data version less than that long ago (the scheduler's rounds recompute only what is
    missing or ageing)."""
    now = now or datetime.now(timezone.utc)
    computed = []
    with read_snapshot(engine) as conn:
        if not has_sourced_rows(conn):
            return []
        version = current(conn)
        for request in default_requests(conn, settings, now=now):
            if younger_than is not None and store.fetch(
                    conn, request.view, request.params_hash(settings, now.date()),
                    data_version=version, newer_than=now - younger_than) is not None:
                continue
            started = time.perf_counter()
            value = compute(conn, settings, request)
            computed.append((request, value, time.perf_counter() - started))
    return [Derived(request, seconds,
                    remember(engine, settings, request, value, version=version, now=now))
            for request, value, seconds in computed]


# --- fingerprints -----------------------------------------------------------------------------
def settings_fingerprint(settings) -> str:
    """sha256 of the configuration's content (not its path: the app and the scheduler may
    name one file differently)."""
    if dataclasses.is_dataclass(settings):
        settings = dataclasses.replace(settings, path=None)
    return hashlib.sha256(json.dumps(_stable(settings), sort_keys=True).encode()).hexdigest()


def _stable(x: Any) -> Any:
    """A JSON-able form of ``x`` that is the same in every process (sets sorted: their
    iteration order follows string hashing, which differs per process)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _stable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if hasattr(x, "model_dump"):  # pydantic models
        return _stable(x.model_dump())
    if isinstance(x, dict):
        return {str(k): _stable(v) for k, v in x.items()}
    if isinstance(x, (set, frozenset)):
        return sorted((_stable(v) for v in x), key=repr)
    if isinstance(x, (list, tuple)):
        return [_stable(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return repr(x)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the metrics and data layers' sources: an upgrade recomputes every view."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("metrics/**/*.py"), *root.glob("data/**/*.py")]):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


__all__ = ["MAX_AGE", "MISSING", "VIEWS", "Request", "Derived", "scope_args", "compute",
           "lookup", "remember", "default_requests", "derive_defaults",
           "settings_fingerprint", "code_fingerprint"]
