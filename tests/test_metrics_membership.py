"""Release membership at a past moment, worked out by hand from the definition in
metrics/membership.py: today's release_items with later fix_version changes undone; the first
change after ``as_of`` that names the release decides."""

from __future__ import annotations

import pytest
from metrics_rows import change, item, load, release, utc

from metrics.membership import release_members

R = "t:release:pay24"  # named "2.4"


def ids(*keys: str) -> list[str]:
    return sorted(f"t:issue:{k}" for k in keys)


@pytest.fixture
def db(engine):
    """Today PAY-1, PAY-2 and PAY-5 are in 2.4.
    PAY-1: no membership change.            PAY-2: added on 03-05.
    PAY-3: removed on 03-06.                PAY-4: added to 2.5 on 03-05 (never in 2.4).
    PAY-5: added 03-05, removed 03-06, added again 03-07."""
    items = [item(f"PAY-{n}", created=utc(2026, 3, 1)) for n in range(1, 6)]
    rels = [release("pay24", "2.4"), release("pay25", "2.5")]
    members = [{"release_id": R, "item_id": f"t:issue:PAY-{n}", "source": "t"}
               for n in (1, 2, 5)]
    members.append({"release_id": "t:release:pay25", "item_id": "t:issue:PAY-4", "source": "t"})
    changes = [change("PAY-2", utc(2026, 3, 5), "fix_version", None, "2.4"),
               change("PAY-3", utc(2026, 3, 6), "fix_version", "2.4", None),
               change("PAY-4", utc(2026, 3, 5), "fix_version", None, "2.5"),
               change("PAY-5", utc(2026, 3, 5), "fix_version", None, "2.4"),
               change("PAY-5", utc(2026, 3, 6), "fix_version", "2.4", None),
               change("PAY-5", utc(2026, 3, 7), "fix_version", None, "2.4")]
    load(engine, work_items=items, releases=rels, release_items=members,
         work_item_changes=changes)
    return engine


@pytest.mark.parametrize("as_of, expected", [
    (None, ids("PAY-1", "PAY-2", "PAY-5")),                  # today
    (utc(2026, 3, 4), ids("PAY-1", "PAY-3")),                # before every change
    (utc(2026, 3, 5, 12), ids("PAY-1", "PAY-2", "PAY-3", "PAY-5")),
    (utc(2026, 3, 6, 12), ids("PAY-1", "PAY-2")),            # PAY-5 out between 03-06 and 03-07
    (utc(2026, 3, 8), ids("PAY-1", "PAY-2", "PAY-5")),       # after every change: as today
])
def test_membership_at_a_moment(db, as_of, expected):
    with db.connect() as conn:
        assert release_members(conn, R, as_of) == expected


def test_jira_changes_name_versions_by_id_not_by_shared_names(engine):
    """Jira's changelog gives version ids; OPS has a version "2.4" too (id 41)."""
    items = [item(k, created=utc(2026, 3, 1)) for k in ("PAY-1", "PAY-2")]
    rels = [{**release("x", "2.4"), "id": "jira:version:40"},
            {**release("y", "2.4", project="OPS"), "id": "jira:version:41"}]
    members = [{"release_id": "jira:version:40", "item_id": "t:issue:PAY-1", "source": "t"}]
    changes = [change("PAY-1", utc(2026, 3, 5), "fix_version", None, "40"),
               change("PAY-2", utc(2026, 3, 5), "fix_version", "41", None)]
    load(engine, work_items=items, releases=rels, release_items=members,
         work_item_changes=changes)
    with engine.connect() as conn:
        # PAY-1 joined 40 after 03-04; PAY-2 left 41, not 40, so it was never in 40
        assert release_members(conn, "jira:version:40", utc(2026, 3, 4)) == []
        assert release_members(conn, "jira:version:41", utc(2026, 3, 4)) == ids("PAY-2")


def test_github_titles_count_only_within_the_milestones_repository(engine):
    """GitHub events give the milestone title; acme/api has a "v2.4" milestone as well."""
    web5, api3 = "github:issue:acme/web#5", "github:issue:acme/api#3"
    items = [{**item("x", created=utc(2026, 3, 1)), "id": i, "key": i.split(":", 2)[2]}
             for i in (web5, api3)]
    rels = [{**release("a", "v2.4"), "id": "github:milestone:acme/web#1"},
            {**release("b", "v2.4"), "id": "github:milestone:acme/api#7"}]
    changes = [{**change("x", utc(2026, 3, 5), "fix_version", "v2.4", None), "item_id": i,
                "id": f"{i}:e"} for i in (web5, api3)]
    load(engine, work_items=items, releases=rels, work_item_changes=changes)
    with engine.connect() as conn:
        # both left a "v2.4" after 03-04, each from its own repository's milestone
        assert release_members(conn, "github:milestone:acme/web#1", utc(2026, 3, 4)) == [web5]
        assert release_members(conn, "github:milestone:acme/api#7", utc(2026, 3, 4)) == [api3]
