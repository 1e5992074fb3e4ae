"""Deletions on complete listings, and only then.

Items are removed only after a complete listing shows the source no longer has them
(:func:`remove_items`): complete means its last page was reached by the source's own paging
and every page parsed (a :class:`connectors.frame.paging.Listing` marked so by the pager); the
number listed must then not fall short of the count the source reports, where it reports one
(:func:`check_listed`); an empty listing while items are stored removes nothing; and one sync
removes at most ``[app] max_delete_share`` of a scope's stored items unless
``--allow-mass-delete`` is given (:func:`check_share`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, delete

from data import schema
from data.store import in_values
from net.http import SourceError, redact

if TYPE_CHECKING:
    from connectors.frame.paging import Listing
    from connectors.frame.runs import SyncRun


DEFAULT_MAX_DELETE_SHARE = 0.1


@dataclass(frozen=True)
class DeletePolicy:
    """How much one sync may remove: at most ``max_share`` (0..1) of a scope's stored items,
    unless ``allow_mass_delete`` (the ``--allow-mass-delete`` flag) lifts the limit."""

    max_share: float = DEFAULT_MAX_DELETE_SHARE
    allow_mass_delete: bool = False

    @classmethod
    def from_settings(cls, settings: Any, allow_mass_delete: bool = False) -> "DeletePolicy":
        return cls(settings.app.max_delete_share, bool(allow_mass_delete))


class RemovalRefused(SourceError):
    """Items the source no longer lists were kept: the listing could not be trusted, or they
    were too many. What the sync fetched is stored; only the removal is skipped."""

    kind = "removal_refused"


def check_listed(source: str, scope: str, what: str, *, listed: int, reported: int,
                 tolerance: int = 0) -> None:
    """Refuse a removal when a complete listing of ``listed`` items falls short of the count
    the source ``reported`` by more than ``tolerance`` (an approximate count's slack; 0 for an
    exact one): items the source has were then not listed, and would be taken for deleted.
    A listing longer than the count is no such sign (an item deleted while it was read)."""
    if reported - listed > tolerance:
        raise RemovalRefused(
            f"{source}: {scope}: listed {listed} {what} but {source} reports {reported} — "
            "nothing removed (the listing may have been cut short); rerun the sync")


def check_share(source: str, scope: str, what: str, *, gone: int, stored: int,
                policy: DeletePolicy) -> None:
    """Refuse to remove more than ``policy.max_share`` of the ``stored`` items of a scope in
    one sync, unless the policy allows a mass deletion."""
    if gone and not policy.allow_mass_delete and gone > policy.max_share * stored:
        raise RemovalRefused(
            f"{source}: {scope}: {gone} of {stored} stored {what} would be removed, more than "
            f"[app] max_delete_share = {policy.max_share:g} — nothing removed; if they really "
            "were deleted at the source, rerun with --allow-mass-delete")


def note_unverified(run: "SyncRun | None", source: str, scope: str, what: str,
                    reason: str) -> None:
    """Say (on stderr and in the run's counts, as ``unverified_listings``) that a listing's
    size could not be checked against the source's count; the share limit still applies."""
    print(f"{source}: {scope}: could not check the number of {what} listed against "
          f"{source}'s count ({redact(reason)}); removals are held to [app] max_delete_share",
          file=sys.stderr, flush=True)
    if run is not None:
        run.add("unverified_listings", 1)


def remove_items(conn: Connection, source: str, resource: str, gone: Mapping[str, str], *,
                 scope: str, stored: int, policy: DeletePolicy) -> int:
    """Delete work items their source no longer has — deleted there, or moved to a project or
    repository not synced under this scope. ``gone`` maps each work item id to the external id
    of its raw record. Its changes, sprint and release membership, incident and raw record go
    with it; scope snapshots stay, as the record of what a scope held at the time.

    ``stored`` is how many items the scope holds: removing more than ``policy.max_share`` of
    them raises :class:`RemovalRefused` and removes nothing (:func:`check_share`).
    Returns the number of work items removed."""
    check_share(source, scope, resource, gone=len(gone), stored=stored, policy=policy)
    removed = 0
    pairs = list(gone.items())
    for start in range(0, len(pairs), 500):
        ids = [i for i, _ in pairs[start:start + 500]]
        external = [e for _, e in pairs[start:start + 500]]
        for table, column in ((schema.work_item_changes, "item_id"),
                              (schema.sprint_items, "item_id"),
                              (schema.release_items, "item_id"),
                              (schema.incidents, "work_item_id")):
            conn.execute(delete(table).where(in_values(table.c[column], ids)))
        raw = schema.raw_records
        conn.execute(delete(raw).where(raw.c.source == source, raw.c.resource == resource,
                                       in_values(raw.c.external_id, external)))
        removed += conn.execute(delete(schema.work_items).where(
            in_values(schema.work_items.c.id, ids))).rowcount
    return removed


def remove_unlisted(engine: Engine, *, source: str, scope: str, resource: str,
                    stored: Mapping[str, str], listed: set[str], listing: "Listing",
                    policy: DeletePolicy, run: "SyncRun | None" = None,
                    count: Callable[[], tuple[int | None, str]] | None = None,
                    tolerance: Callable[[int], int] = lambda reported: 0,
                    scope_label: str | None = None, empty_hint: str = "",
                    also: Callable[[Connection], None] | None = None) -> int:
    """Remove what a scope stores and its source no longer lists — every guard in one place.

    ``stored`` maps each stored work item id to its external id; ``listed`` holds the
    external ids the listing named. Nothing is removed unless ``listing.complete``. Refused
    (:class:`RemovalRefused`, nothing removed) when the listing is empty while items are
    stored (lost access is likelier than every item deleted; ``empty_hint`` says what to
    check), when it is shorter than the source's count — ``listing.total`` where the source
    stated one on its pages, else ``count()`` (``(count, None)`` or ``(None, why not)``),
    within ``tolerance(count)`` — or when more than the policy's share would go.
    ``also(conn)`` runs in the removal's transaction (e.g. the time of this reconciliation).
    Returns the number of work items removed."""
    if not listing.complete:
        return 0
    if stored and not listed:
        raise RemovalRefused(
            f"{source}: {scope_label or scope} lists no {resource} now, but {len(stored)} are "
            f"stored — nothing removed; {empty_hint}".rstrip("; "))
    gone = {i: e for i, e in stored.items() if e not in listed}
    if gone:
        if listing.total is not None:
            check_listed(source, scope, resource, listed=len(listed), reported=listing.total)
        elif count is not None:
            reported, why_not = count()
            if reported is None:
                note_unverified(run, source, scope, resource, why_not)
            else:
                check_listed(source, scope, resource, listed=len(listed), reported=reported,
                             tolerance=tolerance(reported))
    if not gone and also is None:
        return 0
    with engine.begin() as conn:
        removed = remove_items(conn, source, resource, gone, scope=scope, stored=len(stored),
                               policy=policy) if gone else 0
        if also is not None:
            also(conn)
    return removed
