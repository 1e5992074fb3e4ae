"""Bug KPIs: open bugs at any moment, inflow/outflow, age, time to fix, escaped defects, reopens.

A bug is a work item of type ``bug``. "Open at ``as_of``" is rebuilt from history: the item
was a bug then (its type at ``as_of``: today's, unless a ``work_type`` change came since — an
issue labelled bug later was not a bug yet), existed (``created_at <= as_of``) and its status
category then was not done — so a bug resolved after ``as_of`` counts as open, and a bug
reopened after being done is open again. Its severity is the one it had at ``as_of``: today's,
unless a ``severity`` change came since (a bug downgraded from critical after ``as_of`` was
critical then). Flows, ages, time to fix and reopen rates count today's bugs.

Escaped defects of a release: bugs found in production (``found_in = 'production'``) in the
release's project, or bugs in the release's own scope, created after the release shipped
(``released_at``) and before the next release of that project shipped (or now) — the defects
that escaped that release's testing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, and_, or_, select

from data.schema import release_items, releases, work_items
from data.schema import work_item_changes as wic
from data.store import in_values
from metrics.flow import _week_start, percentiles
from metrics.membership import release_members
from metrics.history import load_histories
from metrics.registry import MetricValue, kpi

SEVERITIES = ("critical", "high", "medium", "low")


def _bug_filter(scope_or_items, retyped_after: datetime | None = None):
    """Bugs of a Scope (its projects) or an iterable of item ids — with ``retyped_after``,
    also the items whose type changed after that moment (they may have been bugs then)."""
    cond = work_items.c.type == "bug"
    if retyped_after is not None:
        cond = or_(cond, select(wic.c.id).where(wic.c.item_id == work_items.c.id,
                                                wic.c.at > retyped_after,
                                                wic.c.field == "work_type").exists())
    if hasattr(scope_or_items, "projects"):
        return and_(cond, work_items.c.project.in_(list(scope_or_items.projects)))
    return and_(cond, in_values(work_items.c.id, scope_or_items))


# What open bugs need of an item's history: its status category, severity and type over time.
HISTORY_FIELDS = {"status_category", "severity", "work_type"}


def _severity_changed_after(t: datetime):
    """The bug's severity changed after ``t`` (it may have had another then)."""
    return (select(wic.c.id).where(wic.c.item_id == work_items.c.id, wic.c.at > t,
                                   wic.c.field == "severity")
            .exists())


def open_bugs(conn: Connection, scope_or_items, as_of: datetime, *, settings=None,
              severities: Iterable[str] | None = None) -> list[dict]:
    """Bugs open at ``as_of`` (see module docstring), most severe then oldest first.

    Each: key, title, url, severity, created_at, age_days (at ``as_of``).
    """
    # A bug done now whose resolution (its last move to done) is before as_of was done at
    # as_of; everything else needs its history looked at.
    where = and_(_bug_filter(scope_or_items, as_of), work_items.c.created_at <= as_of,
                 or_(work_items.c.status_category != "done", work_items.c.resolved_at.is_(None),
                     work_items.c.resolved_at > as_of))
    if severities is not None:  # today's severity, or one that may have differed then
        where = and_(where, or_(work_items.c.severity.in_(list(severities)),
                                _severity_changed_after(as_of)))
    histories = load_histories(conn, where=where, fields=HISTORY_FIELDS)
    out = []
    for h in histories.values():
        if h.type_at(as_of) != "bug" or h.category_or_resolved(as_of) == "done":
            continue
        r = h.row
        severity = h.severity_at(as_of)
        if severities is not None and severity not in severities:
            continue
        out.append({"key": r["key"], "title": r["title"], "url": r["url"],
                    "severity": severity, "created_at": r["created_at"],
                    "age_days": (as_of - r["created_at"]).total_seconds() / 86400})
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    out.sort(key=lambda b: (rank.get(b["severity"], 9), b["created_at"], b["key"]))
    return out


