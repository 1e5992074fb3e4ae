"""Rebuilding an item's state at a past moment from ``work_item_changes``.

Sources record history as changes (field, from, to, at). The value of a field at time ``t`` is
the ``to`` of the last change at or before ``t``; before the first change it is that change's
``from``; an item with no changes of a field has had its current value all along.

Metrics read domain rows only (data/domain.py and the connectors write them; no source's
encoding is interpreted here):
- ``status_category`` changes (todo/in_progress/done in ``from_value``/``to_value``), written by
  a source that knows its categories (Jira) or derived from its ``status`` changes by
  data/domain.py with the one status rule of data/mapping.py;
- ``severity`` changes (critical/high/medium/low) and ``work_type`` changes
  (story/task/bug/incident/epic/other), derived by data/domain.py from whatever signal the
  source has (a priority, labels, an issue type);
- sprint membership from ``membership_changes`` rows; the estimate from ``story_points``
  changes (also Jira's display names "Story Points", "Story point estimate").
``field`` is matched case-insensitively.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from data.schema import membership_changes, work_item_changes, work_items
from data.store import in_values

CATEGORIES = ("todo", "in_progress", "done")
CATEGORY_FIELDS = {"status_category", "statuscategory"}
SPRINT_FIELDS = {"sprint"}
POINTS_FIELDS = {"story_points", "story points", "story point estimate", "storypoints"}


_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def per_connection(conn: Connection) -> dict:
    """A dict that lives as long as ``conn``: several KPIs of one request share work (the
    sprint report, the status map) without a cache that could outlive the data it read."""
    try:
        return _MEMO.setdefault(conn, {})
    except TypeError:  # not weak-referenceable: no sharing
        return {}


def _norm_field(name: str) -> str:
    n = (name or "").strip().lower()
    if n in CATEGORY_FIELDS:
        return "status_category"
    if n in SPRINT_FIELDS:
        return "sprint"
    if n in POINTS_FIELDS:
        return "story_points"
    return n


@dataclass
class Timeline:
    """A field's value over time: ``initial`` before ``times[0]``, then ``values[i]`` from
    ``times[i]``."""

    initial: object
    times: list[datetime] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    def at(self, t: datetime) -> object:
        i = bisect_right(self.times, t)
        return self.initial if i == 0 else self.values[i - 1]

    def first_time(self, pred) -> datetime | None:
        for t, v in zip(self.times, self.values):
            if pred(v):
                return t
        return None


def _to_float(v: str | None) -> float | None:
    if v is None or str(v).strip() == "":
        return None
    try:
        return float(v)
    except ValueError:
        return None


@dataclass
class ItemHistory:
    """One item's current row and its changes grouped by normalised field (sorted by time)."""

    row: dict
    changes: dict[str, list[dict]]
    # Timelines already built: burndown asks for the same item's points and category once per
    # day of the sprint.
    _built: dict = field(default_factory=dict, repr=False, compare=False)

    def category(self) -> Timeline:
        """Status category over time (the current ``status_category`` when no history)."""
        if "category" not in self._built:
            self._built["category"] = self._category()
        return self._built["category"]

    def _category(self) -> Timeline:
        ch = self.changes.get("status_category")
        if ch:
            return Timeline(ch[0]["from_value"] or "todo", [c["at"] for c in ch],
                            [c["to_value"] for c in ch])
        # No status history: rebuild from the timestamps the item carries.
        r = self.row
        times, values = [], []
        if r.get("started_at") is not None and r["status_category"] in ("in_progress", "done"):
            times.append(r["started_at"])
            values.append("in_progress")
        if r["status_category"] == "done" and r.get("resolved_at") is not None:
            times.append(r["resolved_at"])
            values.append("done")
        if not times:
            return Timeline(r["status_category"])
        return Timeline("todo", times, values)

    def category_or_resolved(self, t: datetime) -> str:
        """Category at ``t`` (before the item existed: todo)."""
        if self.row["created_at"] > t:
            return "todo"
        return self.category().at(t)

    def severity_at(self, t: datetime) -> str | None:
        """Severity at ``t``: today's, unless a ``severity`` change (domain values, derived
        by data/domain.py from whatever signal the source has) came after ``t`` — then the
        ``from_value`` of the first such change."""
        later = [c for c in self.changes.get("severity", ()) if c["at"] > t]
        return later[0]["from_value"] if later else self.row["severity"]

    def type_at(self, t: datetime) -> str:
        """Work type at ``t``: today's, unless a ``work_type`` change (domain values, derived
        by data/domain.py from the source's type and label changes) came after ``t`` — then
        the ``from_value`` of the first such change."""
        later = [c for c in self.changes.get("work_type", ()) if c["at"] > t]
        return later[0]["from_value"] if later else self.row["type"]

    def points(self) -> Timeline:
        """Story points over time (the current estimate when no history)."""
        if "points" not in self._built:
            self._built["points"] = self._points()
        return self._built["points"]

    def _points(self) -> Timeline:
        ch = self.changes.get("story_points")
        if ch:
            return Timeline(_to_float(ch[0]["from_value"] if ch[0]["from_value"] is not None
                                      else ch[0]["from_string"]),
                            [c["at"] for c in ch],
                            [_to_float(c["to_value"] if c["to_value"] is not None
                                       else c["to_string"]) for c in ch])
        return Timeline(self.row.get("story_points"))

    def in_sprint(self, sprint_id: str, currently: bool) -> Timeline:
        """Membership of ``sprint_id`` over time, from the item's ``membership_changes``
        (``currently`` when it has no sprint history; never a member when its history never
        names this sprint)."""
        ch = self.changes.get("sprint")
        if not ch:
            return Timeline(currently)
        mine = [c for c in ch if c["scope_id"] == sprint_id]
        if not mine:
            return Timeline(False)
        return Timeline(mine[0]["change"] == "removed", [c["at"] for c in mine],
                        [c["change"] == "added" for c in mine])


