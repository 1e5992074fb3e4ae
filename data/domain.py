"""Domain history: the source's change rows turned into what metrics read.

Sources record history in their own encodings — Jira a comma list of sprint ids and a Fix
Version id, GitHub a milestone title per event, a priority name or one label per change. This
module derives, from those raw ``work_item_changes`` rows and the item's current row:

- ``membership_changes``: one row per item entering or leaving a sprint or release
  (``scope_id`` is the ``sprints``/``releases`` id), with the source's value kept in
  ``original``;
- ``work_item_changes`` rows of field ``severity`` whose values are domain severities
  (critical/high/medium/low or null), ``from_string``/``to_string`` being the priority name or
  label that moved it — written only where the severity actually changed;
- rows of field ``status_category`` (todo/in_progress/done, the source's status in
  ``from_string``/``to_string``), one per ``status`` change, for items whose source recorded
  status changes but no category changes of its own (Jira writes its own, from /status; GitHub
  and imports do not). Their ids end in ``:status_category`` — which is how they are told
  from a source's own category rows. The status → category rule is
  :func:`data.mapping.status_category`;
- rows of field ``work_type`` (story/task/bug/incident/epic/other, the source's type name or
  the label that moved it in ``from_string``/``to_string``) from the source's ``type`` and
  label changes — written only where the domain type changed. ``work_type``, not ``type``:
  Jira's raw issue-type changes are field ``type``.

One function, :func:`rederive`, writes them for a set of items; the connectors call it after
writing a page of changes, migrations 5 and 6 for every item, ``python -m connectors remap``
after a ``[mapping]`` change. It replaces the derived rows of the items it is given, so running
it twice writes the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, delete, func, select

from data import schema
from data.mapping import MappingRules, status_category
from data.store import in_values

SPRINT_FIELD = "sprint"
RELEASE_FIELD = "fix_version"
SEVERITY_FIELD = "severity"
STATUS_FIELD = "status"
CATEGORY_FIELD = "status_category"
CATEGORY_ALIASES = ("status_category", "statuscategory")
DERIVED_CATEGORY = ":status_category"  # the id suffix of derived status_category rows
TYPE_FIELD = "type"  # the source's own type changes (Jira's issuetype)
WORK_TYPE_FIELD = "work_type"
DERIVED_FIELDS = (SEVERITY_FIELD, CATEGORY_FIELD, WORK_TYPE_FIELD)
_SIGNAL_FIELDS = ("priority", "labels")
_TYPE_SIGNALS = (TYPE_FIELD, "labels")
_RAW_FIELDS = (SPRINT_FIELD, RELEASE_FIELD, STATUS_FIELD, TYPE_FIELD) + _SIGNAL_FIELDS
_READ_FIELDS = _RAW_FIELDS + CATEGORY_ALIASES
BATCH = 500


def parse_ids(value: str | None) -> list[str]:
    """The entries of a change value: ``"7, 9"`` → ``["7", "9"]`` (brackets dropped)."""
    if not value:
        return []
    return [p.strip() for p in value.replace("[", "").replace("]", "").split(",") if p.strip()]


def _container(entity_id: str) -> str | None:
    """``github:issue:acme/web#5`` → ``github:acme/web``: where a per-repository number lives
    (None for ids without one)."""
    parts = entity_id.split(":", 2)
    if len(parts) < 3 or "#" not in parts[2]:
        return None
    return f"{parts[0]}:{parts[2].rsplit('#', 1)[0]}"


class ReleaseIndex:
    """Resolves a release named in a change: by the source's id for it (Jira's version id,
    the last part of ``releases.id``), or by its name for an item of the same container
    (GitHub events give the milestone title; another repository's milestone may share it).
    Display strings of Jira versions are never used: versions of different projects share
    names, their ids do not."""

    def __init__(self, releases: Iterable[tuple[str, str]]):
        self.by_native: dict[str, list[str]] = defaultdict(list)
        self.by_name: dict[tuple[str | None, str], list[str]] = defaultdict(list)
        for rid, name in releases:
            self.by_native[rid.rsplit(":", 1)[-1]].append(rid)
            self.by_name[(_container(rid), name)].append(rid)

    @classmethod
    def load(cls, conn: Connection) -> ReleaseIndex:
        return cls(conn.execute(select(schema.releases.c.id, schema.releases.c.name)).all())

    def named(self, value: str | None, item_id: str) -> set[str]:
        """Release ids a change side names (a side may list several, comma-separated)."""
        out: set[str] = set()
        home = _container(item_id)
        for token in parse_ids(value):
            out.update(self.by_native.get(token, ()))
            out.update(self.by_name.get((home, token), ()))
        if value and value.strip():  # a title containing a comma
            out.update(self.by_name.get((home, value.strip()), ()))
        return out


def sprints_named(value: str | None, item_id: str) -> set[str]:
    """Sprint ids a sprint change side names: full ids as they are (the demo writes
    ``demo:sprint:PAY:12``), a bare number as ``<item's source>:sprint:<n>`` (Jira's ``7``)."""
    prefix = item_id.split(":", 1)[0]
    return {t if ":" in t else f"{prefix}:sprint:{t}" for t in parse_ids(value)}


def membership_rows(change: dict, releases: ReleaseIndex) -> list[dict]:
    """``membership_changes`` rows for one raw sprint or fix-version change (none for other
    fields): a scope named after but not before is ``added``, before but not after
    ``removed``."""
    name = (change["field"] or "").strip().lower()
    item = change["item_id"]
    if name == SPRINT_FIELD:
        kind, before, after = ("sprint", sprints_named(change["from_value"], item),
                               sprints_named(change["to_value"], item))
    elif name == RELEASE_FIELD:
        kind, before, after = ("release", releases.named(change["from_value"], item),
                               releases.named(change["to_value"], item))
    else:
        return []
    rows = []
    for what, ids in (("added", after - before), ("removed", before - after)):
        for scope_id in sorted(ids):
            rows.append({"id": f"{change['id']}:{scope_id}", "item_id": item,
                         "scope_type": kind, "scope_id": scope_id, "change": what,
                         "at": change["at"], "source": change["source"],
                         "original": change["to_value"] if what == "added"
                         else change["from_value"]})
    return rows


def severity_rows(item: dict, signals: list[dict], rules: MappingRules, *,
                  label_events: bool) -> list[dict]:
    """``severity`` change rows for one item from its priority and label changes (sorted by
    time), ending at the severity of its current priority and labels.

    The state before each change is rebuilt by undoing the changes newest first: a priority
    change's ``from_string`` was the priority; with ``label_events`` (one label per change, as
    GitHub's labeled/unlabeled events) a label in ``to_string`` was absent and one in
    ``from_string`` present. Sources whose label changes are not single-label events pass
    ``label_events=False``: their labels count as today's all along.
    """
    priority = item.get("priority")
    labels = set(item.get("labels") or [])
    states = [(priority, frozenset(labels))]  # newest first
    for c in reversed(signals):
        if c["field"] == "priority":
            priority = c["from_string"]
        elif label_events:
            if c["to_string"]:
                labels.discard(c["to_string"])
            if c["from_string"]:
                labels.add(c["from_string"])
        states.append((priority, frozenset(labels)))
    states.reverse()  # states[i] is the state before signals[i]; states[-1] is now
    rows = []
    prev = rules.severity(*states[0])
    for c, state in zip(signals, states[1:]):
        sev = rules.severity(*state)
        if sev != prev:
            rows.append({"id": f"{c['id']}:severity", "item_id": item["id"],
                         "source": item["source"], "at": c["at"], "field": SEVERITY_FIELD,
                         "from_value": prev, "to_value": sev,
                         "from_string": c["from_string"], "to_string": c["to_string"],
                         "author": c.get("author")})
        prev = sev
    return rows


def category_rows(status_changes: list[dict], known: dict[str, str]) -> list[dict]:
    """``status_category`` rows for one item's ``status`` changes (sorted by time), one per
    change: each side's category by :func:`data.mapping.status_category` (``known``: the
    configured names, then the pairs seen on stored items), the status itself kept in
    ``from_string``/``to_string``."""
    rows = []
    for c in status_changes:
        before = c["from_string"] if c["from_string"] is not None else c["from_value"]
        after = c["to_string"] if c["to_string"] is not None else c["to_value"]
        rows.append({"id": f"{c['id']}{DERIVED_CATEGORY}", "item_id": c["item_id"],
                     "source": c["source"], "at": c["at"], "field": CATEGORY_FIELD,
                     "from_value": status_category(c["from_value"], c["from_string"],
                                                   known=known),
                     "to_value": status_category(c["to_value"], c["to_string"], known=known),
                     "from_string": before, "to_string": after, "author": c.get("author")})
    return rows


def type_rows(item: dict, signals: list[dict], rules: MappingRules, *,
              label_events: bool, by_labels: bool = True) -> list[dict]:
    """``work_type`` change rows for one item from its ``type`` and label changes (sorted by
    time), ending at its stored type.

    States before each change are rebuilt as in :func:`severity_rows` (a ``type`` change's
    ``from_string`` was the type name; labels undone only for single-label events) and typed
    by :meth:`MappingRules.work_type` — with its labels when the source types by them
    (``by_labels``; Jira types by the issue type alone). A state typed as today's state is
    typed and has today's type name gets the stored type, which may rest on more than name and
    labels (Jira's hierarchy level, a sub-task flag). Where the stored ``type_name`` is one of
    the labels, a label decided the type: the issue type behind it is not known (None)."""
    labels = set(item.get("labels") or []) if by_labels else set()
    name = item.get("type_name")
    if by_labels and name in labels:
        name = None
    states = [(name, frozenset(labels))]
    for c in reversed(signals):
        if c["field"] == TYPE_FIELD:
            name = c["from_string"] if c["from_string"] is not None else c["from_value"]
        elif label_events and by_labels:
            if c["to_string"]:
                labels.discard(c["to_string"])
            if c["from_string"]:
                labels.add(c["from_string"])
        states.append((name, frozenset(labels)))
    states.reverse()
    now_name, now_labels = states[-1]
    now_kind = rules.work_type(now_name, now_labels)[0]

    def kind(state: tuple) -> str:
        found = rules.work_type(state[0], state[1])[0]
        same_name = (state[0] or "").casefold() == (now_name or "").casefold()
        return item["type"] if same_name and found == now_kind else found

    rows = []
    prev = kind(states[0])
    for c, state in zip(signals, states[1:]):
        now = kind(state)
        if now != prev:
            rows.append({"id": f"{c['id']}:{WORK_TYPE_FIELD}", "item_id": item["id"],
                         "source": item["source"], "at": c["at"], "field": WORK_TYPE_FIELD,
                         "from_value": prev, "to_value": now,
                         "from_string": c["from_string"], "to_string": c["to_string"],
                         "author": c.get("author")})
        prev = now
    return rows


def status_pairs(conn: Connection, rules: MappingRules) -> dict[str, str]:
    """What a status name means where its source did not say: the configured
    ``[jira] status_names`` first, then each status's category on the stored items (the
    commoner where a name is used with two), keys lower-cased."""
    wi = schema.work_items
    rows = conn.execute(
        select(wi.c.status, wi.c.status_category, func.count())
        .where(wi.c.status.is_not(None))
        .group_by(wi.c.status, wi.c.status_category)).all()
    best: dict[str, tuple[int, str]] = {}
    for status, cat, n in rows:
        if status not in best or n > best[status][0]:
            best[status] = (n, cat)
    known = dict(rules.status_names)
    for status, (_, cat) in best.items():
        known.setdefault(status.lower(), cat)
    return known


def _raw_changes(conn: Connection, ids: list[str]) -> dict[str, list[dict]]:
    wic = schema.work_item_changes
    q = (select(wic.c.id, wic.c.item_id, wic.c.source, wic.c.at, wic.c.field,
                wic.c.from_value, wic.c.to_value, wic.c.from_string, wic.c.to_string,
                wic.c.author)
         .where(in_values(wic.c.item_id, ids),
                func.lower(func.trim(wic.c.field)).in_(_READ_FIELDS)))
    out: dict[str, list[dict]] = defaultdict(list)
    for r in conn.execute(q).mappings():
        c = dict(r)
        c["field"] = c["field"].strip().lower()
        out[c["item_id"]].append(c)
    for lst in out.values():
        lst.sort(key=lambda c: (c["at"], c["id"]))
    return out


def rederive(conn: Connection, item_ids: Iterable[str], rules: MappingRules, *,
             label_events: Any = True, releases: ReleaseIndex | None = None,
             known: dict[str, str] | None = None) -> int:
    """Replace the derived history (membership changes; severity, status-category and
    work-type changes) of ``item_ids`` with what their raw changes and current rows give
    under ``rules``. ``label_events`` is a bool or a function of the item's source (see
    :func:`severity_rows`); ``known`` the status names' categories (:func:`status_pairs`,
    read here when needed). Returns rows written."""
    ids = sorted(set(item_ids))
    releases = releases or ReleaseIndex.load(conn)
    wi, wic, mc = schema.work_items, schema.work_item_changes, schema.membership_changes
    written = 0
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        conn.execute(delete(mc).where(in_values(mc.c.item_id, chunk)))
        conn.execute(delete(wic).where(in_values(wic.c.item_id, chunk),
                                       wic.c.field.in_((SEVERITY_FIELD, WORK_TYPE_FIELD))))
        conn.execute(delete(wic).where(in_values(wic.c.item_id, chunk),
                                       wic.c.field == CATEGORY_FIELD,
                                       wic.c.id.like(f"%{DERIVED_CATEGORY}")))
        raw = _raw_changes(conn, chunk)
        signalled = [iid for iid, ch in raw.items()
                     if any(c["field"] in _SIGNAL_FIELDS + _TYPE_SIGNALS for c in ch)]
        items = {}
        if signalled:
            items = {r["id"]: dict(r) for r in conn.execute(
                select(wi.c.id, wi.c.source, wi.c.priority, wi.c.labels, wi.c.type,
                       wi.c.type_name)
                .where(in_values(wi.c.id, signalled))).mappings()}
        members, derived = [], []
        for iid, changes in raw.items():
            for c in changes:
                members += membership_rows(c, releases)
            statuses = [c for c in changes if c["field"] == STATUS_FIELD]
            if statuses and not any(c["field"] in CATEGORY_ALIASES for c in changes):
                if known is None:
                    known = status_pairs(conn, rules)
                derived += category_rows(statuses, known)
            item = items.get(iid)
            if item is not None:
                events = label_events(item["source"]) if callable(label_events) \
                    else label_events
                derived += severity_rows(
                    item, [c for c in changes if c["field"] in _SIGNAL_FIELDS], rules,
                    label_events=events)
                derived += type_rows(
                    item, [c for c in changes if c["field"] in _TYPE_SIGNALS], rules,
                    label_events=events, by_labels=item["source"] not in ISSUE_TYPE_ONLY)
        if members:
            conn.execute(mc.insert(), list({r["id"]: r for r in members}.values()))
        if derived:
            conn.execute(wic.insert(), derived)
        written += len(members) + len(derived)
    return written


def item_ids_with_history(conn: Connection, *, source: str | None = None
                          ) -> Iterator[list[str]]:
    """Ids of items that have raw sprint, release, status, type, priority or label changes,
    in batches (keyset order), optionally of one source."""
    wic = schema.work_item_changes
    last = ""
    while True:
        q = (select(wic.c.item_id).distinct()
             .where(wic.c.item_id > last,
                    func.lower(func.trim(wic.c.field)).in_(_RAW_FIELDS))
             .order_by(wic.c.item_id).limit(BATCH * 4))
        if source is not None:
            q = q.where(wic.c.source == source)
        batch = list(conn.execute(q).scalars())
        if not batch:
            return
        yield batch
        last = batch[-1]


# Sources whose ``labels`` changes record the whole label set before and after (Jira's
# changelog) rather than one label added or removed (GitHub's events, the demo, imports).
WHOLE_SET_LABEL_SOURCES = frozenset({"jira"})


def single_label_events(source: str) -> bool:
    """Whether ``source``'s label changes are one-label events (see :func:`severity_rows`)."""
    return source not in WHOLE_SET_LABEL_SOURCES


