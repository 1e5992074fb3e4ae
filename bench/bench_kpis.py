"""Benchmark: every KPI and sprint/quality/forecast view a page needs, on the demo organisation.

Generates the demo organisation at ``BENCH_KPIS_SCALE`` (default 50: ~100,000 work items,
~300,000 changes, ~2 million test results) into a fresh SQLite file, then times, for PAY's
upcoming release 2.4:

- **yardstick**: one full scan of ``test_results`` (``GROUP BY status``), in the same run;
- **kpis cold**: a fresh engine and connection, ``metrics.kpis.compute_all`` (every registered
  KPI, the tests/CI and DORA ones included) plus the page views: burndown, burnup,
  velocity, cumulative flow, weekly throughput, bug inflow/outflow, release forecast;
- **kpis warm**: the same again on a new connection (SQLite's page cache and SQLAlchemy's
  statement cache are warm; nothing is memoised across connections).

- **velocity vs its reports one by one**: velocity on a fresh connection against the same six
  sprint reports built one at a time on another fresh connection (the baseline, same run).

Each KPI's own time is printed too, so a slow one is easy to spot. ``BENCH_KPIS_DB`` reuses an
existing demo database instead of generating one (for quick iterations; the figures in
bench/README.md come from a generated one).
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date
from pathlib import Path

SCALE = float(os.environ.get("BENCH_KPIS_SCALE", "50"))
TODAY = date(2026, 3, 18)


def _views(conn, settings, sc) -> dict[str, float]:
    from metrics.flow import cumulative_flow, weekly_throughput
    from metrics.forecast import forecast_release
    from metrics.kpis import compute_all
    from metrics.quality import bug_flow_weekly
    from metrics.sprint import burndown, burnup, velocity

    times: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - t

    from metrics import registry

    for reg in registry.all_kpis():
        timed(f"kpi {reg.metric.id}", lambda r=reg: registry.compute(r.metric.id, conn, sc))
    timed("kpis (compute_all, memo shared)", lambda: compute_all(conn, sc))
    timed("burndown", lambda: burndown(conn, sc.sprint_id, tz=sc.timezone))
    timed("burnup", lambda: burnup(conn, sc.sprint_id, tz=sc.timezone))
    timed("velocity", lambda: velocity(conn, list(sc.projects)))
    timed("cumulative flow", lambda: cumulative_flow(conn, sc.projects, sc.since, sc.until,
                                                     tz=sc.timezone))
    timed("weekly throughput", lambda: weekly_throughput(conn, sc.projects, sc.since,
                                                         sc.until, tz=sc.timezone))
    timed("bug inflow/outflow", lambda: bug_flow_weekly(conn, sc.projects, sc.since, sc.until,
                                                        tz=sc.timezone))
    timed("forecast 10,000 trials", lambda: forecast_release(conn, sc.release_id,
                                                             as_of=sc.until, settings=settings))
    return times


def _run(url: str, settings) -> tuple[float, dict[str, float]]:
    from data.store import get_engine
    from metrics.scope import resolve_scope

    engine = get_engine(url)
    t = time.perf_counter()
    with engine.connect() as conn:
        sc = resolve_scope(conn, settings, project="PAY", release="2.4",
                           until=TODAY.isoformat())
        times = _views(conn, settings, sc)
    total = time.perf_counter() - t
    engine.dispose()
    return total, times


def _velocity_vs_reports(url: str) -> tuple[float, float]:
    """Velocity of PAY's last 6 closed sprints on a fresh connection, and the baseline: the
    same sprints' reports built one by one (each reading its own items' history, what
    velocity did before it built them together) on another fresh connection."""
    from data.store import get_engine
    from metrics.sprint import closed_sprints, sprint_report, velocity

    engine = get_engine(url)
    with engine.connect() as conn:
        t = time.perf_counter()
        velocity(conn, "PAY")
        fast = time.perf_counter() - t
    with engine.connect() as conn:
        t = time.perf_counter()
        for s in closed_sprints(conn, ["PAY"], n=6):
            sprint_report(conn, s["id"])
        base = time.perf_counter() - t
    engine.dispose()
    return fast, base


def _scan(url: str) -> float:
    from sqlalchemy import text

    from data.store import get_engine

    engine = get_engine(url)
    with engine.connect() as conn:
        t = time.perf_counter()
        conn.execute(text("SELECT status, COUNT(*), SUM(duration_s) FROM test_results "
                          "GROUP BY status")).all()
        took = time.perf_counter() - t
    engine.dispose()
    return took


def main() -> None:
    from sqlalchemy import text

    from data.config import parse_settings, DEMO_CONFIG_PATH, _read_toml
    from data.store import get_engine

    settings = parse_settings(_read_toml(DEMO_CONFIG_PATH), None)
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_KPIS_DB") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if not os.environ.get("BENCH_KPIS_DB"):
            from data.demo import load_demo

            t = time.perf_counter()
            load_demo(get_engine(url), scale=SCALE, today=TODAY)
            print(f"demo --scale {SCALE:g} generated in {time.perf_counter() - t:.0f} s")
        eng = get_engine(url)
        with eng.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                      for t in ("work_items", "work_item_changes", "test_results",
                                "pipeline_runs", "deployments")}
        eng.dispose()
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        scan_cold = _scan(url)
        _, cold = _run(url, settings)
        _, warm = _run(url, settings)
        scan_warm = _scan(url)
        print(f"{'view':40} {'cold s':>8} {'warm s':>8}")
        for name in cold:
            print(f"{name:40} {cold[name]:8.2f} {warm[name]:8.2f}")
        print(f"yardstick: full scan of test_results {scan_cold:.2f} s cold, "
              f"{scan_warm:.2f} s warm")
        scan = (scan_cold + scan_warm) / 2
        for label, times in (("cold", cold), ("warm", warm)):
            kpis = sum(v for k, v in times.items() if k.startswith("kpi "))
            views = sum(v for k, v in times.items()
                        if not k.startswith("kpi"))
            print(f"{label}: every KPI {kpis:.2f} s ({kpis / scan:.1f}x scan) + page views "
                  f"{views:.2f} s = {kpis + views:.2f} s ({(kpis + views) / scan:.1f}x scan)")
        for label in ("first", "second"):
            fast, base = _velocity_vs_reports(url)
            print(f"velocity ({label}, fresh connection): {fast:.2f} s against {base:.2f} s "
                  f"for its six reports one by one ({base / fast:.1f}x)")
        again = warm["kpis (compute_all, memo shared)"]
        print(f"compute_all again on the same connection (sprint reports shared): {again:.2f} s")


if __name__ == "__main__":
    main()
