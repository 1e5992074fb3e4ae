"""Readiness snapshots: every stored evaluation, so the history shows what was green when a
launch was approved. Rows are only ever added."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from data.schema import readiness_snapshots
from data.version import bump


def save_snapshot(conn: Connection, evaluation) -> int:
    """Store ``evaluation`` (a :class:`metrics.readiness.Evaluation`); returns the row id."""
    res = conn.execute(insert(readiness_snapshots).values(
        release_id=evaluation.release_id, evaluated_at=evaluation.evaluated_at,
        as_of=evaluation.as_of, verdict=evaluation.verdict, score=evaluation.score,
        payload=evaluation.to_dict()))
    bump(conn)  # pages' caches key on the data version (data/version.py)
    return int(res.inserted_primary_key[0])


def list_snapshots(conn: Connection, release_id: str, *, with_payload: bool = False
                   ) -> list[dict]:
    """The release's snapshots, oldest first: id, evaluated_at, as_of, verdict, score
    (and the full payload when asked)."""
    t = readiness_snapshots
    cols = [t.c.id, t.c.evaluated_at, t.c.as_of, t.c.verdict, t.c.score]
    if with_payload:
        cols.append(t.c.payload)
    q = select(*cols).where(t.c.release_id == release_id).order_by(t.c.evaluated_at, t.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]
