"""Pure functions from GitHub API items to domain rows (no I/O, no clock).

Ids follow docs/data-model.md: ``github:issue:OWNER/NAME#N``, ``github:milestone:OWNER/NAME#N``,
``github:pr:OWNER/NAME#N``, ``github:run:OWNER/NAME:ID``, ``github:deployment:OWNER/NAME:ID``.
Timestamps stay ISO strings here; the ``UTCDateTime`` column type parses them on the way in.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from data.mapping import (GITHUB_TERMINAL_DEPLOY_STATES, deployment_status_for_run,
                          github_deployment_outcome, github_run_outcome, MappingRules,
                          mapping_rules)
from data import schema
from data.text import LABEL, MESSAGE, TITLE, cap

if TYPE_CHECKING:
    from data.config import MappingSettings

SOURCE = "github"
TERMINAL_DEPLOY_STATES = GITHUB_TERMINAL_DEPLOY_STATES
# "Closes #12", "fixes acme/web#3", "resolved #4" — GitHub's closing keywords.
_CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+(?:([\w.-]+/[\w.-]+))?#(\d+)", re.I)


def issue_id(repo: str, number: int) -> str:
    return f"{SOURCE}:issue:{repo}#{number}"


def milestone_id(repo: str, number: int) -> str:
    return f"{SOURCE}:milestone:{repo}#{number}"


def pr_id(repo: str, number: int) -> str:
    return f"{SOURCE}:pr:{repo}#{number}"


def run_id(repo: str, run: int) -> str:
    return f"{SOURCE}:run:{repo}:{run}"


def is_pull_request(item: Mapping[str, Any]) -> bool:
    """The issues list also returns pull requests; they carry a ``pull_request`` object with
    URLs. (The 2012 API gave every issue ``pull_request`` with null URLs — corpus
    ``Repository.testGetIssues`` — so an object of nulls is a plain issue.)"""
    pr = item.get("pull_request")
    if not isinstance(pr, dict):
        return pr is not None and pr is not False
    return not pr or any(v for v in pr.values())


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _lower_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, (list, tuple)):
        return _lower_set_cached(tuple(values))
    return frozenset(v.lower() for v in values)


@lru_cache(maxsize=256)
def _lower_set_cached(values: tuple[str, ...]) -> frozenset[str]:
    # The mapping's label lists are read for every issue; lower-case them once.
    return frozenset(v.lower() for v in values)


def label_names(item: Mapping[str, Any]) -> list[str]:
    return [lab["name"] if isinstance(lab, dict) else str(lab) for lab in item.get("labels") or []]


_RULES: dict[int, tuple[MappingSettings, MappingRules]] = {}


def _rules(mapping: MappingSettings) -> MappingRules:
    """The [mapping] rules of ``mapping``, built once per settings object (per issue is hot)."""
    held = _RULES.get(id(mapping))
    if held is None or held[0] is not mapping:
        held = _RULES[id(mapping)] = (mapping, mapping_rules(mapping))
    return held[1]


def classify_type(labels: list[str], issue_type: str | None, mapping: MappingSettings
                  ) -> tuple[str, str | None]:
    """``(type, what decided it)`` by the one rule order of data/mapping.py (incident > bug >
    epic > story, by issue type or label)."""
    if not issue_type and not labels:
        return "other", None
    return _rules(mapping).work_type(issue_type, labels)


def issue_to_work_item(item: Mapping[str, Any], repo: str, project: str,
                       mapping: MappingSettings) -> dict[str, Any]:
    """One work_items row from an issue (not a pull request).

    status_category: closed → done; open and started by the current state (an assignee, an
    in-progress label — as ``mapping.started_from`` allows) → in_progress; else todo. Events
    and linked pull requests may later mark an open item started (see ``started_at``).
    resolution is GitHub's ``state_reason``; not_planned/duplicate are not delivered work.
    """
    labels = label_names(item)
    issue_type = (item.get("type") or {}).get("name") if isinstance(item.get("type"), dict) else None
    kind, type_name = classify_type(labels, issue_type, mapping)
    closed = item.get("state") == "closed"
    started_from = set(mapping.started_from)
    assignee = (item.get("assignee") or {}).get("login")
    in_progress_label = bool(_lower_set(labels) & _lower_set(mapping.in_progress_labels))
    started_now = (("assigned" in started_from and assignee is not None)
                   or ("label" in started_from and in_progress_label))
    category = "done" if closed else ("in_progress" if started_now else "todo")
    reason = item.get("state_reason") if closed else None
    if closed:
        not_delivered = _lower_set(mapping.not_delivered_resolutions)
        res_category = "not_delivered" if (reason or "").lower() in not_delivered else "delivered"
    else:
        res_category = None
    found_in = ("production" if _lower_set(labels) & _lower_set(mapping.production_labels)
                else None)
    number = item["number"]
    return {
        "id": issue_id(repo, number), "source": SOURCE, "project": project,
        "key": f"{repo}#{number}", "title": cap(item.get("title"), TITLE), "type": kind,
        "type_name": type_name, "status": item.get("state"), "status_category": category,
        "resolution": reason, "resolution_category": res_category, "priority": None,
        "severity": _rules(mapping).severity(None, labels), "found_in": found_in,
        "story_points": None, "assignee": assignee, "labels": labels, "components": None,
        "parent_key": None, "created_at": item["created_at"],
        "resolved_at": item.get("closed_at") if closed else None,
        "updated_at": item.get("updated_at"), "url": item.get("html_url"),
    }


def milestone_to_release(ms: Mapping[str, Any], repo: str, project: str) -> dict[str, Any]:
    """A releases row: a milestone's due date is the target; closed means released."""
    return {
        "id": milestone_id(repo, ms["number"]), "source": SOURCE, "project": project,
        "name": cap(ms["title"], LABEL), "description": cap(ms.get("description"), MESSAGE),
        "target_date": ms.get("due_on"),
        "state": "released" if ms.get("state") == "closed" else "unreleased",
        "url": ms.get("html_url"),
    }


