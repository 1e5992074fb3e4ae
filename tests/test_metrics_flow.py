"""Cycle time, lead time, throughput and cumulative flow on hand-built items.

Window [Mon 2026-03-02, Mon 2026-03-16) UTC. Items (project PAY):
  A story  created 03-01 00:00, In Progress 03-02 12:00, Done 03-04 12:00
  B story  created 02-20 00:00, In Progress 03-05 00:00, Done 03-06 00:00
  C task   created 03-03 00:00, no history, started_at 03-09 00:00, resolved 03-10 06:00
  D story  created 02-20, resolved Won't Do 03-05 (not delivered)
  E story  created 02-01, resolved 02-25 (before the window)
  F epic   created 02-20, resolved 03-05 (epics are not counted)
  G story  created 02-20, In Progress 03-11, still open
"""

from __future__ import annotations

import pytest

from metrics import registry
from metrics.flow import (cumulative_flow, cycle_times, daily_throughput, delivered_items,
                          percentiles, weekly_throughput)
from metrics.scope import Scope
from tests.metrics_rows import change, item, load, utc

SINCE, UNTIL = utc(2026, 3, 2), utc(2026, 3, 16)

def _fixture(engine):
    load(engine, work_items=[
        item("A", created=utc(2026, 3, 1), status_category="done",
             resolved=utc(2026, 3, 4, 12), points=3),
        item("B", created=utc(2026, 2, 20), status_category="done", resolved=utc(2026, 3, 6)),
        item("C", type="task", created=utc(2026, 3, 3), status_category="done",
             started=utc(2026, 3, 9), resolved=utc(2026, 3, 10, 6), points=2),
        item("D", created=utc(2026, 2, 20), status_category="done", resolution="Won't Do",
             resolved=utc(2026, 3, 5)),
        item("E", created=utc(2026, 2, 1), status_category="done", resolved=utc(2026, 2, 25)),
        item("F", type="epic", created=utc(2026, 2, 20), status_category="done",
             resolved=utc(2026, 3, 5)),
        item("G", created=utc(2026, 2, 20), status_category="in_progress"),
    ], work_item_changes=[
        change("A", utc(2026, 3, 2, 12), "status", "To Do", "In Progress"),
        change("A", utc(2026, 3, 4, 12), "status", "In Progress", "Done"),
        change("B", utc(2026, 3, 5), "status", "To Do", "In Progress"),
        change("B", utc(2026, 3, 6), "status", "In Progress", "Done"),
        change("G", utc(2026, 3, 11), "status", "To Do", "In Progress"),
    ])

def test_cycle_and_lead_time_per_item(engine):
    _fixture(engine)
    with engine.connect() as conn:
        df = delivered_items(conn, ["PAY"], SINCE, UNTIL)
    got = {r["key"]: (r["cycle_time_h"], r["lead_time_h"]) for r in df.to_dict("records")}
    # A: cycle 03-02 12:00 → 03-04 12:00 = 48 h; lead 03-01 00:00 → 03-04 12:00 = 84 h
    # B: cycle 24 h; lead 02-20 → 03-06 = 14 days = 336 h
    # C: cycle 03-09 00:00 → 03-10 06:00 = 30 h; lead 7 days 6 h = 174 h
    assert got == {"A": (48, 84), "B": (24, 336), "C": (30, 174)}
    with engine.connect() as conn:
        ct = cycle_times(conn, ["PAY"], since=SINCE, until=UNTIL)
    # in days, by completion: A 48 h = 2 d (03-04), B 24 h = 1 d (03-06), C 30 h = 1.25 d
    assert list(zip(ct["key"], ct["days"])) == [("A", 2.0), ("B", 1.0), ("C", 1.25)]

def test_percentiles_interpolate_linearly():
    # sorted 24, 30, 48: p50 = 30; p85 at rank 0.85 × 2 = 1.7 → 30 + 0.7 × 18 = 42.6
    p = percentiles([48, 24, 30])
    assert p["p50"] == 30 and p["p85"] == pytest.approx(42.6)
    assert percentiles([]) == {"p50": None, "p85": None, "p95": None}

def test_throughput_weekly_and_daily(engine):
    _fixture(engine)
    with engine.connect() as conn:
        wk = weekly_throughput(conn, ["PAY"], SINCE, UNTIL)
        daily = daily_throughput(conn, ["PAY"], SINCE, UNTIL)
    # week of 03-02: A, B (D is Won't Do, F an epic); week of 03-09: C
    assert [(w.isoformat(), n) for w, n in zip(wk["week"], wk["items"])] == [
        ("2026-03-02", 2), ("2026-03-09", 1)]
    assert list(wk["points"]) == [3, 2]
    # ten working days, deliveries on 03-04, 03-06, 03-10
    assert len(daily) == 10 and daily["items"].sum() == 3
    assert dict(zip((d.isoformat() for d in daily["day"]), daily["items"]))["2026-03-10"] == 1

def test_cumulative_flow_by_category(engine):
    _fixture(engine)
    with engine.connect() as conn:
        cfd = cumulative_flow(conn, ["PAY"], SINCE, UNTIL)
    by = {d.isoformat(): r for d, r in zip(cfd["day"], cfd.to_dict("records"))}
    # end of 03-02: A in progress; B, D, G to do; E done before the window (F is an epic)
    assert (by["2026-03-02"]["todo"], by["2026-03-02"]["in_progress"],
            by["2026-03-02"]["done"]) == (3, 1, 1)
    # end of 03-04: A done; C created (to do) -> to do B, C, D, G
    assert (by["2026-03-04"]["todo"], by["2026-03-04"]["in_progress"],
            by["2026-03-04"]["done"]) == (4, 0, 2)
    # end of 03-15: A, B, C, D, E done; G in progress
    assert (by["2026-03-15"]["todo"], by["2026-03-15"]["in_progress"],
            by["2026-03-15"]["done"]) == (0, 1, 5)

def test_cycle_time_kpi_and_no_data(engine):
    _fixture(engine)
    scope = Scope(projects=("PAY",), repos=(), services=(), since=SINCE, until=UNTIL)
    empty = Scope(projects=("PAY",), repos=(), services=(), since=utc(2025, 1, 1),
                  until=utc(2025, 2, 1))
    with engine.connect() as conn:
        ct = registry.compute("cycle_time_p50", conn, scope)
        lt = registry.compute("lead_time_p50", conn, scope)
        none = registry.compute("cycle_time_p50", conn, empty)
    assert (ct.value, ct.n, ct.unit) == (30, 3, "hours")   # median of 24, 30, 48
    assert lt.value == 174                                  # median of 84, 174, 336
    assert none.value is None and none.n == 0
