"""Re-key a renamed or transferred repository's rows: ``acme/old`` → ``acme/new`` everywhere
the repository's name is part of a stored key, in one transaction.

GitHub answers a renamed repository's old name with a 301 to the repository (README "GitHub
at organisation scale"); its issues, milestones, pull requests, runs and deployments are the
same objects. Our ids hold the repository's name (``github:issue:acme/web#45``), so without
this a rename would look like a repository gone and a new one — and the gate waivers and
readiness and scope snapshots of its releases would stay with the old ids. A data rewrite, no
schema change.

A stored value is rewritten where the old name stands whole: the value itself (``repo``,
``scope``), at its start (``acme/old#45``, raw records' ``acme/old:17``) or after a ``:``
(``github:milestone:acme/old#1``, nested in a snapshot id), followed by ``#``, ``:``, ``@`` or
the end. ``acme/older`` is not ``acme/old``.

Tables other rows point at (work items, releases, runs, deployments) get their new rows
first, then the rows pointing at them are moved, then the old rows go: foreign keys hold at
every step on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, or_, select, update

from data import schema

SOURCE = "github"

# Every column holding a repository-derived key: table → columns (JSON lists of ids too).
KEYED: dict[str, tuple[str, ...]] = {
    "work_items": ("id", "project", "key"),
    "releases": ("id", "project"),
    "pipeline_runs": ("id", "repo", "project"),
    "deployments": ("id", "repo", "service"),
    "raw_records": ("external_id", "scope"),
    "work_item_changes": ("id", "item_id"),
    "membership_changes": ("id", "item_id", "scope_id"),
    "scopes": ("key",),
    "sprint_items": ("item_id",),
    "release_items": ("release_id", "item_id"),
    "scope_snapshots": ("id", "scope_id", "item_id"),
    "pull_requests": ("id", "repo", "linked_items"),
    "test_results": ("run_id",),
    "deployment_commits": ("deployment_id",),
    "incidents": ("deployment_id", "work_item_id"),
    "sync_state": ("scope",),
    "sync_runs": ("scope",),
    "gate_waivers": ("release_id",),
    "readiness_snapshots": ("release_id",),
}
# Rows other tables point at: copied under the new key before those move, deleted after.
PARENTS = ("work_items", "releases", "pipeline_runs", "deployments")


def renamer(old: str, new: str):
    """``value`` with ``old`` replaced by ``new`` wherever it stands whole as a repository."""
    pattern = re.compile(r"(^|:)" + re.escape(old) + r"(?=[#:@]|$)")

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: m.group(1) + new, value)
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    return rename


def _candidates(table: Table, columns: tuple[str, ...], old: str):
    """A superset of the rows naming ``old`` (LIKE's ``_`` may match more; Python decides)."""
    text_cols = [table.c[c] for c in columns if c != "linked_items"]
    conds = []
    for col in text_cols:
        conds += [col == old, col.like(f"{old}%"), col.like(f"%:{old}%")]
    if "linked_items" in columns:
        from sqlalchemy import String, cast

        conds.append(cast(table.c.linked_items, String).like(f"%:{old}%"))
    return select(table).where(or_(*conds))


def has_rows(conn: Connection, repo: str) -> bool:
    """Whether anything is stored under ``repo`` (a sync state or a repository scope)."""
    st, sc = schema.sync_state, schema.scopes
    return bool(conn.execute(select(st.c.scope).where(st.c.source == SOURCE,
                                                      st.c.scope == repo).limit(1)).first()
                or conn.execute(select(sc.c.key).where(sc.c.key == repo).limit(1)).first())


def rekey(conn: Connection, old: str, new: str) -> int:
    """Rewrite every key naming ``old`` to ``new`` (in the caller's transaction); returns the
    rows rewritten. The caller checks first that nothing is stored under ``new``."""
    rename = renamer(old, new)
    tables = {name: schema.metadata.tables[name] for name in KEYED
              if name in schema.metadata.tables}
    moved = 0
    parents_old: dict[str, list] = {}
    for name in PARENTS:
        t = tables[name]
        rows = [dict(r._mapping) for r in conn.execute(_candidates(t, KEYED[name], old))]
        copies, olds = [], []
        for row in rows:
            fresh = {**row, **{c: rename(row[c]) for c in KEYED[name]}}
            if fresh["id"] != row["id"]:
                copies.append(fresh)
                olds.append(row["id"])
        if copies:
            conn.execute(t.insert(), copies)
        parents_old[name] = olds
        moved += len(copies)
    for name, t in tables.items():
        if name in PARENTS:
            continue
        cols = KEYED[name]
        pk = [c.name for c in t.primary_key.columns]
        changes = []
        for r in conn.execute(_candidates(t, cols, old)):
            row = dict(r._mapping)
            fresh = {c: rename(row[c]) for c in cols}
            if any(fresh[c] != row[c] for c in cols):
                changes.append({**{f"k_{c}": row[c] for c in pk},
                                **{f"v_{c}": fresh[c] for c in cols}})
        if changes:
            conn.execute(update(t).where(and_(*(t.c[c] == bindparam(f"k_{c}") for c in pk)))
                         .values({c: bindparam(f"v_{c}") for c in cols}), changes)
        moved += len(changes)
    for name in reversed(PARENTS):
        t = tables[name]
        ids = parents_old[name]
        for i in range(0, len(ids), 500):
            conn.execute(t.delete().where(t.c.id.in_(ids[i:i + 500])))
    return moved
