"""The commits each successful production deployment shipped, for any source that can compare
two commits.

Deployments are chained per service (or environment): each one without stored commits gets
those between the previous deployment of its chain and its own sha. The first of a chain, a
redeploy of the same sha, or a sha the compare cannot find ship their own sha only — nothing is
guessed. Deployments go by finish (else creation) time; ties by the source's own numeric order
(``…:3`` before ``…:15``), never by the ids' string order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, select

from data import schema
from data.mapping import natural_key
from data.store import in_values, upsert

_FAR = datetime.min.replace(tzinfo=timezone.utc)


def store_shipped_commits(engine: Engine, deployments: Sequence[Any], *, source: str,
                          chain: Callable[[Any], str],
                          compare: Callable[[str, str], list[dict]],
                          to_rows: Callable[[str, list[dict]], list[dict]]) -> int:
    """Write ``deployment_commits`` for the ``deployments`` (rows with ``id``, ``sha``,
    ``finished_at``, ``created_at``) that have none yet, one transaction each. ``chain(dep)``
    names the sequence a deployment belongs to; ``compare(base, head)`` returns the source's
    commits in ``head`` and not in ``base``; ``to_rows(deployment_id, commits)`` turns them
    into rows. Returns the rows written."""
    dc = schema.deployment_commits
    if not deployments:
        return 0
    with engine.connect() as conn:
        done = set(conn.execute(select(dc.c.deployment_id).where(
            in_values(dc.c.deployment_id, [d.id for d in deployments]))).scalars())
    chains: dict[str, list] = {}
    for dep in sorted(deployments, key=lambda d: (d.finished_at or d.created_at or _FAR,
                                                  natural_key(d.id))):
        chains.setdefault(chain(dep), []).append(dep)
    written = 0
    for deps in chains.values():
        prev = None
        for dep in deps:
            if dep.id not in done and dep.sha:
                commits: list[dict] = []
                if prev is not None and prev.sha and prev.sha != dep.sha:
                    commits = compare(prev.sha, dep.sha)
                rows = to_rows(dep.id, commits)
                if dep.sha not in {r["sha"] for r in rows}:
                    rows.append({"deployment_id": dep.id, "sha": dep.sha, "source": source,
                                 "committed_at": None})
                with engine.begin() as conn:
                    upsert(conn, dc, rows)
                written += len(rows)
            prev = dep
    return written