# What metrics read of an item; the JSON columns (labels, components) are left out: decoding
# them was a third of the load time at scale.
ITEM_COLUMNS = ("id", "source", "project", "key", "title", "type", "status", "status_category",
                "resolution", "resolution_category", "priority", "severity", "found_in",
                "story_points", "created_at", "started_at", "resolved_at", "url")


def load_histories(conn: Connection, item_ids: Iterable[str] | None = None, *,
                   where=None, fields: set[str] | None = None) -> dict[str, ItemHistory]:
    """Items (by ids or a ``where`` clause on ``work_items``) with their changes."""
    q = select(*[work_items.c[name] for name in ITEM_COLUMNS])
    if item_ids is not None:
        ids = list(item_ids)
        if not ids:
            return {}
        q = q.where(in_values(work_items.c.id, ids))
    if where is not None:
        q = q.where(where)
    # Plain tuples zipped with the column names once: RowMapping per row costs 3x more.
    res = conn.execute(q)
    keys = list(res.keys())
    items = {}
    for t in res:
        r = dict(zip(keys, t))
        items[r["id"]] = ItemHistory(r, defaultdict(list))
    if not items:
        return {}
    ids = list(items)
    cq = select(work_item_changes.c.item_id, work_item_changes.c.at, work_item_changes.c.field,
                work_item_changes.c.from_value, work_item_changes.c.to_value,
                work_item_changes.c.from_string, work_item_changes.c.to_string)
    if fields is not None:
        # Only the wanted fields leave the database (a Jira changelog also records assignee,
        # description, labels…): every raw name that normalises to one of them.
        raw = set(fields)
        for aliases in (CATEGORY_FIELDS, POINTS_FIELDS):
            raw |= {a for a in aliases if _norm_field(a) in fields}
        raw.discard("sprint")  # read from membership_changes
        cq = cq.where(func.lower(func.trim(work_item_changes.c.field)).in_(sorted(raw)))
    # Chunks keep each statement small; literal lists (in_values) keep PostgreSQL from
    # reusing a generic plan across chunks.
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for item_id, at, fld, fv, tv, fs, ts in conn.execute(
                cq.where(in_values(work_item_changes.c.item_id, chunk))):
            f = _norm_field(fld)
            if f == "sprint":  # membership comes from membership_changes (below)
                continue
            if fields is None or f in fields:
                items[item_id].changes[f].append(
                    {"item_id": item_id, "at": at, "field": fld, "from_value": fv,
                     "to_value": tv, "from_string": fs, "to_string": ts})
    if fields is None or "sprint" in fields:
        mc = membership_changes
        mq = select(mc.c.item_id, mc.c.at, mc.c.scope_id, mc.c.change, mc.c.id).where(
            mc.c.scope_type == "sprint")
        for i in range(0, len(ids), 500):
            for item_id, at, scope_id, change, cid in conn.execute(
                    mq.where(in_values(mc.c.item_id, ids[i:i + 500]))):
                items[item_id].changes["sprint"].append(
                    {"at": at, "scope_id": scope_id, "change": change, "id": cid})
    for h in items.values():
        for lst in h.changes.values():
            lst.sort(key=lambda c: c["at"])
    return items