def open_bugs_by_severity(conn: Connection, scope_or_items, as_of: datetime, *,
                          settings=None) -> dict[str, int]:
    """Count of bugs open at ``as_of`` per severity (critical/high/medium/low, plus ``unset``
    when some have none). Every severity is present, with 0 when none are open."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for b in open_bugs(conn, scope_or_items, as_of, settings=settings):
        key = b["severity"] if b["severity"] in counts else "unset"
        counts[key] = counts.get(key, 0) + 1
    return counts


def open_bugs_by_severity_at(conn: Connection, scope_or_items, moments: Sequence[datetime], *,
                             settings=None) -> list[dict[str, int]]:
    """Count of bugs open at each of ``moments`` per severity: one dict per moment, in order,
    each exactly what :func:`open_bugs_by_severity` returns for that moment.

    One read of the bugs and their status history serves every moment (the per-moment call
    reads them once per moment). A bug counts at ``t`` when it existed (``created_at <= t``),
    was not done-now-and-resolved by ``t``, and its rebuilt status category at ``t`` was not
    done — the same tests :func:`open_bugs` applies, in the same order.
    """
    if not moments:
        return []
    first, last = min(moments), max(moments)
    # The union of the per-moment SQL filters; each moment's own filter is re-applied below.
    where = and_(_bug_filter(scope_or_items, first), work_items.c.created_at <= last,
                 or_(work_items.c.status_category != "done", work_items.c.resolved_at.is_(None),
                     work_items.c.resolved_at > first))
    out = [dict.fromkeys(SEVERITIES, 0) for _ in moments]
    histories = load_histories(conn, where=where, fields=HISTORY_FIELDS)
    for h in histories.values():
        r = h.row
        timeline = h.category()
        varies = bool(h.changes.get("severity"))
        sev = r["severity"]
        settled = (r["resolved_at"] if r["status_category"] == "done"
                   and r["resolved_at"] is not None else None)
        for counts, t in zip(out, moments):
            if r["created_at"] > t or (settled is not None and settled <= t):
                continue
            if h.type_at(t) != "bug" or timeline.at(t) == "done":
                continue
            if varies:
                sev = h.severity_at(t)
            key = sev if sev in SEVERITIES else "unset"
            counts[key] = counts.get(key, 0) + 1
    return out


def open_bugs_in_release(conn: Connection, release_id: str, as_of: datetime,
                         severities: Iterable[str] = ("critical",), *,
                         settings=None) -> list[dict]:
    """Bugs in the release's scope at ``as_of`` (metrics.membership) open then with one of
    ``severities``: list of dict(key, title, url, severity, created_at, age_days)."""
    ids = release_members(conn, release_id, as_of)
    if not ids:
        return []
    return open_bugs(conn, ids, as_of, settings=settings, severities=list(severities))


def bug_flow_weekly(conn: Connection, projects, since: datetime, until: datetime, *,
                    tz: str = "UTC") -> pd.DataFrame:
    """Per week (Monday start in ``tz``): inflow = bugs created, outflow = bugs resolved (any
    resolution: they leave the backlog), net = inflow − outflow. Columns: week, inflow,
    outflow, net."""
    zone = ZoneInfo(tz)
    rows = conn.execute(
        select(work_items.c.created_at, work_items.c.resolved_at)
        .where(work_items.c.type == "bug", work_items.c.project.in_(list(projects)),
               or_(and_(work_items.c.created_at >= since, work_items.c.created_at < until),
                   and_(work_items.c.resolved_at >= since, work_items.c.resolved_at < until)))
    ).all()
    first = _week_start(since.astimezone(zone).date())
    last = _week_start((until - timedelta(microseconds=1)).astimezone(zone).date())
    weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    inflow = dict.fromkeys(weeks, 0)
    outflow = dict.fromkeys(weeks, 0)
    for created, resolved in rows:
        if since <= created < until:
            inflow[_week_start(created.astimezone(zone).date())] += 1
        if resolved is not None and since <= resolved < until:
            outflow[_week_start(resolved.astimezone(zone).date())] += 1
    df = pd.DataFrame({"week": weeks, "inflow": [inflow[w] for w in weeks],
                       "outflow": [outflow[w] for w in weeks]})
    df["net"] = df["inflow"] - df["outflow"]
    return df


def bug_trend_converging(flow: pd.DataFrame, weeks: int = 3) -> bool | None:
    """True when, over the last ``weeks`` weeks, bugs were resolved at least as fast as they
    came in (Σ outflow ≥ Σ inflow); None when no bug came in or went out (no data)."""
    tail = flow.tail(weeks)
    if tail.empty or (tail["inflow"].sum() == 0 and tail["outflow"].sum() == 0):
        return None
    return bool(tail["outflow"].sum() >= tail["inflow"].sum())


def open_bug_ages(conn: Connection, scope_or_items, as_of: datetime, *,
                  settings=None) -> pd.DataFrame:
    """Age in days of each bug open at ``as_of``: columns key, severity, age_days, url."""
    bugs = open_bugs(conn, scope_or_items, as_of, settings=settings)
    return pd.DataFrame([{k: b[k] for k in ("key", "severity", "age_days", "url")} for b in bugs],
                        columns=["key", "severity", "age_days", "url"])


def time_to_fix(conn: Connection, projects, since: datetime, until: datetime,
                *, settings=None) -> pd.DataFrame:
    """Hours from creation to resolution of bugs fixed (delivered) in [since, until), per
    severity: columns severity, n, p50_h, p85_h, p95_h."""
    from metrics.flow import delivered_items

    df = delivered_items(conn, projects, since, until, settings=settings, types=["bug"])
    sev = dict(conn.execute(select(work_items.c.key, work_items.c.severity)
                            .where(work_items.c.key.in_(list(df["key"])))).all()) if len(df) else {}
    df["severity"] = df["key"].map(lambda k: sev.get(k) or "unset")
    rows = []
    for s, g in df.groupby("severity"):
        p = percentiles(g["lead_time_h"])
        rows.append({"severity": s, "n": len(g), "p50_h": p["p50"], "p85_h": p["p85"],
                     "p95_h": p["p95"]})
    return pd.DataFrame(rows, columns=["severity", "n", "p50_h", "p85_h", "p95_h"])


def escaped_defects(conn: Connection, release_id: str, *, now: datetime | None = None
                    ) -> list[dict]:
    """Escaped defects of a shipped release (definition in the module docstring); [] for a
    release not shipped yet. Each: key, title, url, severity, created_at, found_in."""
    rel = conn.execute(select(releases).where(releases.c.id == release_id)).mappings().first()
    if rel is None or rel["released_at"] is None:
        return []
    shipped = rel["released_at"]
    nxt = conn.execute(
        select(releases.c.released_at)
        .where(releases.c.project == rel["project"], releases.c.released_at > shipped)
        .order_by(releases.c.released_at).limit(1)).scalar()
    end = nxt or now or datetime.now(timezone.utc)
    in_release = select(release_items.c.item_id).where(release_items.c.release_id == release_id)
    rows = conn.execute(
        select(work_items.c.key, work_items.c.title, work_items.c.url, work_items.c.severity,
               work_items.c.created_at, work_items.c.found_in)
        .where(work_items.c.type == "bug", work_items.c.created_at >= shipped,
               work_items.c.created_at < end,
               or_(and_(work_items.c.project == rel["project"],
                        work_items.c.found_in == "production"),
                   work_items.c.id.in_(in_release)))
        .order_by(work_items.c.created_at, work_items.c.key)).mappings().all()
    return [dict(r) for r in rows]


def reopen_rate(conn: Connection, projects, since: datetime, until: datetime, *,
                settings=None) -> tuple[float | None, int, list[str]]:
    """Of the bugs moved to done in [since, until), the fraction later moved out of done
    (by ``until``). Returns (rate or None when no bug was done in the window, n, reopened keys).
    Needs status history: bugs without it are never counted as reopened."""
    hist = load_histories(conn, where=and_(work_items.c.type == "bug",
                                           work_items.c.project.in_(list(projects)),
                                           work_items.c.created_at < until),
                          fields={"status_category"})
    n, reopened = 0, []
    for h in hist.values():
        tl = h.category()
        done_times = [t for t, v in zip(tl.times, tl.values) if v == "done" and since <= t < until]
        if not done_times:
            continue
        n += 1
        first_done = done_times[0]
        if any(t > first_done and t <= until and v != "done"
               for t, v in zip(tl.times, tl.values)):
            reopened.append(h.row["key"])
    return (len(reopened) / n if n else None), n, sorted(reopened)


# --- KPI registrations ---------------------------------------------------------------------

def _tracked(conn: Connection, projects) -> bool:
    """Whether the scope has any work items at all: without them a bug count of 0 would claim
    knowledge we do not have (no data, not zero)."""
    return conn.execute(select(work_items.c.id).where(
        work_items.c.project.in_(list(projects))).limit(1)).first() is not None


def _open_kpi(severity: str):
    def compute(conn, scope) -> MetricValue:
        bugs = open_bugs(conn, scope, scope.until, severities=[severity])
        # Zero open bugs is a real count (not missing data) when the scope has projects.
        return MetricValue(float(len(bugs)) if _tracked(conn, scope.projects) else None,
                           "count", n=len(bugs),
                           basis=f"open {severity} bugs at {scope.until:%Y-%m-%d %H:%M} UTC",
                           evidence=[{"label": b["key"], "url": b["url"],
                                      "detail": b["title"] or ""} for b in bugs])
    return compute


kpi("open_bugs_critical")(_open_kpi("critical"))
kpi("open_bugs_high")(_open_kpi("high"))


def _flow_kpi(column: str):
    def compute(conn, scope) -> MetricValue:
        df = bug_flow_weekly(conn, scope.projects, scope.since, scope.until, tz=scope.timezone)
        total = int(df[column].sum())
        return MetricValue(float(total) if _tracked(conn, scope.projects) else None,
                           "count", n=total,
                           basis=f"bugs {'created' if column == 'inflow' else 'resolved'} "
                                 f"{scope.since:%Y-%m-%d}..{scope.until:%Y-%m-%d}",
                           detail={"weekly": df.assign(week=df["week"].astype(str))
                                   [["week", column]].to_dict("records")})
    return compute


kpi("bug_inflow")(_flow_kpi("inflow"))
kpi("bug_outflow")(_flow_kpi("outflow"))
