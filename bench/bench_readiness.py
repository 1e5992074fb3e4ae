"""Readiness and KPI timings on the demo organisation at scale 50 (≈ 2.5M test results).

Generates the demo once into a temporary SQLite file (or reuses ``$SHIPREADY_BENCH_DB`` when it
names an existing file), then measures in one process:
- the yardstick: one full scan of ``test_results`` (count and sum of durations);
- ``evaluate_release`` for PAY 2.4 — cold (new engine, first call) and warm (best of 3);
- every registered KPI for project PAY (what the pages show) — cold and warm.
Targets (issue 5): readiness under 1 s warm and within 5× of one scan.

Run: ``python -m bench readiness`` (``SHIPREADY_BENCH_SCALE`` to change the scale).
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _database(scale: float) -> tuple[str, float | None]:
    given = os.environ.get("SHIPREADY_BENCH_DB")
    if given and Path(given).exists():
        return f"sqlite:///{given}", None
    from data.demo import load_demo
    from data.store import get_engine

    path = Path(tempfile.mkdtemp(prefix="shipready-bench-")) / "bench.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    seconds, _ = _timed(lambda: load_demo(engine, scale=scale, today=TODAY))
    engine.dispose()
    return url, seconds


def _scan(engine) -> tuple[float, int]:
    from data.schema import test_results as tr

    with engine.connect() as conn:
        seconds, row = _timed(lambda: conn.execute(
            select(func.count(), func.sum(tr.c.duration_s))).first())
    return seconds, row[0]


def _readiness(engine, settings) -> float:
    from data.schema import releases
    from metrics.readiness import evaluate_release

    with engine.connect() as conn:
        rid = conn.execute(select(releases.c.id).where(releases.c.project == "PAY",
                                                       releases.c.name == "2.4")).scalar_one()
        seconds, ev = _timed(lambda: evaluate_release(conn, settings, rid, now=NOW))
    _readiness.last = ev
    return seconds


def _kpis(engine, settings) -> tuple[float, int]:
    from metrics.registry import all_kpis
    from metrics.scope import resolve_scope

    def run():
        with engine.connect() as conn:
            scope = resolve_scope(conn, settings, project="PAY", now=NOW)
            n = 0
            for reg in all_kpis():
                reg.compute(conn, scope)
                n += 1
            return n

    return _timed(run)


def main() -> None:
    from data.config import DEMO_CONFIG_PATH, parse_settings
    from data.store import get_engine

    import tomllib

    with open(DEMO_CONFIG_PATH, "rb") as fh:
        settings = parse_settings(tomllib.load(fh), None)
    scale = float(os.environ.get("SHIPREADY_BENCH_SCALE", "50"))
    url, gen = _database(scale)
    if gen is not None:
        print(f"demo --scale {scale:g} generated in {gen:.1f} s")

    engine = get_engine(url)  # a new engine: cold connection and statement caches
    scan, rows = _scan(engine)
    cold = _readiness(engine, settings)
    warm = min(_readiness(engine, settings) for _ in range(3))
    kpi_cold, n = _kpis(engine, settings)
    kpi_warm = min(_kpis(engine, settings)[0] for _ in range(2))
    scan2, _ = _scan(engine)
    yard = min(scan, scan2)
    ev = _readiness.last
    print(f"test_results rows:            {rows:,}")
    print(f"full scan of test_results:    {yard * 1000:8.0f} ms (yardstick)")
    print(f"readiness PAY 2.4 cold:       {cold * 1000:8.0f} ms  ({cold / yard:.2f}x scan)")
    print(f"readiness PAY 2.4 warm:       {warm * 1000:8.0f} ms  ({warm / yard:.2f}x scan)"
          f"  -> {ev.verdict}, score {ev.score:g}")
    print(f"all {n} KPIs (PAY, 30 days) cold: {kpi_cold * 1000:8.0f} ms  "
          f"({kpi_cold / yard:.2f}x scan)")
    print(f"all {n} KPIs (PAY, 30 days) warm: {kpi_warm * 1000:8.0f} ms  "
          f"({kpi_warm / yard:.2f}x scan)")
    ok = warm < 1.0 and warm <= 5 * yard
    print(f"target readiness < 1 s warm and <= 5x scan: {'met' if ok else 'NOT met'}")
    engine.dispose()


if __name__ == "__main__":
    main()
