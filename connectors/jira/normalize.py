"""Jira payloads → domain rows. Pure functions: no I/O, no clock, no database.

Everything here takes the JSON Jira returned (issues, histories, sprints, versions) plus a
:class:`Mapping` built from ``readiness.toml`` and returns plain dicts keyed by the columns
of ``data/schema.py``. Re-deriving from ``raw_records`` after a mapping change goes through
the same functions.

Choices (documented in the README section of the connector, and in the tests):
- status category comes from ``statusCategory.key`` (names are translated and custom):
  ``new`` → todo, ``indeterminate`` → in_progress, ``done`` → done; ``jira.status_names``
  overrides by status name;
- ``started_at`` is the first changelog transition into a status whose category is in
  progress; an issue in progress without such a transition (the changelog was trimmed, or the
  issue was created in progress) falls back to ``statuscategorychangedate``;
- ``found_in`` is ``production`` for a bug or incident that affects a version which was
  released on or before the day the bug was created (or carries a production label), else null:
  a bug against a version still in development was found before release, not in production;
- a fix version's ``releaseDate`` is its target date; Jira records no release timestamp, so a
  released version's ``released_at`` is that same date (midnight UTC), null when it has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

from data.domain import DERIVED_FIELDS
from data.mapping import MappingRules, mapping_rules
from data.mapping import work_type as classify_work_type
from data.text import LABEL, MESSAGE, TITLE, cap

SOURCE = "jira"

CATEGORY_BY_KEY = {"new": "todo", "undefined": "todo", "indeterminate": "in_progress",
                   "done": "done"}

# Changelog field names → our field names; the rest are kept, lower-cased with underscores.
FIELD_NAMES = {
    "status": "status", "sprint": "sprint", "fix version": "fix_version",
    "fixversions": "fix_version", "version": "affects_version", "priority": "priority",
    "resolution": "resolution", "assignee": "assignee", "issuetype": "type",
    "labels": "labels", "component": "components", "story points": "story_points",
    "story point estimate": "story_points", "summary": "title", "parent": "parent",
    "epic link": "parent",
}


@dataclass(frozen=True)
class Mapping:
    """What configuration decides about Jira data (``settings.mapping`` + ``settings.jira``)."""

    bug_types: frozenset[str] = frozenset({"bug", "defect"})
    incident_types: frozenset[str] = frozenset({"incident"})
    story_types: frozenset[str] = frozenset({"story", "feature"})
    epic_types: frozenset[str] = frozenset({"epic"})
    severity_by_priority: dict[str, str] = field(default_factory=dict)
    severity_labels: dict[str, str] = field(default_factory=dict)
    not_delivered_resolutions: frozenset[str] = frozenset()
    production_labels: frozenset[str] = frozenset()
    status_names: dict[str, str] = field(default_factory=dict)
    story_points_field: str | None = None  # a field id, resolved from "auto" by the sync
    sprint_field: str | None = None  # the Sprint custom field id, e.g. customfield_10020

    @classmethod
    def from_settings(cls, settings: Any, *, story_points_field: str | None = None,
                      sprint_field: str | None = None) -> "Mapping":
        m, j = settings.mapping, settings.jira
        rules = mapping_rules(settings.mapping)

        def low(values: Iterable[str]) -> frozenset[str]:
            return frozenset(v.casefold() for v in values)

        return cls(
            bug_types=low(m.bug_types), incident_types=low(m.incident_types),
            story_types=low(m.story_types), epic_types=low(m.epic_types),
            severity_by_priority=rules.severity_by_priority,
            severity_labels=rules.severity_labels,
            not_delivered_resolutions=low(m.not_delivered_resolutions),
            production_labels=low(m.production_labels),
            status_names={k.casefold(): v for k, v in j.status_names.items()},
            story_points_field=story_points_field, sprint_field=sprint_field,
        )


# --- values -----------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """A Jira timestamp (``2020-06-12T08:13:13.360+0800``, ``…Z``) as aware UTC, else None."""
    if not value or not isinstance(value, str) or value == "<null>":
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_day(value: Any) -> datetime | None:
    """A Jira date (``2020-07-10``) as midnight UTC, else None."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.combine(date.fromisoformat(value[:10]), time(), tzinfo=timezone.utc)
    except ValueError:
        return None


