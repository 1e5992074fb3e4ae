"""What a KPI is computed over: projects, repos, services, a time window, a sprint, a release.

:func:`resolve_scope` turns the filters a user gives (names, as typed on the command line or
picked in the app) into a :class:`Scope` of ids, using ``readiness.toml`` for the mapping
between projects, repos, services and teams, and the database for sprints, releases and
projects that only exist there. Unknown names raise :class:`ScopeError` with a one-line
message listing what is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, or_, select, union

from data.domain import scope_kinds
from data.schema import releases, sprint_items, sprints, work_items

DEFAULT_WINDOW = timedelta(days=30)
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class ScopeError(ValueError):
    """An unknown project, team, sprint or release — one line naming what is known."""


@dataclass(frozen=True)
class Scope:
    projects: tuple[str, ...]
    repos: tuple[str, ...]
    services: tuple[str, ...]
    since: datetime
    until: datetime
    team: str | None = None
    sprint_id: str | None = None
    release_id: str | None = None
    timezone: str = "UTC"
    working_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    labels: dict = field(default_factory=dict)

    @property
    def as_of(self) -> datetime:
        """The moment point-in-time KPIs are evaluated at (the window's end)."""
        return self.until

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def to_utc(value: datetime | date | str | None, *, end_of_day: bool = False) -> datetime | None:
    """An aware UTC datetime from a datetime, a date or an ISO string.

    A bare date means the start of that UTC day, or with ``end_of_day`` the start of the next
    day (so ``--until 2026-03-31`` includes the 31st).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                value = date.fromisoformat(text)
            else:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ScopeError(
                f"bad date '{text}': use YYYY-MM-DD or an ISO datetime such as 2026-03-31T12:00Z"
            ) from None
    if isinstance(value, datetime):
        return (value.replace(tzinfo=timezone.utc) if value.tzinfo is None
                else value.astimezone(timezone.utc))
    start = datetime.combine(value, time(0), tzinfo=timezone.utc)
    return start + timedelta(days=1) if end_of_day else start


def _db_projects(conn: Connection) -> list[str]:
    q = union(
        select(work_items.c.project.label("p")),
        select(releases.c.project.label("p")),
        select(sprints.c.project.label("p")).where(sprints.c.project.is_not(None)),
    )
    return sorted({r[0] for r in conn.execute(q)})


def _known(names) -> str:
    names = sorted(set(names))
    return ", ".join(names) if names else "none"


def resolve_scope(conn: Connection, settings, *, project: str | None = None,
                  team: str | None = None, sprint: str | None = None,
                  release: str | None = None, since=None, until=None,
                  now: datetime | None = None) -> Scope:
    """Resolve user filters (names) into a :class:`Scope`.

    - ``team``: its projects and repos from settings, its time zone and working days.
    - ``project``: a key from settings or one found in the database.
    - ``release`` (by name, optionally within ``project``) narrows to its project.
    - ``sprint`` by name within the scope's projects; without it, the last closed sprint in scope
      (completed before ``until``) is the sprint KPIs' subject.
    - No project or team: every project/repo/service in settings plus every project in the DB.
    - Window: ``since``..``until``; default the last 30 days ending at ``until`` (default now).
    """
    labels: dict = {}
    all_db = _db_projects(conn)
    configured = dict(settings.projects)
    team_cfg = None
    if team is not None:
        team_cfg = settings.teams.get(team)
        if team_cfg is None:
            raise ScopeError(f"unknown team '{team}'; known: {_known(settings.teams)}")
        labels["team"] = team
    if project is not None:
        if project not in configured and project not in all_db:
            raise ScopeError(
                f"unknown project '{project}'; known: {_known(list(configured) + all_db)}")
        labels["project"] = project

    rel_row = None
    if release is not None:
        q = select(releases).where(releases.c.name == release)
        if project is not None:
            q = q.where(releases.c.project == project)
        elif team_cfg is not None:
            q = q.where(releases.c.project.in_(team_cfg.projects))
        rows = conn.execute(q.order_by(releases.c.project, releases.c.id)).mappings().all()
        if not rows:
            kq = select(releases.c.name)
            if project is not None:
                kq = kq.where(releases.c.project == project)
            where = f" in project {project}" if project is not None else ""
            known = _known(r[0] for r in conn.execute(kq))
            raise ScopeError(f"unknown release '{release}'{where}; known: {known}")
        if len({r["project"] for r in rows}) > 1:
            raise ScopeError(
                f"release '{release}' exists in several projects "
                f"({_known(r['project'] for r in rows)}); add --project KEY")
        rel_row = rows[0]
        labels["release"] = release
        if project is None:
            project = rel_row["project"]
            labels["project"] = project

    if project is not None:
        projects = [project]
    elif team_cfg is not None:
        projects = list(team_cfg.projects)
    else:
        projects = sorted(set(configured) | set(all_db))

    repos: list[str] = []
    services: list[str] = []
    kinds = scope_kinds(conn, projects)
    for key in projects:
        cfg = configured.get(key)
        if cfg is not None:
            repos += [r for r in cfg.repos if r not in repos]
            services += [s for s in cfg.services if s not in services]
        elif kinds.get(key) == "repository" and key not in repos:  # a project that is a repo
            repos.append(key)
    if team_cfg is not None and project is None:
        repos += [r for r in team_cfg.repos if r not in repos]
    if project is None and team_cfg is None:
        for r in settings.github.repos:
            if r not in repos:
                repos.append(r)

    if team_cfg is None and len(projects) == 1:
        team_cfg = settings.team_for_project(projects[0])
    tz_name = team_cfg.timezone if team_cfg else "UTC"
    working = (frozenset(_WEEKDAYS.index(d) for d in team_cfg.working_days)
               if team_cfg else frozenset({0, 1, 2, 3, 4}))

    until_dt = to_utc(until, end_of_day=True) or (now or datetime.now(timezone.utc))
    since_dt = to_utc(since) or (until_dt - DEFAULT_WINDOW)
    if since_dt >= until_dt:
        raise ScopeError(f"--since ({since_dt:%Y-%m-%d}) must be before --until "
                         f"({until_dt:%Y-%m-%d})")
    if since is not None:
        labels["since"] = since_dt.isoformat()
    if until is not None:
        labels["until"] = until_dt.isoformat()

    sprint_id = _resolve_sprint(conn, projects, sprint, until_dt, labels)
    return Scope(projects=tuple(projects), repos=tuple(repos), services=tuple(services),
                 since=since_dt, until=until_dt,
                 team=team_cfg.name if (team is not None and team_cfg) else team,
                 sprint_id=sprint_id, release_id=rel_row["id"] if rel_row else None,
                 timezone=tz_name, working_days=working, labels=labels)


def _sprints_in(projects: list[str]):
    # A sprint belongs to a project by its own column or, for boards spanning projects, through
    # the items it holds.
    via_items = (select(sprint_items.c.sprint_id)
                 .join(work_items, work_items.c.id == sprint_items.c.item_id)
                 .where(work_items.c.project.in_(projects)))
    return or_(sprints.c.project.in_(projects),
               and_(sprints.c.project.is_(None), sprints.c.id.in_(via_items)))


def _resolve_sprint(conn: Connection, projects: list[str], name: str | None,
                    until: datetime, labels: dict) -> str | None:
    if not projects:
        if name is not None:
            raise ScopeError(f"unknown sprint '{name}'; known: none")
        return None
    in_scope = _sprints_in(projects)
    if name is not None:
        row = conn.execute(
            select(sprints.c.id).where(sprints.c.name == name, in_scope)
            .order_by(sprints.c.start_at.desc(), sprints.c.id)
        ).first()
        if row is None:
            known = _known(r[0] for r in conn.execute(select(sprints.c.name).where(in_scope)))
            raise ScopeError(f"unknown sprint '{name}'; known: {known}")
        labels["sprint"] = name
        return row[0]
    row = conn.execute(
        select(sprints.c.id, sprints.c.name)
        .where(in_scope, sprints.c.state == "closed", sprints.c.completed_at.is_not(None),
               sprints.c.completed_at <= until)
        .order_by(sprints.c.completed_at.desc(), sprints.c.id)
    ).first()
    if row is None:
        return None
    labels["sprint"] = row[1]
    labels["sprint_default"] = "last closed sprint"
    return row[0]
