"""Gate waivers: a person accepts a failing gate for a release, with a reason and an expiry.

A waiver covers a gate at moment ``t`` when it was created at or before ``t`` and has not
expired (no ``expires_at``, or ``expires_at`` after ``t``). Expired waivers are kept (the audit
trail) but ignored. Waivers live in ``gate_waivers``; they are never deleted here.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, insert, or_, select

from data.schema import gate_waivers
from data.version import bump


class WaiverError(ValueError):
    """A waiver that cannot be recorded — one line saying what to fix."""


def add_waiver(conn: Connection, release_id: str, gate: str, *, reason: str, by: str,
               expires_at: datetime | None = None, known_gates=None,
               now: datetime | None = None) -> int:
    """Record a waiver of ``gate`` for ``release_id``; returns its id.

    ``known_gates`` (ids) is checked when given. An empty reason or name, or an expiry in the
    past, raises :class:`WaiverError`.
    """
    now = now or datetime.now(timezone.utc)
    if known_gates is not None and gate not in known_gates:
        raise WaiverError(f"unknown gate '{gate}'; known: {', '.join(sorted(known_gates))}")
    if not reason or not reason.strip():
        raise WaiverError("a waiver needs a reason: --reason TEXT")
    if not by or not by.strip():
        raise WaiverError("a waiver needs the name of who grants it: --by NAME")
    if expires_at is not None and expires_at <= now:
        raise WaiverError(f"--expires {expires_at:%Y-%m-%d} is already past; give a later date")
    res = conn.execute(insert(gate_waivers).values(
        release_id=release_id, gate=gate, reason=reason.strip(), waived_by=by.strip(),
        created_at=now, expires_at=expires_at))
    bump(conn)  # pages' caches key on the data version (data/version.py)
    return int(res.inserted_primary_key[0])


def active_waivers(conn: Connection, release_id: str, at: datetime) -> dict[str, dict]:
    """Gate id -> the waiver in force at ``at`` (the latest created, when several)."""
    q = (select(gate_waivers).where(
        gate_waivers.c.release_id == release_id, gate_waivers.c.created_at <= at,
        or_(gate_waivers.c.expires_at.is_(None), gate_waivers.c.expires_at > at))
        .order_by(gate_waivers.c.created_at, gate_waivers.c.id))
    return {r["gate"]: dict(r) for r in conn.execute(q).mappings()}


def list_waivers(conn: Connection, release_id: str) -> list[dict]:
    """Every waiver recorded for the release, newest first (expired ones included)."""
    q = (select(gate_waivers).where(gate_waivers.c.release_id == release_id)
         .order_by(gate_waivers.c.created_at.desc(), gate_waivers.c.id.desc()))
    return [dict(r) for r in conn.execute(q).mappings()]
