"""The portfolio: every upcoming release across teams on one screen (README "A short tour").

For each release not yet shipped: its verdict and score now (metrics.readiness), the days
left to its target, the gate that holds it back most, and its score trend from the stored
snapshots (metrics.snapshots.daily_scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Connection, select

from data.schema import releases
from metrics import gates as G
from metrics.readiness import GateResult, evaluate_release
from metrics.snapshots import daily_scores, list_snapshots, score_change

TREND_DAYS = 28


def points_lost(result: GateResult, gates: Sequence[GateResult]) -> float:
    """Score points (of 100) the gate costs: 100 × weight × (1 − credit) / Σ weight over the
    gates not waived (the score's own definition, metrics.gates.score); 0 when waived."""
    if result.status == G.WAIVED:
        return 0.0
    total = sum(g.gate.weight for g in gates if g.status != G.WAIVED)
    if total <= 0:
        return 0.0
    return 100.0 * result.gate.weight * (1.0 - G.CREDIT[result.status]) / total


def holding_back(gates: Sequence[GateResult]) -> GateResult | None:
    """The gate that holds the release back most: a blocking FAIL first (one alone makes it
    NO-GO), then the most score points lost (:func:`points_lost`), then a blocking gate before
    a non-blocking one, then catalogue order. None when no gate costs anything."""
    costly = [(i, g) for i, g in enumerate(gates) if points_lost(g, gates) > 0]
    if not costly:
        return None
    return min(costly, key=lambda ig: (not (ig[1].status == G.FAIL and ig[1].gate.blocking),
                                       -points_lost(ig[1], gates), not ig[1].gate.blocking,
                                       ig[0]))[1]


def days_to_target(target: datetime | None, today: date) -> int | None:
    """Whole days from ``today`` to the target's UTC date (negative: overdue); None without a
    target."""
    if target is None:
        return None
    return (target.astimezone(timezone.utc).date() - today).days


@dataclass(frozen=True)
class PortfolioRow:
    """One upcoming release as the portfolio shows it. ``trend`` is (UTC day, score) from
    snapshots over the last ``TREND_DAYS`` days; ``trend_change`` the points gained or lost in
    its last 7 days (None: not enough history)."""

    release_id: str
    project: str
    name: str
    team: str | None
    target_date: datetime | None
    days_to_target: int | None
    verdict: str
    score: float
    holding_back: dict | None
    trend: list[tuple[date, float]]
    trend_change: float | None
    url: str | None


def portfolio(conn: Connection, settings, *, now: datetime | None = None,
              projects: Sequence[str] | None = None) -> list[PortfolioRow]:
    """Every release not shipped yet (of ``projects``, default all), soonest target first
    (no target last), evaluated at ``now``."""
    now = now or datetime.now(timezone.utc)
    q = (select(releases.c.id, releases.c.project, releases.c.name, releases.c.target_date,
                releases.c.url)
         .where(releases.c.released_at.is_(None))
         .order_by(releases.c.target_date.is_(None), releases.c.target_date,
                   releases.c.project, releases.c.name))
    if projects is not None:
        q = q.where(releases.c.project.in_(list(projects)))
    out = []
    for r in conn.execute(q).mappings().all():
        ev = evaluate_release(conn, settings, r["id"], now=now)
        worst = holding_back(ev.gates)
        trend = daily_scores(list_snapshots(conn, r["id"]), until=now, days=TREND_DAYS)
        team = settings.team_for_project(r["project"])
        out.append(PortfolioRow(
            release_id=r["id"], project=r["project"], name=r["name"],
            team=team.name if team else None, target_date=r["target_date"],
            days_to_target=days_to_target(r["target_date"], now.date()),
            verdict=ev.verdict, score=ev.score,
            holding_back=None if worst is None else {
                "id": worst.gate.id, "label": worst.gate.label, "status": worst.status,
                "value": worst.value, "unit": worst.gate.unit,
                "threshold": worst.gate.describe_threshold(),
                "points": round(points_lost(worst, ev.gates), 1)},
            trend=trend, trend_change=score_change(trend), url=r["url"]))
    return out