def story_points(value: Any) -> float | None:
    """Story points as a float: numbers and numeric strings (``"3"``, ``"-1"``, ``"2.5"``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def status_category(status: AbcMapping | None, mapping: Mapping) -> str:
    """todo/in_progress/done: ``jira.status_names`` by name, else ``statusCategory.key``."""
    status = status or {}
    name = (status.get("name") or "").casefold()
    if name in mapping.status_names:
        return mapping.status_names[name]
    key = ((status.get("statusCategory") or {}).get("key") or "").casefold()
    return CATEGORY_BY_KEY.get(key, "todo")


def work_type(issuetype: AbcMapping | None, mapping: Mapping) -> str:
    """story/task/bug/incident/epic/other from the issue type by the one rule order of
    data/mapping.py (a hierarchy level 1 type is an epic, a sub-task a task)."""
    issuetype = issuetype or {}
    types = {"bug": mapping.bug_types, "incident": mapping.incident_types,
             "epic": mapping.epic_types, "story": mapping.story_types}
    return classify_work_type(issuetype.get("name"), (), types, {},
                              epic_level=issuetype.get("hierarchyLevel") == 1,
                              subtask=bool(issuetype.get("subtask")))[0]


def resolution_category(resolution_name: str | None, mapping: Mapping) -> str | None:
    """not_delivered for the configured resolutions (Won't Do, Duplicate…), else delivered."""
    if not resolution_name:
        return None
    if resolution_name.casefold() in mapping.not_delivered_resolutions:
        return "not_delivered"
    return "delivered"


def project_of(issue: AbcMapping) -> str:
    project = (issue.get("fields") or {}).get("project") or {}
    return project.get("key") or issue["key"].rsplit("-", 1)[0]


# --- sprints ----------------------------------------------------------------------------------
_DC_SPRINT = re.compile(r"\[(.*)\]\s*$")


def parse_sprint_value(value: Any) -> dict | None:
    """A Sprint field entry as a dict: Cloud sends objects, Data Center sends strings like
    ``com.atlassian.greenhopper.service.sprint.Sprint@1f[id=7,rapidViewId=8,state=CLOSED,
    name=EE Sprint 7,startDate=2020-06-12T08:38:51.882+08:00,…]``."""
    if isinstance(value, dict):
        return value if value.get("id") is not None else None
    if not isinstance(value, str):
        return None
    match = _DC_SPRINT.search(value)
    if not match:
        return None
    out: dict[str, Any] = {}
    # Names may contain commas; split on ",key=" boundaries only.
    for part in re.split(r",(?=[A-Za-z]+=)", match.group(1)):
        key, _, val = part.partition("=")
        out[key] = None if val == "<null>" else val
    if "rapidViewId" in out:
        out["boardId"] = out.pop("rapidViewId")
    return out if out.get("id") else None


def sprint_row(sprint: AbcMapping, *, project: str | None, board: Any = None) -> dict:
    """A ``sprints`` row from an Agile API sprint or a Sprint field entry.

    Future sprints have no dates; active ones no ``completeDate``; ``completeDate`` may be
    before ``endDate`` (closed early) — all kept as given.
    """
    board_id = sprint.get("originBoardId") or sprint.get("boardId") or board
    return {
        "id": f"jira:sprint:{sprint['id']}",
        "source": SOURCE,
        "project": project,
        "board": str(board_id) if board_id not in (None, "") else None,
        "name": cap(sprint.get("name") or f"Sprint {sprint['id']}", LABEL),
        "state": (sprint.get("state") or "future").lower(),
        "goal": cap(sprint.get("goal") or None, MESSAGE),
        "start_at": parse_time(sprint.get("startDate")),
        "end_at": parse_time(sprint.get("endDate")),
        "completed_at": parse_time(sprint.get("completeDate")),
        "url": sprint.get("self"),
    }


def issue_sprints(issue: AbcMapping, mapping: Mapping) -> list[dict]:
    """The sprints an issue is or was in: the Sprint field, else ``sprint`` + ``closedSprints``
    (board-issue responses)."""
    fields = issue.get("fields") or {}
    values: list = []
    if mapping.sprint_field and isinstance(fields.get(mapping.sprint_field), list):
        values = fields[mapping.sprint_field]
    else:
        values = list(fields.get("closedSprints") or [])
        if fields.get("sprint"):
            values.append(fields["sprint"])
    seen: dict[str, dict] = {}
    for value in values:
        parsed = parse_sprint_value(value)
        if parsed:
            seen[str(parsed["id"])] = parsed
    return list(seen.values())


# --- versions ---------------------------------------------------------------------------------
def release_row(version: AbcMapping, project: str) -> dict:
    """A ``releases`` row from a Jira version (``fixVersions`` entry or project version)."""
    released = bool(version.get("released"))
    target = parse_day(version.get("releaseDate"))
    if released:
        state = "released"
    elif version.get("archived"):
        state = "archived"
    else:
        state = "unreleased"
    return {
        "id": f"jira:version:{version['id']}",
        "source": SOURCE,
        "project": project,
        "name": cap(version.get("name") or str(version["id"]), LABEL),
        "description": cap(version.get("description") or None, MESSAGE),
        "target_date": target,
        "released_at": target if released else None,
        "state": state,
        "prerelease": False,
        "url": version.get("self"),
    }


def found_in(fields: AbcMapping, kind: str, mapping: Mapping) -> str | None:
    """``production`` when a bug/incident affects a version released by the day it was
    created, or carries a production label; else null (see module docstring)."""
    if kind not in ("bug", "incident"):
        return None
    labels = {str(label).casefold() for label in fields.get("labels") or []}
    if labels & mapping.production_labels:
        return "production"
    created = parse_time(fields.get("created"))
    for version in fields.get("versions") or []:
        if not version.get("released"):
            continue
        released_on = parse_day(version.get("releaseDate"))
        if released_on is None or created is None or released_on <= created:
            return "production"
    return None


# --- changelog --------------------------------------------------------------------------------
def histories_in_order(histories: Iterable[AbcMapping]) -> list[AbcMapping]:
    """Oldest first. The inline changelog is newest first, the changelog endpoint oldest
    first; sorting by (created, numeric id) makes both the same."""
    def key(h: AbcMapping):
        hid = str(h.get("id", ""))
        return (parse_time(h.get("created")) or datetime.min.replace(tzinfo=timezone.utc),
                int(hid) if hid.isdigit() else 0, hid)
    unique = {str(h.get("id")): h for h in histories}
    return sorted(unique.values(), key=key)


def change_field(item: AbcMapping, mapping: Mapping) -> str:
    """Our name for a changelog item's field (``status``, ``sprint``, ``story_points``…)."""
    field_id = item.get("fieldId") or ""
    if mapping.story_points_field and field_id == mapping.story_points_field:
        return "story_points"
    if mapping.sprint_field and field_id == mapping.sprint_field:
        return "sprint"
    name = str(item.get("field") or field_id).casefold()
    ours = FIELD_NAMES.get(name, re.sub(r"[^a-z0-9]+", "_", name).strip("_")[:64] or "unknown")
    # A field of the same name as a domain one (a "Severity" custom field) must not pass for
    # the rows data/domain.py derives (docs/data-model.md).
    return f"jira_{ours}" if ours in DERIVED_FIELDS else ours


def _clean_list(value: Any) -> str | None:
    """Comma-separated id lists as ``7,9`` (Jira writes ``7, 9`` in places); '' → None."""
    if value is None:
        return None
    text = ",".join(p.strip() for p in str(value).split(",") if p.strip())
    return text or None


def change_rows(issue_key: str, histories: Iterable[AbcMapping], mapping: Mapping,
                status_categories: AbcMapping[str, str]) -> list[dict]:
    """``work_item_changes`` rows, one per changelog item, oldest first.

    Ids are ``jira:issue:KEY:<history id>:<n>`` (n = the item's position in its history), so a
    re-sync upserts the same rows. Each status change also gives a ``status_category`` row
    (``…:<n>c``, from/to todo/in_progress/done), which is what cycle time and cumulative flow
    read — for all of an issue's status changes or, when one status's category is unknown,
    for none of them.
    """
    item_id = f"jira:issue:{issue_key}"
    rows: list[dict] = []
    complete = True  # every status change's target category known
    for history in histories_in_order(histories):
        at = parse_time(history.get("created"))
        if at is None:
            continue
        author = (history.get("author") or {}).get("displayName")
        for n, item in enumerate(history.get("items") or []):
            name = change_field(item, mapping)
            from_value, to_value = item.get("from"), item.get("to")
            if name == "sprint":
                from_value, to_value = _clean_list(from_value), _clean_list(to_value)
            elif name == "story_points":
                # Story points carry no ids; the number is in the string.
                from_value = from_value or item.get("fromString")
                to_value = to_value or item.get("toString")
            base = {"item_id": item_id, "source": SOURCE, "at": at, "author": author}
            rows.append({**base, "id": f"{item_id}:{history.get('id')}:{n}", "field": name,
                         "from_value": _none(from_value), "to_value": _none(to_value),
                         "from_string": _none(item.get("fromString")),
                         "to_string": _none(item.get("toString"))})
            if name == "status":
                to_cat = _category_for(item.get("to"), item.get("toString"),
                                       status_categories, mapping)
                from_cat = _category_for(item.get("from"), item.get("fromString"),
                                         status_categories, mapping)
                complete = complete and to_cat is not None
                rows.append({**base, "id": f"{item_id}:{history.get('id')}:{n}c",
                             "field": "status_category", "from_value": from_cat,
                             "to_value": to_cat, "from_string": None, "to_string": None})
    if not complete:
        # A status no longer listed by /status (deleted or renamed workflows): a partial
        # category history would hide transitions, so give none and let readers classify
        # the status rows themselves.
        rows = [r for r in rows if r["field"] != "status_category"]
    return rows


def _none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _category_for(status_id: Any, name: Any, status_categories: AbcMapping[str, str],
                  mapping: Mapping) -> str | None:
    if name and str(name).casefold() in mapping.status_names:
        return mapping.status_names[str(name).casefold()]
    if status_id is None:
        return None
    key = status_categories.get(str(status_id))
    return CATEGORY_BY_KEY.get(key) if key else None


def status_category_map(statuses: Iterable[AbcMapping]) -> dict[str, str]:
    """``/rest/api/N/status`` → {status id: statusCategory.key}."""
    return {str(s["id"]): (s.get("statusCategory") or {}).get("key", "")
            for s in statuses if s.get("id") is not None}


def started_at(changes: Iterable[dict], category: str, fields: AbcMapping) -> datetime | None:
    """First transition into an in-progress status (from the ``status_category`` changes);
    for an issue in progress now without one, ``statuscategorychangedate``."""
    starts = [c["at"] for c in changes
              if c["field"] == "status_category" and c["to_value"] == "in_progress"]
    if starts:
        return min(starts)
    if category == "in_progress":
        return parse_time(fields.get("statuscategorychangedate"))
    return None


# --- incidents --------------------------------------------------------------------------------
def incident_row(item: AbcMapping, services: Iterable[str] = ()) -> dict | None:
    """An ``incidents`` row for a work item of type incident, else None.

    Opened when the issue was created, resolved at its resolution date (or, done without one,
    at its last update). The service is the first of the project's configured services named
    by a component, else the project's only service, else the first component, else null;
    the causing deployment is left to the metrics' attribution rule (latest successful
    production deployment of that service before the incident opened).
    """
    if item["type"] != "incident":
        return None
    services = list(services)
    components = list(item.get("components") or [])
    by_name = {c.casefold(): c for c in components}
    service = next((s for s in services if s.casefold() in by_name), None)
    if service is None:
        service = services[0] if len(services) == 1 else (components[0] if components else None)
    resolved = item.get("resolved_at")
    if resolved is None and item["status_category"] == "done":
        resolved = item.get("updated_at")
    return {"id": f"jira:incident:{item['key']}", "source": SOURCE, "service": service,
            "title": item.get("title"), "severity": item.get("severity"),
            "opened_at": item["created_at"], "resolved_at": resolved, "deployment_id": None,
            "work_item_id": item["id"], "url": item.get("url")}


# --- issues -----------------------------------------------------------------------------------
@dataclass
class IssueRows:
    """Everything one issue gives: its row and the rows that hang off it."""

    item: dict
    changes: list[dict]
    sprints: list[dict]
    sprint_ids: list[str]
    releases: list[dict]
    release_ids: list[str]
    incident: dict | None = None


def issue_rows(issue: AbcMapping, histories: Iterable[AbcMapping] | None, mapping: Mapping,
               status_categories: AbcMapping[str, str], base_url: str,
               services: Iterable[str] = ()) -> IssueRows:
    """Normalise one issue (with its complete changelog ``histories``) into domain rows."""
    fields = issue.get("fields") or {}
    key = issue["key"]
    project = project_of(issue)
    item_id = f"jira:issue:{key}"
    category = status_category(fields.get("status"), mapping)
    kind = work_type(fields.get("issuetype"), mapping)
    if histories is None:
        histories = (issue.get("changelog") or {}).get("histories") or []
    changes = change_rows(key, histories, mapping, status_categories)
    priority = (fields.get("priority") or {}).get("name")
    resolution = (fields.get("resolution") or {}).get("name")
    sp = story_points(fields.get(mapping.story_points_field)) if mapping.story_points_field \
        else None
    parent = (fields.get("parent") or {}).get("key")
    item = {
        "id": item_id,
        "source": SOURCE,
        "project": project,
        "key": key,
        "title": cap(fields.get("summary"), TITLE),
        "type": kind,
        "type_name": (fields.get("issuetype") or {}).get("name"),
        "status": (fields.get("status") or {}).get("name"),
        "status_category": category,
        "resolution": resolution,
        "resolution_category": resolution_category(resolution, mapping),
        "priority": priority,
        # The one rule order of data/mapping.py: the priority's severity, else the labels'.
        "severity": MappingRules(mapping.severity_by_priority, mapping.severity_labels)
        .severity(priority, fields.get("labels") or []),
        "found_in": found_in(fields, kind, mapping),
        "story_points": sp,
        "assignee": (fields.get("assignee") or {}).get("displayName"),
        "labels": list(fields.get("labels") or []),
        "components": [c.get("name") for c in fields.get("components") or [] if c.get("name")],
        "parent_key": parent,
        "created_at": parse_time(fields.get("created")),
        "started_at": started_at(changes, category, fields),
        "resolved_at": parse_time(fields.get("resolutiondate")),
        "updated_at": parse_time(fields.get("updated")),
        "url": f"{base_url.rstrip('/')}/browse/{key}",
    }
    sprints = [sprint_row(s, project=project) for s in issue_sprints(issue, mapping)]
    releases = [release_row(v, project) for v in fields.get("fixVersions") or []
                if v.get("id") is not None]
    return IssueRows(item=item, changes=changes, sprints=sprints,
                     sprint_ids=[s["id"] for s in sprints], releases=releases,
                     release_ids=[r["id"] for r in releases],
                     incident=incident_row(item, services))
