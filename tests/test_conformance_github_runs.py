"""Conformance with DevLake's GitHub runs beyond the conclusion (corpus github/devlake): its raw
workflow runs served by the local fake, every field our ``pipeline_runs`` shares with its
``_tool_github_runs`` compared — name, branch, sha, run number, event, status, conclusion,
attempt, created, started, url — and the run outcome mapping checked on DevLake's own rows,
which hold every documented conclusion.

Deliberate differences, each asserted below:
- status: DevLake keeps GitHub's text as received (its test data spells some upper-case, and
  one run has the conclusion's word as status); we lower-case it, and a run with a
  conclusion is ``completed`` whatever the status says;
- conclusion: lower-cased, as GitHub documents it (DevLake's rows already are);
- finished_at: GitHub has no finish time on a run; we take ``updated_at`` once the run has
  completed (DevLake's github_updated_at, the same instant) and leave it empty before;
- DevLake's ``type``/``environment`` come from its own deployment regex; ours from
  ``github.deploy_workflows`` — configuration, not a field of the run, so not compared.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import select

from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import mapping, schema
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub
from tests.test_github_conformance import REPO, devlake_time, read_csv
from tests.test_github_sync import settings


def test_devlake_run_fields(sqlite_engine, corpus, httpserver):
    gh = FakeGitHub(repo=REPO).install(httpserver)
    gh.runs = [json.loads(r["data"]) for r in
               read_csv(corpus, "github__raw_tables___raw_github_api_runs.csv")]
    now = datetime(2022, 9, 10, tzinfo=timezone.utc).timestamp()
    sync_repos(settings(), sqlite_engine, Progress("github", terminal=False), [REPO],
               api_url=gh.base_url, clock=FakeClock(now), token="t", token_env="GITHUB_TOKEN")
    with sqlite_engine.connect() as conn:
        ours = {r.id.rsplit(":", 1)[1]: r for r in conn.execute(select(schema.pipeline_runs))}
    expected = {e["id"]: e for e in
                read_csv(corpus, "github__snapshot_tables___tool_github_runs.csv")}
    assert sorted(ours) == sorted(expected) and len(expected) == 35
    upper_status = []
    for rid, e in expected.items():
        r = ours[rid]
        assert (r.pipeline, r.branch, r.sha, str(r.number), r.event, str(r.attempt)) == (
            e["name"], e["head_branch"], e["head_sha"], e["run_number"], e["event"],
            e["run_attempt"]), rid
        assert r.url == e["html_url"], rid
        assert r.created_at == devlake_time(e["github_created_at"]), rid
        assert r.started_at == devlake_time(e["run_started_at"]), rid
        assert (r.conclusion or "") == e["conclusion"].lower(), rid
        if e["conclusion"]:  # difference: completed whenever there is a conclusion
            assert r.status == "completed", rid
            assert r.finished_at == devlake_time(e["github_updated_at"]), rid
        else:
            assert r.status == e["status"].lower() and r.finished_at is None, rid
        if e["status"] != e["status"].lower():
            upper_status.append(e["status"])
    # difference: DevLake's test data spells these statuses as received
    assert sorted(upper_status) == sorted([
        "COMPLETED", "SUCCESS", "FAILURE", "CANCELLED", "TIMED_OUT", "STARTUP_FAILURE",
        "IN_PROGRESS", "QUEUED", "WAITING", "PENDING", "NEUTRAL", "SKIPPED", "STALE",
        "ACTION_REQUIRED", "REQUESTED"])
    # every documented conclusion appears once or more, and each maps as README says
    counts = {concl: mapping.outcome_of_conclusion(concl)
              for concl in {r.conclusion for r in ours.values() if r.conclusion}}
    assert counts == {"success": "success", "failure": "failure", "timed_out": "failure",
                      "startup_failure": "failure", "cancelled": "not_counted",
                      "skipped": "not_counted", "neutral": "not_counted",
                      "stale": "not_counted", "action_required": "not_counted"}