def release_item(item: Mapping[str, Any], repo: str) -> dict[str, Any] | None:
    ms = item.get("milestone")
    if not ms:
        return None
    return {"release_id": milestone_id(repo, ms["number"]),
            "item_id": issue_id(repo, item["number"]), "source": SOURCE}


def version_key(name: str | None) -> str:
    """``v2.4.0`` and ``2.4.0`` name the same version."""
    name = (name or "").strip()
    return name[1:] if name[:1] in ("v", "V") and name[1:2].isdigit() else name


def match_github_release(gh_release: Mapping[str, Any], releases: Iterable[Mapping[str, Any]]
                         ) -> Mapping[str, Any] | None:
    """The release row (milestone) a GitHub release ships: same name, or its tag minus ``v``."""
    wanted = {version_key(gh_release.get("name")), version_key(gh_release.get("tag_name"))}
    wanted.discard("")
    for row in releases:
        if version_key(row["name"]) in wanted:
            return row
    return None


def github_release_fields(gh_release: Mapping[str, Any]) -> dict[str, Any]:
    """What a published GitHub release sets: when it shipped (``published_at``) and prerelease."""
    return {"released_at": gh_release.get("published_at"),
            "prerelease": bool(gh_release.get("prerelease")), "state": "released"}


def github_release_to_release(gh_release: Mapping[str, Any], repo: str, project: str
                              ) -> dict[str, Any]:
    """A releases row for a GitHub release no milestone matches."""
    tag = gh_release.get("tag_name") or str(gh_release["id"])
    return {"id": f"{SOURCE}:release:{repo}@{tag}", "source": SOURCE, "project": project,
            "name": cap(gh_release.get("name") or version_key(tag), LABEL),
            "description": None, "target_date": None, "url": gh_release.get("html_url"),
            **github_release_fields(gh_release)}


