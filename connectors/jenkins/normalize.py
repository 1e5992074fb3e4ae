"""Jenkins JSON → domain rows. Pure functions: no I/O, no database.

Mapping decisions (DevLake's differ where noted; tests/test_jenkins_sync.py checks both):
- ``status``: ``in_progress`` while ``building`` is true or ``result`` is null (Jenkins leaves
  the result null until the build ends), else ``completed``;
- ``conclusion`` follows the GitHub vocabulary the metrics read (table in data/mapping.py):
  SUCCESS → success; FAILURE → failure; UNSTABLE (built, but tests failed) → failure, because a
  red test run is not a successful pipeline (DevLake leaves it without a result); ABORTED →
  cancelled (DevLake: FAILURE — an abort is a person stopping a build, not the change
  failing); NOT_BUILT (and DevLake's fixture spelling NOT_BUILD) → skipped (DevLake: no
  result); any other result → ``unknown``, neither a failure nor a success;
- a deploy job's build: success → success, failure → failure, cancelled → cancelled, skipped
  → skipped (not deployed), unknown → unknown, running → in_progress;
- times: ``timestamp`` and ``duration`` are milliseconds; started = timestamp (kept to the
  millisecond — DevLake truncates to the second), finished = started + duration, only once the
  build has finished (a running build's duration is 0 or partial);
- sha and branch come from the ``hudson.plugins.git.util.BuildData`` action's
  ``lastBuiltRevision``; ``refs/remotes/origin/main`` → ``main``;
- test cases: PASSED and FIXED → passed, FAILED and REGRESSION → failed, SKIPPED → skipped
  (Jenkins folds errors into failures).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from data import schema
from data.mapping import JENKINS_RESULTS, deployment_status_for_run, jenkins_build_outcome
from data.text import LABEL, MESSAGE, NAME, cap, test_key

if TYPE_CHECKING:
    from data.config import MappingSettings

SOURCE = "jenkins"
MESSAGE_LIMIT = MESSAGE

CONCLUSIONS = JENKINS_RESULTS
CASE_STATUS = {"PASSED": "passed", "FIXED": "passed", "FAILED": "failed",
               "REGRESSION": "failed", "SKIPPED": "skipped"}
BUILD_DATA = "hudson.plugins.git.util.BuildData"


def job_segments(job: str) -> list[str]:
    """``"a/b/c"`` (or ``"job/a/job/b/job/c"``, or with ``%2F`` in multibranch names) → names."""
    parts = [p for p in job.strip().strip("/").split("/") if p]
    if parts and parts[0] == "job":  # given as a URL path: drop every "job" separator
        parts = parts[1::2] if all(p == "job" for p in parts[0::2]) else parts
    return parts


def job_name(job: str) -> str:
    """The canonical job path used in ids and ``pipeline``: names joined with ``/``."""
    return "/".join(job_segments(job))


def job_path(job: str) -> str:
    """The URL path of a job: folders and multibranch branches are nested ``job/<name>``.

    Jenkins names a multibranch branch ``feature/x`` as the job ``feature%2Fx``; that name is
    kept as it is (``%`` stays), other characters are escaped."""
    return "".join(f"job/{quote(name, safe='%')}/" for name in job_segments(job))


def build_id(job: str, number: int) -> str:
    return f"{SOURCE}:build:{job}#{number}"


def ms_to_datetime(ms: int | float | None) -> datetime | None:
    if ms is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)


def is_running(build: Mapping[str, Any]) -> bool:
    return jenkins_build_outcome(build)[0] != "completed"


def git_info(build: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``(sha, branch, remote URL)`` from the first BuildData action that has a revision."""
    for action in build.get("actions") or []:
        if not isinstance(action, Mapping):
            continue
        revision = action.get("lastBuiltRevision")
        if action.get("_class", BUILD_DATA) != BUILD_DATA or not isinstance(revision, Mapping):
            continue
        branches = revision.get("branch") or []
        branch = branch_name(branches[0].get("name")) if branches else None
        remotes = action.get("remoteUrls") or []
        return revision.get("SHA1"), branch, (remotes[0] if remotes else None)
    return None, None, None


