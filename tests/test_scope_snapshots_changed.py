"""Scope snapshots are written when a milestone's scope changed, not at every sync
(issue 15, part 2): a 30-minute schedule must not add a copy of every open milestone twice an
hour. GitHub sync end to end against the local fake API."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from data import schema
from data.snapshots import changed_release_scopes
from tests.fake_clock import FakeClock
from tests.github_server import issue
from tests.test_github_sync import NOW, gh, sync  # noqa: F401  (gh: the fixture)


def _snaps(engine):
    ss = schema.scope_snapshots
    with engine.connect() as conn:
        return sorted(conn.execute(select(ss.c.scope_id, ss.c.item_id, ss.c.taken_at,
                                          ss.c.status_category)).all())


def test_a_resync_with_nothing_changed_writes_no_snapshot(engine, gh):
    sync(engine, gh)
    first = _snaps(engine)
    assert len(first) == 5  # v2.4: #3 #4 #5, 2.3: #1 #2 (the first sync snapshots both)
    # Half an hour later nothing changed: no new copy.
    sync(engine, gh, clock=FakeClock(NOW + 1800))
    assert _snaps(engine) == first
    # An hour later issue 4 of v2.4 is closed: v2.4 alone gets a new snapshot, all 3 members.
    m24 = gh.milestones[0]
    gh.issues[3] = issue(4, "2024-06-01T00:30:00Z", state="closed",
                         closed="2024-06-01T00:30:00Z", assignee="bob", milestone=m24,
                         state_reason="completed")
    sync(engine, gh, clock=FakeClock(NOW + 3600))
    later = datetime.fromtimestamp(NOW + 3600, timezone.utc)
    new = [s for s in _snaps(engine) if s not in first]
    assert [(s.scope_id, s.item_id, s.taken_at) for s in new] == [
        ("github:milestone:acme/web#1", f"github:issue:acme/web#{n}", later) for n in (3, 4, 5)]
    assert {s.item_id: s.status_category for s in new}["github:issue:acme/web#4"] == "done"
    with engine.connect() as conn:
        assert changed_release_scopes(conn, ["github:milestone:acme/web#1",
                                             "github:milestone:acme/web#2",
                                             "github:milestone:acme/web#9"]) == [
            "github:milestone:acme/web#9"]  # never snapshotted: changed; the others match
