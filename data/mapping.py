"""How a source's signal becomes a domain value, as pure functions shared across layers:

- the ``[mapping]`` rules of readiness.toml (severity, work type) and ``[jira] status_names``,
  read once into :class:`MappingRules` and used by the connectors (today's values),
  data/domain.py (severity, type and status-category history) and ``remap``;
- the one status → category rule (:func:`status_category`), applied when history is written,
  never when metrics read it;
- outcomes — every source's run, build and deployment vocabulary mapped to the stored
  conclusion and deployment status, used by the connectors and by the schema migration that
  re-derives stored rows from their raw payloads (data/ cannot import connectors/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.config import MappingSettings

SEVERITY_ORDER = ("critical", "high", "medium", "low")
CATEGORIES = ("todo", "in_progress", "done")


# --- status category -----------------------------------------------------------------------------
# A source's status name → todo/in_progress/done. Sources that know their statuses' categories
# write them (Jira: /status and [jira] status_names); for the rest (GitHub's open/closed, imports)
# this is the rule, applied by data/domain.py when it derives status_category history.
_DONE_WORDS = ("done", "closed", "resolved", "complete", "released", "fixed")
_PROGRESS_WORDS = ("progress", "review", "testing", "qa", "doing", "develop")


def name_category(name: str) -> str:
    """The category a status name's words suggest: done/closed/resolved/complete/released/
    fixed → done; progress/review/testing/qa/doing/develop → in_progress; else todo."""
    n = name.lower()
    if any(w in n for w in _DONE_WORDS):
        return "done"
    if any(w in n for w in _PROGRESS_WORDS):
        return "in_progress"
    return "todo"


def status_category(value: str | None, name: str | None = None, *,
                    known: Mapping[str, str] = {}) -> str | None:
    """The category of a status given by ``name`` and/or ``value`` (an id or a name), the
    name tried first: a text that already is a category; one ``known`` maps (keys
    lower-cased: the configured ``[jira] status_names`` first, then the status → category
    pairs seen on stored items); else the words of the name (:func:`name_category`).
    None when neither is given."""
    for v in (name, value):
        if v is None or v == "":
            continue
        low = v.strip().lower()
        if low in CATEGORIES:
            return low
        if low in known:
            return known[low]
    text = name or value
    return name_category(text) if text else None


# --- work type -----------------------------------------------------------------------------------
# One rule order for every source: the first kind whose configured names match wins, the issue
# type checked before the labels within a kind — an item typed or labelled incident is an
# incident even if also a bug.
TYPE_ORDER = ("incident", "bug", "epic", "story")
TASK_TYPES = frozenset({"task", "sub-task", "subtask"})
STORY_LABELS = ("enhancement", "feature")  # GitHub's default labels for new work


def work_type(issue_type: str | None, labels: Iterable[str],
              types: Mapping[str, frozenset[str]], type_labels: Mapping[str, frozenset[str]],
              *, epic_level: bool = False, subtask: bool = False) -> tuple[str, str | None]:
    """``(type, what decided it)``: story/task/bug/incident/epic/other.

    ``types[kind]`` are the issue type names of a kind and ``type_labels[kind]`` the labels
    (both case-folded; a source without labels passes none). In :data:`TYPE_ORDER`, a kind
    matches by the issue type, then by a label, an epic also by ``epic_level`` (Jira's
    hierarchy level 1); then a sub-task or a task type name is a task; else other."""
    labels = list(labels)
    for kind in TYPE_ORDER:
        if issue_type and issue_type.casefold() in types.get(kind, ()):
            return kind, issue_type
        wanted = type_labels.get(kind, ())
        for label in labels:
            if label.casefold() in wanted:
                return kind, label
        if kind == "epic" and epic_level:
            return kind, issue_type
    if subtask or (issue_type and issue_type.casefold() in TASK_TYPES):
        return "task", issue_type
    return "other", issue_type


@dataclass(frozen=True)
class MappingRules:
    """The ``[mapping]`` settings as one typed value: the only way connectors, the migration
    and ``remap`` read them. Tables are keyed case-folded."""

    severity_by_priority: dict[str, str]
    severity_labels: dict[str, str]
    types: dict[str, frozenset[str]] = field(default_factory=dict)
    type_labels: dict[str, frozenset[str]] = field(default_factory=dict)
    status_names: dict[str, str] = field(default_factory=dict)  # [jira] status_names

    def work_type(self, issue_type: str | None, labels: Iterable[str] = (), **kw
                  ) -> tuple[str, str | None]:
        """The item's type by :func:`work_type` with these tables."""
        return work_type(issue_type, labels, self.types, self.type_labels, **kw)

    def severity(self, priority: str | None, labels: Iterable[str]) -> str | None:
        """The domain severity of an item: its priority's, when the priority maps to one;
        else the most severe level its labels map to; else None. One order for every
        source (a GitHub issue has no priority, a Jira issue usually a mapped one)."""
        if priority and priority.casefold() in self.severity_by_priority:
            return self.severity_by_priority[priority.casefold()]
        found = {self.severity_labels[lab.casefold()] for lab in labels
                 if lab and lab.casefold() in self.severity_labels}
        return next((s for s in SEVERITY_ORDER if s in found), None)


