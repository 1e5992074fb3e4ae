"""Sprint KPIs rebuilt from change history, counted the way Jira's sprint report counts.

- committed: items in the sprint at its start, with the estimate they had then;
- completed: items in the sprint at completion whose status category was done then, whatever
  the resolution;
- not completed (carry-over): in the sprint at completion and not done;
- added: items that entered the sprint after its start (estimate when they entered);
- removed: items in the sprint at some moment after its start and not at completion (estimate
  when they left).

Sizes are story points when any item of the sprint carries an estimate (unestimated items
count 0, as in Jira), otherwise counts of items; ``unit`` says which. The sprint's end is its
``completed_at``; for a sprint still open, the ``as_of`` moment (default now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from data.schema import membership_changes, sprint_items, sprints
from metrics.history import (ItemHistory, Timeline, load_histories,
                             per_connection)
from metrics.registry import MetricValue, kpi


@dataclass
class SprintItem:
    key: str
    title: str | None
    url: str | None
    points: float | None
    item_id: str = ""


@dataclass
class SprintReport:
    """Jira-style sprint report. Sizes in ``unit`` ("points" or "items")."""

    sprint_id: str
    name: str
    state: str
    start: datetime | None
    end: datetime | None
    unit: str
    committed: float = 0.0
    completed: float = 0.0
    added: float = 0.0
    removed: float = 0.0
    not_completed: float = 0.0
    items: dict[str, list[SprintItem]] = field(default_factory=dict)

    @property
    def say_do_ratio(self) -> float | None:
        """completed / committed; None when nothing was committed."""
        return self.completed / self.committed if self.committed else None

    @property
    def carry_over(self) -> list[SprintItem]:
        return self.items.get("not_completed", [])


class UnknownSprint(LookupError):
    pass


@dataclass
class _Ctx:
    sprint: dict
    start: datetime
    end: datetime
    hist: dict[str, ItemHistory]
    member: dict[str, Timeline]


def _sprint_row(conn: Connection, sprint_id: str) -> dict:
    row = conn.execute(select(sprints).where(sprints.c.id == sprint_id)).mappings().first()
    if row is None:
        raise UnknownSprint(f"unknown sprint id '{sprint_id}'")
    return dict(row)


def _historic_members(conn: Connection, sprint_ids: list[str]) -> dict[str, set[str]]:
    """Items whose membership history names each sprint (an item removed from a sprint is
    no longer a member but still counts as removed). One query for all the sprints."""
    out: dict[str, set[str]] = {sid: set() for sid in sprint_ids}
    if not sprint_ids:
        return out
    mc = membership_changes
    for sid, item_id in conn.execute(
            select(mc.c.scope_id, mc.c.item_id).distinct()
            .where(mc.c.scope_type == "sprint", mc.c.scope_id.in_(sprint_ids))):
        out[sid].add(item_id)
    return out


def _contexts(conn: Connection, sprint_ids: list[str], as_of: datetime | None,
              settings) -> dict[str, _Ctx | None]:
    """The report context of each sprint, read in a fixed number of queries whatever the
    number of sprints: sprint rows, current members, sprint history, then the history of all
    their items at once (velocity reads six sprints; one query each was most of its time)."""
    ids = list(dict.fromkeys(sprint_ids))
    rows = {r["id"]: dict(r) for r in conn.execute(
        select(sprints).where(sprints.c.id.in_(ids))).mappings()}
    for sid in ids:
        if sid not in rows:
            raise UnknownSprint(f"unknown sprint id '{sid}'")
    started = [sid for sid in ids if rows[sid]["start_at"] is not None]
    out: dict[str, _Ctx | None] = {sid: None for sid in ids}
    if not started:  # a future sprint has no start: nothing to report
        return out
    current: dict[str, set[str]] = {sid: set() for sid in started}
    for sid, iid in conn.execute(select(sprint_items.c.sprint_id, sprint_items.c.item_id)
                                 .where(sprint_items.c.sprint_id.in_(started))):
        current[sid].add(iid)
    historic = _historic_members(conn, started)
    wanted = set().union(*current.values(), *historic.values())
    hist_all = load_histories(conn, wanted,
                              fields={"sprint", "story_points", "status_category"})
    now = as_of or datetime.now(timezone.utc)
    for sid in started:
        s = rows[sid]
        end = s["completed_at"] or (s["end_at"] if s["state"] == "closed" else None) or now
        end = min(end, now) if as_of is not None else end
        ever = current[sid] | historic[sid]
        hist = {iid: h for iid, h in hist_all.items() if iid in ever}
        member = {}
        for iid, h in hist.items():
            tl = h.in_sprint(sid, iid in current[sid])
            created = h.row["created_at"]
            # Not in any sprint before it existed.
            member[iid] = Timeline(False, [created] + [t for t in tl.times if t > created],
                                   [tl.at(created)] + [v for t, v in zip(tl.times, tl.values)
                                                       if t > created])
        out[sid] = _Ctx(s, s["start_at"], end, hist, member)
    return out


def _context(conn: Connection, sprint_id: str, as_of: datetime | None, settings) -> _Ctx | None:
    """One sprint's context, read once per connection: its report and its burndown (what the
    Sprint page shows together) read the same items' history."""
    memo = per_connection(conn)
    key = ("sprint_context", sprint_id, as_of, id(settings))
    if key not in memo:
        memo[key] = _contexts(conn, [sprint_id], as_of, settings)[sprint_id]
    return memo[key]


