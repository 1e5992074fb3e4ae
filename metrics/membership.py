"""Which items a release held at a past moment.

``release_items`` is today's membership. Sources record membership changes as
``fix_version`` changes — Jira's Fix Version changelog (values are version ids), GitHub's
milestoned/demilestoned events (values are milestone titles) — so the membership at ``as_of``
is today's with every later change undone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from data.schema import release_items, releases
from data.schema import work_item_changes as wic
from metrics.history import parse_ids


def _container(entity_id: str) -> str | None:
    """``github:issue:acme/web#5`` → ``github:acme/web``: where a per-repository number lives."""
    parts = entity_id.split(":", 2)
    if len(parts) < 3 or "#" not in parts[2]:
        return None
    return f"{parts[0]}:{parts[2].rsplit('#', 1)[0]}"


def _names_release(value: str | None, native_id: str, name: str, same_container: bool) -> bool:
    """A change side names the release by its source id (Jira: the version id), or by its
    name (GitHub, whose events give the milestone title — only for an item of the same
    repository, since another repository's milestone may share the title). A side may list
    several, comma-separated. Display strings are not used: Jira versions of different
    projects share names ("2.4"), their ids do not."""
    ids = parse_ids(value)
    return native_id in ids or (same_container and (name in ids or (value or "").strip() == name))


def release_members(conn: Connection, release_id: str, as_of: datetime | None = None
                    ) -> list[str]:
    """Ids of the items in ``release_id`` at ``as_of`` (None: now, today's membership).

    Per item, the first ``fix_version`` change after ``as_of`` that names the release decides:
    if it added the item, the item was not in the release at ``as_of``; if it removed it, the
    item was. Items with no such change are as today. Sorted."""
    current = {r[0] for r in conn.execute(
        select(release_items.c.item_id).where(release_items.c.release_id == release_id))}
    if as_of is None:
        return sorted(current)
    rel = conn.execute(select(releases.c.name).where(releases.c.id == release_id)).first()
    if rel is None:
        return sorted(current)
    native_id = release_id.rsplit(":", 1)[-1]
    home = _container(release_id)
    was_member: dict[str, bool] = {}
    for item, frm, to in conn.execute(
            select(wic.c.item_id, wic.c.from_value, wic.c.to_value)
            .where(wic.c.field == "fix_version", wic.c.at > as_of)
            .order_by(wic.c.at, wic.c.id)):
        if item in was_member:
            continue
        same = _container(item) == home
        if _names_release(to, native_id, rel.name, same):
            was_member[item] = False  # added later
        elif _names_release(frm, native_id, rel.name, same):
            was_member[item] = True  # removed later
    members = {i for i in current if was_member.get(i, True)}
    members |= {i for i, was in was_member.items() if was}
    return sorted(members)
