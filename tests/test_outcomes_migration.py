"""Upgrading to schema 4: runs and deployments stored with the old outcome mapping are
re-derived from their raw payloads (SQLite and PostgreSQL).

The database is written as version 3 with the rows the old mapping produced (written out by
hand below, each with the old value and why it was wrong), then opened with this code."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select

from data import schema
from data.store import get_engine
from metrics import dora

T0 = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
NOW = datetime(2024, 5, 20, tzinfo=timezone.utc)


def _gh_run(n, conclusion, status="completed"):
    return {"id": n, "name": "Deploy", "path": ".github/workflows/deploy.yml",
            "status": status, "conclusion": conclusion, "head_sha": f"s{n}",
            "head_branch": "main", "created_at": f"2024-05-0{n}T10:00:00Z",
            "updated_at": f"2024-05-0{n}T10:05:00Z"}


def _build(n, result, building=False):
    return {"number": n, "result": result, "building": building,
            "timestamp": int((T0 + timedelta(days=n)).timestamp() * 1000), "duration": 60_000}


# (raw payload, conclusion the old mapping stored, deployment status it stored,
#  conclusion and status expected now)
GITHUB = {
    1: (_gh_run(1, "neutral"), "neutral", "error", "neutral", "skipped"),
    2: (_gh_run(2, "exploded"), "exploded", "error", "unknown", "unknown"),
    3: (_gh_run(3, "skipped"), "skipped", "cancelled", "skipped", "skipped"),
    4: (_gh_run(4, "success"), "success", "success", "success", "success"),
    5: (_gh_run(5, "action_required"), "action_required", "error", "action_required",
        "skipped"),
    6: (_gh_run(6, None, status="in_progress"), None, "in_progress", None, "in_progress"),
}
JENKINS = {
    1: (_build(1, "SOMETHING_NEW"), None, "error", "unknown", "unknown"),
    2: (_build(2, "NOT_BUILT"), "skipped", "cancelled", "skipped", "skipped"),
    3: (_build(3, "SUCCESS"), "success", "success", "success", "success"),
    4: (_build(4, "UNSTABLE"), "failure", "failure", "failure", "failure"),
    5: (_build(5, None, building=True), None, "in_progress", None, "in_progress"),
}
JOB = "deploy/prod"


def _old_database(url: str) -> None:
    """A database at version 3 holding what the old mapping wrote."""
    engine = get_engine(url)
    raw, runs, deps = schema.raw_records, schema.pipeline_runs, schema.deployments
    with engine.begin() as conn:
        for n, (payload, concl, dep_status, _, _) in GITHUB.items():
            at = T0 + timedelta(days=n)
            conn.execute(insert(raw).values(source="github", resource="runs",
                                            external_id=f"acme/web:{n}", scope="acme/web",
                                            fetched_at=at, payload=payload))
            conn.execute(insert(runs).values(
                id=f"github:run:acme/web:{n}", source="github", pipeline="Deploy",
                repo="acme/web", status=payload["status"], conclusion=concl,
                finished_at=at if payload["status"] == "completed" else None))
            conn.execute(insert(deps).values(
                id=f"github:workflow-deploy:acme/web:{n}", source="github", service="acme/web",
                repo="acme/web", environment="production", status=dep_status,
                started_at=at, finished_at=at if payload["status"] == "completed" else None))
        for n, (payload, concl, dep_status, _, _) in JENKINS.items():
            at = T0 + timedelta(days=n, hours=1)
            run_id = f"jenkins:build:{JOB}#{n}"
            conn.execute(insert(raw).values(source="jenkins", resource="builds",
                                            external_id=run_id, scope=JOB, fetched_at=at,
                                            payload=payload))
            done = not payload["building"]
            conn.execute(insert(runs).values(
                id=run_id, source="jenkins", pipeline=JOB, status=(
                    "completed" if done else "in_progress"), conclusion=concl,
                finished_at=at if done else None))
            conn.execute(insert(deps).values(
                id=f"jenkins:deployment:{JOB}#{n}", source="jenkins", service=JOB,
                repo="acme/web", environment="production", status=dep_status,
                started_at=at, finished_at=at if done else None))
        # A GitHub deployment whose auto_inactive status came after its success: a success,
        # and the migration leaves it so (its statuses are not kept raw).
        conn.execute(insert(raw).values(source="github", resource="deployments",
                                        external_id="acme/web:9", scope="acme/web",
                                        fetched_at=T0, payload={"id": 9, "sha": "x"}))
        conn.execute(insert(deps).values(
            id="github:deployment:acme/web:9", source="github", service="acme/web",
            repo="acme/web", environment="production", status="success",
            started_at=T0, finished_at=T0 + timedelta(minutes=5)))
        conn.execute(delete(schema.schema_version))
        conn.execute(insert(schema.schema_version).values(version=3, applied_at=T0))
    engine.dispose()


def _cfr(engine):
    with engine.connect() as conn:
        return dora.change_failure_rate(conn, services=("acme/web", JOB), repos=("acme/web",),
                                        since=T0, until=NOW)


def test_upgrade_rederives_outcomes_from_raw(db_url):
    _old_database(db_url)
    old = get_engine(db_url, create_schema=False)
    # What the old rows said: wf1, wf2, wf5 and build 1 "error", build 4 failed → 5 failed of 8
    assert (_cfr(old).value, _cfr(old).n) == (5 / 8, 8)
    old.dispose()

    engine = get_engine(db_url)  # upgrades
    with engine.connect() as conn:
        versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
        runs = dict(conn.execute(select(schema.pipeline_runs.c.id,
                                        schema.pipeline_runs.c.conclusion)).all())
        deps = dict(conn.execute(select(schema.deployments.c.id,
                                        schema.deployments.c.status)).all())
    assert max(versions) == schema.SCHEMA_VERSION and 4 in versions
    for n, (_, _, _, concl, status) in GITHUB.items():
        assert runs[f"github:run:acme/web:{n}"] == concl, n
        assert deps[f"github:workflow-deploy:acme/web:{n}"] == status, n
    for n, (_, _, _, concl, status) in JENKINS.items():
        assert runs[f"jenkins:build:{JOB}#{n}"] == concl, n
        assert deps[f"jenkins:deployment:{JOB}#{n}"] == status, n
    assert deps["github:deployment:acme/web:9"] == "success"
    # Now: successes wf4, build 3, deployment 9; failure build 4 → 1 failed of 4; wf1, wf3,
    # wf5 and build 2 did not deploy; wf2 and build 1 have an unknown outcome.
    v = _cfr(engine)
    assert (v.value, v.n) == (1 / 4, 4)
    assert (v.detail["not_deployed"], v.detail["unknown"]) == (4, 2)
    engine.dispose()