# Sources whose work type is their issue type alone, never a label (Jira: connectors/jira/
# normalize.py work_type); the others' labels can type an item (GitHub's "bug").
ISSUE_TYPE_ONLY = frozenset({"jira"})


# The demo's severities are generated as sample data, not mapped from its priorities and
# labels (its stories carry a priority but no severity): remap leaves them as generated.
NOT_MAPPED_SOURCES = frozenset({"demo"})


def remap(conn: Connection, rules: MappingRules) -> dict[str, int]:
    """Apply ``rules`` (a changed ``[mapping]`` or ``[jira] status_names``) to what is stored,
    without a re-sync: the severity of every synced item from its priority and labels, and
    the derived history (:func:`rederive`: membership, severity, status-category and type
    changes) from the stored raw changes. Returns ``{"items": severities changed,
    "history": rows written}``."""
    wi = schema.work_items
    updated, last = 0, ""
    while True:
        batch = conn.execute(select(wi.c.id, wi.c.priority, wi.c.labels, wi.c.severity)
                             .where(wi.c.id > last, wi.c.source.not_in(NOT_MAPPED_SOURCES))
                             .order_by(wi.c.id).limit(BATCH * 4)).all()
        if not batch:
            break
        last = batch[-1][0]
        for iid, priority, labels, severity in batch:
            new = rules.severity(priority, labels or [])
            if new != severity:
                conn.execute(wi.update().where(wi.c.id == iid).values(severity=new))
                updated += 1
    return {"items": updated, "history": rederive_all(conn, rules)}


