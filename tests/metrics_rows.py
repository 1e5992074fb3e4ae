"""Small row builders for metrics tests: only the columns a test cares about, the rest filled."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert

from data import domain, schema
from data.mapping import mapping_rules


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def item(id_key: str, *, project: str = "PAY", type: str = "story", created: datetime,
         status_category: str = "todo", resolved: datetime | None = None, points=None,
         severity=None, resolution=None, resolution_category=None, found_in=None,
         started: datetime | None = None) -> dict:
    return {"id": f"t:issue:{id_key}", "source": "t", "project": project, "key": id_key,
            "title": f"title {id_key}", "type": type, "status": status_category,
            "status_category": status_category, "resolution": resolution,
            "resolution_category": resolution_category or (
                "delivered" if resolved and not resolution else
                ("not_delivered" if resolution else None)),
            "severity": severity, "story_points": points, "created_at": created,
            "started_at": started, "resolved_at": resolved, "updated_at": created,
            "found_in": found_in, "url": f"https://t/{id_key}"}


_n = [0]


def change(key: str, at: datetime, field: str, frm, to) -> dict:
    _n[0] += 1
    return {"id": f"t:issue:{key}:{_n[0]}", "item_id": f"t:issue:{key}", "source": "t", "at": at,
            "field": field, "from_value": None if frm is None else str(frm),
            "to_value": None if to is None else str(to),
            "from_string": None if frm is None else str(frm),
            "to_string": None if to is None else str(to)}


def sprint(sid: str, name: str, *, start: datetime, end: datetime, completed=None,
           state: str = "closed", project: str = "PAY") -> dict:
    return {"id": f"t:sprint:{sid}", "source": "t", "project": project, "board": "1",
            "name": name, "state": state, "start_at": start, "end_at": end,
            "completed_at": completed}


def release(rid: str, name: str, *, project: str = "PAY", target=None, released=None,
            state: str = "unreleased") -> dict:
    return {"id": f"t:release:{rid}", "source": "t", "project": project, "name": name,
            "target_date": target, "released_at": released, "state": state}


def load(engine, **tables: list[dict]) -> None:
    """Insert rows table by table, parents first (``load(engine, work_items=[...], ...)``),
    then derive the domain history and scopes from them as a connector would (data/domain.py:
    default mapping; label changes are single-label events except Jira's)."""
    with engine.begin() as conn:
        for table in schema.metadata.sorted_tables:
            rows = tables.get(table.name)
            if rows:
                conn.execute(insert(table), rows)
        if tables.get("work_item_changes"):
            domain.rederive(conn, {c["item_id"] for c in tables["work_item_changes"]},
                            mapping_rules(None), label_events=domain.single_label_events)
        if tables.get("work_items") or tables.get("releases"):
            domain.backfill_scopes(conn)