def linked_issue_ids(body: str | None, repo: str) -> list[str]:
    """Work item ids a PR body closes ("Fixes #12", "closes acme/web#3")."""
    out: list[str] = []
    for other_repo, number in _CLOSING.findall(body or ""):
        wid = issue_id(other_repo or repo, int(number))
        if wid not in out:
            out.append(wid)
    return out


def pull_to_row(pr: Mapping[str, Any], repo: str) -> dict[str, Any]:
    """A pull_requests row from the list item (detail fields are filled by ``pull_detail``)."""
    merged_at = pr.get("merged_at")
    return {
        "id": pr_id(repo, pr["number"]), "source": SOURCE, "repo": repo,
        "number": pr["number"], "title": cap(pr.get("title"), TITLE),
        "author": (pr.get("user") or {}).get("login"),
        "state": "merged" if merged_at else pr.get("state"),
        "base_branch": (pr.get("base") or {}).get("ref"),
        "head_branch": (pr.get("head") or {}).get("ref"),
        "created_at": pr["created_at"], "merged_at": merged_at,
        "closed_at": pr.get("closed_at"), "updated_at": pr.get("updated_at"),
        # Before a merge GitHub fills this with a test-merge commit; only a merged sha ships.
        "merge_sha": pr.get("merge_commit_sha") if merged_at else None,
        "linked_items": linked_issue_ids(pr.get("body"), repo), "url": pr.get("html_url"),
    }


