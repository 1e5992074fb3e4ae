"""Cursors, ETags, pending lists and raw records: what a sync remembers between runs.

Call :func:`set_state` in the transaction that wrote the data it covers, so the cursor never
moves past rows that are not committed and a rerun resumes where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Connection, select

from data import schema
from data.store import upsert
from data.version import bump

K = TypeVar("K")


@dataclass
class SyncState:
    cursor: str | None = None
    etag: str | None = None
    pending: list | None = None


def get_state(conn: Connection, source: str, scope: str, resource: str) -> SyncState:
    t = schema.sync_state
    row = conn.execute(select(t.c.cursor, t.c.etag, t.c.pending).where(
        t.c.source == source, t.c.scope == scope, t.c.resource == resource)).first()
    return SyncState(*row) if row else SyncState()


def set_state(conn: Connection, source: str, scope: str, resource: str, *,
              cursor: str | None = None, etag: str | None = None,
              pending: list | None = None) -> None:
    """Store the cursor/etag/pending list. Call it in the transaction that wrote the data."""
    row: dict[str, Any] = {"source": source, "scope": scope, "resource": resource,
                           "updated_at": datetime.now(timezone.utc)}
    if cursor is not None:
        row["cursor"] = cursor
    if etag is not None:
        row["etag"] = etag
    if pending is not None:
        row["pending"] = pending
    upsert(conn, schema.sync_state, [row])
    bump(conn)  # readers' caches key on it: this page's rows are new data (data/version.py)


def save_raw(conn: Connection, source: str, resource: str, scope: str,
             items: Iterable[tuple[str, Any]]) -> int:
    """Store API items as received: ``items`` is ``(external_id, payload)`` pairs."""
    now = datetime.now(timezone.utc)
    return upsert(conn, schema.raw_records, (
        {"source": source, "resource": resource, "external_id": str(ext), "scope": scope,
         "fetched_at": now, "payload": payload} for ext, payload in items))


# ETags are bound to the query they answered: a 304 means nothing changed only for the same
# query, and only when that answer was complete in one page (the caller stores it then).
def etag_key(query: str | None, etag: str | None) -> str | None:
    """What to store for ``etag``: it with the query it answered (None without one)."""
    return f"{query or ''}|{etag}" if etag else None


def etag_for(stored: str | None, query: str | None) -> str | None:
    """The stored ETag if it was recorded for this same query."""
    if not stored or "|" not in stored:
        return None
    q, etag = stored.split("|", 1)
    return etag if q == (query or "") else None


def refetch_pending(pending: Iterable[K], fetch_one: Callable[[K], Any | None],
                    store: Callable[[Any], bool]) -> list[K]:
    """Fetch again what was unfinished at the last sync (runs, builds, deployments), in the
    order given: ``fetch_one(key)`` returns the item, or None when the source no longer has
    it; ``store(item)`` writes it and says whether it is still unfinished. Returns the keys
    still unfinished — the next ``pending`` list, stored with the cursor once committed."""
    still: list[K] = []
    for key in pending:
        item = fetch_one(key)
        if item is not None and store(item):
            still.append(key)
    return still
