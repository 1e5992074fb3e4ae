"""Outcome vocabularies: every documented value of every source mapped explicitly, an unmapped
one stored as ``unknown`` (never a failure, never a success), and the KPIs that leave rows out
saying how many. Expected values are written from the sources' documentation (GitHub REST
"workflow runs" conclusions and "deployment statuses" states, Jenkins ``hudson.model.Result``),
not from the code's output."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from connectors.github import normalize as gnz
from connectors.github.cli import sync_repos
from connectors.jenkins import normalize as jnz
from connectors.progress import Progress
from data import mapping, schema
from data.config import MappingSettings
from metrics import dora, tests_ci
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, run
from tests.test_github_sync import settings

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp()
MAPPING = MappingSettings(production_environments=["production"], staging_environments=["staging"])


# --- GitHub Actions run conclusions ---------------------------------------------------------
# conclusion → (stored pipeline conclusion, how the success rate counts it, deployment status
# when the run belongs to a deploy workflow)
GITHUB_CONCLUSIONS = [
    ("success", "success", "success", "success"),
    ("failure", "failure", "failure", "failure"),
    ("timed_out", "timed_out", "failure", "failure"),
    ("startup_failure", "startup_failure", "failure", "failure"),
    ("cancelled", "cancelled", "not_counted", "cancelled"),
    ("skipped", "skipped", "not_counted", "skipped"),
    ("neutral", "neutral", "not_counted", "skipped"),
    ("stale", "stale", "not_counted", "skipped"),
    ("action_required", "action_required", "not_counted", "skipped"),
    ("TIMED_OUT", "timed_out", "failure", "failure"),  # case is not meaning
    ("exploded", "unknown", "unknown", "unknown"),     # undocumented: neither way
]


@pytest.mark.parametrize("conclusion,stored,counts,deploy_status", GITHUB_CONCLUSIONS)
def test_github_run_conclusions(conclusion, stored, counts, deploy_status):
    payload = run(1, "2024-05-01T10:00:00Z", conclusion=conclusion,
                  updated="2024-05-01T10:05:00Z")
    row = gnz.run_to_pipeline_run(payload, "acme/web", "WEB")
    assert (row["status"], row["conclusion"]) == ("completed", stored)
    assert mapping.outcome_of_conclusion(row["conclusion"]) == counts
    assert gnz.workflow_run_to_deployment(payload, "acme/web")["status"] == deploy_status


@pytest.mark.parametrize("status,expected", [("queued", "queued"), ("waiting", "queued"),
                                             ("requested", "queued"), ("pending", "queued"),
                                             ("in_progress", "in_progress")])
def test_github_runs_without_a_conclusion_are_unfinished_deployments(status, expected):
    payload = run(1, "2024-05-01T10:00:00Z", status=status, conclusion=None)
    row = gnz.run_to_pipeline_run(payload, "acme/web", "WEB")
    assert (row["conclusion"], row["finished_at"]) == (None, None)
    assert gnz.workflow_run_to_deployment(payload, "acme/web")["status"] == expected


def test_a_completed_run_without_a_conclusion_is_an_unknown_deployment():
    payload = run(1, "2024-05-01T10:00:00Z", status="completed", conclusion=None)
    assert gnz.workflow_run_to_deployment(payload, "acme/web")["status"] == "unknown"


# --- GitHub deployment statuses -----------------------------------------------------------------
def _st(i, state, minute):
    return {"id": i, "state": state, "created_at": f"2024-05-01T10:{minute:02d}:00Z"}


@pytest.mark.parametrize("states,expected", [
    ([("queued", 0), ("in_progress", 1), ("success", 2)], ("success", 2)),
    # auto_inactive marks a replaced deployment inactive later: it stays a success
    ([("success", 2), ("inactive", 9)], ("success", 2)),
    ([("in_progress", 1), ("failure", 3), ("inactive", 9)], ("failure", 3)),
    ([("error", 4)], ("error", 4)),
    ([("pending", 0)], ("queued", None)),
    ([("queued", 0)], ("queued", None)),
    ([("queued", 0), ("in_progress", 1)], ("in_progress", None)),
    # superseded before any result: it never went out
    ([("queued", 0), ("inactive", 5)], ("queued", None)),
    ([("inactive", 5)], ("inactive", None)),
    ([], ("queued", None)),                      # created, no status yet
    ([("queued", 0), ("exploded", 1)], ("unknown", None)),  # undocumented state
])
def test_github_deployment_states(states, expected):
    statuses = [_st(i, s, m) for i, (s, m) in enumerate(states)]
    status, finished = gnz.deployment_outcome(list(reversed(statuses)))
    minute = expected[1]
    assert (status, finished) == (
        expected[0], None if minute is None else f"2024-05-01T10:{minute:02d}:00Z")


# --- Jenkins results ---------------------------------------------------------------------------
@pytest.mark.parametrize("result,conclusion,deploy_status", [
    ("SUCCESS", "success", "success"),
    ("UNSTABLE", "failure", "failure"),
    ("FAILURE", "failure", "failure"),
    ("ABORTED", "cancelled", "cancelled"),
    ("NOT_BUILT", "skipped", "skipped"),
    ("SOMETHING_NEW", "unknown", "unknown"),
])
def test_jenkins_results(result, conclusion, deploy_status):
    build = {"number": 7, "result": result, "building": False, "timestamp": 1_700_000_000_000,
             "duration": 60_000}
    row = jnz.build_to_run(build, "deploy/prod")
    assert (row["status"], row["conclusion"]) == ("completed", conclusion)
    assert jnz.build_to_deployment(row, "deploy/prod", MAPPING)["status"] == deploy_status


def test_jenkins_running_build_has_no_conclusion_yet():
    build = {"number": 8, "result": None, "building": True, "timestamp": 1_700_000_000_000,
             "duration": 0}
    row = jnz.build_to_run(build, "deploy/prod")
    assert (row["status"], row["conclusion"], row["finished_at"]) == ("in_progress", None, None)
    assert jnz.build_to_deployment(row, "deploy/prod", MAPPING)["status"] == "in_progress"


# --- end to end: a deploy workflow with non-failure outcomes -----------------------------------
def test_not_deployed_runs_leave_change_failure_rate(engine, httpserver):
    """21 runs of the deploy workflow in May 2024: 14 success, 4 failure, and one each of
    neutral, skipped and action_required. Change failure rate = 4 failed / 18 that went out
    (not 7 of 21); the 3 that did not deploy are named in the basis. The pipeline success
    rate of the same runs: 14 / 18, the same 3 left out."""
    gh = FakeGitHub().install(httpserver)
    plan = (["success"] * 5 + ["failure", "neutral"] + ["success"] * 4 + ["failure", "skipped"]
            + ["success"] * 3 + ["failure", "action_required", "success", "failure", "success"])
    assert len(plan) == 21 and plan.count("success") == 14 and plan.count("failure") == 4
    gh.runs = [run(500 + i, f"2024-05-{i + 1:02d}T10:00:00Z", name="Deploy",
                   path=".github/workflows/deploy.yml", conclusion=c, sha=f"s{i}",
                   updated=f"2024-05-{i + 1:02d}T10:05:00Z") for i, c in enumerate(plan)]
    sync_repos(settings(), engine, Progress("github", terminal=False), ["acme/web"],
               api_url=gh.base_url, clock=FakeClock(NOW), token="t", token_env="GITHUB_TOKEN")
    since, until = datetime(2024, 5, 1, tzinfo=timezone.utc), datetime(2024, 6, 1,
                                                                        tzinfo=timezone.utc)
    with engine.connect() as conn:
        statuses = sorted(conn.execute(select(schema.deployments.c.status)).scalars())
        cfr = dora.change_failure_rate(conn, services=("acme/web",), repos=("acme/web",),
                                       since=since, until=until)
        ci = tests_ci.pipeline_stats(conn, repos=("acme/web",), since=since, until=until)
    assert statuses == ["failure"] * 4 + ["skipped"] * 3 + ["success"] * 14
    assert (cfr.value, cfr.n) == (pytest.approx(4 / 18), 18)
    assert cfr.basis == ("4 failed of 18 production deployments (3 not deployed "
                         "(cancelled/skipped) and 0 with an unknown outcome left out)")
    assert (cfr.detail["not_deployed"], cfr.detail["unknown"]) == (3, 0)
    assert (ci.success, ci.counted, ci.excluded, ci.unknown) == (14, 18, 3, 0)


def test_unknown_outcomes_are_left_out_and_counted(engine, httpserver):
    """A run and a deploy run with a conclusion GitHub does not document: stored as unknown,
    in neither the failures nor the successes, and counted in the bases."""
    gh = FakeGitHub().install(httpserver)
    gh.runs = [
        run(1, "2024-05-02T10:00:00Z", conclusion="success", updated="2024-05-02T10:05:00Z"),
        run(2, "2024-05-03T10:00:00Z", conclusion="failure", updated="2024-05-03T10:05:00Z"),
        run(3, "2024-05-04T10:00:00Z", conclusion="exploded", updated="2024-05-04T10:05:00Z"),
        run(4, "2024-05-05T10:00:00Z", name="Deploy", path=".github/workflows/deploy.yml",
            conclusion="success", sha="a", updated="2024-05-05T10:05:00Z"),
        run(5, "2024-05-06T10:00:00Z", name="Deploy", path=".github/workflows/deploy.yml",
            conclusion="exploded", sha="b", updated="2024-05-06T10:05:00Z"),
    ]
    sync_repos(settings(), engine, Progress("github", terminal=False), ["acme/web"],
               api_url=gh.base_url, clock=FakeClock(NOW), token="t", token_env="GITHUB_TOKEN")
    since, until = datetime(2024, 5, 1, tzinfo=timezone.utc), datetime(2024, 6, 1,
                                                                        tzinfo=timezone.utc)
    with engine.connect() as conn:
        conclusions = dict(conn.execute(select(schema.pipeline_runs.c.id,
                                               schema.pipeline_runs.c.conclusion)).all())
        cfr = dora.change_failure_rate(conn, services=("acme/web",), repos=("acme/web",),
                                       since=since, until=until)
        freq = dora.deployment_frequency(conn, services=("acme/web",), repos=("acme/web",),
                                         since=since, until=until)
        ci = tests_ci.pipeline_stats(conn, repos=("acme/web",), since=since, until=until)
    assert conclusions["github:run:acme/web:3"] == "unknown"
    assert conclusions["github:run:acme/web:5"] == "unknown"
    # CI: runs 1 and 4 succeeded, 2 failed; 3 and 5 unknown → 2 of 3
    assert (ci.success, ci.counted, ci.excluded, ci.unknown) == (2, 3, 0, 2)
    assert ci.left_out() == ("0 cancelled/skipped/not run and 2 with an unknown outcome "
                             "left out")
    assert [r["id"] for r in ci.failed_runs] == ["github:run:acme/web:2"]
    # delivery: deploy run 4 succeeded, 5 is unknown → 0 failed of 1
    assert (cfr.value, cfr.n, cfr.detail["unknown"]) == (0.0, 1, 1)
    assert cfr.basis.endswith("(0 not deployed (cancelled/skipped) and 1 with an unknown "
                              "outcome left out)")
    assert (freq.n, freq.detail["unknown"]) == (1, 1)
