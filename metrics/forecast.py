"""Release completion forecast: Monte Carlo over the team's recent daily throughput.

Remaining scope = items in the release at ``as_of`` (metrics.membership), epics aside, not
done at ``as_of`` (rebuilt from history), counted as items. The sample = items delivered per
working day (the team's zone and working days; not-delivered resolutions excluded, see
``metrics.flow``) over the ``history_days`` calendar days before ``as_of``, across the
release's project. Each of ``trials`` trials draws a day's throughput from the sample, with
replacement, for each coming working day until the remaining count is reached; its completion
date is that working day.
P50/P85/P95 are the dates by which that share of trials finished; the probability of being on
time is the share that finished on or before the release's target date. Seeded: the same
inputs give the same forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np
from sqlalchemy import Connection, select

from data.schema import releases, work_item_changes, work_items
from data.store import in_values
from metrics.flow import daily_throughput
from metrics.history import load_histories
from metrics.membership import release_members
from metrics.registry import MetricValue, kpi

DEFAULT_SEED = 20260101
HISTORY_DAYS = 42       # six weeks: recent enough to reflect the team, long enough to vary
MAX_WORKING_DAYS = 1000  # ~4 years; trials still short of the goal then count as "not by then"
_BLOCK = 250
_FIRST_BLOCK = 32  # working days: about six weeks


@dataclass
class Forecast:
    """The forecast; dates are the team's local dates. None values mean no data."""

    release_id: str
    remaining: int | None
    p50: date | None = None
    p85: date | None = None
    p95: date | None = None
    probability_on_time: float | None = None
    target_date: date | None = None
    as_of: datetime | None = None
    samples: dict = field(default_factory=dict)
    basis: str = ""

    @property
    def has_data(self) -> bool:
        return self.p50 is not None or self.remaining == 0


def _team(settings, project: str):
    if settings is None:
        try:
            from data.config import load_settings

            settings = load_settings()
        except Exception:  # a broken config is reported by the command that loads it
            return "UTC", frozenset({0, 1, 2, 3, 4}), None
    team = settings.team_for_project(project)
    if team is None:
        return "UTC", frozenset({0, 1, 2, 3, 4}), settings
    return team.timezone, frozenset(team.working_weekdays), settings


def remaining_items(conn: Connection, release_id: str, as_of: datetime, *,
                    settings=None) -> list[str]:
    """Keys of the release's items (epics aside) that existed and were not done at ``as_of``."""
    # Items unchanged since as_of are what today's row says (done when done-category and
    # resolved by then); only items changed later need their history rebuilt.
    wi = work_items
    members = in_values(wi.c.id, release_members(conn, release_id, as_of))
    changed_later = (select(work_item_changes.c.id)
                     .where(work_item_changes.c.item_id == wi.c.id,
                            work_item_changes.c.at > as_of).exists())
    base = [members, wi.c.type != "epic", wi.c.created_at <= as_of]
    out = [key for key, cat, resolved in conn.execute(
        select(wi.c.key, wi.c.status_category, wi.c.resolved_at).where(*base, ~changed_later))
        if not (cat == "done" and (resolved is None or resolved <= as_of))]
    ids = [r[0] for r in conn.execute(select(wi.c.id).where(*base, changed_later))]
    if not ids:
        return sorted(out)
    for i in range(0, len(ids), 500):
        hist = load_histories(conn, ids[i:i + 500], fields={"status_category"})
        for h in hist.values():
            if h.row["type"] == "epic" or h.row["created_at"] > as_of:
                continue
            if h.category_or_resolved(as_of) != "done":
                out.append(h.row["key"])
    return sorted(out)


def working_days_after(start: date, n: int, working: frozenset[int]) -> list[date]:
    """The next ``n`` working days strictly after ``start``."""
    out, d = [], start
    while len(out) < n:
        d += timedelta(days=1)
        if d.weekday() in working:
            out.append(d)
    return out


