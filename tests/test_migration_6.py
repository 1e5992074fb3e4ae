"""Upgrading to schema 6: status-category and work-type history in domain terms (SQLite and
PostgreSQL).

Version 5 left GitHub's ``status`` changes (open/closed) for metrics to turn into categories
with a name rule at every read, and kept type changes only as the source's own (Jira's
``type``). Version 6 derives ``status_category`` rows (ids ending ``:status_category``) for
items whose source wrote no categories, and ``work_type`` rows, in data/domain.py; metrics read
only those. A database written by this code is taken back to what version 5 stored — the
derived rows deleted, the version set to 5 — and opened again, which runs the migration: the
derived rows and the metrics' answers come back the same. The rows themselves are worked out
by hand below.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timezone
from types import SimpleNamespace

from sqlalchemy import delete, insert, or_, select

from connectors import jira
from connectors.__main__ import main
from connectors.github.cli import sync_repos
from connectors.progress import Progress
from data import schema
from data.config import parse_settings
from data.demo import load_demo
from data.store import get_engine
from metrics import quality
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue as gh_issue
from tests.jira_server import FakeJira, history, issue as jira_issue, status_item
from tests.test_migration_5 import _answers

NOW = datetime(2024, 3, 20, tzinfo=timezone.utc)
DERIVED = ("status_category", "work_type")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _github(httpserver) -> FakeGitHub:
    gh = FakeGitHub(repo="acme/shop").install(httpserver)
    gh.issues = [
        # labelled bug 03-02; closed 03-05, reopened 03-06, closed again 03-07
        gh_issue(1, "2024-03-07T00:00:00Z", created="2024-03-01T00:00:00Z", state="closed",
                 closed="2024-03-07T00:00:00Z", labels=("bug",)),
        gh_issue(2, "2024-03-01T00:00:00Z", created="2024-03-01T00:00:00Z"),
    ]

    def ev(eid, kind, at, **extra):
        return {"id": eid, "event": kind, "created_at": at, "actor": {"login": "ann"},
                "issue": {"number": 1}, **extra}

    gh.events = [ev(1, "labeled", "2024-03-02T00:00:00Z", label={"name": "bug"}),
                 ev(2, "closed", "2024-03-05T00:00:00Z"),
                 ev(3, "reopened", "2024-03-06T00:00:00Z"),
                 ev(4, "closed", "2024-03-07T00:00:00Z")]
    return gh


def _jira(httpserver) -> FakeJira:
    retyped = {"field": "issuetype", "fieldtype": "jira", "fieldId": "issuetype",
               "from": "10001", "fromString": "Story", "to": "10004", "toString": "Bug"}
    # "Triage" (77) is not among the statuses /status lists: Jira's categories for SHOP-2 are
    # then incomplete, so it writes none and version 6 derives them from the status names
    triage = {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "1",
              "fromString": "Open", "to": "77", "toString": "Triage"}
    out_of_triage = {"field": "status", "fieldtype": "jira", "fieldId": "status",
                     "from": "77", "fromString": "Triage", "to": "3",
                     "toString": "In Progress"}
    issues = [
        jira_issue("SHOP-1", issuetype="Bug", status_id="3",
                   updated="2024-03-10T09:00:00.000+0000",
                   histories=[history(1, "2024-03-02T09:00:00.000+0000", retyped),
                              history(2, "2024-03-04T09:00:00.000+0000",
                                      status_item("1", "3"))]),
        jira_issue("SHOP-2", status_id="3", updated="2024-03-10T09:00:00.000+0000",
                   histories=[history(3, "2024-03-03T09:00:00.000+0000", triage),
                              history(4, "2024-03-05T09:00:00.000+0000", out_of_triage)]),
    ]
    return FakeJira(httpserver, project="SHOP", issues=issues)


def _write_current(url: str, httpserver, *, demo: bool) -> None:
    engine = get_engine(url)
    if demo:
        load_demo(engine, scale=0.05, seed=7, today=date(2024, 3, 20))
    gh = _github(httpserver)
    sync_repos(parse_settings({"github": {"repos": ["acme/shop"]}}, None), engine,
               Progress("github", terminal=False), ["acme/shop"], api_url=gh.base_url,
               clock=FakeClock(NOW.timestamp()), token="t0ken", token_env="GITHUB_TOKEN")
    httpserver.clear()
    fake = _jira(httpserver)
    jira.run(argparse.Namespace(url=fake.url, project=["SHOP"], board=None, full=False,
                                max_wait=None),
             parse_settings({}, None), engine, clock=FakeClock(NOW.timestamp()))
    engine.dispose()


def _derived_where():
    wic = schema.work_item_changes
    return or_(wic.c.field == "work_type",
               (wic.c.field == "status_category") & wic.c.id.like("%:status_category"))


def _derived(conn) -> set:
    wic = schema.work_item_changes
    return {tuple(r) for r in conn.execute(select(wic).where(_derived_where()))}


def _history(conn, *items: str) -> list[tuple]:
    wic = schema.work_item_changes
    return [tuple(r) for r in conn.execute(
        select(wic.c.item_id, wic.c.at, wic.c.field, wic.c.from_value, wic.c.to_value,
               wic.c.from_string, wic.c.to_string)
        .where(wic.c.field.in_(DERIVED), wic.c.item_id.in_(items))
        .order_by(wic.c.item_id, wic.c.at, wic.c.field))]


def _back_to_version_5(url: str) -> None:
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(schema.work_item_changes).where(_derived_where()))
        conn.execute(delete(schema.schema_version))
        conn.execute(insert(schema.schema_version).values(version=5, applied_at=NOW))
    engine.dispose()


def test_upgrade_derives_categories_and_types_and_answers_stay(db_url, httpserver):
    _write_current(db_url, httpserver, demo=True)
    engine = get_engine(db_url)
    with engine.connect() as conn:
        before, rows_before = _answers(conn), _derived(conn)
        # the demo's GitHub-style projects write open/closed status changes only
        assert any(r[1].startswith("demo:") for r in rows_before)
    engine.dispose()

    _back_to_version_5(db_url)
    engine = get_engine(db_url)  # upgrades
    with engine.connect() as conn:
        assert max(conn.execute(select(schema.schema_version.c.version)).scalars()) == schema.SCHEMA_VERSION
        assert _derived(conn) == rows_before
        after = _answers(conn)
    engine.dispose()
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key


def test_category_and_type_rows_by_hand_and_remap_rederives_them(db_url, httpserver,
                                                                   monkeypatch, capsys,
                                                                   tmp_path):
    _write_current(db_url, httpserver, demo=False)
    engine = get_engine(db_url)
    gh1, s1, s2 = "github:issue:acme/shop#1", "jira:issue:SHOP-1", "jira:issue:SHOP-2"
    with engine.connect() as conn:
        rows = _history(conn, gh1, s1, s2)
        jira_own = conn.execute(select(schema.work_item_changes.c.id).where(
            schema.work_item_changes.c.item_id == s1,
            schema.work_item_changes.c.field == "status_category")).scalars().all()
        scope = SimpleNamespace(projects=("acme/shop",))
        moments = [_utc(t) for t in ("2024-03-01T12:00:00Z", "2024-03-02T12:00:00Z",
                                     "2024-03-05T12:00:00Z", "2024-03-06T12:00:00Z",
                                     "2024-03-07T12:00:00Z")]
        bugs = [[b["key"] for b in quality.open_bugs(conn, scope, t)] for t in moments]
        unset = [c.get("unset", 0)
                 for c in quality.open_bugs_by_severity_at(conn, scope, moments)]
    engine.dispose()
    # "open" is todo and "closed" done by the stored items (#2 open and not started, #1
    # closed); "Open" — no item has it now — and "Triage" by their words (todo), "In Progress"
    # by SHOP-1 and SHOP-2 (in progress). Jira wrote SHOP-1's categories itself: kept as they
    # are, none derived. Types: #1 became a bug when labelled (before: no type, no label →
    # other); SHOP-1 was a Story.
    assert rows == [
        (gh1, _utc("2024-03-02T00:00:00Z"), "work_type", "other", "bug", None, "bug"),
        (gh1, _utc("2024-03-05T00:00:00Z"), "status_category", "todo", "done", "open",
         "closed"),
        (gh1, _utc("2024-03-06T00:00:00Z"), "status_category", "done", "todo", "closed",
         "open"),
        (gh1, _utc("2024-03-07T00:00:00Z"), "status_category", "todo", "done", "open",
         "closed"),
        (s1, _utc("2024-03-02T09:00:00Z"), "work_type", "story", "bug", "Story", "Bug"),
        (s1, _utc("2024-03-04T09:00:00Z"), "status_category", "todo", "in_progress", None,
         None),  # Jira's own
        (s2, _utc("2024-03-03T09:00:00Z"), "status_category", "todo", "todo", "Open",
         "Triage"),
        (s2, _utc("2024-03-05T09:00:00Z"), "status_category", "todo", "in_progress",
         "Triage", "In Progress"),
    ]
    assert jira_own == ["jira:issue:SHOP-1:2:0c"]
    # a bug from its label (03-02) on — not before, when it was untyped; open until the
    # first close (03-05) and again between the reopening (03-06) and the second close (03-07)
    assert bugs == [[], ["acme/shop#1"], [], ["acme/shop#1"], []]
    assert unset == [0, 1, 0, 1, 0]

    # remap derives them again from the raw changes (here after they were lost)
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(schema.work_item_changes).where(_derived_where()))
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text("")
    assert main(["remap", "--config", str(cfg)]) == 0
    capsys.readouterr()
    engine = get_engine(db_url)
    with engine.connect() as conn:
        assert _history(conn, gh1, s1, s2) == rows
    engine.dispose()


def test_configured_status_names_are_applied_at_write_time(sqlite_url, httpserver,
                                                           monkeypatch, capsys, tmp_path):
    _write_current(sqlite_url, httpserver, demo=False)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text('[jira.status_names]\nTriage = "in_progress"\n')
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["remap", "--config", str(cfg)]) == 0
    capsys.readouterr()
    engine = get_engine(sqlite_url)
    with engine.connect() as conn:
        s2 = [r[3:5] for r in _history(conn, "jira:issue:SHOP-2")]
    engine.dispose()
    assert s2 == [("todo", "in_progress"), ("in_progress", "in_progress")]
