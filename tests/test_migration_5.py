"""Upgrading to schema 5: the domain history (membership changes, severity changes, scopes) is
derived from the rows version 4 wrote, and every metric answers as before (SQLite and
PostgreSQL).

The database holds the demo organisation, a GitHub sync and a Jira sync against the fake
servers (priority and label changes, sprint and Fix Version changes, milestone events). It is
written by this code, then taken back to what version 4 stored — the version-5 tables dropped,
the derived ``severity`` rows deleted, the version set to 4 — and opened again, which runs the
migration. Version 4 wrote exactly those raw rows: the connectors' raw change rows are
unchanged by version 5. (Run once by hand against the version-4 code itself — commit 96afc31
building the database and answering, this code migrating and answering — the 234 answers were
equal on SQLite and PostgreSQL.)
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, insert, select, text

from connectors import jira
from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from data.config import parse_settings
from data.demo import load_demo
from data.store import DatabaseError, get_engine
from metrics import quality, readiness
from metrics.membership import release_members
from metrics.sprint import sprint_report
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue as gh_issue, milestone
from tests.jira_server import FakeJira, history, issue as jira_issue
from tests.test_readiness import demo_settings

NOW = datetime(2024, 3, 20, tzinfo=timezone.utc)
DEMO_TODAY = date(2024, 3, 20)
MOMENTS = [datetime(2023, 11, 1, tzinfo=timezone.utc) + timedelta(days=9 * i)
           for i in range(16)] + [NOW - timedelta(days=d, hours=5) for d in range(1, 22)]


def _gh_fixture(httpserver) -> FakeGitHub:
    gh = FakeGitHub(repo="acme/shop").install(httpserver)
    m1, m2 = milestone(1, "1.0", due="2024-03-25T07:00:00Z"), milestone(2, "1.1")
    gh.milestones = [m1, m2]
    gh.issues = [
        # bug, sev1 from 03-02 to 03-06, now only "bug"; in 1.0 since 03-03
        gh_issue(1, "2024-03-07T00:00:00Z", created="2024-03-01T00:00:00Z",
                 labels=("bug",), milestone=m1),
        # bug, sev2 now (since 03-04); moved from 1.1 to 1.0 on 03-09
        gh_issue(2, "2024-03-09T00:00:00Z", created="2024-03-01T00:00:00Z",
                 labels=("bug", "sev2"), milestone=m1),
        # removed from 1.0 on 03-12
        gh_issue(3, "2024-03-12T00:00:00Z", created="2024-03-01T00:00:00Z", labels=("bug",)),
    ]

    def ev(eid, kind, number, at, **extra):
        return {"id": eid, "event": kind, "created_at": at, "actor": {"login": "ann"},
                "issue": {"number": number}, **extra}

    gh.events = [
        ev(1, "labeled", 1, "2024-03-02T00:00:00Z", label={"name": "sev1"}),
        ev(2, "milestoned", 1, "2024-03-03T00:00:00Z", milestone={"title": "1.0"}),
        ev(3, "unlabeled", 1, "2024-03-06T00:00:00Z", label={"name": "sev1"}),
        ev(4, "labeled", 2, "2024-03-04T00:00:00Z", label={"name": "sev2"}),
        ev(5, "milestoned", 2, "2024-03-02T00:00:00Z", milestone={"title": "1.1"}),
        ev(6, "demilestoned", 2, "2024-03-09T00:00:00Z", milestone={"title": "1.1"}),
        ev(7, "milestoned", 2, "2024-03-09T00:00:01Z", milestone={"title": "1.0"}),
        ev(8, "milestoned", 3, "2024-03-02T00:00:00Z", milestone={"title": "1.0"}),
        ev(9, "demilestoned", 3, "2024-03-12T00:00:00Z", milestone={"title": "1.0"}),
    ]
    return gh


def _jira_fixture(httpserver) -> FakeJira:
    version = {"id": "10100", "name": "5.0", "released": False, "releaseDate": "2024-03-28"}
    sprint7 = {"id": 7, "name": "SHOP Sprint 7", "state": "active",
               "startDate": "2024-03-04T09:00:00.000Z", "endDate": "2024-03-18T17:00:00.000Z"}

    def prio(frm, to):
        return {"field": "priority", "fieldtype": "jira", "fieldId": "priority", "from": "3",
                "fromString": frm, "to": "1", "toString": to}

    def fix(frm, to):
        return {"field": "Fix Version", "fieldtype": "jira", "fieldId": "fixVersions",
                "from": frm, "fromString": frm and "5.0", "to": to, "toString": to and "5.0"}

    def spr(frm, to):
        return {"field": "Sprint", "fieldtype": "custom", "fieldId": "customfield_10020",
                "from": frm, "fromString": frm, "to": to, "toString": to}

    issues = [
        jira_issue("SHOP-1", issuetype="Bug", priority="Low",
                   created="2024-03-01T09:00:00.000+0000",
                   updated="2024-03-10T09:00:00.000+0000",
                   extra={"fixVersions": [version], "customfield_10020": [sprint7]},
                   histories=[history(1, "2024-03-02T09:00:00.000+0000",
                                      prio("Medium", "Highest")),
                              history(2, "2024-03-03T09:00:00.000+0000", fix(None, "10100"),
                                      spr("", "7")),
                              history(3, "2024-03-06T09:00:00.000+0000",
                                      prio("Highest", "Low"))]),
        jira_issue("SHOP-2", issuetype="Story", created="2024-03-01T09:00:00.000+0000",
                   updated="2024-03-10T09:00:00.000+0000",
                   histories=[history(4, "2024-03-02T09:00:00.000+0000", fix(None, "10100"),
                                      spr("", "7")),
                              history(5, "2024-03-05T09:00:00.000+0000", fix("10100", None)),
                              history(6, "2024-03-08T09:00:00.000+0000", spr("7", ""))]),
        jira_issue("SHOP-3", issuetype="Bug", priority="Highest",
                   created="2024-03-01T09:00:00.000+0000",
                   updated="2024-03-10T09:00:00.000+0000",
                   extra={"fixVersions": [version], "customfield_10020": [sprint7]},
                   histories=[history(7, "2024-03-09T09:00:00.000+0000", fix(None, "10100"),
                                      spr("", "7"))]),
    ]
    return FakeJira(httpserver, project="SHOP", issues=issues, versions=[version])


def _write_current(url: str, httpserver) -> None:
    """Demo + GitHub + Jira syncs, written by this code (so at version 5)."""
    engine = get_engine(url)
    load_demo(engine, scale=0.05, seed=7, today=DEMO_TODAY)
    gh = _gh_fixture(httpserver)
    sync_repos(parse_settings({"github": {"repos": ["acme/shop"]}}, None), engine,
               Progress("github", terminal=False), ["acme/shop"], api_url=gh.base_url,
               clock=FakeClock(NOW.timestamp()), token="t0ken", token_env="GITHUB_TOKEN")
    httpserver.clear()
    fake = _jira_fixture(httpserver)
    jira.run(argparse.Namespace(url=fake.url, project=["SHOP"], board=None, full=False,
                                max_wait=None),
             parse_settings({}, None), engine, clock=FakeClock(NOW.timestamp()))
    engine.dispose()


def _back_to_version_4(url: str) -> None:
    """What version 4 stored of the same data: no version-5 tables, no derived rows."""
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(schema.work_item_changes)
                     .where(schema.work_item_changes.c.field == "severity"))
        conn.execute(text("DROP TABLE membership_changes"))
        conn.execute(text("DROP TABLE scopes"))
        conn.execute(delete(schema.schema_version))
        conn.execute(insert(schema.schema_version).values(version=4, applied_at=NOW))
    engine.dispose()


def _domain_rows(conn) -> tuple[set, set, set]:
    mc, wic = schema.membership_changes, schema.work_item_changes
    return ({tuple(r) for r in conn.execute(select(mc))},
            {tuple(r) for r in conn.execute(select(wic).where(wic.c.field == "severity"))},
            {tuple(r) for r in conn.execute(select(schema.scopes))})


def _answers(conn) -> dict:
    """The metrics' answers the migration must leave unchanged."""
    settings = demo_settings()
    out: dict = {}
    release_ids = list(conn.execute(select(schema.releases.c.id)
                                    .order_by(schema.releases.c.id)).scalars())
    for rid in release_ids:
        out[("members", rid)] = [release_members(conn, rid, t) for t in MOMENTS]
        for t in MOMENTS[::4] + [NOW - timedelta(days=15), NOW - timedelta(days=12)]:
            ev = readiness.evaluate_release(conn, settings, rid, as_of=t, now=NOW)
            out[("readiness", rid, t)] = (ev.verdict, ev.score, [
                (g.gate_id if hasattr(g, "gate_id") else None,
                 {k: v for k, v in dataclasses.asdict(g).items() if k != "evaluated_at"})
                for g in ev.gates])
    projects = list(conn.execute(select(schema.work_items.c.project).distinct()
                                 .order_by(schema.work_items.c.project)).scalars())
    for p in projects:
        scope = SimpleNamespace(projects=(p,))
        out[("bugs", p)] = quality.open_bugs_by_severity_at(conn, scope, MOMENTS)
        out[("critical", p)] = [quality.open_bugs(conn, scope, t, severities=["critical"])
                                for t in MOMENTS[-8:]]
    sprint_ids = list(conn.execute(select(schema.sprints.c.id).order_by(schema.sprints.c.id))
                      .scalars())
    for sid in sprint_ids:
        out[("sprint", sid)] = [dataclasses.asdict(sprint_report(conn, sid, as_of=t))
                                for t in (NOW, NOW - timedelta(days=13))]
    return out


