"""Caps on stored text (data.text) in every connector's normaliser, and identities taken before
the cap. Limits: title 1,000, label 255, name 2,000, message 4,096 characters."""

from __future__ import annotations

from connectors.github import normalize as gh
from connectors.jenkins import normalize as jk
from connectors.jira.normalize import Mapping, issue_rows, release_row, sprint_row
from data.config import parse_settings
from data.text import ELLIPSIS, LABEL, LIMITS, MESSAGE, NAME, TITLE, cap, test_key

HUGE = "é" * (16 << 20)  # a 16 MB (32 MB in UTF-8) text from a hostile or broken source


def capped(text: str, limit: int) -> bool:
    return len(text) == limit and text.endswith(ELLIPSIS)


def test_cap():
    assert LIMITS == {"title": 1000, "label": 255, "name": 2000, "message": 4096}
    assert cap(None, 5) is None
    assert cap("", 5) == ""
    assert cap("abcde", 5) == "abcde"  # at the limit: untouched
    assert cap("abcdef", 5) == "abcd…"  # past it: 4 characters and the ellipsis
    assert cap("日本語のテキスト", 3) == "日本…"  # characters, not bytes
    assert cap(42, 1) == 42  # not text: left alone


def test_identities_are_hashes_of_the_full_text():
    a, b = "x" * NAME + "a", "x" * NAME + "b"
    assert cap(a, NAME) == cap(b, NAME)  # the cap alone would merge them
    assert test_key("C", a) != test_key("C", b)
    # fields are delimited: moving text between class name and name is another test
    assert test_key("ab", "c") != test_key("a", "bc")
    assert len(test_key("C", HUGE)) == 32


def test_github_titles_names_and_messages_are_capped():
    mapping = parse_settings({}, None).mapping
    issue = {"number": 1, "title": HUGE, "state": "open", "labels": [],
             "created_at": "2024-03-01T00:00:00Z", "updated_at": "2024-03-01T00:00:00Z"}
    assert capped(gh.issue_to_work_item(issue, "acme/web", "acme/web", mapping)["title"], TITLE)
    ms = gh.milestone_to_release({"number": 2, "title": HUGE, "description": HUGE,
                                  "state": "open"}, "acme/web", "acme/web")
    assert capped(ms["name"], LABEL) and capped(ms["description"], MESSAGE)
    rel = gh.github_release_to_release({"id": 3, "tag_name": "v1", "name": HUGE},
                                       "acme/web", "acme/web")
    assert capped(rel["name"], LABEL)
    pr = gh.pull_to_row({"number": 4, "title": HUGE, "state": "open", "body": None,
                         "created_at": "2024-03-01T00:00:00Z"}, "acme/web")
    assert capped(pr["title"], TITLE)
    run = {"id": 5, "name": HUGE, "status": "completed", "conclusion": "success",
           "created_at": "2024-03-01T00:00:00Z", "updated_at": "2024-03-01T00:10:00Z"}
    assert capped(gh.run_to_pipeline_run(run, "acme/web", "acme/web")["pipeline"], LABEL)
    assert capped(gh.workflow_run_to_deployment(run, "acme/web")["environment_name"], LABEL)
    dep = gh.deployment_to_row({"id": 6, "environment": HUGE}, [], "acme/web", mapping)
    assert capped(dep["environment_name"], LABEL)


def test_jira_titles_names_and_messages_are_capped():
    mapping = Mapping.from_settings(parse_settings({}, None))
    issue = {"key": "PAY-1", "fields": {
        "summary": HUGE, "project": {"key": "PAY"}, "issuetype": {"name": "Bug"},
        "status": {"id": "1", "name": "Open", "statusCategory": {"key": "new"}},
        "created": "2024-03-01T00:00:00.000+0000"}}
    out = issue_rows(issue, [], mapping, {}, "https://acme.atlassian.net/")
    assert capped(out.item["title"], TITLE)
    sprint = sprint_row({"id": 9, "name": HUGE, "goal": HUGE}, project="PAY")
    assert capped(sprint["name"], LABEL) and capped(sprint["goal"], MESSAGE)
    version = release_row({"id": 40, "name": HUGE, "description": HUGE}, "PAY")
    assert capped(version["name"], LABEL) and capped(version["description"], MESSAGE)


def test_jenkins_names_and_messages_are_capped_with_the_identity_of_the_full_name():
    report = {"suites": [{"name": HUGE, "cases": [
        {"className": HUGE, "name": HUGE + "1", "status": "FAILED", "errorDetails": HUGE},
        {"className": HUGE, "name": HUGE + "2", "status": "PASSED"}]}]}
    one, two = jk.test_rows(report, "jenkins:build:app#1")
    assert capped(one["suite"], NAME) and capped(one["classname"], NAME)
    assert capped(one["name"], NAME) and capped(one["message"], MESSAGE)
    assert one["name"] == two["name"]  # capped alike, yet two tests:
    assert one["test_key"] == test_key(HUGE, HUGE + "1") != two["test_key"]
    run = jk.build_to_run({"number": 1, "result": "SUCCESS", "timestamp": 0, "duration": 1},
                          HUGE)
    assert capped(run["pipeline"], LABEL)


def test_cap_unique_keeps_different_texts_different():
    from data.text import cap_unique

    a, b = "s" * 50 + "a", "s" * 50 + "b"
    assert cap_unique("short", 40) == "short"
    assert len(cap_unique(a, 40)) == 40 and cap_unique(a, 40).startswith("s" * 7 + ELLIPSIS)
    assert cap_unique(a, 40) != cap_unique(b, 40) and cap(a, 40) == cap(b, 40)