def _uses_points(ctx: _Ctx) -> bool:
    for h in ctx.hist.values():
        p = h.points()
        if p.initial is not None or any(v is not None for v in p.values):
            return True
    return False


def _size(h: ItemHistory, t: datetime, points: bool) -> float:
    if not points:
        return 1.0
    v = h.points().at(t)
    return float(v) if v is not None else 0.0


def _entry(h: ItemHistory, pts: float | None) -> SprintItem:
    r = h.row
    return SprintItem(key=r["key"], title=r.get("title"), url=r.get("url"), points=pts,
                      item_id=r["id"])


def sprint_report(conn: Connection, sprint_id: str, *, settings=None,
                  as_of: datetime | None = None) -> SprintReport:
    """The sprint report for ``sprint_id`` (see the module docstring for each definition).

    ``as_of`` evaluates an open sprint at that moment (default now). Raises
    :class:`UnknownSprint` for an id not in the database.
    """
    s = _sprint_row(conn, sprint_id)
    return _report(s, _context(conn, sprint_id, as_of, settings))


def _report(s: dict, ctx: _Ctx | None) -> SprintReport:
    """The sprint report of sprint row ``s`` from its context (pure: no database access)."""
    sprint_id = s["id"]
    if ctx is None:
        return SprintReport(sprint_id, s["name"], s["state"], None, None, "items",
                            items={k: [] for k in ("committed", "completed", "not_completed",
                                                   "added", "removed")})
    points = _uses_points(ctx)
    rep = SprintReport(sprint_id, s["name"], s["state"], ctx.start, ctx.end,
                       "points" if points else "items",
                       items={k: [] for k in ("committed", "completed", "not_completed",
                                              "added", "removed")})
    start, end = ctx.start, ctx.end
    for iid, h in sorted(ctx.hist.items(), key=lambda kv: kv[1].row["key"]):
        m = ctx.member[iid]
        cat = h.category()
        at_start = m.at(start)
        at_end = m.at(end)
        if at_start:
            size = _size(h, start, points)
            rep.committed += size
            rep.items["committed"].append(_entry(h, size if points else h.points().at(start)))
        # Entries after the start (times strictly after start, up to the end).
        joined = [t for t, v in zip(m.times, m.values) if start < t <= end and v]
        left = [t for t, v in zip(m.times, m.values) if start < t <= end and not v]
        if not at_start and joined:
            size = _size(h, joined[0], points)
            rep.added += size
            rep.items["added"].append(_entry(h, size if points else h.points().at(joined[0])))
        if at_end:
            size = _size(h, end, points)
            shown = size if points else h.points().at(end)
            if cat.at(end) == "done":
                rep.completed += size
                rep.items["completed"].append(_entry(h, shown))
            else:
                rep.not_completed += size
                rep.items["not_completed"].append(_entry(h, shown))
        elif left and (at_start or joined):
            size = _size(h, left[-1], points)
            rep.removed += size
            rep.items["removed"].append(_entry(h, size if points else h.points().at(left[-1])))
    return rep


def _working_days(days: list[date], working: frozenset[int]) -> list[date]:
    return [d for d in days if d.weekday() in working]