def rederive_all(conn: Connection, rules: MappingRules, *, source: str | None = None) -> int:
    """:func:`rederive` for every item with raw history (optionally of one source), the
    status names' categories read once. Returns rows written."""
    written, releases = 0, ReleaseIndex.load(conn)
    known = status_pairs(conn, rules)
    for ids in item_ids_with_history(conn, source=source):
        written += rederive(conn, ids, rules, releases=releases, known=known,
                            label_events=single_label_events)
    return written


def upsert_scopes(conn: Connection, rows: Iterable[dict]) -> int:
    """Record what project keys name (``key``, ``kind`` project|repository, ``source``,
    optional ``name`` and ``external_id``)."""
    from data.store import upsert

    rows = [{"name": None, "external_id": None, **r} for r in rows]
    return upsert(conn, schema.scopes, rows) if rows else 0


def scope_kinds(conn: Connection, keys: Iterable[str] | None = None) -> dict[str, str]:
    """``{key: kind}`` of the recorded scopes (all, or those of ``keys``)."""
    q = select(schema.scopes.c.key, schema.scopes.c.kind)
    if keys is not None:
        q = q.where(schema.scopes.c.key.in_(list(keys)))
    return dict(conn.execute(q).all())


def backfill_scopes(conn: Connection) -> int:
    """Scopes of a database written before the ``scopes`` table: what version 4 connectors
    stored tells them apart — GitHub items, pull requests and runs name repositories, Jira
    items projects; otherwise a project key of the form OWNER/NAME was a repository, which is
    what every version up to 4 assumed (so the migrated answers are the same)."""
    wi, pr, runs = schema.work_items, schema.pull_requests, schema.pipeline_runs
    found: dict[str, dict] = {}
    for key, source in conn.execute(select(pr.c.repo, pr.c.source).distinct()):
        found.setdefault(key, {"key": key, "kind": "repository", "source": source})
    for key, source in conn.execute(select(runs.c.repo, runs.c.source).distinct()
                                    .where(runs.c.repo.is_not(None),
                                           runs.c.source == "github")):
        found.setdefault(key, {"key": key, "kind": "repository", "source": source})
    for key, source in conn.execute(
            select(wi.c.project, wi.c.source).distinct()
            .union(select(schema.releases.c.project, schema.releases.c.source).distinct())):
        if key in found:
            continue
        if source != "jira" and key.count("/") == 1:
            kind = "repository"
        else:
            kind = "project"
        found[key] = {"key": key, "kind": kind, "source": source}
    return upsert_scopes(conn, found.values())


__all__ = ["ReleaseIndex", "backfill_scopes", "category_rows", "item_ids_with_history",
           "membership_rows", "parse_ids", "rederive", "rederive_all", "remap", "status_pairs",
           "type_rows", "scope_kinds", "severity_rows",
           "single_label_events", "sprints_named", "upsert_scopes"]
