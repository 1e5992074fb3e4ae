"""Pure functions from GitLab API items to domain rows (no I/O, no clock).

Ids are keyed by GitLab's numeric project id, so a renamed or moved project keeps its rows
(docs/data-model.md): ``gitlab:issue:<project id>#<iid>``, ``gitlab:mr:<project id>#<iid>``,
``gitlab:milestone:<project id>#<milestone id>`` (a group milestone is a release of each
project synced under it), ``gitlab:iteration:<id>``, ``gitlab:pipeline:<project id>:<id>``,
``gitlab:deployment:<project id>:<id>``, ``gitlab:release:<project id>@<tag>``. The
``project``/``repo`` columns hold the project's path (``group/sub/project``), the key users
configure; ``project`` on work items, releases, sprints and runs is the project whose
``[projects.X] repos`` lists the path, else the path, as for GitHub (docs/data-model.md). A
rename rewrites them (connectors/gitlab/sync.py).
Timestamps stay ISO strings; the ``UTCDateTime`` column type parses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from data.mapping import (MappingRules, gitlab_deployment_status, gitlab_pipeline_outcome,
                          gitlab_test_status, mapping_rules)
from data import schema
from data.text import LABEL, MESSAGE, NAME, TITLE, cap, test_key

if TYPE_CHECKING:
    from data.config import MappingSettings

SOURCE = "gitlab"
# GitLab's closing pattern (docs "Closing issues automatically"): close/fix/resolve/implement
# in their forms, then #N, group/project#N or a full issue URL.
_CLOSING = re.compile(
    r"\b(?:clos(?:e[sd]?|ing)|fix(?:e[sd]|ing)?|resolv(?:e[sd]?|ing)|implement(?:s|ed|ing)?)"
    r"\b:?\s+(?:#(\d+)|https?://[^\s/]+/([\w./-]+?)/-/issues/(\d+))", re.I)
# Bots that comment or approve: user objects flagged ``bot``, GitLab's own bots, and the bot
# users behind project/group access tokens (``project_123_bot_…``).
_BOT_NAME = re.compile(r"(?:^|[-_.])bot(?:$|[-_.\d])|\[bot\]$|^(?:project|group)_\d+_bot", re.I)
INCIDENT_SEVERITIES = {"CRITICAL": "Critical", "HIGH": "High", "MEDIUM": "Medium",
                       "LOW": "Low"}


def issue_id(pid: int, iid: int) -> str:
    return f"{SOURCE}:issue:{pid}#{iid}"


def mr_id(pid: int, iid: int) -> str:
    return f"{SOURCE}:mr:{pid}#{iid}"


def milestone_id(pid: int, milestone: int) -> str:
    return f"{SOURCE}:milestone:{pid}#{milestone}"


def milestone_native(pid: int, milestone: int) -> str:
    """What a milestone change names: the part of the release id after its last ``:``, which
    data.domain.ReleaseIndex resolves by (unique to GitLab: project id ``#`` milestone id)."""
    return f"{pid}#{milestone}"


def iteration_id(iteration: int) -> str:
    return f"{SOURCE}:iteration:{iteration}"


def pipeline_id(pid: int, pipeline: int) -> str:
    return f"{SOURCE}:pipeline:{pid}:{pipeline}"


def deployment_id(pid: int, deployment: int) -> str:
    return f"{SOURCE}:deployment:{pid}:{deployment}"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def username(user: Any) -> str | None:
    return user.get("username") if isinstance(user, dict) else None


def is_bot(user: Any) -> bool:
    if not isinstance(user, dict):
        return False
    if user.get("bot") is True:
        return True
    return bool(_BOT_NAME.search(user.get("username") or ""))


def label_names(item: Mapping[str, Any]) -> list[str]:
    """Label names: plain strings by default, objects with ``with_labels_details``."""
    return [lab["name"] if isinstance(lab, dict) else str(lab)
            for lab in item.get("labels") or []]


_RULES: dict[int, tuple[Any, MappingRules]] = {}


def _rules(mapping: MappingSettings) -> MappingRules:
    held = _RULES.get(id(mapping))
    if held is None or held[0] is not mapping:
        held = _RULES[id(mapping)] = (mapping, mapping_rules(mapping))
    return held[1]


def _low(values: Iterable[str]) -> set[str]:
    return {v.casefold() for v in values}


def issue_type(item: Mapping[str, Any]) -> str | None:
    """``issue_type`` (issue, incident, test_case, task), else ``type`` (ISSUE, INCIDENT)."""
    value = item.get("issue_type") or item.get("type")
    return str(value).lower() if value else None


def story_points(item: Mapping[str, Any], weight_as_story_points: bool) -> float | None:
    """The weight as story points when configured. ``weight`` is a Premium field: absent on
    the Free tier (and null when unset) — both are no data, never zero points."""
    if not weight_as_story_points or "weight" not in item:
        return None
    weight = item.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        return None
    return float(weight)


def issue_to_work_item(item: Mapping[str, Any], pid: int, path: str, mapping: MappingSettings,
                       *, weight_as_story_points: bool = False, project: str | None = None
                       ) -> dict[str, Any]:
    """One work_items row.

    type: by the ``[mapping]`` rules from ``issue_type`` (``incident`` is an incident type by
    default) and the labels — scoped labels such as ``severity::critical`` are plain label
    names there. severity: an incident's own ``severity`` (CRITICAL/HIGH/MEDIUM/LOW, stored
    as its priority so ``remap`` gives the same answer), else the labels. status is GitLab's
    ``opened``/``closed``; closed → done, open and assigned (or carrying an in-progress
    label, as ``started_from`` allows) → in_progress, else todo. resolution: a label of a
    closed issue that ``not_delivered_resolutions`` names (``duplicate``), else none.
    """
    rules = _rules(mapping)
    labels = label_names(item)
    kind, type_name = rules.work_type(issue_type(item), labels)
    closed = item.get("state") == "closed"
    started_from = set(mapping.started_from)
    assignees = item.get("assignees") or ([item["assignee"]] if item.get("assignee") else [])
    assignee = username(assignees[0]) if assignees else None
    in_progress_label = bool(_low(labels) & _low(mapping.in_progress_labels))
    started_now = (("assigned" in started_from and assignee is not None)
                   or ("label" in started_from and in_progress_label))
    category = "done" if closed else ("in_progress" if started_now else "todo")
    priority = INCIDENT_SEVERITIES.get(str(item.get("severity") or "").upper())
    # GitLab has no resolution; a closed issue labelled with a not-delivered resolution
    # (``duplicate``, ``won't fix`` …) is not delivered work.
    not_delivered = _low(mapping.not_delivered_resolutions)
    resolution = next((lab for lab in labels if lab.casefold() in not_delivered), None) \
        if closed else None
    iid = item["iid"]
    return {
        "id": issue_id(pid, iid), "source": SOURCE, "project": project or path,
        "key": f"{path}#{iid}", "title": cap(item.get("title"), TITLE), "type": kind,
        "type_name": type_name, "status": item.get("state"), "status_category": category,
        "resolution": resolution,
        "resolution_category": ("not_delivered" if resolution else "delivered") if closed
        else None,
        "priority": priority, "severity": rules.severity(priority, labels),
        "found_in": "production" if _low(labels) & _low(mapping.production_labels) else None,
        "story_points": story_points(item, weight_as_story_points), "assignee": assignee,
        "labels": labels, "components": None, "parent_key": None,
        "created_at": item["created_at"],
        "resolved_at": item.get("closed_at") if closed else None,
        "updated_at": item.get("updated_at"), "url": item.get("web_url"),
    }


def incident_row(item: Mapping[str, Any], service: str) -> dict[str, Any] | None:
    """An ``incidents`` row for a work item of type incident (the project's path is the
    service its deployments carry), else None. Opened at creation, resolved when closed."""
    if item["type"] != "incident":
        return None
    return {"id": item["id"].replace(":issue:", ":incident:", 1), "source": SOURCE,
            "service": service, "title": item.get("title"), "severity": item.get("severity"),
            "opened_at": item["created_at"], "resolved_at": item.get("resolved_at"),
            "deployment_id": None, "work_item_id": item["id"], "url": item.get("url")}


def milestone_to_release(ms: Mapping[str, Any], pid: int, project: str) -> dict[str, Any]:
    """A releases row: the due date is the target; closed means released (when it shipped
    comes from a GitLab release naming it, see :func:`release_fields`)."""
    return {
        "id": milestone_id(pid, ms["id"]), "source": SOURCE, "project": project,
        "name": cap(ms.get("title") or f"milestone {ms['id']}", LABEL),
        "description": cap(ms.get("description"), MESSAGE), "target_date": ms.get("due_date"),
        "state": "released" if ms.get("state") == "closed" else "unreleased",
        "url": ms.get("web_url"),
    }


def release_item(item: Mapping[str, Any], pid: int) -> dict[str, Any] | None:
    ms = item.get("milestone")
    if not isinstance(ms, dict) or ms.get("id") is None:
        return None
    return {"release_id": milestone_id(pid, ms["id"]),
            "item_id": issue_id(pid, item["iid"]), "source": SOURCE}


def version_key(name: str | None) -> str:
    name = (name or "").strip()
    return name[1:] if name[:1] in ("v", "V") and name[1:2].isdigit() else name


def release_milestones(release: Mapping[str, Any], milestones: Iterable[Mapping[str, Any]]
                       ) -> list[str]:
    """Release ids (milestone rows) a GitLab release ships: the milestones it names, else
    the milestone whose title is its name or tag (``v`` prefix ignored)."""
    rows = list(milestones)
    named = {m.get("id") for m in release.get("milestones") or [] if isinstance(m, dict)}
    by_id = [r["id"] for r in rows if r["id"].rsplit("#", 1)[-1] in {str(n) for n in named}]
    if by_id:
        return by_id
    wanted = {version_key(release.get("name")), version_key(release.get("tag_name"))} - {""}
    return [r["id"] for r in rows if version_key(r["name"]) in wanted]


def release_fields(release: Mapping[str, Any]) -> dict[str, Any]:
    """A GitLab release's ``released_at`` is when it shipped; an upcoming one has not."""
    if release.get("upcoming_release"):
        return {}
    return {"released_at": release.get("released_at"), "state": "released"}


def release_to_release(release: Mapping[str, Any], pid: int, project: str) -> dict[str, Any]:
    """A releases row for a GitLab release no milestone matches."""
    tag = release.get("tag_name") or release.get("name") or "?"
    upcoming = bool(release.get("upcoming_release"))
    return {"id": f"{SOURCE}:release:{pid}@{tag}", "source": SOURCE, "project": project,
            "name": cap(release.get("name") or version_key(tag), LABEL),
            "description": None, "target_date": release.get("released_at") if upcoming else None,
            "released_at": None if upcoming else release.get("released_at"),
            "state": "unreleased" if upcoming else "released", "prerelease": None,
            "url": (release.get("_links") or {}).get("self")}


# Iteration ``state``: 1 upcoming, 2 current, 3 closed in the integer form (iteration
# events, older answers); upcoming/current/closed/opened as text.
_ITERATION_STATES = {"1": "future", "2": "active", "3": "closed", "upcoming": "future",
                     "current": "active", "started": "active", "opened": "future",
                     "closed": "closed"}


def iteration_to_sprint(it: Mapping[str, Any], project: str) -> dict[str, Any]:
    """A sprints row. Iterations made by a cadence have no title: named by cadence and dates."""
    title = it.get("title")
    if not title:
        cadence = (it.get("iteration_cadence") or {}).get("title") if isinstance(
            it.get("iteration_cadence"), dict) else None
        title = " ".join(x for x in (cadence or "Iteration",
                                     f"{it.get('start_date') or '?'}–{it.get('due_date') or '?'}")
                         if x)
    state = _ITERATION_STATES.get(str(it.get("state")).lower(), "future")
    return {"id": iteration_id(it["id"]), "source": SOURCE, "project": project,
            "board": None, "name": cap(title, LABEL), "state": state,
            "goal": cap(it.get("description"), MESSAGE), "start_at": it.get("start_date"),
            "end_at": it.get("due_date"),
            "completed_at": it.get("due_date") if state == "closed" else None,
            "url": it.get("web_url")}


def sprint_item(item: Mapping[str, Any], pid: int) -> dict[str, Any] | None:
    it = item.get("iteration")
    if not isinstance(it, dict) or it.get("id") is None:
        return None
    return {"sprint_id": iteration_id(it["id"]), "item_id": issue_id(pid, item["iid"]),
            "source": SOURCE}


# --- resource events → raw change rows (data/domain.py derives membership and severity) ----
def _change(item_id: str, kind: str, ev: Mapping[str, Any], field: str, *,
            from_value=None, to_value=None, from_string=None, to_string=None) -> dict:
    return {"id": f"{item_id}:{kind}:{ev['id']}", "item_id": item_id, "source": SOURCE,
            "at": ev["created_at"], "field": field, "author": username(ev.get("user")),
            "from_value": from_value, "to_value": to_value,
            "from_string": from_string, "to_string": to_string}


def state_changes(events: Iterable[Mapping[str, Any]], item_id: str) -> list[dict]:
    """``status`` changes from ``resource_state_events``: ``closed`` closes, ``reopened`` (or
    ``opened``) opens; a merge request's ``merged`` closes too."""
    rows = []
    for ev in events:
        state = str(ev.get("state") or "").lower()
        if state in ("closed", "merged"):
            rows.append(_change(item_id, "state", ev, "status", from_value="opened",
                                to_value=state, from_string="opened", to_string=state))
        elif state in ("reopened", "opened"):
            rows.append(_change(item_id, "state", ev, "status", from_value="closed",
                                to_value="opened", from_string="closed", to_string="opened"))
    return rows


def closed_fallback(item: Mapping[str, Any], item_id: str) -> list[dict]:
    """For a closed issue whose state events are empty (closed before GitLab recorded them):
    one ``status`` change at ``closed_at``, so its history still ends closed at that time."""
    if item.get("state") != "closed" or not item.get("closed_at"):
        return []
    return [{"id": f"{item_id}:closed_at", "item_id": item_id, "source": SOURCE,
             "at": item["closed_at"], "field": "status", "author": username(item.get("closed_by")),
             "from_value": "opened", "to_value": "closed", "from_string": "opened",
             "to_string": "closed"}]


def label_changes(events: Iterable[Mapping[str, Any]], item_id: str) -> list[dict]:
    """``labels`` changes, one label each (add → to, remove → from); a deleted label (null)
    leaves nothing to name and is skipped."""
    rows = []
    for ev in events:
        name = (ev.get("label") or {}).get("name") if isinstance(ev.get("label"), dict) else None
        if not name:
            continue
        if ev.get("action") == "add":
            rows.append(_change(item_id, "label", ev, "labels", to_value=name, to_string=name))
        elif ev.get("action") == "remove":
            rows.append(_change(item_id, "label", ev, "labels", from_value=name,
                                from_string=name))
    return rows


def milestone_changes(events: Iterable[Mapping[str, Any]], item_id: str, pid: int
                      ) -> list[dict]:
    """``fix_version`` changes naming the milestone as data.domain resolves it."""
    rows = []
    for ev in events:
        ms = ev.get("milestone")
        if not isinstance(ms, dict) or ms.get("id") is None:
            continue
        native, title = milestone_native(pid, ms["id"]), ms.get("title")
        if ev.get("action") == "add":
            rows.append(_change(item_id, "milestone", ev, "fix_version", to_value=native,
                                to_string=title))
        elif ev.get("action") == "remove":
            rows.append(_change(item_id, "milestone", ev, "fix_version", from_value=native,
                                from_string=title))
    return rows


def iteration_changes(events: Iterable[Mapping[str, Any]], item_id: str) -> list[dict]:
    """``sprint`` changes naming the iteration's full sprint id."""
    rows = []
    for ev in events:
        it = ev.get("iteration")
        if not isinstance(it, dict) or it.get("id") is None:
            continue
        sid, title = iteration_id(it["id"]), it.get("title")
        if ev.get("action") == "add":
            rows.append(_change(item_id, "iteration", ev, "sprint", to_value=sid,
                                to_string=title))
        elif ev.get("action") == "remove":
            rows.append(_change(item_id, "iteration", ev, "sprint", from_value=sid,
                                from_string=title))
    return rows


# --- merge requests ---------------------------------------------------------------------------
def linked_issue_ids(description: str | None, pid: int, path: str | None = None
                     ) -> list[str]:
    """Work item ids a merge request closes: "Closes #12", or the full URL of an issue of
    this project (``path``); another project's issue is not guessed at."""
    out: list[str] = []
    for number, url_path, url_number in _CLOSING.findall(description or ""):
        if not number and (path is None or url_path.strip("/").lower() != path.lower()):
            continue
        wid = issue_id(pid, int(number or url_number))
        if wid not in out:
            out.append(wid)
    return out


def mr_to_row(mr: Mapping[str, Any], pid: int, path: str) -> dict[str, Any]:
    """A pull_requests row from the list item; state merged/open/closed. Detail fields
    (first commit, first review, size) come from :func:`mr_detail`."""
    merged_at = mr.get("merged_at")
    state = mr.get("state")
    state = "merged" if state == "merged" or merged_at else ("open" if state in
                                                             ("opened", "locked") else state)
    return {
        "id": mr_id(pid, mr["iid"]), "source": SOURCE, "repo": path, "number": mr["iid"],
        "title": cap(mr.get("title"), TITLE), "author": username(mr.get("author")),
        "state": state, "base_branch": mr.get("target_branch"),
        "head_branch": mr.get("source_branch"), "created_at": mr["created_at"],
        "merged_at": merged_at, "closed_at": mr.get("closed_at"),
        "updated_at": mr.get("updated_at"),
        "merge_sha": (mr.get("merge_commit_sha") or mr.get("squash_commit_sha"))
        if state == "merged" else None,
        "linked_items": linked_issue_ids(mr.get("description"), pid, path),
        "url": mr.get("web_url"),
    }


def changes_count(value: Any) -> int | None:
    """``changes_count`` is text: ``"12"``, or ``"1000+"`` past GitLab's diff limit (then
    the number is a floor; stored as given without the plus)."""
    text = str(value or "").strip().rstrip("+")
    return int(text) if text.isdigit() else None


def mr_detail(mr: Mapping[str, Any], commits: Iterable[Mapping[str, Any]],
              approvals: Mapping[str, Any] | None, notes: Iterable[Mapping[str, Any]]
              ) -> dict[str, Any]:
    """Size, first commit and first review of one merge request.

    first_commit_at: the earliest ``authored_date`` (GitLab lists commits newest first; the
    first may predate the MR). A review is an approval (``approved_at``) or a note that is not
    a system note, by someone other than the author, bots excluded; first_review_at is the
    earliest, review_count how many. Approvals without ``approved_at`` (GitLab before 2020)
    count, dated by the system note "approved this merge request" when there is one.
    additions/deletions: not in the API without fetching every diff — no data. merged_at:
    the MR's own, else (old GitLab) the time of its "merged" system note.
    """
    author = username(mr.get("author"))
    dates = [parse_time(c.get("authored_date") or c.get("created_at")) for c in commits]
    dates = [d for d in dates if d is not None]
    notes = list(notes)
    reviews: list[datetime | None] = []
    approved_notes = sorted(
        (parse_time(n.get("created_at")), username(n.get("author"))) for n in notes
        if n.get("system") and "approved this merge request" in str(n.get("body") or "").lower())
    for entry in (approvals or {}).get("approved_by") or []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict) or is_bot(user) or username(user) == author:
            continue
        at = parse_time(entry.get("approved_at"))
        if at is None:
            at = next((t for t, who in approved_notes if who == username(user)), None)
        reviews.append(at)
    for n in notes:
        if n.get("system") or is_bot(n.get("author")) or username(n.get("author")) == author:
            continue
        reviews.append(parse_time(n.get("created_at")))
    known = [r for r in reviews if r is not None]
    # GitLab before 11.x answered no merged_at (DevLake's issue 5522): the "merged" system
    # note says when
    merged_notes = sorted(parse_time(n.get("created_at")) for n in notes
                          if n.get("system") and str(n.get("body") or "").strip() == "merged"
                          and n.get("created_at"))
    merged_at = parse_time(mr.get("merged_at")) or (merged_notes[0] if merged_notes else None)
    return {"merged_at": merged_at, "additions": None, "deletions": None,
            "changed_files": changes_count(mr.get("changes_count")),
            "first_commit_at": min(dates, default=None),
            "first_review_at": min(known, default=None), "review_count": len(reviews)}


