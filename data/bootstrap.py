"""`make run`'s first step: create the schema and load the demo into an empty database.

A database that already holds rows (demo or real) is left exactly as it is.
"""

from __future__ import annotations

import sys

from sqlalchemy import func, select

from data import schema
from data.store import DatabaseError, get_engine, masked


def is_empty(engine) -> bool:
    """True when no work items, pipeline runs or deployments are stored."""
    with engine.connect() as conn:
        return all(conn.execute(select(func.count()).select_from(t)).scalar() == 0
                   for t in (schema.work_items, schema.pipeline_runs, schema.deployments))


def main() -> int:
    try:
        engine = get_engine()
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if is_empty(engine):
        from connectors.progress import Progress
        from data.demo import load_demo

        print(f"empty database {masked(str(engine.url))}: loading the demo organisation…")
        load_demo(engine, progress=Progress("demo"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