def test_upgrade_derives_domain_history_and_answers_stay(db_url, httpserver):
    _write_current(db_url, httpserver)
    engine = get_engine(db_url)
    with engine.connect() as conn:
        before, rows_before = _answers(conn), _domain_rows(conn)
        # The fixture exercises every derivation (hand-counted): GitHub 1 and 2 severity
        # changes, Jira SHOP-1 two; memberships of a milestone, a version and a sprint.
        sev = {r[1] for r in rows_before[1]}
        assert {"github:issue:acme/shop#1", "github:issue:acme/shop#2",
                "jira:issue:SHOP-1"} <= sev
        scopes = {r[0]: r[1] for r in rows_before[2]}
        assert (scopes["acme/shop"], scopes["SHOP"], scopes["PAY"],
                scopes["acme/web"]) == ("repository", "project", "project", "repository")
    engine.dispose()

    _back_to_version_4(db_url)
    old = get_engine(db_url, create_schema=False)
    with old.connect() as conn:
        assert conn.execute(select(func.max(schema.schema_version.c.version))).scalar() == 4
    old.dispose()

    engine = get_engine(db_url)  # upgrades
    with engine.connect() as conn:
        versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
        assert 5 in versions and max(versions) == schema.SCHEMA_VERSION
        assert _domain_rows(conn) == rows_before
        after = _answers(conn)
    engine.dispose()
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key


