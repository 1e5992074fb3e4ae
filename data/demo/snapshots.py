"""The demo's readiness history: the daily snapshots a scheduler would have taken.

Each release is evaluated at 00:00 UTC of every day of its life — from the previous release
of its project shipping (the first release: six weeks before it ships) until it ships, or
until today — keeping the last ``DAYS`` days of that life, for releases whose life reached
into the last ``RECENT`` days; an older shipped release gets one snapshot, at its ship
moment (what was green when it was approved). The evaluations are the metrics layer's own
(``metrics.snapshots.rebuild_history`` with ``--as-of`` semantics), so the timeline and the
portfolio's trends show what the data really said on each day.

The demo stands in for a sync and for the scheduler, so this is the one place in ``data/``
that calls the metrics layer; the import is local and only runs when the demo is loaded.

Above scale 1 (the benchmark sizes, where one evaluation reads ten to fifty times the rows)
the snapshots are weekly instead of daily (``step_for``), so the load time stays bounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from data.demo.layout import Layout, ReleaseSlot

DAYS = 21
RECENT = timedelta(days=42)
FIRST_LIFE = timedelta(days=42)


def moments(releases: list[ReleaseSlot], layout: Layout, step_days: int = 1
            ) -> dict[str, list[datetime]]:
    """``{release name: the moments to evaluate it at}`` for one project's releases (in
    order of their dates): every ``step_days`` days counted back from the last day."""
    out: dict[str, list[datetime]] = {}
    previous_end: datetime | None = None
    for rel in releases:
        end = rel.released_at or layout.now
        start = previous_end or (end - FIRST_LIFE)
        previous_end = rel.released_at or rel.target
        if start >= layout.now:
            continue  # its life has not started yet
        if end < layout.now - RECENT:
            out[rel.name] = [rel.released_at or end]
            continue
        day = max(start, end - timedelta(days=DAYS - 1))
        day = day.replace(hour=0, minute=0, second=0)
        last = end.replace(hour=0, minute=0, second=0)
        days = []
        while day <= end:
            if (last - day).days % step_days == 0:
                days.append(day)
            day += timedelta(days=1)
        if rel.released_at is not None and days[-1] != rel.released_at:
            days.append(rel.released_at)  # the snapshot that approved the launch
        out[rel.name] = days
    return out


def step_for(scale: float) -> int:
    """Days between two snapshots: daily at the demo's normal size, weekly above it."""
    return 1 if scale <= 1 else 7


def record_history(engine, plan: dict[str, dict[str, list[datetime]]], progress=None) -> int:
    """Evaluate and store every planned moment: ``plan`` is ``{project key: moments(...)}``.
    Returns the number of snapshots stored."""
    from data.config import DEMO_CONFIG_PATH, load_settings
    from metrics.snapshots import rebuild_history

    settings = load_settings(DEMO_CONFIG_PATH)
    total = 0
    with engine.begin() as conn:
        for project, per_release in plan.items():
            for name, when in per_release.items():
                n = rebuild_history(conn, settings, f"demo:release:{project}:{name}", when)
                total += n
                if progress is not None:
                    progress.update("readiness_snapshots", n)
    return total
