"""Delivery (DORA): deployment frequency, lead time for changes, change failure rate, failed
deployment recovery time, deployment rework rate, performance tiers, and PR cycle time split
into coding / pickup / review / deploy.

Definitions (durations in hours, rates as fractions 0..1, frequency per day):

- A *production deployment* is a ``deployments`` row with ``environment = 'production'`` of a
  service (or repo) in scope; its moment is ``finished_at`` (else started/created).
- **Lead time for a change**: for each PR merged in the window, the first successful
  production deployment whose ``deployment_commits`` contain the PR's ``merge_sha`` and which
  finished at or after the merge, minus the PR's start (its first commit, or its creation when
  that is earlier — a rebased branch can carry commit dates after the PR was opened). A PR
  without such a deployment is counted as *not yet deployed*, never guessed.
- **Change failure**: a production deployment (success or failure) that (a) has an incident
  attributed to it, (b) was rolled back — the next production deployment of its service is a
  rollback — or (c) itself ended in failure/error in production and so needed remediation.
  Deployments that never went out (cancelled, skipped — a deploy workflow concluding skipped,
  neutral, stale or action_required —, inactive) and those with an unknown outcome are in
  neither the failures nor the denominator; the basis says how many were left out (the
  outcome tables are in data/mapping.py).
- **Order**: deployments finished at the same moment are ordered by the source's own number
  (``…:3`` before ``…:15``, :func:`data.mapping.natural_key`), never by string order.
- **Incident attribution** (DevLake's rule): the deployment the incident names, else the latest
  successful production deployment of its service finished at or before the incident opened.
- **Recovery time** of a failed deployment: from the first attributed incident opening (else
  the deployment finishing) to the last attributed incident's resolution (else the next
  successful production deployment of the service). Unrecovered failures are excluded and
  counted.
- **Rework**: an *unplanned* production deployment — a rollback, or one started while an
  incident on its service was open (it is fixing that incident) — over all production
  deployments in the window.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from statistics import median
from typing import Iterable, Sequence

from sqlalchemy import Connection, and_, func, or_, select

from data.mapping import DEPLOY_FAILED, DEPLOY_FINISHED, DEPLOY_NOT_DEPLOYED, DEPLOY_UNFINISHED
from data.mapping import natural_key
from data.schema import deployment_commits as dc
from data.schema import deployments as dep
from data.schema import incidents as inc
from data.schema import pull_requests as prs
from metrics.history import per_connection
from metrics.registry import MetricValue, kpi

PRODUCTION = "production"
FAILED_STATUSES = DEPLOY_FAILED
FINISHED_STATUSES = DEPLOY_FINISHED

# Tiers from the 2024 Accelerate State of DevOps Report (DORA), software delivery performance
# clusters, taken from the report's table. Each tier: (name, test). The report gives ranges
# ("between once per day and once per week"), which we read as the boundaries below; values
# outside every range get no tier. Change failure rate is not monotone in the report (elite 5 %,
# high 20 %, medium 10 %, low 40 %): the first tier in report order whose figure is met wins,
# so "medium" cannot be reached for that key. Rework rate has no clusters → never a tier.
TIERS_YEAR = 2024
TIERS_SOURCE = "2024 Accelerate State of DevOps Report (DORA), software delivery performance"
_DAY, _WEEK, _MONTH, _SIX_MONTHS = 24.0, 168.0, 720.0, 4380.0
TIERS: dict[str, list[tuple[str, str, float]]] = {
    # per day: elite "on demand (multiple deploys per day)", high "between once per day and
    # once per week", medium "between once per week and once per month", low "between once per
    # month and once every six months"
    "deployment_frequency": [("elite", ">", 1.0), ("high", ">=", 1 / 7), ("medium", ">=", 1 / 30),
                             ("low", ">=", 1 / 182.5)],
    # hours: elite "less than one day", high "between one day and one week", medium "between one
    # week and one month", low "between one month and six months"
    "lead_time_for_changes": [("elite", "<", _DAY), ("high", "<=", _WEEK),
                              ("medium", "<=", _MONTH), ("low", "<=", _SIX_MONTHS)],
    "change_failure_rate": [("elite", "<=", 0.05), ("high", "<=", 0.20), ("medium", "<=", 0.10),
                            ("low", "<=", 0.40)],
    # hours: elite "less than one hour", high and medium "less than one day", low "between one
    # week and one month" (one day to one week has no cluster in the 2024 report)
    "failed_deployment_recovery_time": [("elite", "<", 1.0), ("high", "<", _DAY),
                                        ("low_range", "range", 0.0)],
}


def tier(metric_id: str, value: float | None) -> str | None:
    """The 2024 DORA cluster ``value`` falls in (elite/high/medium/low), or None — when there
    is no value, the report defines no tiers for the metric, or the value is in no range."""
    if value is None or metric_id not in TIERS:
        return None
    for name, op, bound in TIERS[metric_id]:
        if op == "range":  # recovery: low is "between one week and one month"
            if _WEEK <= value <= _MONTH:
                return "low"
            continue
        if ((op == ">" and value > bound) or (op == ">=" and value >= bound)
                or (op == "<" and value < bound) or (op == "<=" and value <= bound)):
            return name
    return None


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    """Hours from ``a`` to ``b``; None when either is missing or the span is negative."""
    if a is None or b is None:
        return None
    h = (b - a).total_seconds() / 3600
    return h if h >= 0 else None


def _window_days(since: datetime, until: datetime) -> float:
    return (until - since).total_seconds() / 86400


_when = func.coalesce(dep.c.finished_at, dep.c.started_at, dep.c.created_at)


def _prod_where(services: Iterable[str] = (), repos: Iterable[str] = ()):
    services, repos = tuple(services), tuple(repos)
    conds = [dep.c.environment == PRODUCTION]
    if services or repos:
        conds.append(or_(dep.c.service.in_(services), dep.c.repo.in_(repos)))
    return and_(*conds)


_SHARED_DEPLOYS = "dora.production_deployments"  # key in metrics.history.per_connection


def share_production_deployments(conn: Connection, *, until: datetime) -> None:
    """Read every production deployment finished by ``until`` once; later reads of the
    production deployments of some services or repos up to a moment not after ``until`` on
    ``conn`` are filtered from it instead of queried again (the DORA keys per month and per team
    read them dozens of times per page). Opt-in per connection, as
    :func:`share_pr_deliveries`."""
    per_connection(conn)[_SHARED_DEPLOYS] = (until, _deploy_rows(conn, _prod_where(), until))


def _prod_rows(conn: Connection, services=(), repos=(), until: datetime | None = None
               ) -> list[dict]:
    """:func:`_deploy_rows` of ``_prod_where(services, repos)`` up to ``until``: from the
    shared read when there is one that reaches ``until`` (same rows, same order — a filter of
    a sorted list stays sorted), else from the database."""
    shared = per_connection(conn).get(_SHARED_DEPLOYS)
    if shared is None or until is None or until > shared[0]:
        return _deploy_rows(conn, _prod_where(services, repos), until)
    services, repos = set(services), set(repos)
    return [dict(r) for r in shared[1] if r["at"] <= until and (
        not (services or repos) or r["service"] in services or r["repo"] in repos)]


def _deploy_rows(conn: Connection, where, until: datetime | None) -> list[dict]:
    q = select(dep.c.id, dep.c.service, dep.c.repo, dep.c.status, dep.c.is_rollback, dep.c.url,
               dep.c.sha, dep.c.started_at, _when.label("at")).where(where, _when.is_not(None))
    if until is not None:
        q = q.where(_when <= until)
    rows = [dict(r._mapping) for r in conn.execute(q)]
    # Ties on the moment go by the source's numeric order, not the ids' string order.
    rows.sort(key=lambda r: (r["at"], natural_key(r["id"])))
    return rows


@dataclass
class LeftOut:
    """Production deployments in a window that no delivery rate counts: not deployed
    (cancelled, skipped, inactive), unfinished (queued, in progress), unknown outcome."""

    not_deployed: int = 0
    unfinished: int = 0
    unknown: int = 0

    def text(self) -> str:
        return (f"{self.not_deployed} not deployed (cancelled/skipped) and {self.unknown} with "
                "an unknown outcome left out")

    def as_dict(self) -> dict:
        return {"not_deployed": self.not_deployed, "unfinished": self.unfinished,
                "unknown": self.unknown}


def left_out_deployments(conn: Connection, *, services=(), repos=(), since: datetime,
                         until: datetime) -> LeftOut:
    """How many production deployments of the scope in ``since``..``until`` have no finished
    outcome, by kind (see :class:`LeftOut`); an unmapped status counts as unknown."""
    q = (select(dep.c.status, func.count()).where(
        _prod_where(services, repos), _when.is_not(None), _when >= since, _when <= until,
        dep.c.status.not_in(FINISHED_STATUSES)).group_by(dep.c.status))
    out = LeftOut()
    for status, n in conn.execute(q):
        if status in DEPLOY_NOT_DEPLOYED:
            out.not_deployed += n
        elif status in DEPLOY_UNFINISHED:
            out.unfinished += n
        else:
            out.unknown += n
    return out


# --- deployment frequency -------------------------------------------------------------------------
def deployment_frequency(conn: Connection, *, services=(), repos=(), since: datetime,
                         until: datetime) -> MetricValue:
    """Successful production deployments finished in ``since``..``until`` per day (per_day)."""
    every = _prod_rows(conn, services, repos, until)
    rows = [r for r in every if r["status"] == "success" and r["at"] >= since]
    days = _window_days(since, until)
    # No production deployment ever recorded for the scope means no delivery data (a team that
    # does not track deploys), not a frequency of zero.
    value = len(rows) / days if every and days > 0 else None
    unknown = sum(1 for r in every if r["at"] >= since and r["status"] not in FINISHED_STATUSES
                  and r["status"] not in DEPLOY_NOT_DEPLOYED + DEPLOY_UNFINISHED)
    return MetricValue(value, "per_day", n=len(rows),
                       basis=f"{len(rows)} successful production deployments in {days:.0f} days "
                             f"({unknown} with an unknown outcome left out)",
                       evidence=[_dep_evidence(r) for r in rows[-20:]],
                       detail={"tier": tier("deployment_frequency", value),
                               "tier_year": TIERS_YEAR, "unknown": unknown})


def _dep_evidence(r: dict, detail: str = "") -> dict:
    when = r["at"].strftime("%Y-%m-%d %H:%M") if r.get("at") else ""
    return {"label": r["id"], "url": r.get("url"),
            "detail": detail or f"{r.get('service') or r.get('repo')} {r['status']} {when}"}


# --- lead time and PR cycle time ---------------------------------------------------------------------
@dataclass
class PrDelivery:
    """One merged PR's path to production. Stage durations in hours, None when a stage has no
    start/end or would be negative (out-of-order timestamps are not guessed around)."""

    id: str
    repo: str
    number: int
    title: str | None
    url: str | None
    merged_at: datetime
    deployed_at: datetime | None
    deployment_id: str | None
    coding: float | None  # first commit -> PR created
    pickup: float | None  # PR created -> first review
    review: float | None  # first review -> merged
    deploy: float | None  # merged -> first production deployment containing the merge commit
    lead_time: float | None  # start (min(first commit, created)) -> deployed


_SHARED = "dora.pr_deliveries"  # key of the shared read in metrics.history.per_connection


def share_pr_deliveries(conn: Connection, *, repos=(), since: datetime,
                        until: datetime) -> None:
    """Read :func:`pr_deliveries` once for ``repos`` over ``since``..``until`` and let every
    later call on ``conn`` whose repos are among them and whose window lies inside be derived
    from that read (:func:`_within`, then the repos) instead of reading again.

    Opt-in per connection (a page's composition that asks for many windows and teams calls
    it first); the read lives as long as the connection, so nothing outlives the request.
    Exact: a PR's first shipping deployment does not depend on the repos asked for, and a
    window inside the read one sees a subset of its deployments (see :func:`_within`)."""
    rows = _read_pr_deliveries(conn, repos=repos, since=since, until=until)
    per_connection(conn)[_SHARED] = (frozenset(repos) if repos else None, since, until, rows)


def pr_deliveries(conn: Connection, *, repos=(), since: datetime | None = None,
                  until: datetime | None = None) -> list[PrDelivery]:
    """Every PR merged in ``since``..``until`` (repos in scope) with its cycle-time stages and
    the first successful production deployment (finished by ``until``, not before the merge)
    that shipped its merge commit."""
    shared = per_connection(conn).get(_SHARED)
    if shared is not None and since is not None and until is not None:
        have, lo, hi, rows = shared
        want = frozenset(repos) if repos else None
        if lo <= since and until <= hi and (have is None or (want is not None
                                                             and want <= have)):
            inside = _within(rows, since, until)
            return inside if want is None else [r for r in inside if r.repo in want]
    return _read_pr_deliveries(conn, repos=repos, since=since, until=until)


def _read_pr_deliveries(conn: Connection, *, repos=(), since: datetime | None = None,
                        until: datetime | None = None) -> list[PrDelivery]:
    conds = [prs.c.merged_at.is_not(None)]
    if repos:
        conds.append(prs.c.repo.in_(tuple(repos)))
    if since is not None:
        conds.append(prs.c.merged_at >= since)
    if until is not None:
        conds.append(prs.c.merged_at <= until)
    pulls = conn.execute(
        select(prs.c.id, prs.c.repo, prs.c.number, prs.c.title, prs.c.url, prs.c.created_at,
               prs.c.first_commit_at, prs.c.first_review_at, prs.c.merged_at, prs.c.merge_sha)
        .where(*conds).order_by(prs.c.merged_at, prs.c.id)).all()
    # Successful production deployments per commit they shipped, read once and matched to the
    # PRs here: SQLite's plan for the PR ⋈ commits ⋈ deployments join with the
    # finished >= merged test grew far faster than the rows over a multi-month window.
    ship_conds = [dep.c.environment == PRODUCTION, dep.c.status == "success",
                  dep.c.finished_at.is_not(None)]
    if since is not None:  # shipped after the merge, so after since
        ship_conds.append(dep.c.finished_at >= since)
    if until is not None:
        ship_conds.append(dep.c.finished_at <= until)
    by_sha: dict[str, list[tuple[datetime, tuple, str]]] = defaultdict(list)
    for sha, dep_id, at in conn.execute(
            select(dc.c.sha, dep.c.id, dep.c.finished_at)
            .select_from(dc.join(dep, dep.c.id == dc.c.deployment_id)).where(*ship_conds)):
        by_sha[sha].append((at, natural_key(dep_id), dep_id))
    first: dict[str, tuple[datetime, str]] = {}
    for p in pulls:
        # The first deployment (by finish, then the source's numeric order) at or after the
        # merge shipping its commit.
        shipped = [c for c in by_sha.get(p[9], ()) if c[0] >= p[8]] if p[9] is not None else ()
        if shipped:
            at, _, dep_id = min(shipped)
            first[p[0]] = (at, dep_id)
    out = []
    # Plain row tuples: a mapping per PR cost a third of the time at 15 k PRs.
    for pr_id, repo, number, title, url, created, first_commit, first_review, merged, _ in pulls:
        deployed_at, dep_id = first.get(pr_id, (None, None))
        if first_commit is not None and created is not None:
            start = created if created < first_commit else first_commit
        else:
            start = min(t for t in (first_commit, created) if t is not None)
        out.append(PrDelivery(
            id=pr_id, repo=repo, number=number, title=title, url=url,
            merged_at=merged, deployed_at=deployed_at, deployment_id=dep_id,
            coding=_hours(first_commit, created),
            pickup=_hours(created, first_review),
            review=_hours(first_review, merged),
            deploy=_hours(merged, deployed_at),
            lead_time=_hours(start, deployed_at)))
    return out


def _within(rows: list[PrDelivery], since: datetime, until: datetime) -> list[PrDelivery]:
    """The PRs of ``rows`` merged in ``since``..``until`` as :func:`pr_deliveries` would return
    them for that window: a deployment finished after ``until`` had not shipped them yet.

    Pure. Exact because the first shipping deployment of a longer window, when it finished by
    ``until``, is also the first of the shorter one (the candidates are a superset)."""
    out = []
    for r in rows:
        if not since <= r.merged_at <= until:
            continue
        if r.deployed_at is not None and r.deployed_at > until:
            r = replace(r, deployed_at=None, deployment_id=None, deploy=None, lead_time=None)
        out.append(r)
    return out


def _lead_time_value(rows: list[PrDelivery]) -> MetricValue:
    done = [r for r in rows if r.lead_time is not None]
    waiting = len(rows) - len(done)
    value = median(r.lead_time for r in done) if done else None
    return MetricValue(value, "hours", n=len(done),
                       basis=f"from {len(done)} deployed PRs; {waiting} merged but not yet "
                             "deployed",
                       evidence=[{"label": f"{r.repo}#{r.number}", "url": r.url,
                                  "detail": f"{r.lead_time:.1f} h to {r.deployment_id}"}
                                 for r in sorted(done, key=lambda r: -r.lead_time)[:10]],
                       detail={"not_yet_deployed": waiting,
                               "tier": tier("lead_time_for_changes", value),
                               "tier_year": TIERS_YEAR})


def lead_time_by_window(conn: Connection, *, repos=(),
                        windows: Sequence[tuple[datetime, datetime]]) -> list[MetricValue]:
    """:func:`lead_time_for_changes` (median hours) for each ``(since, until)`` window, in
    order, from one read of the PRs and their deployments over the windows' span (the
    per-window call reads them once per window)."""
    if not windows:
        return []
    rows = pr_deliveries(conn, repos=repos, since=min(w[0] for w in windows),
                         until=max(w[1] for w in windows))
    return [_lead_time_value(_within(rows, since, until)) for since, until in windows]


def lead_time_for_changes(conn: Connection, *, repos=(), since: datetime,
                          until: datetime) -> MetricValue:
    """Median hours from a PR's start to the production deployment that first shipped it, over
    PRs merged in the window; PRs not yet deployed are excluded and counted in ``detail``."""
    return _lead_time_value(pr_deliveries(conn, repos=repos, since=since, until=until))


def pr_cycle_breakdown(conn: Connection, *, repos=(), since: datetime,
                       until: datetime) -> dict[str, float | None]:
    """Median hours of each PR stage (coding, pickup, review, deploy) over PRs merged in the
    window; each median over the PRs where that stage is known."""
    rows = pr_deliveries(conn, repos=repos, since=since, until=until)
    out: dict[str, float | None] = {}
    for stage in ("coding", "pickup", "review", "deploy"):
        vals = [getattr(r, stage) for r in rows if getattr(r, stage) is not None]
        out[stage] = median(vals) if vals else None
    out["prs"] = len(rows)
    return out


# --- incidents, failures, recovery, rework --------------------------------------------------------------
def attribute_incidents(incidents: list[dict], deployments: list[dict]) -> dict[str, str | None]:
    """Incident id -> the deployment that caused it: the one it names (``deployment_id``), else
    the latest successful production deployment of its service with ``at`` <= its opening.

    Pure: ``incidents`` have id, service, opened_at, deployment_id; ``deployments`` have id,
    service, environment, status, at.
    """
    by_service: dict[str, list[tuple[datetime, tuple, str]]] = defaultdict(list)
    for d in deployments:
        if d.get("environment", PRODUCTION) == PRODUCTION and d["status"] == "success" \
                and d["at"] is not None and d.get("service"):
            by_service[d["service"]].append((d["at"], natural_key(d["id"]), d["id"]))
    times: dict[str, list[datetime]] = {}
    for key, lst in by_service.items():
        lst.sort()  # by moment, ties by the source's numeric order
        times[key] = [t for t, _, _ in lst]
    out: dict[str, str | None] = {}
    for i in incidents:
        if i.get("deployment_id"):
            out[i["id"]] = i["deployment_id"]
            continue
        service = i.get("service") or ""
        lst = by_service.get(service, [])
        k = bisect_right(times.get(service, []), i["opened_at"])
        out[i["id"]] = lst[k - 1][2] if k else None
    return out


def incident_causes(conn: Connection, *, services=(), until: datetime | None = None
                    ) -> dict[str, str | None]:
    """Incident id -> causing deployment id (or None) for incidents opened by ``until``, by
    :func:`attribute_incidents` over the production deployments stored."""
    deploys = _prod_rows(conn, services, (), until)
    return attribute_incidents(_incident_rows(conn, services, until),
                               [dict(r, environment=PRODUCTION) for r in deploys])


def _incident_rows(conn: Connection, services, until: datetime | None) -> list[dict]:
    q = select(inc.c.id, inc.c.service, inc.c.title, inc.c.opened_at, inc.c.resolved_at,
               inc.c.deployment_id, inc.c.url)
    if services:
        q = q.where(inc.c.service.in_(tuple(services)))
    if until is not None:
        q = q.where(inc.c.opened_at <= until)
    rows = [dict(r._mapping) for r in conn.execute(q.order_by(inc.c.opened_at, inc.c.id))]
    for r in rows:  # as of ``until``, a later resolution had not happened yet
        if until is not None and r["resolved_at"] is not None and r["resolved_at"] > until:
            r["resolved_at"] = None
    return rows


@dataclass
class DeployOutcome:
    """A production deployment and whether it was a failed change (reasons say why)."""

    deployment: dict
    reasons: list[str] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    recovered_at: datetime | None = None
    recovery_hours: float | None = None
    unplanned: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.reasons)


def deploy_outcomes(conn: Connection, *, services=(), repos=(), since: datetime,
                    until: datetime) -> list[DeployOutcome]:
    """Every production deployment finished (success/failure/error) in the window with its
    change-failure reasons (incident / rolled_back / failed), recovery and rework flags."""
    all_rows = [r for r in _prod_rows(conn, services, repos, until)
                if r["status"] in FINISHED_STATUSES]
    incidents = _incident_rows(conn, services, until)
    cause = attribute_incidents(incidents, [dict(r, environment=PRODUCTION) for r in all_rows])
    caused: dict[str, list[dict]] = defaultdict(list)
    for i in incidents:
        if cause[i["id"]]:
            caused[cause[i["id"]]].append(i)
    per_service: dict[str, list[dict]] = defaultdict(list)
    for r in all_rows:
        per_service[r["service"] or r["repo"] or ""].append(r)
    out = []
    for key, rows in per_service.items():
        svc_incidents = [i for i in incidents if (i["service"] or "") == key]
        for n, r in enumerate(rows):
            if r["at"] < since:
                continue
            o = DeployOutcome(r, incidents=caused.get(r["id"], []))
            nxt = rows[n + 1] if n + 1 < len(rows) else None
            if o.incidents:
                o.reasons.append("incident")
            if nxt is not None and nxt["is_rollback"]:
                o.reasons.append("rolled_back")
            if r["status"] in FAILED_STATUSES:
                o.reasons.append("failed")
            if r["is_rollback"]:
                o.unplanned.append("rollback")
            start = r["started_at"] or r["at"]
            if any(i["opened_at"] <= start and (i["resolved_at"] is None or start < i["resolved_at"])
                   for i in svc_incidents):
                o.unplanned.append("fixes_open_incident")
            if o.failed:
                if o.incidents:
                    began = min(i["opened_at"] for i in o.incidents)
                    ends = [i["resolved_at"] for i in o.incidents]
                    o.recovered_at = None if any(e is None for e in ends) else max(ends)
                else:
                    began = r["at"]
                    later = [x["at"] for x in rows[n + 1:] if x["status"] == "success"]
                    o.recovered_at = later[0] if later else None
                o.recovery_hours = _hours(began, o.recovered_at)
            out.append(o)
    out.sort(key=lambda o: (o.deployment["at"], natural_key(o.deployment["id"])))
    return out


def change_failure_rate(conn: Connection, *, services=(), repos=(), since: datetime,
                        until: datetime) -> MetricValue:
    """Failed changes / production deployments finished (success, failure, error) in the
    window (fraction); None with none. A failed change has an attributed incident, was rolled
    back, or failed. Deployments that never went out or have an unknown outcome are in
    neither count; the basis says how many."""
    outcomes = deploy_outcomes(conn, services=services, repos=repos, since=since, until=until)
    failed = [o for o in outcomes if o.failed]
    value = len(failed) / len(outcomes) if outcomes else None
    left = left_out_deployments(conn, services=services, repos=repos, since=since, until=until)
    return MetricValue(value, "fraction", n=len(outcomes),
                       basis=f"{len(failed)} failed of {len(outcomes)} production deployments "
                             f"({left.text()})",
                       evidence=[_dep_evidence(o.deployment, ", ".join(o.reasons))
                                 for o in failed],
                       detail={"tier": tier("change_failure_rate", value),
                               "tier_year": TIERS_YEAR, **left.as_dict()})


def failed_deployment_recovery_time(conn: Connection, *, services=(), repos=(), since: datetime,
                                    until: datetime) -> MetricValue:
    """Median hours to recover from failed deployments in the window (see module docstring);
    unrecovered ones are excluded and counted in ``detail``."""
    failed = [o for o in deploy_outcomes(conn, services=services, repos=repos, since=since,
                                         until=until) if o.failed]
    done = [o for o in failed if o.recovery_hours is not None]
    value = median(o.recovery_hours for o in done) if done else None
    return MetricValue(value, "hours", n=len(done),
                       basis=f"from {len(done)} recovered failed deployments "
                             f"({len(failed) - len(done)} not recovered yet)",
                       evidence=[_dep_evidence(o.deployment, f"recovered in "
                                               f"{o.recovery_hours:.1f} h") for o in done],
                       detail={"unrecovered": len(failed) - len(done),
                               "tier": tier("failed_deployment_recovery_time", value),
                               "tier_year": TIERS_YEAR})


def deployment_rework_rate(conn: Connection, *, services=(), repos=(), since: datetime,
                           until: datetime) -> MetricValue:
    """Unplanned production deployments (rollbacks, or started while an incident on the service
    was open) / production deployments finished in the window (fraction). No DORA tier."""
    outcomes = deploy_outcomes(conn, services=services, repos=repos, since=since, until=until)
    unplanned = [o for o in outcomes if o.unplanned]
    value = len(unplanned) / len(outcomes) if outcomes else None
    left = left_out_deployments(conn, services=services, repos=repos, since=since, until=until)
    return MetricValue(value, "fraction", n=len(outcomes),
                       basis=f"{len(unplanned)} unplanned of {len(outcomes)} production "
                             f"deployments ({left.text()})",
                       evidence=[_dep_evidence(o.deployment, ", ".join(o.unplanned))
                                 for o in unplanned],
                       detail={"tier": None, "tier_year": TIERS_YEAR, **left.as_dict()})


def ceil_minutes(hours: float | None) -> int | None:
    """Hours as whole minutes rounded up (DevLake's unit for PR metrics)."""
    return None if hours is None else math.ceil(round(hours * 60, 6))


# --- KPIs ----------------------------------------------------------------------------------------------
def _delivery_scope(scope) -> dict:
    return {"services": scope.services, "repos": scope.repos, "since": scope.since,
            "until": scope.until}


def _scoped(fn, unit: str):
    """Run ``fn`` over the scope's services and repos. The functions read "no services and no
    repos" as every deployment; a scope that names none (a project with no repos configured)
    has no delivery data instead."""
    def compute(conn: Connection, scope) -> MetricValue:
        if not scope.services and not scope.repos:
            return MetricValue(None, unit, basis="no services or repos in scope")
        return fn(conn, scope)
    return compute


deployment_frequency_kpi = kpi("deployment_frequency")(_scoped(
    lambda conn, scope: deployment_frequency(conn, **_delivery_scope(scope)), "per_day"))
lead_time_for_changes_kpi = kpi("lead_time_for_changes")(_scoped(
    lambda conn, scope: lead_time_for_changes(conn, repos=scope.repos, since=scope.since,
                                              until=scope.until), "hours"))
change_failure_rate_kpi = kpi("change_failure_rate")(_scoped(
    lambda conn, scope: change_failure_rate(conn, **_delivery_scope(scope)), "fraction"))
failed_deployment_recovery_time_kpi = kpi("failed_deployment_recovery_time")(
    _scoped(lambda conn, scope: failed_deployment_recovery_time(conn, **_delivery_scope(scope)),
            "hours"))
deployment_rework_rate_kpi = kpi("deployment_rework_rate")(_scoped(
    lambda conn, scope: deployment_rework_rate(conn, **_delivery_scope(scope)), "fraction"))


DORA_KEYS = ("deployment_frequency", "lead_time_for_changes", "change_failure_rate",
             "failed_deployment_recovery_time", "deployment_rework_rate")


def dora_keys_by_window(conn: Connection, scope, windows: Sequence[tuple[datetime, datetime]]
                        ) -> list[dict[str, MetricValue]]:
    """The five DORA KPIs for ``scope`` over each ``(since, until)`` window: one dict per
    window, ``{kpi id: MetricValue}``, each value what the registered KPI gives for the scope
    narrowed to that window (units as there: per_day, hours, fractions).

    Lead time — most of the cost, one read of every merged PR — comes from one pass over the
    windows' span (:func:`lead_time_by_window`); the deployment keys read only deployments and
    incidents and are computed per window.
    """
    kpis = {"deployment_frequency": deployment_frequency_kpi,
            "change_failure_rate": change_failure_rate_kpi,
            "failed_deployment_recovery_time": failed_deployment_recovery_time_kpi,
            "deployment_rework_rate": deployment_rework_rate_kpi}
    if scope.services or scope.repos:
        lead = lead_time_by_window(conn, repos=scope.repos, windows=windows)
    else:
        lead = [lead_time_for_changes_kpi(conn, replace(scope, since=s, until=u))
                for s, u in windows]
    out = []
    for (since, until), lead_time in zip(windows, lead):
        sc = replace(scope, since=since, until=until)
        values = {k: kpis[k](conn, sc) for k in kpis}
        values["lead_time_for_changes"] = lead_time
        out.append({k: values[k] for k in DORA_KEYS})
    return out
