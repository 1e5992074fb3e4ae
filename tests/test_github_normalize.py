"""Pure GitHub → domain rules, one behaviour per test, expectations worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.github import normalize as nz
from data.config import parse_settings
from data.mapping import mapping_rules

MAPPING = parse_settings({}, None).mapping


@pytest.mark.parametrize("body, expected", [
    ("Fixes #12", ["github:issue:acme/web#12"]),
    ("closes acme/api#3 and resolves #4", ["github:issue:acme/api#3", "github:issue:acme/web#4"]),
    ("Fixed: #5, fixes #5", ["github:issue:acme/web#5"]),  # once
    ("see #6", []),  # a mention is not a link that closes
    (None, []),
])
def test_linked_issue_ids(body, expected):
    assert nz.linked_issue_ids(body, "acme/web") == expected


@pytest.mark.parametrize("statuses, expected", [
    # auto_inactive's later "inactive" does not hide the success
    ([("success", "10:05"), ("inactive", "12:00")], ("success", "2024-03-09T10:05:00Z")),
    # a retried deploy: the most recent terminal status wins
    ([("failure", "10:01"), ("success", "10:09")], ("success", "2024-03-09T10:09:00Z")),
    ([("pending", "10:00")], ("queued", None)),
    ([("queued", "10:00"), ("in_progress", "10:01")], ("in_progress", None)),
    ([("inactive", "10:00")], ("inactive", None)),
    ([], ("queued", None)),
])
def test_deployment_outcome(statuses, expected):
    rows = [{"id": i, "state": s, "created_at": f"2024-03-09T{t}:00Z"}
            for i, (s, t) in enumerate(statuses)]
    assert nz.deployment_outcome(rows) == expected


@pytest.mark.parametrize("name, expected", [
    ("Production", "production"), ("prod", "production"), ("staging", "staging"),
    ("Pre-Production", "staging"), ("github-pages", "other"), (None, "other")])
def test_environment_category(name, expected):
    assert nz.environment_category(name, MAPPING) == expected


@pytest.mark.parametrize("labels, issue_type, expected", [
    (["bug"], None, ("bug", "bug")),
    (["incident", "bug"], None, ("incident", "incident")),  # incident outranks bug
    ([], "Bug", ("bug", "Bug")),  # GitHub issue types
    (["enhancement"], None, ("story", "enhancement")),
    ([], "Task", ("task", "Task")),
    (["docs"], None, ("other", None)),
])
def test_classify_type(labels, issue_type, expected):
    assert nz.classify_type(labels, issue_type, MAPPING) == expected


def test_severity_is_the_most_severe_label():
    assert mapping_rules(MAPPING).severity(None, ["sev3", "P1", "ui"]) == "high"
    assert mapping_rules(MAPPING).severity(None, ["ui"]) is None


def test_release_matching_by_name_or_tag_without_v():
    rows = [{"id": "a", "name": "2.4"}, {"id": "b", "name": "v3.0"}]
    assert nz.match_github_release({"tag_name": "v2.4", "name": "Spring"}, rows)["id"] == "a"
    assert nz.match_github_release({"tag_name": "x", "name": "3.0"}, rows)["id"] == "b"
    assert nz.match_github_release({"tag_name": "version-2"}, rows) is None
    assert nz.version_key("vNext") == "vNext"  # only a v before a digit is dropped


def test_started_at_is_the_earliest_configured_signal():
    t = lambda d: datetime(2024, 3, d, tzinfo=timezone.utc)  # noqa: E731
    cands = {"assigned": t(5), "linked_pr": t(3), "label": t(4)}
    assert nz.started_at(cands, ["assigned", "linked_pr", "label"]) == t(3)
    assert nz.started_at(cands, ["assigned"]) == t(5)
    assert nz.started_at({}, ["assigned"]) is None


def test_closed_not_planned_is_done_but_not_delivered():
    row = nz.issue_to_work_item({"number": 1, "state": "closed", "state_reason": "not_planned",
                                 "created_at": "2024-01-01T00:00:00Z",
                                 "closed_at": "2024-01-02T00:00:00Z", "labels": []},
                                "a/b", "P", MAPPING)
    assert (row["status_category"], row["resolution"], row["resolution_category"],
            row["resolved_at"]) == ("done", "not_planned", "not_delivered",
                                    "2024-01-02T00:00:00Z")


def test_run_duration_and_status():
    run = {"id": 1, "name": "CI", "status": "completed", "conclusion": "timed_out",
           "created_at": "2024-01-01T00:00:00Z", "run_started_at": "2024-01-01T00:01:00Z",
           "updated_at": "2024-01-01T00:31:30Z", "run_attempt": 2}
    row = nz.run_to_pipeline_run(run, "a/b", "P")
    # 00:01:00 → 00:31:30 = 30.5 minutes = 1,830 s
    assert (row["duration_s"], row["attempt"], row["conclusion"]) == (1830.0, 2, "timed_out")
    deploy = nz.workflow_run_to_deployment(run, "a/b")
    assert (deploy["status"], deploy["environment"]) == ("failure", "production")