# --- pipelines and test reports ---------------------------------------------------------------
def pipeline_name(p: Mapping[str, Any], path: str) -> str:
    """The pipeline a run belongs to, stable across runs (flaky and new-failure detection
    compare runs of one pipeline): the project's path; a child pipeline's ``… (child)``."""
    return f"{path} (child)" if p.get("source") == "parent_pipeline" else path


def pipeline_to_run(p: Mapping[str, Any], pid: int, path: str, project: str | None = None
                    ) -> dict[str, Any]:
    """A pipeline_runs row from a pipeline (the single-pipeline answer carries started,
    finished and duration; the list item does not). Status by data/mapping.py."""
    status, conclusion = gitlab_pipeline_outcome(p.get("status"))
    started = p.get("started_at")
    finished = p.get("finished_at") if status == "completed" else None
    duration = p.get("duration")
    if duration is None and started and finished:
        duration = (parse_time(finished) - parse_time(started)).total_seconds()
    return {
        "id": pipeline_id(pid, p["id"]), "source": SOURCE, "pipeline": cap(pipeline_name(p, path),
                                                                            LABEL),
        "repo": path, "project": project or path, "number": p.get("iid"), "branch": p.get("ref"),
        "sha": p.get("sha"), "event": p.get("source"), "status": status,
        "conclusion": conclusion, "attempt": None, "created_at": p.get("created_at"),
        "started_at": started, "finished_at": finished,
        "duration_s": float(duration) if isinstance(duration, (int, float)) else None,
        "url": p.get("web_url"),
    }


