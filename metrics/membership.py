"""Which items a release held at a past moment.

``release_items`` is today's membership; ``membership_changes`` (written by every source in
domain terms: item, release id, added/removed, when) says how it got there, so the membership
at ``as_of`` is today's with every later change undone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from data.schema import membership_changes as mc
from data.schema import release_items


def release_members(conn: Connection, release_id: str, as_of: datetime | None = None
                    ) -> list[str]:
    """Ids of the items in ``release_id`` at ``as_of`` (None: now, today's membership).

    Per item, the first membership change of the release after ``as_of`` decides: if it
    added the item, the item was not in the release at ``as_of``; if it removed it, the item
    was. Items with no such change are as today. Sorted."""
    current = {r[0] for r in conn.execute(
        select(release_items.c.item_id).where(release_items.c.release_id == release_id))}
    if as_of is None:
        return sorted(current)
    was_member: dict[str, bool] = {}
    for item, change in conn.execute(
            select(mc.c.item_id, mc.c.change)
            .where(mc.c.scope_type == "release", mc.c.scope_id == release_id,
                   mc.c.at > as_of)
            .order_by(mc.c.at, mc.c.id)):
        was_member.setdefault(item, change == "removed")
    members = {i for i in current if was_member.get(i, True)}
    members |= {i for i, was in was_member.items() if was}
    return sorted(members)
