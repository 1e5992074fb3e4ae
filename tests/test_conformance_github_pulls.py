"""Conformance with DevLake's GitHub pull requests, their commits and reviews (corpus
github/devlake): the raw list items, commits and reviews of panjf2000/ants served by the local
fake GitHub, every field our ``pull_requests`` shares with DevLake's ``pull_requests``,
``_tool_github_pull_request_commits`` and ``_tool_github_pull_request_reviews`` compared.

Deliberate differences, each asserted below:
- state names: DevLake's MERGED/CLOSED/OPEN are our merged/closed/open;
- merge sha: GitHub fills ``merge_commit_sha`` of an unmerged PR with a test-merge commit; only
  a merged PR's ships, so we keep it for merged PRs only (DevLake keeps it for all);
- commits and reviews are read for merged PRs only (what lead time and the PR stages need);
- an author's own review is not a first review: first_review_at and review_count count reviews
  by someone else (DevLake lists every review, the author's own included);
- sizes: the corpus has list items only, which carry no additions/deletions; DevLake writes 0,
  we leave them empty until a PR's detail says;
- titles are capped at data.text.TITLE characters (one PR here has a title of 1,188): DevLake
  keeps the whole text, we keep its first TITLE - 1 characters and an ellipsis.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import select

from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from data.text import TITLE, cap
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub
from tests.test_github_conformance import REPO, devlake_time, read_csv
from tests.test_github_sync import settings

csv.field_size_limit(10**8)
CONNECTION = '"ConnectionId":1'  # the rows of the e2e's panjf2000/ants connection


def _raw(corpus, name):
    return [r for r in read_csv(corpus, name) if CONNECTION in r["params"]]


def test_devlake_pull_requests_commits_and_reviews(sqlite_engine, corpus, httpserver):
    gh = FakeGitHub(repo=REPO).install(httpserver)
    pulls = [json.loads(r["data"]) for r in
             _raw(corpus, "github__raw_tables___raw_github_api_pull_requests.csv")]
    gh.pulls = pulls
    gh.pull_details = {p["number"]: p for p in pulls}
    for r in _raw(corpus, "github__raw_tables___raw_github_api_pull_request_commits.csv"):
        gh.pull_commits.setdefault(json.loads(r["input"])["Number"], []).append(
            json.loads(r["data"]))
    for r in _raw(corpus, "github__raw_tables___raw_github_api_pull_request_reviews.csv"):
        gh.pull_reviews.setdefault(json.loads(r["input"])["Number"], []).append(
            json.loads(r["data"]))
    now = datetime(2022, 9, 10, tzinfo=timezone.utc).timestamp()
    sync_repos(settings(lookback_days=3650), sqlite_engine, Progress("github", terminal=False),
               [REPO], api_url=gh.base_url, clock=FakeClock(now), token="t",
               token_env="GITHUB_TOKEN")
    with sqlite_engine.connect() as conn:
        ours = {r.number: r for r in conn.execute(select(schema.pull_requests))}

    expected = {int(e["pull_request_key"]): e for e in
                read_csv(corpus, "github__snapshot_tables__pull_requests.csv")}
    assert sorted(ours) == sorted(expected) and len(expected) == 49
    by_github_id = {p["id"]: p["number"] for p in pulls}
    for number, e in expected.items():
        pr = ours[number]
        assert pr.state == e["status"].lower(), number  # difference: state names
        assert (pr.title, pr.url, pr.author) == (cap(e["title"], TITLE), e["url"],
                                                 e["author_name"]), number  # difference: cap
        assert (pr.base_branch, pr.head_branch) == (e["base_ref"], e["head_ref"]), number
        assert pr.created_at == devlake_time(e["created_date"]), number
        assert pr.merged_at == devlake_time(e["merged_date"]), number
        assert pr.closed_at == devlake_time(e["closed_date"]), number
        # difference: only a merged PR's merge sha is kept
        assert pr.merge_sha == (e["merge_commit_sha"] if e["status"] == "MERGED" else None)
        # difference: DevLake's 0 for sizes the list items do not carry
        assert (pr.additions, pr.deletions, e["additions"], e["deletions"]) == (
            None, None, "0", "0"), number

    commits: dict[int, list[datetime]] = defaultdict(list)
    for c in read_csv(corpus, "github__snapshot_tables___tool_github_pull_request_commits.csv"):
        commits[by_github_id[int(c["pull_request_id"])]].append(
            devlake_time(c["commit_authored_date"]))
    reviews: dict[int, list[dict]] = defaultdict(list)
    for r in read_csv(corpus, "github__snapshot_tables___tool_github_pull_request_reviews.csv"):
        reviews[by_github_id[int(r["pull_request_id"])]].append(r)
    own_reviews = 0
    for number, e in expected.items():
        pr = ours[number]
        if e["status"] != "MERGED":  # difference: details are read for merged PRs only
            assert (pr.first_commit_at, pr.first_review_at, pr.review_count) == (
                None, None, None), number
            continue
        # DevLake's e2e collected no commits of #13, #14, #15, #19 and #39: none here either
        assert pr.first_commit_at == min(commits.get(number, []), default=None), number
        mine = reviews.get(number, [])
        others = [r for r in mine if r["author_username"] != e["author_name"]]
        own_reviews += len(mine) - len(others)
        assert pr.review_count == len(others), number
        assert pr.first_review_at == min(
            (devlake_time(r["github_submit_at"]) for r in others), default=None), number
    # reviews on #41, #51 and #53 only, 16 of the 30 by the PR's own author
    assert sorted(n for n, e in expected.items() if e["status"] == "MERGED"
                  and n not in commits) == [13, 14, 15, 19, 39]
    assert sorted(reviews) == [41, 51, 53]
    assert own_reviews == 16 and sum(len(v) for v in reviews.values()) == 30
