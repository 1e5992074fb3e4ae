"""Issues deleted in Jira (or moved to another project) leave the database: at once on a sync
that lists every issue (the first, or --full), otherwise at the daily key-only listing. An
empty listing while items are stored removes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.http import SourceError
from data import schema
from tests.jira_server import FakeJira, history, issue, status_item
from tests.fake_clock import FakeClock
from tests.test_jira_sync import run_sync

DAY = 24 * 3600


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def keys(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.key)).scalars())


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch):
    for name in ("JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def three_issues() -> list[dict]:
    """PAY-2 carries a status change and a fix version, so there is something hanging off it."""
    return [
        issue("PAY-1"),
        issue("PAY-2", issuetype="Bug", priority="Highest",
              histories=[history(1, "2024-03-02T08:00:00.000+0000", status_item("1", "3"))],
              extra={"fixVersions": [{"id": "40", "name": "2.4", "released": False}]}),
        issue("PAY-3"),
    ]


def item_key_searches(fake: FakeJira) -> list:
    api = "/rest/api/3/search/jql" if fake.deployment == "Cloud" else "/rest/api/2/search"
    return [r.args for r in fake.requests(api) if r.args.get("fields") == "key"]


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_a_deleted_issue_goes_at_the_daily_listing_with_what_hangs_off_it(
        httpserver, engine, deployment):
    fake = FakeJira(httpserver, deployment=deployment, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    pay2 = schema.work_items.c.id == "jira:issue:PAY-2"
    assert count(engine, schema.work_items, pay2) == 1
    assert count(engine, schema.work_item_changes,
                 schema.work_item_changes.c.item_id == "jira:issue:PAY-2") >= 1
    assert count(engine, schema.release_items,
                 schema.release_items.c.item_id == "jira:issue:PAY-2") == 1
    assert not item_key_searches(fake)  # the first sync listed every issue itself

    fake.issues = [i for i in fake.issues if i["key"] != "PAY-2"]  # deleted in Jira
    clock.t += 3600
    run_sync(fake, engine, clock=clock)  # an hour later: incremental, listing not due
    assert keys(engine) == ["PAY-1", "PAY-2", "PAY-3"]
    assert not item_key_searches(fake)

    clock.t += DAY
    written = run_sync(fake, engine, clock=clock)
    assert keys(engine) == ["PAY-1", "PAY-3"]
    assert written["removed"] == 1
    [listing] = item_key_searches(fake)
    assert listing["jql"] == 'project = "PAY"' and "expand" not in listing
    assert int(listing["maxResults"]) == 1000
    for table, column in ((schema.work_item_changes, "item_id"),
                          (schema.release_items, "item_id")):
        assert count(engine, table, table.c[column] == "jira:issue:PAY-2") == 0
    raw = schema.raw_records
    assert count(engine, raw, raw.c.source == "jira", raw.c.external_id == "PAY-2") == 0
    assert count(engine, raw, raw.c.source == "jira", raw.c.external_id == "PAY-1") == 1
    # the release it was planned for stays: other issues may still be in it
    assert count(engine, schema.releases, schema.releases.c.name == "2.4") == 1

    clock.t += 3600
    run_sync(fake, engine, clock=clock)  # the listing ran less than a day ago
    assert len(item_key_searches(fake)) == 1


def test_a_full_sync_removes_at_once_without_an_extra_listing(httpserver, engine):
    fake = FakeJira(httpserver, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-3"]
    written = run_sync(fake, engine, clock=clock, full=True)
    assert keys(engine) == ["PAY-1", "PAY-2"]
    assert written["removed"] == 1
    assert not item_key_searches(fake)


def test_an_issue_moved_to_another_project_leaves_this_one(httpserver, engine):
    fake = FakeJira(httpserver, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    moved = issue("OPS-7", updated="2024-03-09T09:00:00.000+0000")  # was PAY-1
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-1"] + [moved]
    clock.t += DAY
    run_sync(fake, engine, clock=clock)
    assert keys(engine) == ["PAY-2", "PAY-3"]  # OPS is not a project synced here


def test_an_empty_listing_removes_nothing_and_says_why(httpserver, engine):
    fake = FakeJira(httpserver, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    fake.issues = []  # e.g. the account lost "Browse projects"
    clock.t += DAY
    with pytest.raises(SourceError, match="lists no issues now, but 3 are stored — nothing "
                                          "removed; check that this account can still browse"):
        run_sync(fake, engine, clock=clock)
    assert keys(engine) == ["PAY-1", "PAY-2", "PAY-3"]
    runs = schema.sync_runs
    with engine.connect() as conn:
        last = conn.execute(select(runs.c.outcome, runs.c.error)
                            .order_by(runs.c.id.desc())).first()
    assert last.outcome == "failed" and "nothing removed" in last.error