def mapping_rules(mapping: MappingSettings | None = None,
                  status_names: Mapping[str, str] | None = None) -> MappingRules:
    """:class:`MappingRules` from the typed ``[mapping]`` section (``settings.mapping``) and
    ``[jira] status_names`` (``settings.jira.status_names``), or from their defaults when None
    (the migration has no settings)."""
    if mapping is None:
        from data.config import MappingSettings
        mapping = MappingSettings()
    def low(*lists: Iterable[str]) -> frozenset[str]:
        return frozenset(v.casefold() for values in lists for v in values)

    return MappingRules(
        severity_by_priority={k.casefold(): v
                              for k, v in mapping.severity_by_priority.items()},
        severity_labels={k.casefold(): v for k, v in mapping.severity_labels.items()},
        types={kind: low(getattr(mapping, f"{kind}_types")) for kind in TYPE_ORDER},
        # A label naming a type counts as that type (GitHub labels "Bug" as often as "bug").
        type_labels={"incident": low(mapping.incident_labels, mapping.incident_types),
                     "bug": low(mapping.bug_labels, mapping.bug_types),
                     "epic": low(mapping.epic_types),
                     "story": low(mapping.story_types, STORY_LABELS)},
        status_names={k.lower(): v for k, v in (status_names or {}).items()})


# --- outcomes ----------------------------------------------------------------------------------
# Every source's outcome vocabulary, mapped explicitly. Shared by the connectors (writing rows)
# and by migration 4 in data/store.py (re-deriving rows stored with the old mapping from their
# raw payloads), so both give the same answer. A value no table names is stored as ``unknown``:
# never a failure, never a success; the KPIs and gates that leave such rows out count them.

UNKNOWN = "unknown"

# pipeline_runs.conclusion keeps GitHub's vocabulary (other sources are mapped into it). How
# each conclusion counts in the pipeline success rate:
SUCCESS_CONCLUSIONS = ("success",)
# the run ran and the code (or the workflow itself) failed
FAILURE_CONCLUSIONS = ("failure", "timed_out", "startup_failure")
# the run stopped or never ran to a verdict: says nothing about the code
NOT_COUNTED_CONCLUSIONS = ("cancelled", "skipped", "neutral", "stale",
                           "action_required")
# GitHub's documented workflow-run conclusions (REST "workflow runs": success, failure,
# neutral, cancelled, skipped, timed_out, action_required, stale, startup_failure).
GITHUB_RUN_CONCLUSIONS = (SUCCESS_CONCLUSIONS + FAILURE_CONCLUSIONS
                          + NOT_COUNTED_CONCLUSIONS)

