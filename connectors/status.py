"""``python -m connectors status``: each source's last successful sync, its age and state —
for a monitor to call (docs/cli.md). Exit 1 when any source is failing, over the age limit
or never synced; else 0. Definitions in data/freshness.py."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Engine

from connectors.frame.lease import lease_rows
from data.freshness import format_age, max_age_hours, source_ages


def run_status(settings, engine: Engine, fmt: str = "text",
               now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    limit = max_age_hours(settings)
    configured = settings.configured_sources()
    with engine.connect() as conn:
        ages = source_ages(conn, now, configured or None, limit_hours=limit)
    leases = lease_rows(engine)
    bad = [a for a in ages if a.state != "ok"]
    if fmt == "json":
        print(json.dumps({
            "checked_at": now.isoformat(), "max_age_hours": limit, "ok": not bad and bool(ages),
            "sources": [{**a.to_dict(), "syncing_since": (
                leases[a.source]["acquired_at"].isoformat() if a.source in leases else None)}
                for a in ages]}, indent=2))
    elif not ages:
        print("no source has synced yet and none is configured in readiness.toml")
    else:
        for a in ages:
            when = (f"last success {a.last_success:%Y-%m-%d %H:%M} UTC, {format_age(a.age_hours)} "
                    f"ago" if a.last_success else "never synced successfully")
            line = f"{a.source}: {a.state} — {when} (limit {limit:g} h)"
            if a.error:
                line += f"; last error: {a.error}"
            if a.source in leases:
                line += f"; syncing now since {leases[a.source]['acquired_at']:%H:%M:%S} UTC"
            print(line)
    return 1 if bad or not ages else 0
