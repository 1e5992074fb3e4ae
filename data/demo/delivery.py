"""Deployments, their commits and incidents for one service (small: a few hundred rows).

The calendar is planned up front because pull requests need it: a merged PR is shipped by the
first successful forward production deployment that starts after its merge, and that
deployment lists the PR's merge sha in ``deployment_commits`` (so lead time = deployment
finished − PR first commit can be computed, as the GitHub connector's compare would allow).

Shape of a service's history: two staging deploys and (most days) one production deploy per
working day; a few failed deploys; a few "bad" production deploys that open an incident, which
is recovered by a rollback (``is_rollback``) or by a hotfix deploy (ref ``hotfix/...``). Release
candidates go to staging from ``release/<name>`` the day before a release ships and to
production on the ship day. Quiet periods keep a release's evidence green: no bad deploys in the
30 days before the last shipped release of each project, and for OPS and acme/web none in the
last 30 days either. PAY's latest staging deploy (release/2.4) fails — one of 2.4's risks — and
PAY's first production deploy five days after 2.3 shipped causes an incident and a rollback.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from data.demo.layout import DAY, Layout, ReleaseSlot, at
from data.demo.org import Project
from data.demo.rand import between, sha

MINUTE = timedelta(minutes=1)
SOURCE = "demo"


@dataclass
class IncidentPlan:
    service: str
    opened_at: datetime
    resolved_at: datetime
    severity: str
    title: str
    deployment_id: str | None  # the deploy the incident names (None: attributed by rule)


@dataclass
class DeliveryPlan:
    deployments: list[dict] = field(default_factory=list)
    commits: list[dict] = field(default_factory=list)  # each forward deploy's own head commit
    incidents: list[IncidentPlan] = field(default_factory=list)
    _starts: list[datetime] = field(default_factory=list)
    _ids: list[str] = field(default_factory=list)

    def shipping(self, merged_at: datetime) -> str | None:
        """The first successful forward production deploy starting after ``merged_at``."""
        i = bisect.bisect_right(self._starts, merged_at + 10 * MINUTE)
        return self._ids[i] if i < len(self._ids) else None


@dataclass
class _Deploy:
    env: str
    start: datetime
    minutes: float
    status: str = "success"
    ref: str = "main"
    rollback: bool = False
    bad: str | None = None  # "rollback"/"hotfix": opens an incident after it finishes
    named: bool = True


def _quiet(project: Project, layout: Layout, releases: list[ReleaseSlot]) -> list[tuple]:
    shipped = [r for r in releases if r.kind == "shipped"]
    quiet = []
    if shipped:
        last = shipped[-1].released_at
        quiet.append((last - timedelta(days=30), last + DAY))
    if project.key != "PAY":
        quiet.append((layout.now - timedelta(days=30), layout.now))
    return quiet


def plan_delivery(project: Project, layout: Layout, releases: list[ReleaseSlot],
                  rng: random.Random) -> DeliveryPlan:
    h0 = project.work_hours[0]
    quiet = _quiet(project, layout, releases)

    def in_quiet(t: datetime) -> bool:
        return any(a <= t <= b for a, b in quiet)

    shipped = [r for r in releases if r.kind == "shipped"]
    forced_bad_day = None
    if project.key == "PAY" and shipped:
        forced_bad_day = shipped[-1].day + timedelta(days=5)
        while forced_bad_day.weekday() >= 5:
            forced_bad_day += DAY

    plan: list[_Deploy] = []
    day = layout.history_start.date()
    last_day = layout.today - DAY
    while day <= last_day:
        if day.weekday() < 5:
            for hour in (h0 + 2, h0 + 7):
                t = at(day, hour + rng.uniform(0, 0.8))
                plan.append(_Deploy("staging", t, rng.uniform(3, 8),
                                    "failure" if rng.random() < 0.06 else "success"))
            forced = day == forced_bad_day
            if forced or rng.random() < 0.85:
                t = at(day, h0 + 6.5 + rng.uniform(0, 1))
                d = _Deploy("production", t, rng.uniform(5, 15))
                roll = rng.random()
                if forced:
                    d.bad, d.named = "rollback", True
                elif not in_quiet(t) and roll < 0.04:
                    d.status = "failure"
                elif not in_quiet(t) and roll < 0.10:
                    d.bad = "rollback" if rng.random() < 0.5 else "hotfix"
                    d.named = rng.random() < 0.7
                plan.append(d)
        day += DAY

    for rel in releases:
        branch = f"release/{rel.name}"
        if rel.kind == "shipped":
            plan.append(_Deploy("staging", at(rel.day - DAY, h0 + 9), 6.0, ref=branch))
            plan.append(_Deploy("production", at(rel.day, h0 + 2), 9.0, ref=branch))
        elif rel.kind == "upcoming":
            last_weekday = layout.today - DAY
            while last_weekday.weekday() >= 5:
                last_weekday -= DAY
            # The release candidate's latest staging deploy: red for PAY 2.4, green elsewhere.
            plan.append(_Deploy("staging", at(last_weekday, h0 + 9.5), 7.0, ref=branch,
                                status="failure" if project.key == "PAY" else "success"))

    # Incident follow-ups: rollbacks and hotfixes (planned before numbering, all in the past).
    incidents: list[tuple[_Deploy, datetime, datetime, str]] = []
    for d in [d for d in plan if d.bad]:
        finished = d.start + timedelta(minutes=d.minutes)
        opened = finished + timedelta(minutes=rng.uniform(15, 150))
        if d.bad == "rollback":
            fix = _Deploy("production", opened + timedelta(minutes=rng.uniform(15, 35)), 4.0,
                          rollback=True)
        else:
            fix = _Deploy("production", opened + timedelta(hours=rng.uniform(1, 6)), 8.0,
                          ref=f"hotfix/{project.service}-{d.start:%Y%m%d}")
        resolved = fix.start + timedelta(minutes=fix.minutes + rng.uniform(5, 30))
        if resolved >= layout.now:
            d.bad = None
            continue
        plan.append(fix)
        incidents.append((d, opened, resolved, rng.choice(["critical", "high", "high", "medium"])))

    plan.sort(key=lambda d: d.start)
    out = DeliveryPlan()
    ids: dict[int, str] = {}
    good_shas = [sha(project.repo, "initial")]
    for n, d in enumerate(plan, start=1):
        dep_id = f"demo:deploy:{project.service}:{n}"
        ids[id(d)] = dep_id
        env_name = project.prod_env if d.env == "production" else project.staging_env
        # A rollback redeploys what ran before the bad deploy (the last good one before it).
        head = good_shas[-2] if d.rollback and len(good_shas) > 1 else (
            good_shas[-1] if d.rollback else sha(project.repo, "deploy", n))
        finished = d.start + timedelta(minutes=d.minutes)
        out.deployments.append({
            "id": dep_id, "source": SOURCE, "service": project.service, "repo": project.repo,
            "environment": d.env, "environment_name": env_name, "sha": head, "ref": d.ref,
            "status": d.status, "created_at": d.start - MINUTE, "started_at": d.start,
            "finished_at": finished.replace(microsecond=0), "is_rollback": d.rollback,
            "url": f"https://github.com/{project.repo}/deployments/{env_name}",
        })
        if d.env == "production" and d.status == "success" and not d.rollback:
            good_shas.append(head)
            out._starts.append(d.start)
            out._ids.append(dep_id)
            out.commits.append({
                "deployment_id": dep_id, "sha": head, "source": SOURCE,
                "committed_at": (d.start - timedelta(minutes=rng.uniform(10, 120))
                                 ).replace(microsecond=0)})

    for d, opened, resolved, severity in incidents:
        out.incidents.append(IncidentPlan(
            project.service, opened.replace(microsecond=0), resolved.replace(microsecond=0),
            severity, f"{project.service}: elevated error rate after deploy",
            ids[id(d)] if d.named else None))
    # Incidents not caused by a deploy (an upstream outage), outside the quiet periods.
    for _ in range(2):
        for _attempt in range(20):
            opened = between(rng, layout.history_start + 14 * DAY, layout.now - 2 * DAY)
            if not any(a - DAY <= opened <= b + DAY for a, b in quiet):
                break
        else:
            continue
        out.incidents.append(IncidentPlan(
            project.service, opened, opened + timedelta(hours=rng.uniform(0.5, 5)),
            "high", f"{project.service}: upstream provider outage", None))
    out.incidents.sort(key=lambda i: i.opened_at)
    return out
