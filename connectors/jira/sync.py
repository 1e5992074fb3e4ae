"""Sync one Jira project: versions, boards and sprints, then issues page by page.

The no-loss rules of ``connectors/frame/`` hold: each page (raw issues, work items, changes,
sprint and release membership) is one transaction that also moves the cursor, so the cursor
never passes uncommitted data and a failed run leaves what earlier runs stored.

Incremental: ``project = KEY AND updated >= "<cursor − overlap>" ORDER BY updated ASC``. Jira
reads JQL dates in the account's time zone at minute precision, so the cursor (kept in UTC) is
converted to the zone ``/myself`` reports; when that is unknown, the overlap widens to 14 h,
the widest UTC offset. Re-reading an issue is harmless: every write is an upsert.

Deletions: a search by ``updated`` never returns a deleted issue, so once a day (and on every
``--full`` sync) the project's keys are listed — a key-only search, a few requests even for
large projects — and work items whose key Jira no longer lists are removed. Only after a
complete listing (its last page reached by Jira's paging, every page parsed) not shorter than
Jira's count — Data Center: the search's own ``total``; Cloud: ``search/approximate-count``
for the same JQL, which may lag the listing, so the listing may fall short of it by at most
:func:`count_tolerance` — and never more than ``[app] max_delete_share`` of the project's
items unless ``--allow-mass-delete``. A refused removal fails the run after everything else
is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, select

from net.http import HttpClient
from connectors.jira import fetch
from connectors.jira.normalize import (
    SOURCE,
    Mapping,
    issue_rows,
    release_row,
    sprint_row,
    status_category_map,
)
from connectors.progress import NULL_PROGRESS, Progress
from connectors.frame import (
    DeletePolicy,
    SyncRun,
    get_state,
    reading,
    remove_unlisted,
    save_raw,
    set_state,
)
from data import schema
from data import domain
from data.mapping import MappingRules, mapping_rules
from data.store import in_values, replace_rows, upsert

OVERLAP = timedelta(minutes=5)
RECONCILE_EVERY = timedelta(hours=24)
UNKNOWN_ZONE_OVERLAP = timedelta(hours=14)
STORY_POINT_NAMES = ("story points", "story point estimate")


def count_tolerance(reported: int) -> int:
    """How far a complete Jira Cloud listing may fall short of ``search/approximate-count``
    before it is distrusted: 5 issues, or 0.1 % of the count when that is more. The count comes
    from an eventually consistent index, so issues created or deleted in the seconds around
    the listing can differ; a lost page (100 or 1,000 issues) is far outside it, and the share
    limit bounds what the slack could let through."""
    return max(5, reported // 1000)


@dataclass
class Plan:
    """What a project sync needs to know before reading issues."""

    project: str
    server: fetch.Server
    mapping: Mapping
    status_categories: dict[str, str]
    board_ids: list[str]
    time_zone: str | None
    field_list: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # the project's, from readiness.toml
    rules: MappingRules = field(default_factory=mapping_rules)  # domain history's rules


def resolve_story_points_field(configured: str, board_configs: list[dict],
                               jira_fields: list[dict]) -> str | None:
    """The story-point field id: configured, else the first board's estimation field, else
    the field named "Story Points"/"Story point estimate"."""
    if configured and configured != "auto":
        return configured
    for config in board_configs:
        estimation = config.get("estimation") or {}
        field_id = (estimation.get("field") or {}).get("fieldId")
        if estimation.get("type", "field") == "field" and field_id:
            return field_id
    for name in STORY_POINT_NAMES:
        for f in jira_fields:
            if str(f.get("name", "")).casefold() == name:
                return f.get("id")
    return None


def find_sprint_field(jira_fields: list[dict]) -> str | None:
    """The Sprint custom field (schema ``…:gh-sprint``), else one named "Sprint"."""
    for f in jira_fields:
        if str((f.get("schema") or {}).get("custom", "")).endswith(":gh-sprint"):
            return f.get("id")
    for f in jira_fields:
        if f.get("custom") and str(f.get("name", "")).casefold() == "sprint":
            return f.get("id")
    return None


def jql_for(project: str, cursor: str | None, time_zone: str | None) -> str:
    """The search JQL; with a cursor, bounded below by it minus the overlap (see module doc)."""
    base = f'project = "{project}"'
    if not cursor:
        return f"{base} ORDER BY updated ASC"
    since = datetime.fromisoformat(cursor)
    zone: Any = timezone.utc
    overlap = OVERLAP
    try:
        zone = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        zone, overlap = timezone.utc, UNKNOWN_ZONE_OVERLAP
    local = (since - overlap).astimezone(zone)
    return f'{base} AND updated >= "{local:%Y/%m/%d %H:%M}" ORDER BY updated ASC'


def prepare(client: HttpClient, engine: Engine, settings: Any, project: str,
            board_ids: list[str]) -> tuple[Plan, dict[str, int]]:
    """Read the instance's shape, store versions, boards' sprints; return the plan."""
    written = {"releases": 0, "sprints": 0}
    server = fetch.server_info(client)
    fetch.project(client, server, project)
    versions = fetch.project_versions(client, server, project)
    if not board_ids:
        board_ids = [str(b["id"]) for b in fetch.boards(client, project) if b.get("id")]
    configs = [fetch.board_configuration(client, b) for b in board_ids]
    jira_fields = fetch.fields(client, server)
    sp_field = resolve_story_points_field(settings.mapping.story_points_field, configs,
                                          jira_fields)
    sprint_field = find_sprint_field(jira_fields)
    if sprint_field is None and server.cloud:
        sprint_field = "customfield_10020"  # Jira Cloud's usual id when /field hides it
    mapping = Mapping.from_settings(settings, story_points_field=sp_field,
                                    sprint_field=sprint_field)
    categories = status_category_map(fetch.statuses(client, server))
    time_zone = fetch.my_time_zone(client, server)

    with engine.begin() as conn:
        rows = [release_row(v, project) for v in versions if v.get("id") is not None]
        written["releases"] += upsert(conn, schema.releases, rows)
        save_raw(conn, SOURCE, "versions", project, ((v["id"], v) for v in versions))
        save_raw(conn, SOURCE, "board_configuration", project,
                 ((b, c) for b, c in zip(board_ids, configs)))
    for board in board_ids:
        for page in fetch.board_sprints(client, board):
            with engine.begin() as conn:
                written["sprints"] += upsert(
                    conn, schema.sprints, [sprint_row(s, project=project, board=board)
                                           for s in page])
                save_raw(conn, SOURCE, "sprints", f"board:{board}", ((s["id"], s) for s in page))
    field_list = list(fetch.BASE_FIELDS)
    for extra in (sp_field, sprint_field):
        if extra and extra not in field_list:
            field_list.append(extra)
    configured = settings.projects.get(project)
    plan = Plan(project=project, server=server, mapping=mapping, status_categories=categories,
                board_ids=board_ids, time_zone=time_zone, field_list=field_list,
                services=list(configured.services) if configured else [],
                rules=mapping_rules(settings.mapping, settings.jira.status_names))
    return plan, written


def store_issue_page(conn, plan: Plan, issues: list[dict], histories: dict[str, list[dict]],
                     base_url: str) -> tuple[dict[str, int], datetime | None]:
    """Write one page of issues and everything hanging off them.

    Returns the rows written per resource and the newest ``updated`` on the page.
    """
    normalised = [issue_rows(i, histories.get(i["key"]), plan.mapping, plan.status_categories,
                             base_url, plan.services) for i in issues]
    counts = {"issues": 0, "changes": 0, "sprint_items": 0, "release_items": 0, "incidents": 0}
    counts["issues"] = upsert(conn, schema.work_items, [n.item for n in normalised])
    # Sprints named on issues may be unknown to the boards synced (other boards, or no
    # Agile access); issue-side data has no URL, so it never blanks a board-side one.
    sprints = {s["id"]: {k: v for k, v in s.items() if k != "url"}
               for n in normalised for s in n.sprints}
    upsert(conn, schema.sprints, list(sprints.values()))
    releases = {r["id"]: r for n in normalised for r in n.releases}
    upsert(conn, schema.releases, list(releases.values()))
    counts["changes"] = upsert(conn, schema.work_item_changes,
                               [c for n in normalised for c in n.changes])
    # Domain history (membership and severity changes) from the changes just written; Jira's
    # label changes are whole label sets, not single-label events.
    domain.rederive(conn, [n.item["id"] for n in normalised], plan.rules, label_events=False)
    domain.upsert_scopes(conn, [{"key": plan.project, "kind": "project", "source": SOURCE}])
    # An issue retyped away from incident must not leave its incident behind.
    counts["incidents"] = replace_rows(
        conn, schema.incidents,
        in_values(schema.incidents.c.work_item_id, [n.item["id"] for n in normalised]),
        [n.incident for n in normalised if n.incident])
    for n in normalised:
        item = n.item["id"]
        # The issue's current Sprint/fixVersions lists are the truth for its membership.
        counts["sprint_items"] += replace_rows(
            conn, schema.sprint_items, schema.sprint_items.c.item_id == item,
            [{"sprint_id": s, "item_id": item, "source": SOURCE} for s in n.sprint_ids])
        counts["release_items"] += replace_rows(
            conn, schema.release_items, schema.release_items.c.item_id == item,
            [{"release_id": r, "item_id": item, "source": SOURCE} for r in n.release_ids])
    save_raw(conn, SOURCE, "issues", plan.project, (
        (i["key"], _with_histories(i, histories.get(i["key"]))) for i in issues))
    newest = max((n.item["updated_at"] for n in normalised if n.item["updated_at"]),
                 default=None)
    return counts, newest


def _with_histories(issue: dict, histories: list[dict] | None) -> dict:
    """The issue as received, its changelog completed when it had to be fetched apart."""
    if histories is None:
        return issue
    out = dict(issue)
    out["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                        "histories": histories}
    return out


def sync_project(client: HttpClient, engine: Engine, settings: Any, project: str, *,
                 board_ids: list[str] | None = None, full: bool = False,
                 progress: Progress = NULL_PROGRESS,
                 delete_policy: DeletePolicy | None = None) -> dict[str, int]:
    """Sync one project; returns rows written per resource."""
    policy = delete_policy or DeletePolicy.from_settings(settings)
    listing = fetch.Listing(where="the project's settings")
    with SyncRun(engine, SOURCE, project, client) as run, \
            reading(SOURCE, lambda: f"{project}, {listing.where}"):
        plan, written = prepare(client, engine, settings, project, list(board_ids or []))
        for resource, count in written.items():
            run.add(resource, count)
        with engine.connect() as conn:
            cursor = None if full else get_state(conn, SOURCE, project, "issues").cursor
        jql = jql_for(project, cursor, plan.time_zone)
        listed_all = cursor is None  # a search without a cursor lists every issue
        seen: set[str] = set()
        for issues in fetch.search(client, plan.server, jql, plan.field_list, listing=listing):
            if not issues:
                continue
            if listed_all:
                seen.update(i["key"] for i in issues)
            histories = {}
            for issue in issues:
                log = issue.get("changelog") or {}
                if int(log.get("total") or 0) > len(log.get("histories") or []):
                    histories[issue["key"]] = fetch.full_changelog(client, plan.server, issue)
            with engine.begin() as conn:
                counts, newest = store_issue_page(conn, plan, issues, histories,
                                                  client.base_url)
                if newest is not None:
                    previous = cursor and datetime.fromisoformat(cursor)
                    if not previous or newest > previous:
                        cursor = newest.isoformat()
                    set_state(conn, SOURCE, project, "issues", cursor=cursor)
            for resource, count in counts.items():
                run.add(resource, count)
            progress.update("issues", len(issues))
        listing.where = "sprint membership"
        run.add("sprint_items", _board_membership(client, engine, plan))
        now = datetime.fromtimestamp(client.clock.now(), timezone.utc)
        if listed_all or _reconcile_due(engine, project, now):
            if not listed_all:
                listing = fetch.Listing()
                seen = fetch.issue_keys(client, plan.server, project, listing)
            if listing.complete:
                removed = remove_deleted(engine, plan.project, seen, now, client=client,
                                         server=plan.server, listing=listing, policy=policy,
                                         run=run)
                if removed:
                    run.add("removed", removed)
        return dict(run.items)


def _reconcile_due(engine: Engine, project: str, now: datetime) -> bool:
    with engine.connect() as conn:
        last = get_state(conn, SOURCE, project, "reconcile").cursor
    return not last or now - datetime.fromisoformat(last) >= RECONCILE_EVERY


def remove_deleted(engine: Engine, project: str, keys: set[str], now: datetime, *,
                   client: HttpClient, server: fetch.Server, listing: fetch.Listing,
                   policy: DeletePolicy, run: SyncRun | None = None) -> int:
    """Remove the project's work items whose key is not in ``keys``, a complete ``listing``
    of what Jira has now (deleted issues, or moved to another project). Returns how many.

    Refused with :class:`RemovalRefused` (nothing removed) when the listing is empty while
    items are stored — lost permission (or a wrong project) is far likelier than every issue
    deleted — when it is shorter than Jira's count (module doc), or when more than the
    policy's share of the project would go.
    """
    wi = schema.work_items
    with engine.connect() as conn:
        stored = conn.execute(select(wi.c.id, wi.c.key).where(
            wi.c.source == SOURCE, wi.c.project == project)).all()
    return remove_unlisted(
        engine, source=SOURCE, scope=project, resource="issues", stored=dict(stored),
        listed=keys, listing=listing, policy=policy, run=run,
        count=lambda: fetch.approximate_count(client, server, fetch.key_jql(project)),
        tolerance=count_tolerance, scope_label=f"project {project}",
        empty_hint="check that this account can still browse the project",
        also=lambda conn: set_state(conn, SOURCE, project, "reconcile",
                                    cursor=now.isoformat()))


def _board_membership(client: HttpClient, engine: Engine, plan: Plan) -> int:
    """Membership from the Agile API for sprints still open (active or future): it holds even
    where the Sprint field is unknown. Closed sprints are settled; the issues' Sprint field and
    changelog keep their history."""
    added = 0
    with engine.connect() as conn:
        open_sprints = [r[0] for r in conn.execute(
            select(schema.sprints.c.id).where(
                schema.sprints.c.source == SOURCE,
                schema.sprints.c.board.in_(plan.board_ids),
                schema.sprints.c.state.in_(("active", "future"))))] if plan.board_ids else []
    for sprint_id in open_sprints:
        keys = fetch.sprint_issue_keys(client, sprint_id.rsplit(":", 1)[-1], plan.project)
        item_ids = [f"jira:issue:{k}" for k in keys]
        with engine.begin() as conn:
            known = {r[0] for r in conn.execute(select(schema.work_items.c.id).where(
                in_values(schema.work_items.c.id, item_ids)))} if item_ids else set()
            added += upsert(conn, schema.sprint_items, [
                {"sprint_id": sprint_id, "item_id": i, "source": SOURCE}
                for i in item_ids if i in known])
    return added