def _text(value: Any) -> str | None:
    """``system_output`` / ``stack_trace`` as text: a string, or an object or list of them
    (seen in the wild) joined."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t) or None
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_text(v)}" for k, v in value.items() if _text(v)) or None
    return str(value)


def report_rows(report: Mapping[str, Any], run_id: str) -> list[dict[str, Any]]:
    """test_results rows of a pipeline's test report. ``total_count`` 0 is "no report": no
    rows (a pipeline without tests is not a failing one). A suite that failed to parse
    (``suite_error``) has no test cases; nothing is invented for it. A case status GitLab does
    not document is left out."""
    if not report or not report.get("total_count"):
        return []
    rows = []
    for suite in report.get("test_suites") or []:
        if not isinstance(suite, dict):
            continue
        for case in suite.get("test_cases") or []:
            if not isinstance(case, dict) or not case.get("name"):
                continue
            status = gitlab_test_status(case.get("status"))
            if status is None:
                continue
            classname, name = case.get("classname"), case.get("name")
            message = _text(case.get("stack_trace")) or _text(case.get("system_output")) \
                if status in ("failed", "error") else None
            seconds = case.get("execution_time")
            rows.append({
                "run_id": run_id, "suite": cap(suite.get("name"), NAME),
                "classname": cap(classname, NAME), "name": cap(name, NAME),
                "test_key": test_key(classname, name), "status": status,
                "duration_s": float(seconds) if isinstance(seconds, (int, float)) else None,
                "message": cap(message, MESSAGE), "flaky": False,
                "file": cap(case.get("file"), NAME)})
    return rows


# --- deployments --------------------------------------------------------------------------------
def environment_category(tier: str | None, name: str | None, mapping: MappingSettings) -> str:
    """production / staging / other by the environment's tier (GitLab's production,
    staging, testing, development, other); without a tier (GitLab before 13.10) by the
    ``[mapping]`` environment names."""
    if tier:
        return tier if tier in ("production", "staging") else "other"
    low = (name or "").casefold()
    if low in _low(mapping.production_environments):
        return "production"
    if low in _low(mapping.staging_environments):
        return "staging"
    return "other"


FINISHED_DEPLOY = ("success", "failed", "canceled", "skipped")


def deployment_to_row(dep: Mapping[str, Any], pid: int, path: str, tier: str | None,
                      mapping: MappingSettings) -> dict[str, Any]:
    """A deployments row: status by data/mapping.py; started/finished from the deploying
    job (``deployable``) when there is one (an API-created deployment has none: then its
    update time once finished)."""
    env = dep.get("environment") if isinstance(dep.get("environment"), dict) else {}
    job = dep.get("deployable") if isinstance(dep.get("deployable"), dict) else {}
    raw_status = str(dep.get("status") or "").lower()
    finished = None
    if raw_status in FINISHED_DEPLOY:
        finished = job.get("finished_at") or dep.get("finished_at") or dep.get("updated_at")
    return {
        "id": deployment_id(pid, dep["id"]), "source": SOURCE, "service": path, "repo": path,
        "environment": environment_category(tier or env.get("tier"), env.get("name"), mapping),
        "environment_name": cap(env.get("name"), LABEL), "sha": dep.get("sha"),
        "ref": dep.get("ref"), "status": gitlab_deployment_status(raw_status),
        "created_at": dep.get("created_at"),
        "started_at": job.get("started_at") or dep.get("created_at"), "finished_at": finished,
        "is_rollback": None, "url": job.get("web_url") or env.get("external_url"),
    }


def compare_rows(dep_id: str, commits: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """deployment_commits rows from a repository compare's commits."""
    return [{"deployment_id": dep_id, "sha": c["id"], "source": SOURCE,
             "committed_at": c.get("committed_date") or c.get("created_at")}
            for c in commits if isinstance(c, dict) and c.get("id")]


