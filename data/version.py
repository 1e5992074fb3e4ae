"""The data version: one counter that every write a reader caches over advances.

Pages cache metric reads (ui/loaders.py); a sync in another process (the scheduler, cron, a
manual ``python -m connectors sync``) writes behind those caches. Each cache key includes
:func:`current`, and every writer calls :func:`bump` in the transaction that wrote, so the
next render after a commit reads afresh — and a render never mixes a cached half from before a
sync with a half read after it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, select, update

from data import schema
from data.store import insert_for

_ROW = 1


def bump(conn: Connection) -> None:
    """Advance the version, in the caller's transaction (so it commits with the data)."""
    t = schema.data_version
    now = datetime.now(timezone.utc)
    done = conn.execute(update(t).where(t.c.id == _ROW)
                        .values(version=t.c.version + 1, updated_at=now)).rowcount
    if not done:  # the first write of a new database: two may race, one insert wins
        stmt = insert_for(conn, t).values(id=_ROW, version=1, updated_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["id"],
                                          set_={"version": t.c.version + 1, "updated_at": now})
        conn.execute(stmt)


def current(conn: Connection) -> int:
    """The version now (0 before the first write)."""
    t = schema.data_version
    return int(conn.execute(select(t.c.version).where(t.c.id == _ROW)).scalar() or 0)