def burndown(conn: Connection, sprint_id: str, *, settings=None, tz: str = "UTC",
             working_days: frozenset[int] = frozenset({0, 1, 2, 3, 4}),
             as_of: datetime | None = None) -> pd.DataFrame:
    """Daily burndown of a sprint, in the team's zone ``tz``.

    One row per calendar day from the start day to the end day (for a sprint still open, to
    its planned end): ``remaining`` = size (points or items) in the sprint and not done at the
    day's end (or at the sprint's end/``as_of`` on the last day; NaN for days still to come);
    ``scope`` = size in the sprint; ``completed`` = size done; ``guideline`` = committed ×
    working days left after that day / working days from start to planned end (flat over
    non-working days); ``scope_change`` = net size added (+) or removed (−) that day, with
    ``changes`` naming the items ("+PAY-3 (5)", "−PAY-4 (2)", re-estimates "~PAY-2 (5→8)").
    Empty frame for a sprint that has not started.
    """
    cols = ["day", "remaining", "scope", "completed", "guideline", "scope_change", "changes",
            "working"]
    ctx = _context(conn, sprint_id, as_of, settings)
    if ctx is None:
        return pd.DataFrame(columns=cols)
    zone = ZoneInfo(tz)
    points = _uses_points(ctx)
    start, end = ctx.start, ctx.end
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    # The guideline runs to the planned end; a sprint still open shows its remaining days with
    # no actuals yet (NaN), so the chart spans the whole sprint.
    planned = (ctx.sprint["end_at"] or end).astimezone(zone).date()
    span_last = last if ctx.sprint["completed_at"] is not None else max(last, planned)
    days = [first + timedelta(days=i) for i in range((span_last - first).days + 1)]
    wdays = _working_days([first + timedelta(days=i)
                           for i in range((max(planned, first) - first).days + 1)],
                          working_days)
    committed = sum(_size(h, start, points) for iid, h in ctx.hist.items()
                    if ctx.member[iid].at(start))
    ordered = sorted(ctx.hist.items(), key=lambda kv: kv[1].row["key"])
    rows = []
    for d in days:
        day_end = datetime.combine(d + timedelta(days=1), time(0), tzinfo=zone).astimezone(
            timezone.utc)
        # The state just before midnight: what happens at 00:00 belongs to the next day.
        t = min(day_end - timedelta(microseconds=1), end)
        day_start = max(datetime.combine(d, time(0), tzinfo=zone).astimezone(timezone.utc), start)
        scope = done = 0.0
        change = 0.0
        names = []
        for iid, h in ordered:
            m = ctx.member[iid]
            if points and m.at(t):
                # A re-estimate of an item in the sprint changes scope too (as in Jira).
                pt = h.points()
                for ct, v in zip(pt.times, pt.values):
                    if day_start <= ct <= t and ct > start and m.at(ct):
                        before = pt.at(ct - timedelta(microseconds=1)) or 0.0
                        if (v or 0.0) != before:
                            change += (v or 0.0) - before
                            names.append(f"~{h.row['key']} ({before:g}→{(v or 0.0):g})")
            if m.at(t):
                size = _size(h, t, points)
                scope += size
                if h.category().at(t) == "done":
                    done += size
            for ct, v in zip(m.times, m.values):
                if day_start <= ct <= t and ct > start and v != m.at(ct - timedelta(microseconds=1)):
                    size = _size(h, ct, points)
                    change += size if v else -size
                    names.append(f"{'+' if v else '−'}{h.row['key']} ({size:g})")
        left_after = len([w for w in wdays if w > d])
        guide = committed * left_after / len(wdays) if wdays else 0.0
        if d > last:
            rows.append({"day": d, "remaining": np.nan, "scope": np.nan, "completed": np.nan,
                         "guideline": guide, "scope_change": 0.0, "changes": "",
                         "working": d.weekday() in working_days})
            continue
        rows.append({"day": d, "remaining": scope - done, "scope": scope, "completed": done,
                     "guideline": guide, "scope_change": change, "changes": ", ".join(names),
                     "working": d.weekday() in working_days})
    return pd.DataFrame(rows, columns=cols)


def burnup(conn: Connection, sprint_id: str, **kw) -> pd.DataFrame:
    """Daily burnup: ``scope`` (size in the sprint) and ``completed`` (size done) per day end."""
    df = burndown(conn, sprint_id, **kw)
    return df[["day", "scope", "completed", "scope_change", "changes"]]


def closed_sprints(conn: Connection, projects, *, n: int = 6,
                   as_of: datetime | None = None) -> list[dict]:
    """The last ``n`` closed sprints of ``projects`` (oldest first), completed by ``as_of``."""
    from metrics.scope import _sprints_in

    q = (select(sprints).where(_sprints_in(list(projects)), sprints.c.state == "closed",
                               sprints.c.completed_at.is_not(None)))
    if as_of is not None:
        q = q.where(sprints.c.completed_at <= as_of)
    rows = conn.execute(q.order_by(sprints.c.completed_at.desc(), sprints.c.id).limit(n)
                        ).mappings().all()
    return [dict(r) for r in reversed(rows)]


