"""Which release scopes changed since their last scope snapshot (docs/data-model.md,
``scope_snapshots``): a sync records a milestone's scope only when it changed, so a 30-minute
schedule does not add a copy of every open milestone twice an hour.

A scope **changed** when the set of (item, estimate, status category) of its members now
(``release_items`` joined to ``work_items``) differs from the rows of its latest snapshot (the
greatest ``taken_at`` of that scope), or when it has no snapshot yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, except_, func, select

from data import schema


def changed_release_scopes(conn: Connection, release_ids: Sequence[str]) -> list[str]:
    """The ids among ``release_ids`` whose scope differs from their latest snapshot, in the
    given order. Compared in SQL (an EXCEPT each way), so members never pass through Python."""
    if not release_ids:
        return []
    ri, wi, ss = schema.release_items, schema.work_items, schema.scope_snapshots
    ids = list(release_ids)
    now = (select(ri.c.release_id.label("scope_id"), ri.c.item_id, wi.c.story_points,
                  wi.c.status_category)
           .select_from(ri.join(wi, wi.c.id == ri.c.item_id))
           .where(ri.c.release_id.in_(ids)))
    latest = (select(ss.c.scope_id, func.max(ss.c.taken_at).label("taken_at"))
              .where(ss.c.scope_type == "release", ss.c.scope_id.in_(ids))
              .group_by(ss.c.scope_id).subquery())
    last = (select(ss.c.scope_id, ss.c.item_id, ss.c.estimate, ss.c.status_category)
            .select_from(ss.join(latest, and_(ss.c.scope_id == latest.c.scope_id,
                                              ss.c.taken_at == latest.c.taken_at)))
            .where(ss.c.scope_type == "release"))
    changed: set[str] = set()
    # Each EXCEPT in its own FROM: SQLite refuses a compound select nested in another.
    for diff in (except_(now, last).subquery(), except_(last, now).subquery()):
        changed |= set(conn.execute(select(diff.c.scope_id).distinct()).scalars())
    snapped = set(conn.execute(select(latest.c.scope_id)).scalars())
    return [rid for rid in ids if rid in changed or rid not in snapped]