# --- the declared endpoints' normalisers (connectors/gitlab/fetch.py): item → rows per table.
# ``ctx`` is the project being synced: its ``pid``, ``path``, ``project_key``, ``settings``
# and, for deployments, its environments' ``tiers``.

def milestone_rows(ctx: Any, ms: Mapping[str, Any], _extra: Any = None) -> dict:
    """A milestone (project's or an ancestor group's) → its ``releases`` row."""
    return {schema.releases: [milestone_to_release(ms, ctx.pid, ctx.project_key)]}


def iteration_rows(ctx: Any, it: Mapping[str, Any], _extra: Any = None) -> dict:
    """An iteration → its ``sprints`` row."""
    return {schema.sprints: [iteration_to_sprint(it, ctx.project_key)]}


def issue_rows(ctx: Any, issue: Mapping[str, Any], _events: Any = None) -> dict:
    """An issue → its ``work_items`` row; none for an issue moved to another project (GitLab
    says so with ``moved_to_id``; the sync removes it). Its history rows come from its
    resource events (``_events``), written by the sync, which replaces them."""
    if issue.get("moved_to_id"):
        return {schema.work_items: []}
    gl = ctx.settings.gitlab
    return {schema.work_items: [issue_to_work_item(
        issue, ctx.pid, ctx.path, ctx.settings.mapping,
        weight_as_story_points=gl.weight_as_story_points, project=ctx.project_key)]}


def mr_rows(ctx: Any, mr: Mapping[str, Any], detail: Mapping[str, Any] | None = None) -> dict:
    """A merge request → its ``pull_requests`` row, with the details of a merged one
    (:func:`mr_detail`) when they were fetched."""
    row = mr_to_row(mr, ctx.pid, ctx.path)
    return {schema.pull_requests: [dict(row, **detail) if detail is not None else row]}


def pipeline_rows(ctx: Any, p: Mapping[str, Any], fetched: Any = None) -> dict:
    """A pipeline → its ``pipeline_runs`` row, from its own answer when it was fetched
    (``fetched`` = (detail, test report)); its test results are written by the sync."""
    detail = fetched[0] if fetched is not None else p
    return {schema.pipeline_runs: [pipeline_to_run(detail, ctx.pid, ctx.path, ctx.project_key)]}


def deployment_rows(ctx: Any, dep: Mapping[str, Any], _extra: Any = None) -> dict:
    """A deployment → its ``deployments`` row, its environment's tier from ``ctx.tiers``."""
    tier = (ctx.tiers or {}).get((dep.get("environment") or {}).get("id"))
    return {schema.deployments: [deployment_to_row(dep, ctx.pid, ctx.path, tier,
                                                   ctx.settings.mapping)]}