def pull_detail(pr: Mapping[str, Any], commits: list[Mapping[str, Any]],
                reviews: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Size, first commit and reviews of one PR.

    first_commit_at = earliest commit author date; reviews count submitted reviews by someone
    other than the author and not a bot (pending drafts have no ``submitted_at`` and are left
    out; an app's automated review is not a person reviewing).
    """
    author = (pr.get("user") or {}).get("login")
    dates = [c["commit"]["author"]["date"] for c in commits
             if (c.get("commit") or {}).get("author", {}).get("date")]
    submitted = [r for r in reviews if r.get("submitted_at") and r.get("state") != "PENDING"
                 and (r.get("user") or {}).get("login") != author
                 and not is_bot(r.get("user"))]
    first_review = min((parse_time(r["submitted_at"]) for r in submitted), default=None)
    return {
        "additions": pr.get("additions"), "deletions": pr.get("deletions"),
        "changed_files": pr.get("changed_files"),
        "first_commit_at": min((parse_time(d) for d in dates), default=None),
        "first_review_at": first_review, "review_count": len(submitted),
    }


def is_bot(user: Mapping[str, Any] | None) -> bool:
    """A REST user object (``type: Bot``, login ``name[bot]``) or a GraphQL actor
    (``__typename: Bot``) that is an app, not a person."""
    if not isinstance(user, Mapping):
        return False
    return (user.get("type") == "Bot" or user.get("__typename") == "Bot"
            or str(user.get("login") or "").endswith("[bot]"))


def graphql_pull_detail(node: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`pull_detail` from one GraphQL ``PullRequest`` node (connectors/github/graphql.py):
    the same definitions — earliest commit ``authoredDate``; reviews submitted by someone
    other than the author, bots excluded — plus the merge commit's sha when GitHub has one."""
    author = (node.get("author") or {}).get("login")
    dates = [parse_time((c.get("commit") or {}).get("authoredDate"))
             for c in (node.get("commits") or {}).get("nodes") or [] if isinstance(c, Mapping)]
    submitted = [parse_time(r["submittedAt"])
                 for r in (node.get("reviews") or {}).get("nodes") or []
                 if isinstance(r, Mapping) and r.get("submittedAt")
                 and r.get("state") != "PENDING"
                 and (r.get("author") or {}).get("login") != author
                 and not is_bot(r.get("author"))]
    out = {
        "additions": node.get("additions"), "deletions": node.get("deletions"),
        "changed_files": node.get("changedFiles"),
        "first_commit_at": min((d for d in dates if d is not None), default=None),
        "first_review_at": min(submitted, default=None), "review_count": len(submitted),
    }
    sha = (node.get("mergeCommit") or {}).get("oid")
    if sha:
        out["merge_sha"] = sha
    return out


def workflow_name(run: Mapping[str, Any]) -> str:
    """The workflow's name; older API answers lack it, then its file name or id."""
    if run.get("name"):
        return run["name"]
    if run.get("path"):
        return run["path"].rsplit("/", 1)[-1]
    return f"workflow {run.get('workflow_id', '?')}"


def run_status(run: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(status, conclusion)`` lower-cased; a run with a conclusion is completed. The
    conclusion is one of GitHub's documented values, else ``unknown``
    (:func:`data.mapping.github_run_outcome`)."""
    return github_run_outcome(run)


def run_to_pipeline_run(run: Mapping[str, Any], repo: str, project: str) -> dict[str, Any]:
    """A pipeline_runs row. duration_s = updated_at − run_started_at for completed runs
    (GitHub has no finish time on a run; ``updated_at`` is when it last changed — completion)."""
    status, conclusion = run_status(run)
    started = run.get("run_started_at") or run.get("created_at")
    finished = run.get("updated_at") if status == "completed" else None
    duration = None
    if finished and started:
        duration = (parse_time(finished) - parse_time(started)).total_seconds()
    return {
        "id": run_id(repo, run["id"]), "source": SOURCE,
        "pipeline": cap(workflow_name(run), LABEL),
        "repo": repo, "project": project, "number": run.get("run_number"),
        "branch": run.get("head_branch"), "sha": run.get("head_sha"), "event": run.get("event"),
        "status": status, "conclusion": conclusion, "attempt": run.get("run_attempt"),
        "created_at": run.get("created_at"), "started_at": started, "finished_at": finished,
        "duration_s": duration, "url": run.get("html_url"),
    }


def environment_category(name: str | None, mapping: MappingSettings) -> str:
    """production / staging / other, by ``mapping.production_environments`` etc. (any case)."""
    low = (name or "").lower()
    if low in _lower_set(mapping.production_environments):
        return "production"
    if low in _lower_set(mapping.staging_environments):
        return "staging"
    return "other"


def deployment_outcome(statuses: list[Mapping[str, Any]]) -> tuple[str, str | None]:
    """``(status, finished_at)`` of a deployment from its statuses (any order); the rule is
    :func:`data.mapping.github_deployment_outcome` (the latest terminal status wins, so an
    ``inactive`` added after a success leaves it a success)."""
    return github_deployment_outcome(statuses)


def deployment_to_row(dep: Mapping[str, Any], statuses: list[Mapping[str, Any]], repo: str,
                      mapping: MappingSettings) -> dict[str, Any]:
    status, finished = deployment_outcome(statuses)
    env = dep.get("environment")
    return {
        "id": f"{SOURCE}:deployment:{repo}:{dep['id']}", "source": SOURCE, "service": repo,
        "repo": repo, "environment": environment_category(env, mapping),
        "environment_name": cap(env, LABEL), "sha": dep.get("sha"), "ref": dep.get("ref"),
        "status": status, "created_at": dep.get("created_at"),
        "started_at": dep.get("created_at"), "finished_at": finished,
        "is_rollback": None, "url": dep.get("url"),
    }


def is_deploy_workflow(run: Mapping[str, Any], deploy_workflows: Iterable[str]) -> bool:
    """A run deploys when its workflow name or file name is in ``github.deploy_workflows``."""
    wanted = _lower_set(deploy_workflows)
    if not wanted:
        return False
    path = (run.get("path") or "").lower()
    return ((run.get("name") or "").lower() in wanted or path in wanted
            or path.rsplit("/", 1)[-1] in wanted)


def workflow_run_to_deployment(run: Mapping[str, Any], repo: str) -> dict[str, Any]:
    """A deployments row for a run of a deploy workflow (counted as a production deploy).
    Status by :func:`data.mapping.deployment_status_for_run`: failure/timed_out/
    startup_failure fail; cancelled is cancelled; skipped/neutral/stale/action_required did
    not deploy (skipped); an undocumented conclusion is unknown."""
    pr = run_to_pipeline_run(run, repo, repo)
    status = deployment_status_for_run(pr["status"], pr["conclusion"])
    return {
        "id": f"{SOURCE}:workflow-deploy:{repo}:{run['id']}", "source": SOURCE,
        "service": repo, "repo": repo, "environment": "production",
        "environment_name": cap(run.get("name"), LABEL), "sha": run.get("head_sha"),
        "ref": run.get("head_branch"), "status": status, "created_at": run.get("created_at"),
        "started_at": pr["started_at"], "finished_at": pr["finished_at"],
        "is_rollback": None, "url": run.get("html_url"),
    }


def event_to_changes(event: Mapping[str, Any], item_id: str) -> list[dict[str, Any]]:
    """work_item_changes rows from one issue event (closed/reopened/labels/assignee/milestone)."""
    kind = event.get("event")
    base = {"id": f"{item_id}:event:{event['id']}", "item_id": item_id, "source": SOURCE,
            "at": event["created_at"], "author": (event.get("actor") or {}).get("login"),
            "from_value": None, "to_value": None, "from_string": None, "to_string": None}
    label = (event.get("label") or {}).get("name")
    login = (event.get("assignee") or {}).get("login")
    title = (event.get("milestone") or {}).get("title")
    table = {
        "closed": ("status", "open", "closed"),
        "reopened": ("status", "closed", "open"),
        "labeled": ("labels", None, label),
        "unlabeled": ("labels", label, None),
        "assigned": ("assignee", None, login),
        "unassigned": ("assignee", login, None),
        "milestoned": ("fix_version", None, title),
        "demilestoned": ("fix_version", title, None),
    }
    if kind not in table:
        return []
    field, old, new = table[kind]
    return [{**base, "field": field, "from_value": old, "to_value": new,
             "from_string": old, "to_string": new}]


def started_at(candidates: Mapping[str, datetime | None], started_from: Iterable[str]
               ) -> datetime | None:
    """When work started: the earliest of the configured signals (``assigned``, ``linked_pr``,
    ``label``) that happened; None when none did."""
    times = [candidates.get(kind) for kind in started_from]
    return min((t for t in times if t is not None), default=None)


def commits_to_rows(deployment_id: str, commits: Iterable[Mapping[str, Any]]
                    ) -> list[dict[str, Any]]:
    """deployment_commits rows from compare-API commits (committed_at = committer date)."""
    rows = []
    for c in commits:
        info = c.get("commit") or {}
        when = (info.get("committer") or {}).get("date") or (info.get("author") or {}).get("date")
        rows.append({"deployment_id": deployment_id, "sha": c["sha"], "source": SOURCE,
                     "committed_at": when})
    return rows


# --- normalisers of the declared endpoints (connectors/github/fetch.py) -----------------------
# ``scope`` is what the sync knows of its repository: ``repo``, ``project``, ``mapping``.

def milestone_rows(scope: Any, ms: Mapping[str, Any], _extra: Any = None) -> dict:
    """A milestone → its ``releases`` row."""
    return {schema.releases: [milestone_to_release(ms, scope.repo, scope.project)]}


def issue_rows(scope: Any, issue: Mapping[str, Any], _extra: Any = None) -> dict:
    """An issue → its ``work_items`` row, and the ``releases`` row of its milestone (kept
    valid even if the milestone was created after the milestones list was read)."""
    ms = issue.get("milestone")
    return {schema.releases: [milestone_to_release(ms, scope.repo, scope.project)] if ms else [],
            schema.work_items: [issue_to_work_item(issue, scope.repo, scope.project,
                                                   scope.mapping)]}


def deployment_rows(scope: Any, dep: Mapping[str, Any], statuses: Any = None) -> dict:
    """A deployment and its statuses (fetched per deployment) → its ``deployments`` row."""
    return {schema.deployments: [deployment_to_row(dep, statuses or [], scope.repo,
                                                   scope.mapping)]}