def velocity(conn: Connection, project: str | list[str], n: int = 6, *, settings=None,
             as_of: datetime | None = None) -> pd.DataFrame:
    """Committed vs completed per closed sprint, last ``n`` (oldest first).

    Columns: sprint_id, sprint, completed_at, committed, completed, not_completed, unit,
    say_do_ratio (completed / committed, None when nothing was committed).
    """
    projects = [project] if isinstance(project, str) else list(project)
    closed = closed_sprints(conn, projects, n=n, as_of=as_of)
    reports = cached_reports(conn, [s["id"] for s in closed], settings=settings)
    rows = []
    for s in closed:
        r = reports[s["id"]]
        rows.append({"sprint_id": s["id"], "sprint": s["name"], "completed_at": s["completed_at"],
                     "committed": r.committed, "completed": r.completed,
                     "not_completed": r.not_completed, "unit": r.unit,
                     "say_do_ratio": r.say_do_ratio})
    return pd.DataFrame(rows, columns=["sprint_id", "sprint", "completed_at", "committed",
                                       "completed", "not_completed", "unit", "say_do_ratio"])


def say_do_ratio(report: SprintReport) -> float | None:
    """completed / committed of one sprint (a ratio; None when nothing was committed)."""
    return report.say_do_ratio


def carry_over(report: SprintReport) -> list[SprintItem]:
    """Items in the sprint at completion and not done: they carry over to the next one."""
    return report.carry_over


# --- KPI registrations ---------------------------------------------------------------------

def _report_for(conn, scope) -> SprintReport | None:
    if scope.sprint_id is None:
        return None
    return cached_report(conn, scope.sprint_id, as_of=scope.until)


def cached_report(conn: Connection, sprint_id: str, *, as_of: datetime | None = None,
                  settings=None) -> SprintReport:
    """:func:`sprint_report`, built once per connection (the sprint KPIs, say/do and velocity
    read the same reports). A sprint completed by ``as_of`` is the same whatever ``as_of``."""
    memo = per_connection(conn)
    s = _sprint_row(conn, sprint_id)
    done = s["completed_at"] is not None and (as_of is None or s["completed_at"] <= as_of)
    key = ("sprint_report", sprint_id, None if done else as_of, id(settings))
    if key not in memo:
        memo[key] = sprint_report(conn, sprint_id, as_of=None if done else as_of,
                                  settings=settings)
    return memo[key]


def cached_reports(conn: Connection, sprint_ids: list[str], *,
                   settings=None) -> dict[str, SprintReport]:
    """:func:`sprint_report` of each completed sprint in ``sprint_ids`` (as of completion),
    the missing ones built together from one load of their items' history and shared with
    :func:`cached_report` through the per-connection memo."""
    memo = per_connection(conn)
    key = {sid: ("sprint_report", sid, None, id(settings)) for sid in sprint_ids}
    missing = [sid for sid in sprint_ids if key[sid] not in memo]
    if missing:
        ctxs = _contexts(conn, missing, None, settings)
        for sid, ctx in ctxs.items():
            s = ctx.sprint if ctx is not None else _sprint_row(conn, sid)
            memo[key[sid]] = _report(s, ctx)
    return {sid: memo[key[sid]] for sid in sprint_ids}


def _sprint_kpi(attr: str):
    def compute(conn, scope) -> MetricValue:
        rep = _report_for(conn, scope)
        if rep is None or rep.start is None:
            return MetricValue(None, "points", basis="no closed sprint in scope")
        lst = rep.items.get(attr, [])
        return MetricValue(getattr(rep, attr), rep.unit, n=len(lst),
                           basis=f"sprint {rep.name}: {len(lst)} items",
                           evidence=[{"label": i.key, "url": i.url,
                                      "detail": f"{i.points:g} {rep.unit}" if i.points is not None
                                      else (i.title or "")} for i in lst],
                           detail={"sprint": rep.name, "sprint_id": rep.sprint_id})
    return compute


for _attr in ("committed", "completed", "added", "removed", "not_completed"):
    kpi(f"sprint_{_attr}")(_sprint_kpi(_attr))


@kpi("say_do_ratio")
def _say_do(conn, scope) -> MetricValue:
    rep = _report_for(conn, scope)
    if rep is None or rep.start is None:
        return MetricValue(None, "ratio", basis="no closed sprint in scope")
    return MetricValue(rep.say_do_ratio, "ratio", n=len(rep.items["committed"]),
                       basis=f"sprint {rep.name}: {rep.completed:g} of {rep.committed:g} "
                             f"{rep.unit} committed",
                       detail={"sprint": rep.name})


@kpi("velocity")
def _velocity(conn, scope) -> MetricValue:
    df = velocity(conn, list(scope.projects), 6, as_of=scope.until)
    if df.empty:
        return MetricValue(None, "points", basis="no closed sprints")
    # Mixed units across sprints cannot be averaged meaningfully: use the latest sprint's unit.
    unit = df["unit"].iloc[-1]
    same = df[df["unit"] == unit]
    return MetricValue(float(same["completed"].mean()), unit, n=len(same),
                       basis=f"mean of {len(same)} closed sprints",
                       detail={"sprints": same[["sprint", "committed", "completed"]]
                               .to_dict("records")})
