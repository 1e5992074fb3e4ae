"""Issues deleted on GitHub (or transferred to another repository) leave the database on a sync
that lists every issue — the first, or ``--full``; an incremental sync (``since``) cannot see
them. An empty listing while items are stored removes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.http import SourceError
from data import schema
from tests.github_server import FakeGitHub, issue, milestone
from tests.test_github_sync import sync


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    m1 = milestone(1, "v1.0", due="2024-06-10T07:00:00Z")
    fake.milestones = [m1]
    fake.issues = [issue(1, "2024-03-01T00:00:00Z"),
                   issue(2, "2024-03-02T00:00:00Z", milestone=m1, labels=("bug",)),
                   issue(3, "2024-03-03T00:00:00Z", milestone=m1),
                   issue(4, "2024-03-04T00:00:00Z", pr=True)]
    return fake


def ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.id)).scalars())


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_full_sync_removes_a_deleted_issue_and_its_membership(engine, gh):
    sync(engine, gh)
    assert ids(engine) == [f"github:issue:acme/web#{n}" for n in (1, 2, 3)]
    gh.issues = [i for i in gh.issues if i["number"] != 2]  # deleted by an admin

    written = sync(engine, gh)  # incremental (since=…): GitHub does not list deletions
    assert "github:issue:acme/web#2" in ids(engine)
    assert "removed" not in written

    written = sync(engine, gh, full=True)
    assert ids(engine) == ["github:issue:acme/web#1", "github:issue:acme/web#3"]
    assert written["removed"] == 1
    ri, raw = schema.release_items, schema.raw_records
    assert count(engine, ri, ri.c.item_id == "github:issue:acme/web#2") == 0
    assert count(engine, ri, ri.c.item_id == "github:issue:acme/web#3") == 1
    assert count(engine, raw, raw.c.resource == "issues", raw.c.external_id == "acme/web#2") == 0
    assert count(engine, raw, raw.c.resource == "issues", raw.c.external_id == "acme/web#3") == 1
    # the milestone's earlier scope snapshots still show #2 was in it then
    snaps = schema.scope_snapshots
    assert count(engine, snaps, snaps.c.item_id == "github:issue:acme/web#2") >= 1


def test_a_full_sync_listing_nothing_removes_nothing(engine, gh):
    sync(engine, gh)
    gh.issues = []  # e.g. the token lost access to issues
    with pytest.raises(SourceError, match="lists no issues now, but 3 are stored — nothing "
                                          "removed; check that GITHUB_TOKEN"):
        sync(engine, gh, full=True)
    assert len(ids(engine)) == 3
