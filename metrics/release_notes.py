"""Release notes: a draft of a release's notes from its done work items and merged pull
requests (README, Release notes).

Definitions:

- the release's items are its members at ``as_of`` (default now; metrics/membership.py);
- an item is listed when it is done at ``as_of`` — status category ``done``, not resolved as
  not delivered (``resolution_category``: Won't Do, Duplicate… docs/data-model.md) — and is
  not an epic (an epic holds items that are listed themselves);
- a pull request belongs to the release when it was merged by ``as_of`` and either names one
  of the release's items (``linked_items``) or was merged into the release branch
  (``release_branch`` of the project in readiness.toml, default ``release/{name}``) of one
  of the release's repositories;
- groups: an item's domain type decides — ``story`` is a feature, ``bug`` and ``incident``
  are fixes, anything else is other. A pull request linked to a listed item is shown with
  that item; any other belongs to the group of a release item it names, else its title's
  conventional-commit prefix decides (``feat``/``feature`` a feature, ``fix``/``bugfix``/
  ``hotfix`` a fix), else other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Connection, select

from data.mapping import natural_key
from data.schema import pull_requests as pr
from data.schema import work_items as wi
from data.store import in_values
from metrics.membership import release_members
from metrics.readiness import release_context

GROUPS = ("features", "fixes", "other")
GROUP_TITLES = {"features": "Features", "fixes": "Fixes", "other": "Other"}
_TYPE_GROUP = {"story": "features", "bug": "fixes", "incident": "fixes"}
_PREFIX = re.compile(r"^\s*(feat|feature|fix|bugfix|hotfix)\b[\w\-/() ]*!?:", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """A pull request shown with its item: ``acme/web#12`` and its URL (None: no link)."""

    label: str
    url: str | None


@dataclass(frozen=True)
class NoteEntry:
    """One line of the notes: an item (with its merged pull requests) or a pull request."""

    group: str  # features / fixes / other
    kind: str  # item / pull_request
    label: str  # PAY-12 or acme/web#34
    title: str
    url: str | None
    pulls: tuple[Link, ...] = ()


@dataclass(frozen=True)
class ReleaseNotes:
    release_id: str
    project: str
    release: str
    as_of: datetime
    target_date: datetime | None
    released_at: datetime | None
    branch: str
    entries: list[NoteEntry] = field(default_factory=list)

    def group(self, name: str) -> list[NoteEntry]:
        """The entries of group ``name``, in key order."""
        return [e for e in self.entries if e.group == name]

    @property
    def item_count(self) -> int:
        return sum(e.kind == "item" for e in self.entries)

    @property
    def pull_count(self) -> int:
        """Merged pull requests in the notes, shown with an item or on their own."""
        return sum(len(e.pulls) if e.kind == "item" else 1 for e in self.entries)


def _pr_group(title: str | None) -> str:
    m = _PREFIX.match(title or "")
    if not m:
        return "other"
    return "features" if m.group(1).lower().startswith("feat") else "fixes"


def release_notes(conn: Connection, settings, release_id: str, *,
                  as_of: datetime | None = None) -> ReleaseNotes:
    """The notes of ``release_id`` with the data that existed at ``as_of`` (default now).
    Raises :class:`metrics.readiness.ReleaseNotFound` for an unknown id."""
    as_of = as_of or datetime.now(timezone.utc)
    ctx = release_context(conn, settings, release_id, as_of)
    members = release_members(conn, release_id, as_of)
    items: dict[str, dict] = {}
    for i in range(0, len(members), 500):
        for r in conn.execute(select(wi.c.id, wi.c.key, wi.c.title, wi.c.url, wi.c.type,
                                     wi.c.status_category, wi.c.resolution_category,
                                     wi.c.resolved_at, wi.c.created_at)
                              .where(in_values(wi.c.id, members[i:i + 500]))).mappings():
            items[r["id"]] = dict(r)
    done = {i: r for i, r in items.items()
            if r["type"] != "epic" and r["status_category"] == "done"
            and r["resolution_category"] != "not_delivered"
            and (r["resolved_at"] is None or r["resolved_at"] <= as_of)}

    # Pull requests: merged into the release branch of its repositories, or naming one of its
    # items. A pull request naming an item is looked for only among those merged since the
    # release's first item was created (earlier ones cannot have been written for it).
    merged = [pr.c.merged_at.is_not(None), pr.c.merged_at <= as_of]
    cols = (pr.c.id, pr.c.repo, pr.c.number, pr.c.title, pr.c.url, pr.c.linked_items,
            pr.c.base_branch)
    pulls: dict[str, dict] = {}
    if ctx.repos:
        for r in conn.execute(select(*cols).where(*merged, pr.c.base_branch == ctx.branch,
                                                  in_values(pr.c.repo, ctx.repos))).mappings():
            pulls[r["id"]] = dict(r)
    if items:
        first = min(r["created_at"] for r in items.values())
        for r in conn.execute(select(*cols).where(*merged, pr.c.merged_at >= first,
                                                  pr.c.linked_items.is_not(None))).mappings():
            if set(r["linked_items"] or ()) & items.keys():
                pulls[r["id"]] = dict(r)

    with_item: dict[str, list[Link]] = {i: [] for i in done}
    entries: list[NoteEntry] = []
    for p in sorted(pulls.values(), key=lambda p: (p["repo"], p["number"])):
        link = Link(f"{p['repo']}#{p['number']}", p["url"])
        linked = [i for i in (p["linked_items"] or ()) if i in items]
        shown_with = [i for i in linked if i in done]
        if shown_with:
            for i in shown_with:
                with_item[i].append(link)
            continue
        groups = [_TYPE_GROUP.get(items[i]["type"], "other") for i in linked]
        group = (min(groups, key=GROUPS.index) if groups else _pr_group(p["title"]))
        entries.append(NoteEntry(group, "pull_request", link.label, p["title"] or "",
                                 p["url"]))
    for i, r in done.items():
        entries.append(NoteEntry(_TYPE_GROUP.get(r["type"], "other"), "item", r["key"],
                                 r["title"] or "", r["url"], tuple(with_item[i])))
    entries.sort(key=lambda e: (GROUPS.index(e.group), e.kind != "item",
                                natural_key(e.label)))
    rel = ctx.release
    return ReleaseNotes(release_id, rel["project"], rel["name"], as_of, rel["target_date"],
                        rel["released_at"], ctx.branch, entries)