# Jenkins hudson.model.Result → conclusion. UNSTABLE (built, tests failed) is a failure: a red
# test run is not a successful pipeline. ABORTED is a person stopping the build → cancelled.
# NOT_BUILT → skipped (``NOT_BUILD`` is the spelling in DevLake's fixtures). The result is null
# while the build runs; that is "no conclusion yet", not unknown.
JENKINS_RESULTS = {"SUCCESS": "success", "UNSTABLE": "failure", "FAILURE": "failure",
                   "ABORTED": "cancelled", "NOT_BUILT": "skipped", "NOT_BUILD": "skipped"}

# deployments.status and how each counts in delivery metrics:
DEPLOY_SUCCESS = ("success",)
DEPLOY_FAILED = ("failure", "error")            # a failed change in production
DEPLOY_NOT_DEPLOYED = ("cancelled", "skipped", "inactive")  # never went out: left out
DEPLOY_UNFINISHED = ("queued", "in_progress")    # no outcome yet
DEPLOY_FINISHED = DEPLOY_SUCCESS + DEPLOY_FAILED

# A deploy workflow's run conclusion → deployment status.
_RUN_DEPLOY_STATUS = {"success": "success", "failure": "failure", "timed_out": "failure",
                      "startup_failure": "failure", "cancelled": "cancelled",
                      "skipped": "skipped", "neutral": "skipped", "stale": "skipped",
                      "action_required": "skipped"}
# A GitHub deployment status ``state`` → deployment status (documented states: error, failure,
# inactive, in_progress, queued, pending, success).
GITHUB_DEPLOY_STATES = {"success": "success", "failure": "failure", "error": "error",
                        "inactive": "inactive", "in_progress": "in_progress",
                        "queued": "queued", "pending": "queued"}
GITHUB_TERMINAL_DEPLOY_STATES = ("success", "failure", "error")
_WAITING_RUN_STATUSES = ("queued", "waiting", "pending", "requested")


def outcome_of_conclusion(conclusion: str | None) -> str:
    """How a stored ``pipeline_runs.conclusion`` counts: ``success``, ``failure``,
    ``not_counted`` (stopped or never ran) or ``unknown`` (none, or a value no table names)."""
    if conclusion in SUCCESS_CONCLUSIONS:
        return "success"
    if conclusion in FAILURE_CONCLUSIONS:
        return "failure"
    if conclusion in NOT_COUNTED_CONCLUSIONS:
        return "not_counted"
    return UNKNOWN


def github_run_conclusion(conclusion: str | None) -> str | None:
    """A workflow run's conclusion as stored: the documented value (lower-cased), None while
    the run has none, else ``unknown``."""
    value = (conclusion or "").strip().lower()
    if not value:
        return None
    return value if value in GITHUB_RUN_CONCLUSIONS else UNKNOWN


def jenkins_conclusion(result: Any) -> str:
    """A finished Jenkins build's ``result`` as a conclusion (``unknown`` when unmapped)."""
    return JENKINS_RESULTS.get(str(result).strip().upper(), UNKNOWN)