def simulate(samples: np.ndarray, remaining: int, *, trials: int, seed: int,
             max_days: int = MAX_WORKING_DAYS) -> np.ndarray:
    """Working days each trial needs to deliver ``remaining`` items (``max_days + 1`` when it
    does not get there within ``max_days``). Vectorised over trials, in blocks of days that
    double from ``_FIRST_BLOCK`` up to ``_BLOCK``: most releases are weeks away, so a small first
    block spares drawing months of days nobody needs (the draws are the same distribution;
    the seed still fixes the result)."""
    rng = np.random.default_rng(seed)
    block = _FIRST_BLOCK
    done_by = np.full(trials, max_days + 1, dtype=np.int64)
    total = np.zeros(trials, dtype=np.int64)
    open_ = np.ones(trials, dtype=bool)
    day = 0
    while day < max_days and open_.any():
        width = min(block, max_days - day)
        block = min(block * 2, _BLOCK)
        idx = np.flatnonzero(open_)
        draws = rng.choice(samples, size=(idx.size, width))
        cum = total[idx, None] + np.cumsum(draws, axis=1)
        hit = cum >= remaining
        reached = hit.any(axis=1)
        done_by[idx[reached]] = day + hit[reached].argmax(axis=1) + 1
        total[idx] = cum[:, -1]
        open_[idx[reached]] = False
        day += width
    return done_by


def forecast_release(conn: Connection, release_id: str, *, as_of: datetime | None = None,
                     seed: int = DEFAULT_SEED, trials: int = 10_000, settings=None,
                     history_days: int = HISTORY_DAYS) -> Forecast:
    """Monte Carlo completion forecast for a release (see the module docstring).

    Returns a :class:`Forecast`; with no throughput in the history window (or an unknown
    release) its dates and probability are None — no data, never a guess.
    """
    as_of = as_of or datetime.now(timezone.utc)
    rel = conn.execute(select(releases).where(releases.c.id == release_id)).mappings().first()
    if rel is None:
        return Forecast(release_id, None, as_of=as_of, basis="unknown release")
    tz, working, settings = _team(settings, rel["project"])
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    target = rel["target_date"].astimezone(zone).date() if rel["target_date"] else None
    left = remaining_items(conn, release_id, as_of, settings=settings)
    fc = Forecast(release_id, len(left), target_date=target, as_of=as_of)
    today = as_of.astimezone(zone).date()
    if not left:
        fc.p50 = fc.p85 = fc.p95 = today
        fc.probability_on_time = 1.0 if target is not None else None
        fc.basis = "nothing left to do"
        return fc
    daily = daily_throughput(conn, [rel["project"]], as_of - timedelta(days=history_days),
                             as_of, tz=tz, working_days=working, settings=settings)
    sample = daily["items"].to_numpy(dtype=np.int64)
    fc.samples = {"trials": trials, "seed": seed, "history_working_days": int(sample.size),
                  "delivered": int(sample.sum()),
                  "daily_mean": float(sample.mean()) if sample.size else None,
                  "remaining_keys": left}
    if sample.size == 0 or sample.sum() == 0:
        fc.basis = f"no items delivered in the last {history_days} days: no forecast"
        return fc
    days = simulate(sample, len(left), trials=trials, seed=seed)
    finished = days <= MAX_WORKING_DAYS
    calendar = working_days_after(today, int(days[finished].max()) if finished.any() else 1,
                                  working)

    def at(q: float) -> date | None:
        # The smallest day count that at least q of the trials needed no more than.
        k = int(np.quantile(days, q, method="inverted_cdf"))
        return calendar[k - 1] if k <= MAX_WORKING_DAYS else None

    fc.p50, fc.p85, fc.p95 = at(0.50), at(0.85), at(0.95)
    if target is not None:
        on_time = sum(1 for d in calendar if d <= target)  # working days until the target
        fc.probability_on_time = float(np.mean(days <= on_time))
    counts = np.bincount(days[finished])
    fc.samples["distribution"] = [
        {"date": calendar[k - 1].isoformat(), "share": float(c / trials)}
        for k, c in enumerate(counts) if c and k >= 1]
    fc.basis = (f"{trials} trials over {sample.size} working days of throughput "
                f"({int(sample.sum())} items delivered)")
    return fc


@kpi("forecast_on_time")
def _on_time(conn, scope) -> MetricValue:
    if scope.release_id is None:
        return MetricValue(None, "fraction", basis="no release in scope")
    fc = forecast_release(conn, scope.release_id, as_of=scope.until)
    return MetricValue(fc.probability_on_time, "fraction", n=fc.remaining or 0, basis=fc.basis,
                       detail={"p50": fc.p50 and fc.p50.isoformat(),
                               "p85": fc.p85 and fc.p85.isoformat(),
                               "p95": fc.p95 and fc.p95.isoformat(),
                               "target": fc.target_date and fc.target_date.isoformat()})