def branch_name(ref: str | None) -> str | None:
    """``refs/remotes/origin/main``, ``origin/main``, ``refs/heads/main`` → ``main``."""
    if not ref:
        return None
    for prefix in ("refs/remotes/", "refs/heads/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            if prefix == "refs/remotes/":
                ref = ref.split("/", 1)[-1]  # the remote's name
            return ref
    if ref.startswith("origin/"):
        return ref[len("origin/"):]
    return ref


_REMOTE = re.compile(r"^(?:[a-z+]+://(?:[^@/]+@)?[^/]+/|[^@]+@[^:]+:)(?P<path>.+?)(?:\.git)?/?$")


def repo_from_remote(url: str | None) -> str | None:
    """``https://github.com/acme/web.git`` or ``git@github.com:acme/web.git`` → ``acme/web``."""
    if not url:
        return None
    match = _REMOTE.match(url.strip())
    if not match:
        return None
    parts = match.group("path").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def build_to_run(build: Mapping[str, Any], job: str, *,
                 project_for_repo=lambda repo: None) -> dict[str, Any]:
    """A ``pipeline_runs`` row for one build of ``job`` (canonical ``a/b/c`` path)."""
    number = int(build["number"])
    status, conclusion = jenkins_build_outcome(build)
    running = status != "completed"
    started = ms_to_datetime(build.get("timestamp"))
    duration_ms = build.get("duration")
    finished = duration = None
    if not running and started is not None and duration_ms is not None:
        duration = duration_ms / 1000.0
        finished = started + timedelta(milliseconds=duration_ms)
    sha, branch, remote = git_info(build)
    repo = repo_from_remote(remote)
    return {
        "id": build_id(job, number), "source": SOURCE, "pipeline": cap(job, LABEL), "repo": repo,
        "project": project_for_repo(repo) if repo else None, "number": number,
        "branch": branch, "sha": sha, "event": None,
        "status": status, "conclusion": conclusion,
        "attempt": None, "created_at": started, "started_at": started, "finished_at": finished,
        "duration_s": duration, "url": build.get("url"),
    }


def test_rows(report: Mapping[str, Any] | None, run_id: str) -> list[dict[str, Any]]:
    """``test_results`` rows from a build's ``/testReport/api/json`` (None: no report)."""
    rows: list[dict[str, Any]] = []
    for suite in (report or {}).get("suites") or []:
        for case in suite.get("cases") or []:
            status = CASE_STATUS.get(str(case.get("status")).upper())
            if status is None:  # an unknown status: trust the skipped flag, else count it red
                status = "skipped" if case.get("skipped") else "failed"
            message = case.get("errorDetails") or case.get("skippedMessage") or None
            classname, name = case.get("className"), case.get("name") or ""
            rows.append({
                "run_id": run_id, "suite": cap(suite.get("name"), NAME),
                "classname": cap(classname, NAME), "name": cap(name, NAME),
                "test_key": test_key(classname, name),  # from the full names, before the caps
                "status": status, "duration_s": case.get("duration"),
                "message": cap(message, MESSAGE) if isinstance(message, str) else None,
                "flaky": False, "file": None,
            })
    return rows


def is_deploy_job(job: str, pattern: str) -> bool:
    """A job deploys when ``jenkins.deploy_job_pattern`` (a glob, any case) matches its path."""
    return bool(pattern) and fnmatch.fnmatch(job.lower(), pattern.lower())


def _lower(values: Iterable[str]) -> set[str]:
    return {v.lower() for v in values}


def environment_of(job: str, mapping: MappingSettings) -> tuple[str, str | None]:
    """``(category, name)`` from the environment names the job path contains.

    Path segments, and the words within them (``deploy-prod``), are compared with
    ``mapping.production_environments`` then ``staging_environments``. A deploy job naming
    neither counts as production, as ``github.deploy_workflows`` runs do: it was configured as
    a deploy job and says nothing narrower.
    """
    production = _lower(mapping.production_environments)
    staging = _lower(mapping.staging_environments)
    candidates: list[str] = []
    for segment in job_segments(job):
        candidates.append(segment)
        candidates += [w for w in re.split(r"[^A-Za-z0-9]+", segment) if w and w != segment]
    for names, category in ((production, "production"), (staging, "staging")):
        for candidate in candidates:
            if candidate.lower() in names:
                return category, candidate
    return "production", None


def build_to_deployment(run: Mapping[str, Any], job: str,
                        mapping: MappingSettings) -> dict[str, Any]:
    """A ``deployments`` row for a build of a deploy job (from its ``pipeline_runs`` row)."""
    category, name = environment_of(job, mapping)
    status = ("in_progress" if run["status"] != "completed"
              else deployment_status_for_run(run["status"], run["conclusion"] or "unknown"))
    return {
        "id": f"{SOURCE}:deployment:{job}#{run['number']}", "source": SOURCE,
        "service": cap(job, LABEL), "repo": run["repo"], "environment": category,
        "environment_name": cap(name, LABEL), "sha": run["sha"], "ref": run["branch"],
        "status": status,
        "created_at": run["created_at"], "started_at": run["started_at"],
        "finished_at": run["finished_at"], "is_rollback": None, "url": run["url"],
    }


def build_rows(job_sync: Any, build: Mapping[str, Any], extra: Any = None) -> dict:
    """The normaliser of the declared builds endpoint (connectors/jenkins/fetch.py): a build →
    its ``pipeline_runs`` row and, for a deploy job, its ``deployments`` row. ``job_sync``
    carries ``job``, ``mapping``, ``deploy_job_pattern``, ``project_for_repo``."""
    job = job_sync.job
    row = build_to_run(build, job, project_for_repo=job_sync.project_for_repo)
    rows = {schema.pipeline_runs: [row]}
    if is_deploy_job(job, job_sync.deploy_job_pattern):
        rows[schema.deployments] = [build_to_deployment(row, job, job_sync.mapping)]
    return rows
