"""Change sets: the commits a successful production deployment shipped are those since the
previous successful production deployment of the same service from the same repository;
deployments finished at the same moment go by the source's numeric order ("…:3" before
"…:15"), never by string order. Expected commits worked out by hand from the histories below.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from data.config import parse_settings
from metrics import dora
from metrics_rows import load, utc
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp()


def _sync(engine, gh, repo):
    cfg = parse_settings({"github": {"repos": [repo]}, "projects": {"P": {"repos": [repo]}}},
                         None)
    sync_repos(cfg, engine, Progress("github", terminal=False), [repo], api_url=gh.base_url,
               clock=FakeClock(NOW), token="t", token_env="GITHUB_TOKEN")


def _commits(engine) -> dict[str, list[str]]:
    dc = schema.deployment_commits
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for dep_id, sha in conn.execute(select(dc.c.deployment_id, dc.c.sha)):
            out.setdefault(dep_id, []).append(sha)
    return {k: sorted(v) for k, v in out.items()}


def _commit(sha: str) -> dict:
    return {"sha": sha, "commit": {"committer": {"date": "2024-05-01T00:00:00Z"}}}


def test_monorepo_services_keep_their_own_change_sets(engine, httpserver):
    """acme/mono, history a1 ← w1 ← x ← a2 ← w2 ← a3 ← a4, deployed to production by two
    Jenkins deploy jobs (services api and web), interleaved:

        10:00 api a1   11:00 web w1   12:00 api a2   13:00 web w2
        14:00 api a3 FAILED           15:00 api a4

    api: a1 first → [a1]; a2 since a1 → [w1, x, a2]; a4 since a2 (a3 failed, so not a
    boundary) → [w2, a3, a4]. web: w1 first → [w1]; w2 since w1 → [x, a2, w2].
    Cutting across services (the old rule) would give a2 only "since w1" and so on."""
    def jenkins_deploy(job, number, sha, hour, status="success"):
        at = datetime(2024, 5, 1, hour, tzinfo=timezone.utc)
        # the row the Jenkins connector writes for a build of a deploy job
        return {"id": f"jenkins:deployment:{job}#{number}", "source": "jenkins", "service": job,
                "repo": "acme/mono", "environment": "production", "environment_name": "prod",
                "sha": sha, "ref": "main", "status": status, "created_at": at,
                "started_at": at - timedelta(minutes=5), "finished_at": at}

    api, web = "mono/api/deploy-prod", "mono/web/deploy-prod"
    load(engine, deployments=[
        jenkins_deploy(api, 1, "a1", 10), jenkins_deploy(web, 1, "w1", 11),
        jenkins_deploy(api, 2, "a2", 12), jenkins_deploy(web, 2, "w2", 13),
        jenkins_deploy(api, 3, "a3", 14, status="failure"), jenkins_deploy(api, 4, "a4", 15)])
    gh = FakeGitHub(repo="acme/mono").install(httpserver)
    gh.compares = {
        ("a1", "a2"): [_commit("w1"), _commit("x"), _commit("a2")],
        ("w1", "w2"): [_commit("x"), _commit("a2"), _commit("w2")],
        ("a2", "a4"): [_commit("w2"), _commit("a3"), _commit("a4")],
        # what cutting across services would ask for: answered too, so that rule shows
        ("a1", "w1"): [_commit("w1")], ("w1", "a2"): [_commit("x"), _commit("a2")],
        ("a2", "w2"): [_commit("w2")], ("w2", "a4"): [_commit("a3"), _commit("a4")],
    }
    _sync(engine, gh, "acme/mono")
    assert _commits(engine) == {
        f"jenkins:deployment:{api}#1": ["a1"],
        f"jenkins:deployment:{api}#2": ["a2", "w1", "x"],
        f"jenkins:deployment:{api}#4": ["a3", "a4", "w2"],
        f"jenkins:deployment:{web}#1": ["w1"],
        f"jenkins:deployment:{web}#2": ["a2", "w2", "x"],
    }


def test_ties_on_finish_time_go_by_the_sources_number(engine, httpserver):
    """GitHub deployments 1 (sha s1, 10:00), then 3 and 15 (s3, s15) both succeeding at 12:00.
    GitHub numbers them in creation order, so 3 came before 15: 3 ships since 1 → [c2, s3];
    15 ships since 3 → [s15]. String order ("…:15" < "…:3") would compare s1…s15 and
    s15…s3 instead."""
    gh = FakeGitHub().install(httpserver)
    gh.deployments = [
        {"id": 1, "environment": "production", "sha": "s1", "ref": "main",
         "created_at": "2024-05-01T09:55:00Z"},
        {"id": 3, "environment": "production", "sha": "s3", "ref": "main",
         "created_at": "2024-05-01T11:50:00Z"},
        {"id": 15, "environment": "production", "sha": "s15", "ref": "main",
         "created_at": "2024-05-01T11:55:00Z"},
    ]
    gh.statuses = {
        1: [{"id": 1, "state": "success", "created_at": "2024-05-01T10:00:00Z"}],
        3: [{"id": 2, "state": "success", "created_at": "2024-05-01T12:00:00Z"}],
        15: [{"id": 3, "state": "success", "created_at": "2024-05-01T12:00:00Z"}],
    }
    gh.compares = {("s1", "s3"): [_commit("c2"), _commit("s3")],
                   ("s3", "s15"): [_commit("s15")],
                   # what string order would ask for: answered too, so a wrong order shows
                   ("s1", "s15"): [_commit("c2"), _commit("s3"), _commit("s15")],
                   ("s15", "s3"): []}
    _sync(engine, gh, "acme/web")
    assert _commits(engine) == {"github:deployment:acme/web:1": ["s1"],
                                "github:deployment:acme/web:3": ["c2", "s3"],
                                "github:deployment:acme/web:15": ["s15"]}


def _dep(did, at, sha, status="success"):
    return {"id": did, "source": "t", "service": "svc", "repo": "acme/x",
            "environment": "production", "status": status, "sha": sha,
            "started_at": at - timedelta(minutes=5), "finished_at": at, "is_rollback": False,
            "url": None}


def test_lead_time_and_attribution_ties_go_by_number(engine):
    """dl:3 and dl:15 both finish at 12:00 and both ship m1 (a redeploy). The first to ship the
    PR merged at 11:00 is dl:3 (lower number); an incident opened at 13:00 is attributed to
    the latest deployment before it, dl:15."""
    noon = utc(2024, 5, 1, 12)
    load(engine,
         deployments=[_dep("dl:15", noon, "m1"), _dep("dl:3", noon, "m1")],
         deployment_commits=[{"deployment_id": d, "sha": "m1", "source": "t"}
                             for d in ("dl:15", "dl:3")],
         pull_requests=[{"id": "p1", "source": "t", "repo": "acme/x", "number": 1,
                         "created_at": utc(2024, 5, 1, 9), "first_commit_at": utc(2024, 5, 1, 8),
                         "merged_at": utc(2024, 5, 1, 11), "merge_sha": "m1"}],
         incidents=[{"id": "i1", "source": "t", "service": "svc",
                     "opened_at": utc(2024, 5, 1, 13), "resolved_at": None}])
    with engine.connect() as conn:
        [pr] = dora.pr_deliveries(conn, repos=("acme/x",))
        causes = dora.incident_causes(conn, services=("svc",))
        outcomes = dora.deploy_outcomes(conn, services=("svc",), repos=("acme/x",),
                                        since=utc(2024, 5, 1), until=utc(2024, 5, 2))
    assert (pr.deployment_id, pr.lead_time) == ("dl:3", 4.0)  # 08:00 → 12:00
    assert causes == {"i1": "dl:15"}
    assert [o.deployment["id"] for o in outcomes] == ["dl:3", "dl:15"]
