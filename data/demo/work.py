"""Work items with their history, sprint and release membership, and the pull requests.

Generated window by window (a window is one sprint period), so memory holds one window's plans
at a time. Within a window, items are numbered in creation order (PAY-1, PAY-2, ...).

Each item's life is planned as a list of "set" events ``(at, field, new value)`` — status
names, sprint number tuples, story points — then cut at ``now`` and replayed: the replay writes
``work_item_changes`` (with the old and new values) and yields the item's state today. So the
current row and its history can never disagree, and nothing happens after ``now``.

Change rows follow the connectors' shapes:
- Jira ``status``: ``from_value``/``to_value`` are status ids (10000 To Do, 3 In Progress...),
  ``*_string`` the names; each status change also gives a ``status_category`` row (id suffix
  ``c``) whose values are todo/in_progress/done — what cycle time and flow read;
- GitHub ``status`` (acme/web): ``open``/``closed`` in both value and string;
- ``sprint``: ``from_value``/``to_value`` are comma-separated sprint ids, as Jira gives them;
  the demo writes the full domain ids (``demo:sprint:PAY:12,demo:sprint:PAY:13``) because its
  sprint numbers repeat across projects; ``*_string`` are the names ("PAY Sprint 12, ...");
- ``story_points``: numbers as strings ("5.0"), null when unset.
Jira-style projects get sprint flow: planned before a sprint starts (committed), added after
it started, a few removed mid-sprint, unfinished work carried into the next sprint at
completion (Jira's sprint field then lists both sprints). acme/web is GitHub-style: no sprints,
milestones for releases, open/closed status history.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from data import schema
from data.demo.delivery import DeliveryPlan, IncidentPlan
from data.demo.history import replay
from data.demo.layout import (CLOSED_SPRINTS, DAY, HOUR, SPRINT_DAYS, Layout, ReleaseSlot,
                              SprintSlot, before_weekend, on_workday)
from data.demo.org import BUG_TITLES, LABELS, STORY_TITLES, TOPICS, Project
from data.demo.rand import between, lognormal_days, sha, vary, weighted

SOURCE = "demo"
ACTIVE = CLOSED_SPRINTS + 1
FUTURE = CLOSED_SPRINTS + 2

REMOVAL_SPRINTS = {4, 8, 11, ACTIVE}
JIRA_STATUS_IDS = {"To Do": "10000", "Backlog": "10001", "In Progress": "3", "In Review": "10002",
                   "Done": "10003", "Reopened": "4"}
JIRA_CATEGORY = {"To Do": "todo", "Backlog": "todo", "Reopened": "todo",
                 "In Progress": "in_progress", "In Review": "in_progress", "Done": "done"}
GITHUB_CATEGORY = {"open": "todo", "closed": "done"}
PRIORITY_SEVERITY = {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low"}
NOT_DELIVERED = {"Won't Do", "Duplicate", "not_planned", "duplicate"}


@dataclass
class Plan:
    """One item to create: what it is and how it enters the flow."""

    created: datetime
    kind: str  # story/task/bug/epic/incident/chore_pr
    route: str = "backlog"  # planned/added/backlog/kanban/stabilise/duplicate/incident/special
    target: int | None = None  # sprint number for planned/added
    incident: IncidentPlan | None = None
    priority: str | None = None
    severity: str | None = None
    found_in: str | None = None
    deadline: datetime | None = None  # stabilise: fixed before this


@dataclass
class Life:
    events: list[tuple[datetime, str, object]] = field(default_factory=list)
    resolution: str | None = None
    start: datetime | None = None  # when work (and the PR) started
    done: datetime | None = None  # planned first completion (may be after now)


class ProjectWork:
    """Generates one project's work. ``rows()`` yields ``(table, row)``."""

    def __init__(self, project: Project, layout: Layout, releases: list[ReleaseSlot],
                 sprints: list[SprintSlot], delivery: DeliveryPlan, scale: float,
                 rng: random.Random) -> None:
        self.p = project
        self.layout = layout
        self.now = layout.now
        self.releases = releases
        self.sprints = {s.number: s for s in sprints}
        self.delivery = delivery
        self.scale = scale
        self.rng = rng
        self.jira = project.style == "jira"
        self.item_no = 0
        self.pr_no = 0
        self.epic_keys: list[str] = []
        self.removed_from: set[int] = set()
        shipped = [r for r in releases if r.kind == "shipped"]
        self.special_at = None
        if project.key == "PAY" and shipped:
            self.special_at = on_workday(shipped[-1].released_at + 6 * DAY + 10 * HOUR)
        # Stabilisation: in the four weeks before the last release shipped (and, for the
        # healthy projects, before today) every new bug is fixed before that moment, so the
        # bug trend converges when the release is judged.
        self.stabilise: list[tuple[datetime, datetime]] = []
        if shipped:
            self.stabilise.append((shipped[-1].released_at - 28 * DAY, shipped[-1].released_at))
        if project.key != "PAY":
            self.stabilise.append((self.now - 28 * DAY, self.now))

    # --- planning ------------------------------------------------------------------------
    def _plans(self, w: int, start: datetime, end: datetime) -> list[Plan]:
        rng, p = self.rng, self.p
        share = (end - start) / timedelta(days=SPRINT_DAYS)
        last = end - 2 * HOUR
        plans: list[Plan] = []
        if w == 0:
            for _ in p.epics:
                plans.append(Plan(between(rng, start, start + 2 * DAY), "epic", "epic"))
        for _ in range(vary(rng, p.stories_per_window * self.scale * share)):
            created = before_weekend(between(rng, start, last))
            kind = "story" if rng.random() < 0.65 else "task"
            plans.append(self._route(Plan(created, kind), w))
        for _ in range(vary(rng, p.bugs_per_window * self.scale * share)):
            created = before_weekend(between(rng, start, last))
            plan = self._route(self._bug(Plan(created, "bug")), w)
            for a, b in self.stabilise:
                if a <= created < b:
                    plan.route, plan.target, plan.deadline = "stabilise", None, b
            plans.append(plan)
        for _ in range(vary(rng, 0.12 * p.stories_per_window * self.scale * share)):
            plans.append(Plan(between(rng, start, last), "chore_pr", "chore_pr"))
        for inc in self.delivery.incidents:
            if start <= inc.opened_at < end:
                plans.append(Plan(inc.opened_at, "incident", "incident", incident=inc))
        if self.special_at and start <= self.special_at < end:
            plans.append(Plan(self.special_at, "bug", "special", target=w))
        plans = [pl for pl in plans if pl.created < self.now]
        plans.sort(key=lambda pl: pl.created)
        return plans

    def _route(self, plan: Plan, w: int) -> Plan:
        rng = self.rng
        if not self.jira:
            plan.route = "github"
            return plan
        r = rng.random()
        if plan.kind == "bug":
            if plan.severity in ("critical", "high"):
                # Urgent: pulled into the running sprint (or fixed at once before sprints began).
                plan.route, plan.target = ("added", w) if w >= 1 else ("kanban", None)
            elif r < 0.06:
                plan.route = "duplicate"
            elif r < 0.5:
                plan.route, plan.target = "planned", min(w + 1, FUTURE)
            else:
                plan.route = "kanban"
            return plan
        if r < 0.10 and w >= 1:
            plan.route, plan.target = "added", w
        elif r < 0.82:
            # Planned one to three sprints ahead (the first sprints take the early backlog).
            weights = (0.7, 0.2, 0.1) if w >= 1 else (0.6, 0.3, 0.1)
            plan.route = "planned"
            plan.target = min(w + rng.choices((1, 2, 3), weights)[0], FUTURE)
        return plan

    # --- generation -----------------------------------------------------------------------
    def rows(self) -> Iterator[tuple]:
        for w, start, end in self.layout.windows():
            for plan in self._plans(w, start, end):
                if plan.kind == "chore_pr":
                    yield from self._chore_pr(plan)
                else:
                    yield from self._item(plan)

    def _next_key(self) -> tuple[int, str]:
        self.item_no += 1
        if self.jira:
            return self.item_no, f"{self.p.key}-{self.item_no}"
        return self.item_no, f"{self.p.repo}#{self.item_no}"

    def _next_pr(self) -> int:
        if self.jira:
            self.pr_no += 1
            return self.pr_no
        self.item_no += 1  # GitHub numbers issues and pull requests from one sequence
        return self.item_no

    def _item(self, plan: Plan) -> Iterator[tuple]:
        rng, p = self.rng, self.p
        number, key = self._next_key()
        item_id = f"demo:issue:{key}"
        kind = plan.kind
        priority, severity, found_in = self._priority(plan)
        labels = self._labels(plan, severity, found_in)
        title = self._title(plan)
        points = self._points(kind)
        life = self._life(plan, points, severity)
        state = replay(life.events, now=self.now, created=plan.created,
                       initial=p.initial_status if self.jira else "open",
                       category=self._category)
        status, sprints, est = state.status, state.sprints, state.points
        started_at, resolved_at, updated = state.started_at, state.resolved_at, state.updated_at
        changes = [row for n, change in enumerate(state.changes)
                   for row in self._changes(item_id, n, *change)]
        category = self._category(status)
        if not self.jira and category == "todo" and life.start and life.start < self.now:
            category = "in_progress"  # GitHub: open and started (assigned / PR linked)
            started_at = life.start
            labels = labels + ["in progress"]
        if not self.jira and life.start and life.start < self.now and started_at is None:
            started_at = life.start
        resolution = life.resolution if category == "done" else None
        assignee = (rng.choice(p.people) if (started_at or resolution or kind == "epic"
                                             or plan.route in ("planned", "added", "special"))
                    else None)
        if kind == "incident":
            assignee = "oncall"
        yield schema.work_items, {
            "id": item_id, "source": SOURCE, "project": p.key, "key": key,
            "title": title, "type": kind, "type_name": self._type_name(kind),
            "status": status, "status_category": category, "resolution": resolution,
            "resolution_category": (None if resolution is None else
                                    "not_delivered" if resolution in NOT_DELIVERED
                                    else "delivered"),
            "priority": priority, "severity": severity, "found_in": found_in,
            "story_points": None if est is None else float(est), "assignee": assignee,
            "labels": labels, "components": [p.service] if self.jira else [],
            "parent_key": (rng.choice(self.epic_keys)
                           if self.epic_keys and kind == "story" and rng.random() < 0.7
                           else None),
            "created_at": plan.created, "started_at": started_at, "resolved_at": resolved_at,
            "updated_at": updated, "url": self._url(key, number),
        }
        if kind == "epic":
            self.epic_keys.append(key)
        for row in changes:
            yield schema.work_item_changes, row
        for s in sprints:
            yield schema.sprint_items, {"sprint_id": f"demo:sprint:{p.key}:{s}",
                                        "item_id": item_id, "source": SOURCE}
        release = self._release_for(plan, category, resolution, resolved_at, sprints,
                                    severity)
        if release:
            yield schema.release_items, {"release_id": f"demo:release:{p.key}:{release}",
                                         "item_id": item_id, "source": SOURCE}
        if plan.incident:
            inc = plan.incident
            yield schema.incidents, {
                "id": f"demo:incident:{key}", "source": SOURCE, "service": inc.service,
                "title": inc.title, "severity": inc.severity, "opened_at": inc.opened_at,
                "resolved_at": inc.resolved_at if inc.resolved_at < self.now else None,
                "deployment_id": inc.deployment_id, "work_item_id": item_id,
                "url": self._url(key, number),
            }
        if (life.start and life.start < self.now and kind in ("story", "task", "bug")
                and rng.random() < 0.9):
            yield from self._pull_request(key, item_id, title, life)

    # --- the life of an item ------------------------------------------------------------------
    def _life(self, plan: Plan, points: float | None, severity: str | None) -> Life:
        if not self.jira:
            return self._github_life(plan, severity)
        rng, life = self.rng, Life()
        ev = life.events
        if plan.route == "epic":
            ev.append((plan.created + lognormal_days(rng, 10), "status", "In Progress"))
            return life
        if plan.route == "incident":
            inc = plan.incident
            ev.append((inc.opened_at + timedelta(minutes=5), "status", "In Progress"))
            ev.append((inc.resolved_at, "status", "Done"))
            life.resolution = "Done"
            return life
        if plan.route == "duplicate":
            ev.append((plan.created + lognormal_days(rng, 0.8), "status", "Done"))
            life.resolution = "Duplicate"
            return life
        if plan.route == "backlog":
            if rng.random() < 0.3:
                ev.append((on_workday(plan.created + lognormal_days(rng, 25)), "status", "Done"))
                life.resolution = "Won't Do"
            if points is not None:
                ev.append((plan.created + lognormal_days(rng, 3), "story_points", points))
            return life
        if plan.route == "stabilise":  # fixed before the deadline, never reopened
            room = plan.deadline - plan.created
            start = plan.created + room * rng.uniform(0.05, 0.3)
            done = start + (plan.deadline - start) * rng.uniform(0.1, 0.6)
            ev += [(start, "status", "In Progress"), (done, "status", "Done")]
            life.start, life.done, life.resolution = start, done, "Done"
            return life
        if plan.route == "kanban":  # bugs handled outside sprints; some are never fixed
            urgent = severity in ("critical", "high")
            if urgent or rng.random() < 0.75:
                start = on_workday(plan.created + lognormal_days(rng, 0.3 if urgent else 8, 0.8))
                self._work(life, start, lognormal_days(rng, 0.5 if urgent else 1.5),
                           review=False)
            return life
        return self._sprint_life(plan, points, severity)

    def _sprint_life(self, plan: Plan, points: float | None, severity: str | None) -> Life:
        rng, life = self.rng, Life()
        ev = life.events
        target = plan.target
        sprint = self.sprints[target]
        if plan.route == "planned":
            latest = sprint.start - 0.5 * HOUR if sprint.start else self.now - HOUR
            earliest = max(plan.created + 0.2 * HOUR,
                           (sprint.start - 3 * DAY) if sprint.start else plan.created)
            entry = between(rng, earliest, max(earliest + HOUR, latest))
            if sprint.start and entry >= sprint.start:
                entry = sprint.start - 0.25 * HOUR
        else:
            entry = plan.created + timedelta(minutes=rng.uniform(10, 240))
            if sprint.close and entry >= sprint.close - HOUR:  # too late for this sprint
                target = min(target + 1, FUTURE)
                sprint = self.sprints[target]
                entry = (sprint.start - 0.25 * HOUR) if sprint.start else entry
        if points is not None:
            ev.append((plan.created + (entry - plan.created) * rng.uniform(0.1, 0.9),
                       "story_points", points))
        ev.append((entry, "sprint", (target,)))
        if sprint.start is None:  # planned into the future sprint: nothing happens yet
            return life
        # A few planned items leave mid-sprint; some sprints always lose one, so scope
        # removal shows at any scale.
        if plan.route == "planned" and (rng.random() < 0.08 or (
                target in REMOVAL_SPRINTS and target not in self.removed_from)):
            self.removed_from.add(target)
            removed = on_workday(sprint.start + timedelta(days=rng.uniform(1, 7)))
            ev.append((removed, "sprint", ()))
            if rng.random() < 0.4:
                ev.append((removed + lognormal_days(rng, 4), "status", "Done"))
                life.resolution = "Won't Do"
            return life
        if plan.route == "special":
            start = entry + timedelta(hours=rng.uniform(1, 5))
            ev.append((start, "status", "In Progress"))
            life.start = start
            self._carry(ev, target, self.now + 365 * DAY)
            return life
        if plan.route == "added":
            median = 0.4 if severity in ("critical", "high") else 1.5
            start = on_workday(entry + timedelta(hours=rng.uniform(0.5, 30)))
        else:
            median = 1.2 + 0.5 * (points or 2)
            start = on_workday(max(entry, sprint.start) + timedelta(days=rng.uniform(0, 10)))
        duration = lognormal_days(rng, median)
        if severity in ("critical", "high"):
            duration = min(duration, 3 * DAY)
        done = self._work(life, start, duration, review=plan.kind != "bug")
        self._carry(ev, target, done)
        if points is not None and rng.random() < 0.1:
            t = max(entry, sprint.start) + timedelta(days=rng.uniform(1, 4))
            if t < done:
                ev.append((t, "story_points", rng.choice([1, 2, 3, 5, 8])))
        return life

    def _work(self, life: Life, start: datetime, duration: timedelta, review: bool
              ) -> datetime:
        """In progress at ``start``, done ``duration`` later (moved off weekends); bugs are
        sometimes reopened and fixed again."""
        rng, ev = self.rng, life.events
        done = on_workday(start + duration)
        ev.append((start, "status", "In Progress"))
        if review:
            ev.append((start + (done - start) * 0.7, "status", "In Review"))
        ev.append((done, "status", "Done"))
        life.start, life.done, life.resolution = start, done, "Done"
        if not review and rng.random() < 0.1:  # bugs: reopened, fixed again
            reopened = done + lognormal_days(rng, 3)
            again = reopened + lognormal_days(rng, 0.8)
            ev.append((reopened, "status", "Reopened"))
            ev.append((again, "status", "In Progress"))
            ev.append((on_workday(again + lognormal_days(rng, 1)), "status", "Done"))
        return done

    def _carry(self, ev: list, first: int, done: datetime) -> None:
        """Carry unfinished work into the next sprint when each sprint completes."""
        k = first
        while k < ACTIVE and self.sprints[k].close and done > self.sprints[k].close:
            ev.append((self.sprints[k].close, "sprint", tuple(range(first, k + 2))))
            k += 1

    def _github_life(self, plan: Plan, severity: str | None) -> Life:
        rng, life = self.rng, Life()
        ev = life.events
        if plan.route == "incident":
            inc = plan.incident
            ev.append((inc.resolved_at, "status", "closed"))
            life.resolution = "completed"
            return life
        if plan.route == "stabilise":
            room = plan.deadline - plan.created
            start = plan.created + room * rng.uniform(0.05, 0.3)
            done = start + (plan.deadline - start) * rng.uniform(0.1, 0.6)
            ev.append((done, "status", "closed"))
            life.start, life.done, life.resolution = start, done, "completed"
            return life
        r = rng.random()
        if plan.kind == "bug" and r < 0.06:
            ev.append((plan.created + lognormal_days(rng, 1), "status", "closed"))
            life.resolution = "duplicate"
        elif r < 0.16:
            ev.append((plan.created + lognormal_days(rng, 15), "status", "closed"))
            life.resolution = "not_planned"
        elif r < 0.85:
            wait = 0.3 if severity in ("critical", "high") else 4
            start = on_workday(plan.created + lognormal_days(rng, wait, 0.8))
            done = on_workday(start + lognormal_days(rng, 1.2 if plan.kind == "bug" else 2.5))
            ev.append((done, "status", "closed"))
            life.start, life.done, life.resolution = start, done, "completed"
            if plan.kind == "bug" and rng.random() < 0.08:
                reopened = done + lognormal_days(rng, 4)
                ev.append((reopened, "status", "open"))
                ev.append((reopened + lognormal_days(rng, 1), "status", "closed"))
        return life

    # --- item attributes ----------------------------------------------------------------------
    def _priority(self, plan: Plan) -> tuple[str | None, str | None, str | None]:
        rng = self.rng
        if plan.route == "special":
            return "Highest", "critical", "production"
        if plan.kind == "incident":
            sev = plan.incident.severity
            priority = {"critical": "Highest", "high": "High"}.get(sev, "Medium")
            return (priority if self.jira else None), sev, None
        if plan.kind != "bug":
            return (weighted(rng, {"Medium": 6, "High": 2, "Low": 2}) if self.jira else None,
                    None, None)
        return plan.priority, plan.severity, plan.found_in

    def _bug(self, plan: Plan) -> Plan:
        """Priority, severity and where it was found, decided when the bug is reported."""
        rng = self.rng
        priority = weighted(rng, {"Highest": 7, "High": 20, "Medium": 45, "Low": 28})
        if self.p.key == "OPS" and plan.created > self.now - 5 * DAY:
            # The platform team keeps its upcoming release clean: nothing urgent is open.
            priority = weighted(rng, {"Medium": 2, "Low": 1})
        plan.severity = PRIORITY_SEVERITY[priority]
        plan.priority = priority if self.jira else None
        for rel in self.releases:
            if rel.released_at and rel.released_at < plan.created < rel.released_at + 28 * DAY:
                if rng.random() < 0.35:
                    plan.found_in = "production"
        return plan

    def _labels(self, plan: Plan, severity: str | None, found_in: str | None) -> list[str]:
        rng = self.rng
        labels = rng.sample(LABELS[self.p.key], k=rng.choice([0, 1, 1, 2]))
        if plan.route == "special":
            labels = ["checkout"]
        if not self.jira:
            if plan.kind == "bug":
                labels = ["bug", f"severity: {severity}"] + labels
            elif plan.kind == "incident":
                labels = ["incident"] + labels
            elif plan.kind == "story":
                labels = ["enhancement"] + labels
        if found_in == "production":
            labels = labels + ["production"]
        return labels

    def _points(self, kind: str) -> float | None:
        if not self.jira:
            return None
        rng = self.rng
        if kind == "story":
            return rng.choices([1, 2, 3, 5, 8, 13], [10, 20, 30, 25, 12, 3])[0]
        if kind == "task":
            return rng.choice([1, 2, 3])
        if kind == "bug" and rng.random() < 0.6:
            return rng.choice([1, 2, 3])
        return None

    def _title(self, plan: Plan) -> str:
        rng = self.rng
        if plan.route == "special":
            return "Checkout returns 500 for 3-D Secure challenge on saved cards"
        if plan.kind == "incident":
            return plan.incident.title
        if plan.kind == "epic":
            return self.p.epics[len(self.epic_keys) % len(self.p.epics)]
        topic = rng.choice(TOPICS[self.p.key])
        pattern = rng.choice(BUG_TITLES if plan.kind == "bug" else STORY_TITLES)
        text = pattern.format(x=topic)
        return text[0].upper() + text[1:]

    def _type_name(self, kind: str) -> str:
        if self.jira:
            return {"story": "Story", "task": "Task", "bug": "Bug", "epic": "Epic",
                    "incident": "Incident"}[kind]
        return {"story": "enhancement", "task": "issue", "bug": "bug",
                "incident": "incident"}.get(kind, "issue")

    def _url(self, key: str, number: int) -> str:
        if self.jira:
            return f"https://acme.atlassian.net/browse/{key}"
        return f"https://github.com/{self.p.repo}/issues/{number}"

    def _category(self, status: str) -> str:
        return (JIRA_CATEGORY if self.jira else GITHUB_CATEGORY)[status]

    def _sprint_ids(self, sprints: tuple) -> str | None:
        return ",".join(f"demo:sprint:{self.p.key}:{s}" for s in sprints) or None

    def _sprint_names(self, sprints: tuple) -> str | None:
        return ", ".join(f"{self.p.key} Sprint {s}" for s in sprints) or None

    def _changes(self, item_id: str, n: int, t: datetime, fld: str, old, new) -> list[dict]:
        """work_item_changes rows for one change, shaped like the connectors' (module doc)."""
        row = {"id": f"{item_id}:{n + 1}:0", "item_id": item_id, "source": SOURCE, "at": t,
               "field": fld, "author": None}
        if fld == "status" and not self.jira:  # GitHub issue events: open/closed
            return [{**row, "from_value": old, "to_value": new, "from_string": old,
                     "to_string": new}]
        if fld == "status":  # Jira: status ids and names, plus the category change
            return [{**row, "from_value": JIRA_STATUS_IDS[old], "to_value": JIRA_STATUS_IDS[new],
                     "from_string": old, "to_string": new},
                    {**row, "id": f"{item_id}:{n + 1}:0c", "field": "status_category",
                     "from_value": self._category(old), "to_value": self._category(new),
                     "from_string": None, "to_string": None}]
        if fld == "sprint":
            return [{**row, "from_value": self._sprint_ids(old),
                     "to_value": self._sprint_ids(new), "from_string": self._sprint_names(old),
                     "to_string": self._sprint_names(new)}]
        shown = (None if old is None else str(float(old)), str(float(new)))
        return [{**row, "from_value": shown[0], "to_value": shown[1], "from_string": shown[0],
                 "to_string": shown[1]}]

    def _release_for(self, plan: Plan, category: str, resolution: str | None,
                     resolved_at: datetime | None, sprints: tuple, severity: str | None
                     ) -> str | None:
        """The fix version: the release whose freeze follows the work's resolution; open work
        of the running sprint (and PAY's urgent bugs) aims at the upcoming release."""
        rng = self.rng
        if plan.kind in ("epic", "incident") or resolution in NOT_DELIVERED:
            return None
        shipped = [r for r in self.releases if r.kind == "shipped"]
        upcoming = self.p.upcoming
        later = next((r.name for r in self.releases if r.kind == "later"), upcoming)
        if category == "done" and resolved_at:
            for rel in shipped:
                if rel.freeze - 8 * 7 * DAY < resolved_at <= rel.freeze:
                    return rel.name
            if not shipped or resolved_at > shipped[-1].freeze:
                return upcoming
            return None
        if self.p.key == "OPS":  # keep 1.9 done: open work waits for 2.0
            return later if (ACTIVE in sprints or FUTURE in sprints or rng.random() < 0.3) \
                else None
        if ACTIVE in sprints or plan.route == "special":
            return upcoming
        if FUTURE in sprints:
            return later
        if self.p.key == "PAY" and severity in ("critical", "high"):
            return upcoming
        if not self.jira and plan.created > self.now - 42 * DAY and rng.random() < 0.5:
            return upcoming
        return later if rng.random() < 0.3 else None

    # --- pull requests ------------------------------------------------------------------------
    def _pull_request(self, key: str, item_id: str, title: str, life: Life) -> Iterator[tuple]:
        rng, p = self.rng, self.p
        number = self._next_pr()
        span = ((life.done or self.now + 5 * DAY) - life.start)
        fracs = sorted(rng.uniform(0.02, 0.95) for _ in range(3))
        first_commit = life.start + span * fracs[0] * 0.3
        created = life.start + span * fracs[0]
        first_review = life.start + span * fracs[1]
        merged = life.start + span * max(fracs[2], 0.9)
        yield from self._pr_rows(number, f"{key}: {title}" if self.jira else title,
                                 rng.choice(p.people),
                                 f"{key.lower().replace('/', '-').replace('#', '-')}",
                                 first_commit, created, first_review, merged, [item_id])

    def _chore_pr(self, plan: Plan) -> Iterator[tuple]:
        rng = self.rng
        number = self._next_pr()
        created = plan.created
        first_review = created + timedelta(hours=rng.uniform(0.5, 20))
        merged = first_review + timedelta(hours=rng.uniform(0.1, 4))
        dep = rng.choice(["urllib3", "sqlalchemy", "requests", "pytest", "eslint", "react"])
        yield from self._pr_rows(number, f"Bump {dep}", "dependabot[bot]",
                                 f"dependabot/{dep}-{number}",
                                 created - timedelta(minutes=2), created, first_review, merged,
                                 [])

    def _pr_rows(self, number, title, author, head, first_commit, created, first_review,
                 merged, linked) -> Iterator[tuple]:
        rng, p, now = self.rng, self.p, self.now
        first_commit = first_commit.replace(microsecond=0)
        created = max(created.replace(microsecond=0), first_commit)
        if created >= now:
            return
        first_review = first_review.replace(microsecond=0)
        merged = merged.replace(microsecond=0)
        reviewed = first_review < now
        is_merged = merged < now
        merge_sha = sha(p.repo, "pr", number) if is_merged else None
        additions = int(rng.lognormvariate(4.0, 1.1))
        pr_id = f"demo:pr:{p.repo}#{number}"
        yield schema.pull_requests, {
            "id": pr_id, "source": SOURCE, "repo": p.repo, "number": number, "title": title,
            "author": author, "state": "merged" if is_merged else "open",
            "base_branch": "main", "head_branch": head, "created_at": created,
            "first_commit_at": first_commit,
            "first_review_at": first_review if reviewed else None,
            "review_count": rng.randint(1, 4) if reviewed else 0,
            "merged_at": merged if is_merged else None,
            "closed_at": merged if is_merged else None,
            "updated_at": merged if is_merged else (first_review if reviewed else created),
            "merge_sha": merge_sha, "additions": additions,
            "deletions": int(additions * rng.uniform(0.05, 0.8)),
            "changed_files": max(1, additions // rng.randint(15, 60)),
            "linked_items": linked, "url": f"https://github.com/{p.repo}/pull/{number}",
        }
        if is_merged:
            deploy_id = self.delivery.shipping(merged)
            if deploy_id:
                yield schema.deployment_commits, {"deployment_id": deploy_id, "sha": merge_sha,
                                                  "source": SOURCE, "committed_at": merged}