def test_github_and_jira_severity_history_by_hand(db_url, httpserver):
    _write_current(db_url, httpserver)
    engine = get_engine(db_url)
    t = datetime(2024, 3, 4, 12, tzinfo=timezone.utc)  # sev1 on shop#1, Highest on SHOP-1
    with engine.connect() as conn:
        crit = quality.open_bugs(conn, SimpleNamespace(projects=("acme/shop", "SHOP")), t,
                                 severities=["critical", "high"])
        members = release_members(conn, "jira:version:10100", t)
        members_now = release_members(conn, "jira:version:10100")
        ms1 = conn.execute(select(schema.releases.c.id).where(
            schema.releases.c.project == "acme/shop", schema.releases.c.name == "1.0")).scalar()
        gh_members = release_members(conn, ms1, datetime(2024, 3, 10, tzinfo=timezone.utc))
    engine.dispose()
    # shop#1 sev1 (critical), shop#2 sev2 (high, labelled 03-04 00:00), SHOP-1 Highest
    # (critical), SHOP-3 Highest (critical) all along; most severe, then oldest (GitHub's
    # were created at 00:00, Jira's at 09:00).
    assert [(b["key"], b["severity"]) for b in crit] == [
        ("acme/shop#1", "critical"), ("SHOP-1", "critical"), ("SHOP-3", "critical"),
        ("acme/shop#2", "high")]
    # 03-04 12:00: SHOP-1 (added 03-03), SHOP-2 (added 03-02, removed 03-05); SHOP-3 later.
    assert members == ["jira:issue:SHOP-1", "jira:issue:SHOP-2"]
    assert members_now == ["jira:issue:SHOP-1", "jira:issue:SHOP-3"]
    # 03-10: #1 (since 03-03), #2 (moved in 03-09), #3 (removed only 03-12)
    assert gh_members == ["github:issue:acme/shop#1", "github:issue:acme/shop#2",
                          "github:issue:acme/shop#3"]


def test_a_database_newer_than_the_code_stops_with_one_line(sqlite_url):
    engine = get_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(schema.schema_version).values(version=schema.SCHEMA_VERSION + 1,
                                                          applied_at=NOW))
    engine.dispose()
    with pytest.raises(DatabaseError) as info:
        get_engine(sqlite_url)
    assert "newer than this code" in str(info.value) and "\n" not in str(info.value)