def github_run_outcome(run: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(status, conclusion)`` of a GitHub workflow run payload: status lower-cased (a run
    with a conclusion is completed), conclusion as :func:`github_run_conclusion`."""
    status = (run.get("status") or "").lower() or None
    conclusion = github_run_conclusion(run.get("conclusion"))
    return ("completed" if conclusion else status), conclusion


def jenkins_build_outcome(build: Mapping[str, Any]) -> tuple[str, str | None]:
    """``(status, conclusion)`` of a Jenkins build payload: ``in_progress`` with no conclusion
    while ``building`` is true or ``result`` is null (Jenkins leaves it null until the build
    ends), else ``completed`` with :func:`jenkins_conclusion`."""
    if build.get("building") or build.get("result") is None:
        return "in_progress", None
    return "completed", jenkins_conclusion(build.get("result"))


def deployment_status_for_run(status: str | None, conclusion: str | None) -> str:
    """A deploy workflow run (or deploy job build) → deployment status. ``conclusion`` is the
    stored one (see :func:`github_run_conclusion`); without one the run is still going."""
    if conclusion:
        return _RUN_DEPLOY_STATUS.get(conclusion, UNKNOWN)
    if status == "completed":  # finished without saying how: neither way
        return UNKNOWN
    return "queued" if status in _WAITING_RUN_STATUSES else "in_progress"


def github_deployment_outcome(statuses: Iterable[Mapping[str, Any]]
                              ) -> tuple[str, str | None]:
    """``(status, finished_at)`` of a GitHub deployment from its statuses (any order).

    The most recent terminal status (success/failure/error) is the result — not the
    ``inactive`` that ``auto_inactive`` adds when a later deployment replaces a successful one
    (that one stays a success). Without a terminal status: the latest non-inactive state
    mapped (pending → queued; an undocumented state → unknown); only inactive statuses →
    inactive (superseded before it finished: not deployed); no status yet → queued.
    """
    ordered = sorted(statuses, key=lambda s: (s.get("created_at") or "", s.get("id") or 0),
                     reverse=True)
    for st in ordered:
        if st.get("state") in GITHUB_TERMINAL_DEPLOY_STATES:
            return st["state"], st.get("created_at")
    for st in ordered:
        state = (st.get("state") or "").lower()
        if state and state != "inactive":
            return GITHUB_DEPLOY_STATES.get(state, UNKNOWN), None
    return ("inactive" if ordered else "queued"), None


def natural_key(text: str | None) -> tuple:
    """Sort key ordering the numbers inside an id as numbers: ``dl:3`` before ``dl:15``.

    Ties between deployments finished at the same moment are broken by the source's own
    numeric order (a deployment id or build number), never by string order. Text and digit
    runs alternate in the key, so any two keys compare position by position."""
    parts = re.split(r"(\d+)", text or "")
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


# --- GitLab ------------------------------------------------------------------------------------
# Pipeline ``status`` → (pipeline_runs.status, conclusion). Every status the Pipelines API
# documents (created, waiting_for_resource, preparing, pending, running, success, failed,
# canceled, skipped, manual, scheduled) plus waiting_for_callback and canceling, which current
# GitLab also reports. ``manual`` waits for a person to start a job and may wait for ever:
# GitHub's ``action_required`` (not counted), like a run that needs an approval.
GITLAB_PIPELINE_STATUSES: dict[str, tuple[str, str | None]] = {
    "created": ("queued", None), "waiting_for_resource": ("queued", None),
    "preparing": ("queued", None), "pending": ("queued", None),
    "scheduled": ("queued", None), "waiting_for_callback": ("queued", None),
    "running": ("in_progress", None), "canceling": ("in_progress", None),
    "success": ("completed", "success"), "failed": ("completed", "failure"),
    "canceled": ("completed", "cancelled"), "skipped": ("completed", "skipped"),
    "manual": ("completed", "action_required"),
}
# Deployment ``status`` (created, running, success, failed, canceled, skipped, blocked) →
# deployments.status. ``blocked`` waits for an approval: not deployed yet (queued).
GITLAB_DEPLOY_STATUSES = {"created": "queued", "blocked": "queued", "running": "in_progress",
                          "success": "success", "failed": "failure", "canceled": "cancelled",
                          "skipped": "skipped"}
# Test case ``status`` (success, failed, skipped, error) → test_results.status.
GITLAB_TEST_STATUSES = {"success": "passed", "failed": "failed", "skipped": "skipped",
                        "error": "error"}


def gitlab_pipeline_outcome(status: Any) -> tuple[str | None, str | None]:
    """``(status, conclusion)`` of a GitLab pipeline status; an undocumented one is
    ``(None, "unknown")``: neither a success nor a failure."""
    return GITLAB_PIPELINE_STATUSES.get(str(status or "").strip().lower(), (None, UNKNOWN))


def gitlab_deployment_status(status: Any) -> str:
    """A GitLab deployment status as stored (``unknown`` when undocumented)."""
    return GITLAB_DEPLOY_STATUSES.get(str(status or "").strip().lower(), UNKNOWN)


def gitlab_test_status(status: Any) -> str | None:
    """A GitLab test case status as stored; None for an undocumented one (not stored as a
    pass or a failure)."""
    return GITLAB_TEST_STATUSES.get(str(status or "").strip().lower())
