"""How old each source's data is at a moment: the one definition the status command, the
pages' freshness line and the ``data_fresh`` gate share (README "Data freshness").

- A source's data **age** at ``as_of`` is ``as_of`` minus the end of its last successful sync
  run that finished at or before ``as_of`` (any of its scopes), in hours. With no such run
  the age is unknown (None): nothing says how current the data is.
- Its **state**: ``failing`` when the latest finished run of any of its scopes failed;
  ``stale`` when the age is over the limit; ``never`` with no successful run; else ``ok``.
- The limit is ``[gates.data_fresh] max_age_hours`` in readiness.toml (default 24 h, the
  gate's own default in metrics/gates.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, func, select

from data import schema

DEFAULT_MAX_AGE_HOURS = 24.0
GATE_ID = "data_fresh"


def max_age_hours(settings) -> float:
    """The configured limit: ``[gates.data_fresh] max_age_hours``, else 24."""
    value = (getattr(settings, "gates", {}) or {}).get(GATE_ID, {}).get("max_age_hours")
    return float(value) if value is not None else DEFAULT_MAX_AGE_HOURS


@dataclass(frozen=True)
class SourceAge:
    """One source's freshness at ``as_of``."""

    source: str
    last_success: datetime | None
    age_hours: float | None  # None: no successful sync by as_of
    state: str  # ok / stale / failing / never
    error: str | None = None  # the failing run's one line

    def to_dict(self) -> dict:
        return {"source": self.source,
                "last_success": self.last_success.isoformat() if self.last_success else None,
                "age_hours": None if self.age_hours is None else round(self.age_hours, 2),
                "state": self.state, "error": self.error}


def source_ages(conn: Connection, as_of: datetime | None = None,
                sources: list[str] | None = None, *,
                limit_hours: float = DEFAULT_MAX_AGE_HOURS) -> list[SourceAge]:
    """Freshness of ``sources`` (default: every source with a finished run by ``as_of``),
    sorted by source name, read from ``sync_runs`` only."""
    as_of = as_of or datetime.now(timezone.utc)
    r = schema.sync_runs
    finished = r.c.finished_at.is_not(None) & (r.c.finished_at <= as_of)
    last_ok = dict(conn.execute(
        select(r.c.source, func.max(r.c.finished_at))
        .where(finished, r.c.outcome == "success").group_by(r.c.source)).all())
    latest_ids = (select(func.max(r.c.id)).where(finished, r.c.outcome.in_(("success", "failed")))
                  .group_by(r.c.source, r.c.scope))
    failing: dict[str, str | None] = {}
    for source, error in conn.execute(select(r.c.source, r.c.error).where(
            r.c.id.in_(latest_ids), r.c.outcome == "failed")):
        failing.setdefault(source, error)
    names = sorted(sources if sources is not None
                   else set(last_ok) | set(failing) | set(conn.execute(
                       select(r.c.source).where(finished).distinct()).scalars()))
    out = []
    for name in names:
        last = last_ok.get(name)
        age = None if last is None else max((as_of - last).total_seconds(), 0.0) / 3600
        if name in failing:
            state = "failing"
        elif age is None:
            state = "never"
        elif age > limit_hours:
            state = "stale"
        else:
            state = "ok"
        out.append(SourceAge(name, last, age, state, failing.get(name)))
    return out


def format_age(hours: float | None) -> str:
    """``35 min``, ``5.2 h``, ``3.1 days``; ``never synced`` for None."""
    if hours is None:
        return "never synced"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"
