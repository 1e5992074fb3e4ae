"""GitLab payloads → domain rows (pure functions), on real recordings where the corpus has
them: danger-js's gitlab.com MR (2019: approvals without ``approved_at``), go-gitlab's test
report fixture (``system_output`` as text, object and list), the DevLake issues. Expected
values are read off the payloads (quoted in comments)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from connectors.gitlab import normalize as nz
from data.config import MappingSettings
from data.mapping import GITLAB_PIPELINE_STATUSES, outcome_of_conclusion

MAPPING = MappingSettings()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def nock(corpus, name: str):
    return json.loads((corpus / "gitlab" / "danger-js_nock_recordings" / name)
                      .read_text(encoding="utf-8"))[0]["response"]


def test_mr_detail_on_a_2019_gitlab_com_merge_request(corpus):
    mr = nock(corpus, "getMergeRequestInfo.json")  # author smcgivern, changes_count "1"
    detail = nz.mr_detail(mr, nock(corpus, "getMergeRequestCommits.json"),
                          nock(corpus, "getMergeRequestApprovals.json"),
                          nock(corpus, "getMergeRequestNotes.json"))
    # commits newest first: 10:44:57 then 09:50:39 — the first commit predates the MR (10:59)
    assert detail["first_commit_at"] == utc("2019-04-08T09:50:39Z")
    # approvals by reprazent and dbalexandre carry no approved_at (2019): dated by their
    # "approved this merge request" system notes (06:46:03.790, 13:56:37.218); their own
    # comments (06:46:04.013, 13:56:58.560) count too; gitlab-bot's roulette note and the
    # author's notes do not
    assert detail["first_review_at"] == utc("2019-04-09T06:46:03.790Z")
    assert detail["review_count"] == 4
    assert (detail["changed_files"], detail["additions"], detail["deletions"]) == (1, None, None)
    assert detail["merged_at"] == utc("2019-04-09T13:57:11.931Z")  # its own merged_at


def test_merged_at_from_the_merged_system_note_when_gitlab_gives_none(corpus):
    mr = dict(nock(corpus, "getMergeRequestInfo.json"), merged_at=None)  # GitLab 11.1
    detail = nz.mr_detail(mr, [], None, nock(corpus, "getMergeRequestNotes.json"))
    # dbalexandre's system note "merged" at 2019-04-09T13:57:11.941Z
    assert detail["merged_at"] == utc("2019-04-09T13:57:11.941Z")


def test_every_documented_pipeline_status_is_mapped_explicitly():
    documented = {"created", "waiting_for_resource", "preparing", "pending", "running",
                  "success", "failed", "canceled", "skipped", "manual", "scheduled",
                  "waiting_for_callback", "canceling"}
    assert set(GITLAB_PIPELINE_STATUSES) == documented
    outcome = {s: outcome_of_conclusion(nz.pipeline_to_run(
        {"id": 1, "status": s}, 1, "g/p")["conclusion"]) for s in documented}
    assert {s for s, o in outcome.items() if o == "success"} == {"success"}
    assert {s for s, o in outcome.items() if o == "failure"} == {"failed"}
    assert {s for s, o in outcome.items() if o == "not_counted"} == \
        {"canceled", "skipped", "manual"}
    unfinished = {s for s in documented
                  if nz.pipeline_to_run({"id": 1, "status": s}, 1, "g/p")["status"]
                  != "completed"}
    assert unfinished == {"created", "waiting_for_resource", "preparing", "pending", "running",
                          "scheduled", "waiting_for_callback", "canceling"}
    # a status GitLab does not document: neither a success nor a failure
    row = nz.pipeline_to_run({"id": 1, "status": "exploded"}, 1, "g/p")
    assert (row["status"], row["conclusion"]) == (None, "unknown")


def test_test_report_from_the_go_gitlab_fixture(corpus):
    report = json.loads((corpus / "gitlab/go-gitlab_testdata/get_pipeline_testreport.json")
                        .read_text(encoding="utf-8"))
    rows = nz.report_rows(report, "gitlab:pipeline:1:2")
    assert [(r["suite"], r["name"], r["status"]) for r in rows] == [
        ("Failing", "Error testcase 1", "error"), ("Failing", "Error testcase 2", "error"),
        ("Failing", "Error testcase 3", "error"), ("Failing", "Succes full testcase", "passed"),
        ("Succes suite", "Succesfull testcase", "passed")]
    messages = [r["message"] for r in rows[:3]]
    assert messages[0].startswith("java.lang.Exception: Stack trace")  # stack_trace first
    assert messages[1] == "message: Failed test\ntype: MultipleExceptionError"  # an object
    assert messages[2] == "Failed test a\nFailed test b"  # a list
    assert rows[0]["file"] == "/path/file.ext" and rows[1]["file"] is None
    assert rows[0]["duration_s"] == 19.987


def test_a_report_with_total_count_0_is_no_report():
    empty = {"total_time": 0, "total_count": 0, "success_count": 0, "failed_count": 0,
             "skipped_count": 0, "error_count": 0, "test_suites": []}
    assert nz.report_rows(empty, "r") == []


@pytest.mark.parametrize("labels,severity,expected", [
    (["severity::critical"], None, "critical"),
    (["priority::2"], None, "high"),
    (["priority::4", "severity::medium"], None, "medium"),  # the most severe label wins
    (["priority::1"], "LOW", "low"),  # an incident's own severity comes first
    (["bug"], "UNKNOWN", None),
])
def test_scoped_labels_and_incident_severity(labels, severity, expected):
    item = {"iid": 1, "state": "opened", "created_at": "2024-01-01T00:00:00Z",
            "labels": labels, "severity": severity}
    assert nz.issue_to_work_item(item, 1, "g/p", MAPPING)["severity"] == expected


def test_issue_type_incident_and_weight():
    item = {"iid": 4, "state": "opened", "created_at": "2024-01-01T00:00:00Z", "labels": [],
            "issue_type": "incident", "weight": 0}
    row = nz.issue_to_work_item(item, 1, "g/p", MAPPING, weight_as_story_points=True)
    assert row["type"] == "incident"
    assert row["story_points"] == 0.0  # a weight of 0 is a weight
    assert nz.issue_to_work_item(item, 1, "g/p", MAPPING)["story_points"] is None
    del item["weight"]  # Free tier: the key is absent
    assert nz.issue_to_work_item(item, 1, "g/p", MAPPING,
                                 weight_as_story_points=True)["story_points"] is None


def test_linked_issues_by_gitlab_closing_pattern():
    text = ("Closes #12, fixes #3 and Implements https://gitlab.example.com/g/p/-/issues/7\n"
            "resolves https://gitlab.example.com/g/other/-/issues/8, mentions #99")
    # another project's issue (g/other#8) and a mere mention are not linked
    assert nz.linked_issue_ids(text, 5, "g/p") == ["gitlab:issue:5#12", "gitlab:issue:5#3",
                                                   "gitlab:issue:5#7"]


@pytest.mark.parametrize("user,bot", [
    ({"username": "gitlab-bot"}, True), ({"username": "renovate-bot"}, True),
    ({"username": "project_278964_bot_3f1"}, True), ({"username": "ann", "bot": True}, True),
    ({"username": "abbott"}, False), ({"username": "robotnik"}, False), (None, False),
])
def test_bots(user, bot):
    assert nz.is_bot(user) is bot


def test_iteration_from_the_go_gitlab_fixture(corpus):
    it = json.loads((corpus / "gitlab/go-gitlab_testdata/list_group_iterations.json")
                    .read_text(encoding="utf-8"))[0]
    row = nz.iteration_to_sprint(it, "my-group/app")
    # "state": 2 (integer) is current
    assert (row["id"], row["name"], row["state"]) == ("gitlab:iteration:53", "Iteration II",
                                                      "active")
    assert (row["start_at"], row["end_at"]) == ("2020-02-14", "2020-02-01")


def test_deployment_tier_decides_the_environment():
    dep = {"id": 1, "status": "success", "environment": {"id": 2, "name": "eu-live"},
           "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:10:00Z",
           "deployable": None}
    assert nz.deployment_to_row(dep, 1, "g/p", "production", MAPPING)["environment"] == \
        "production"
    assert nz.deployment_to_row(dep, 1, "g/p", "testing", MAPPING)["environment"] == "other"
    # no tier (GitLab before 13.10): by name through [mapping]; "eu-live" is not listed
    assert nz.deployment_to_row(dep, 1, "g/p", None, MAPPING)["environment"] == "other"
    row = nz.deployment_to_row(dep, 1, "g/p", None, MAPPING)
    # created through the API ("deployable": null): finished at its update
    assert row["finished_at"] == "2024-01-01T00:10:00Z" and row["status"] == "success"
