"""Flow metrics: cycle time, lead time, throughput and cumulative flow.

- cycle time = done − first move to in progress (hours);
- lead time = done − created (hours);
- "done" is ``resolved_at`` (the last resolution), else the last move into the done category;
- items resolved as not delivered (won't do, duplicate, not planned: ``resolution_category``
  ``not_delivered`` or a resolution named in ``mapping.not_delivered_resolutions``) are left out
  of cycle time, lead time and throughput — they are not delivered work; epics are left out too
  (they are containers, counted through their children).
Weeks start on Monday in the team's zone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, or_, select

from data.config import MappingSettings
from data.schema import work_items
from metrics.history import ItemHistory, load_histories
from metrics.registry import MetricValue, kpi

_EPS = timedelta(microseconds=1)
DEFAULT_NOT_DELIVERED = tuple(MappingSettings().not_delivered_resolutions)


def not_delivered_names(settings=None) -> set[str]:
    names = (settings.mapping.not_delivered_resolutions if settings is not None
             else DEFAULT_NOT_DELIVERED)
    return {n.lower() for n in names}


def is_delivered(row: dict, not_delivered: set[str]) -> bool:
    """A done item counts as delivered unless its resolution says otherwise."""
    if row.get("resolution_category") == "not_delivered":
        return False
    return (row.get("resolution") or "").lower() not in not_delivered


def percentiles(values, qs=(50, 85, 95)) -> dict[str, float | None]:
    """``{"p50": …}`` by linear interpolation (numpy's default); None for no values."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return {f"p{q}": None for q in qs}
    return {f"p{q}": float(np.percentile(arr, q)) for q in qs}


def _done_at(h: ItemHistory) -> datetime | None:
    if h.row.get("resolved_at") is not None:
        return h.row["resolved_at"]
    tl = h.category()
    last = None
    for t, v in zip(tl.times, tl.values):
        if v == "done":
            last = t
    return last


def _started_at(h: ItemHistory) -> datetime | None:
    t = h.category().first_time(lambda v: v == "in_progress")
    if t is None:
        return h.row.get("started_at")
    return min(t, h.row["started_at"]) if h.row.get("started_at") else t


def _scope_filter(projects, types=None):
    cond = and_(work_items.c.project.in_(list(projects)), work_items.c.type != "epic")
    if types:
        cond = and_(cond, work_items.c.type.in_(list(types)))
    return cond


ITEM_COLUMNS = ["key", "title", "url", "type", "points", "created_at", "started_at", "done_at",
                "cycle_time_h", "lead_time_h"]


def delivered_items(conn: Connection, projects, since: datetime, until: datetime, *,
                    settings=None, types=None) -> pd.DataFrame:
    """Items delivered (done, not "not delivered") in [since, until), with cycle and lead time
    in hours. ``cycle_time_h`` is NaN for an item never seen in progress."""
    nd = not_delivered_names(settings)
    # resolved_at bounds the candidates; items done without a resolution date are checked
    # against their history.
    where = and_(_scope_filter(projects, types), work_items.c.status_category == "done",
                 or_(and_(work_items.c.resolved_at >= since, work_items.c.resolved_at < until),
                     work_items.c.resolved_at.is_(None)))
    hist = load_histories(conn, where=where, fields={"status_category"})
    rows = []
    for h in hist.values():
        if not is_delivered(h.row, nd):
            continue
        done = _done_at(h)
        if done is None or not (since <= done < until):
            continue
        started = _started_at(h)
        created = h.row["created_at"]
        rows.append({"key": h.row["key"], "title": h.row["title"], "url": h.row["url"],
                     "type": h.row["type"], "points": h.row["story_points"],
                     "created_at": created, "started_at": started, "done_at": done,
                     "cycle_time_h": (done - started).total_seconds() / 3600
                     if started and started <= done else np.nan,
                     "lead_time_h": (done - created).total_seconds() / 3600})
    df = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    return df.sort_values("done_at", kind="stable").reset_index(drop=True)


def cycle_times(conn: Connection, projects, *, since: datetime, until: datetime,
                settings=None) -> pd.DataFrame:
    """One row per item delivered in [since, until) that was seen in progress: key, title,
    url, done_at, cycle_time_h and ``days`` (the cycle time in days, for the scatter)."""
    df = delivered_items(conn, projects, since, until, settings=settings)
    df = df.dropna(subset=["cycle_time_h"]).reset_index(drop=True)
    return df.assign(days=df["cycle_time_h"] / 24.0)[
        ["key", "title", "url", "done_at", "cycle_time_h", "lead_time_h", "days"]]


def delivered_done_times(conn: Connection, projects, since: datetime, until: datetime, *,
                         settings=None) -> list[datetime]:
    """When each item of :func:`delivered_items` was done — the same items and times, without
    rebuilding history for items that carry a resolution date (their done time is that date,
    as in ``_done_at``); only undated done items are looked up in their history."""
    nd = not_delivered_names(settings)
    done = and_(_scope_filter(projects), work_items.c.status_category == "done")
    rc = work_items.c
    out = [at for res, cat, at in conn.execute(
        select(rc.resolution, rc.resolution_category, rc.resolved_at)
        .where(done, rc.resolved_at >= since, rc.resolved_at < until))
        if is_delivered({"resolution": res, "resolution_category": cat}, nd)]
    undated = load_histories(conn, where=and_(done, rc.resolved_at.is_(None)),
                             fields={"status_category"})
    if undated:
        for h in undated.values():
            t = _done_at(h) if is_delivered(h.row, nd) else None
            if t is not None and since <= t < until:
                out.append(t)
    return sorted(out)


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def weekly_throughput(conn: Connection, projects, since: datetime, until: datetime, *,
                      tz: str = "UTC", settings=None) -> pd.DataFrame:
    """Items (and points) delivered per week (Monday start in ``tz``); weeks without deliveries
    are listed with 0. Columns: week, items, points."""
    df = delivered_items(conn, projects, since, until, settings=settings)
    zone = ZoneInfo(tz)
    first = _week_start(since.astimezone(zone).date())
    last = _week_start((until - timedelta(microseconds=1)).astimezone(zone).date())
    weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    out = pd.DataFrame({"week": weeks, "items": 0, "points": 0.0})
    if not df.empty:
        wk = df["done_at"].map(lambda t: _week_start(t.astimezone(zone).date()))
        g = df.assign(week=wk).groupby("week").agg(items=("key", "size"),
                                                   points=("points", "sum"))
        out = out.set_index("week")
        out.loc[g.index, "items"] = g["items"].values
        out.loc[g.index, "points"] = g["points"].fillna(0).values
        out = out.reset_index()
    return out


def daily_throughput(conn: Connection, projects, since: datetime, until: datetime, *,
                     tz: str = "UTC", working_days=frozenset({0, 1, 2, 3, 4}),
                     settings=None) -> pd.DataFrame:
    """Items delivered per working day in ``tz`` (days without deliveries listed with 0).

    Work finished on a non-working day is counted on the next working day, so no delivery is
    lost from the sample. Columns: day, items.
    """
    zone = ZoneInfo(tz)
    done_times = delivered_done_times(conn, projects, since, until, settings=settings)
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    wdays = [d for d in days if d.weekday() in working_days]
    counts = dict.fromkeys(wdays, 0)
    for t in done_times:
        d = t.astimezone(zone).date()
        while d.weekday() not in working_days and d <= last:
            d += timedelta(days=1)
        if d in counts:
            counts[d] += 1
    return pd.DataFrame({"day": list(counts), "items": list(counts.values())})


def cumulative_flow(conn: Connection, projects, since: datetime, until: datetime, *,
                    tz: str = "UTC", settings=None) -> pd.DataFrame:
    """Items per status category at each day's end in ``tz`` (items created by then).

    Columns: day, todo, in_progress, done.
    """
    zone = ZoneInfo(tz)
    # Items done before the window stay done: they only add a constant to "done".
    where = and_(_scope_filter(projects), work_items.c.created_at < until,
                 or_(work_items.c.status_category != "done", work_items.c.resolved_at.is_(None),
                     work_items.c.resolved_at >= since))
    hist = load_histories(conn, where=where, fields={"status_category"})
    from sqlalchemy import func, select
    done_before = conn.execute(
        select(func.count()).select_from(work_items)
        .where(_scope_filter(projects), work_items.c.status_category == "done",
               work_items.c.resolved_at < since)).scalar_one()
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    timelines = [(h.row["created_at"], h.category()) for h in hist.values()]
    rows = []
    for d in days:
        t = min(datetime.combine(d + timedelta(days=1), time(0), tzinfo=zone)
                .astimezone(timezone.utc), until)
        c = {"todo": 0, "in_progress": 0, "done": done_before}
        for created, tl in timelines:
            # State just before midnight: what happens at 00:00 belongs to the next day.
            if created < t:
                c[tl.at(t - _EPS) or "todo"] += 1
        rows.append({"day": d, **c})
    return pd.DataFrame(rows, columns=["day", "todo", "in_progress", "done"])


# --- KPI registrations ---------------------------------------------------------------------

def _time_kpi(column: str, label: str):
    def compute(conn, scope) -> MetricValue:
        df = delivered_items(conn, scope.projects, scope.since, scope.until)
        vals = df[column].dropna()
        if vals.empty:
            return MetricValue(None, "hours", basis="no items delivered in the window")
        p = percentiles(vals)
        slow = df.dropna(subset=[column]).nlargest(5, column)
        return MetricValue(p["p50"], "hours", n=len(vals),
                           basis=f"from {len(vals)} items delivered in the window",
                           evidence=[{"label": r["key"], "url": r["url"],
                                      "detail": f"{label} {r[column]:.1f} h"}
                                     for r in slow.to_dict("records")],
                           detail=p)
    return compute


kpi("cycle_time_p50")(_time_kpi("cycle_time_h", "cycle time"))
kpi("lead_time_p50")(_time_kpi("lead_time_h", "lead time"))
