"""Bug metrics on hand-built bugs (project PAY).

  B1 critical  created 03-01; Done 03-05 (history); reopened 03-08 -> open now
  B2 high      created 03-02, found in production, resolved 03-10 (no history)
  B3 critical  created 03-12, open
  B4 high      created 02-01, resolved 02-15
  B5 medium    created 03-03, resolved Won't Fix 03-04, in release 2.3's scope
  B6 low       created 03-16, found in production
Releases: 2.3 shipped 03-01 00:00, 2.4 shipped 03-15 00:00 (scope: B1, B3).
"""

from __future__ import annotations

import pytest

from metrics import registry
from metrics.quality import (bug_flow_weekly, bug_trend_converging, escaped_defects,
                             open_bug_ages, open_bugs, open_bugs_by_severity,
                             open_bugs_by_severity_at,
                             open_bugs_in_release,
                             reopen_rate, time_to_fix)
from metrics.scope import Scope
from tests.metrics_rows import change, item, load, release, utc


def _fixture(engine):
    load(engine, work_items=[
        item("B1", type="bug", severity="critical", created=utc(2026, 3, 1)),
        item("B2", type="bug", severity="high", created=utc(2026, 3, 2), found_in="production",
             status_category="done", resolved=utc(2026, 3, 10)),
        item("B3", type="bug", severity="critical", created=utc(2026, 3, 12)),
        item("B4", type="bug", severity="high", created=utc(2026, 2, 1), status_category="done",
             resolved=utc(2026, 2, 15)),
        item("B5", type="bug", severity="medium", created=utc(2026, 3, 3),
             status_category="done", resolution="Won't Fix", resolved=utc(2026, 3, 4)),
        item("B6", type="bug", severity="low", created=utc(2026, 3, 16), found_in="production"),
        item("S1", type="story", created=utc(2026, 3, 1)),
    ], work_item_changes=[
        change("B1", utc(2026, 3, 5), "status", "To Do", "Done"),
        change("B1", utc(2026, 3, 8), "status", "Done", "Reopened"),
    ], releases=[
        release("23", "2.3", released=utc(2026, 3, 1), state="released"),
        release("24", "2.4", released=utc(2026, 3, 15), state="released"),
    ], release_items=[
        {"release_id": "t:release:23", "item_id": "t:issue:B5", "source": "t"},
        {"release_id": "t:release:24", "item_id": "t:issue:B1", "source": "t"},
        {"release_id": "t:release:24", "item_id": "t:issue:B3", "source": "t"},
    ])


def _scope(since, until):
    return Scope(projects=("PAY",), repos=(), services=(), since=since, until=until)


def test_open_bugs_rebuilt_from_history(engine):
    _fixture(engine)
    s = _scope(utc(2026, 3, 1), utc(2026, 3, 20))
    with engine.connect() as conn:
        at6 = open_bugs_by_severity(conn, s, utc(2026, 3, 6))
        at9 = open_bugs_by_severity(conn, s, utc(2026, 3, 9))
        at20 = open_bugs_by_severity(conn, s, utc(2026, 3, 20))
        rel = open_bugs_in_release(conn, "t:release:24", utc(2026, 3, 20), ["critical"])
        ages = open_bug_ages(conn, s, utc(2026, 3, 20))
    # 03-06: B1 was done (03-05, reopened only on 03-08); B2 open (fixed 03-10); B3 not yet
    assert at6 == {"critical": 0, "high": 1, "medium": 0, "low": 0}
    # 03-09: B1 reopened -> open again; B2 still open
    assert at9 == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    # 03-20: B1, B3 critical; B6 low
    assert at20 == {"critical": 2, "high": 0, "medium": 0, "low": 1}
    assert [b["key"] for b in rel] == ["B1", "B3"] and rel[0]["url"] == "https://t/B1"
    # ages at 03-20: B1 19 days, B3 8 days, B6 4 days
    assert dict(zip(ages["key"], ages["age_days"])) == {"B1": 19, "B3": 8, "B6": 4}


def test_open_bugs_at_many_moments_in_one_pass(engine):
    _fixture(engine)
    s = _scope(utc(2026, 3, 1), utc(2026, 3, 20))
    moments = [utc(2026, 2, 10), utc(2026, 3, 4, 12), utc(2026, 3, 6), utc(2026, 3, 9),
               utc(2026, 3, 20)]
    with engine.connect() as conn:
        many = open_bugs_by_severity_at(conn, s, moments)
        one_by_one = [open_bugs_by_severity(conn, s, t) for t in moments]
        assert open_bugs_by_severity_at(conn, s, []) == []
    zero = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    # 02-10: only B4 existed (created 02-01, resolved 02-15) -> 1 high
    # 03-04 12:00: B1 open (done only 03-05), B2 open (resolved 03-10), B5 resolved 03-04
    #   00:00 (before noon) -> 1 critical, 1 high; B4 resolved 02-15
    # 03-06: B1 done (03-05..03-08), B2 open -> 1 high
    # 03-09: B1 reopened, B2 open -> 1 critical, 1 high
    # 03-20: B1, B3 critical; B6 low; B2 resolved 03-10
    assert many == [dict(zero, high=1), dict(zero, critical=1, high=1), dict(zero, high=1),
                    dict(zero, critical=1, high=1), dict(zero, critical=2, low=1)]
    assert many == one_by_one


def _severity_fixture(engine):
    """J1 (a Jira-like bug: priority Highest on 03-02, lowered to Low on 03-06; severity now
    low) and G1 (GitHub: labelled sev1 on 03-02, unlabelled on 03-06, labels now just "bug";
    severity now unset). Default mapping: Highest -> critical, Low -> low, sev1 -> critical."""
    load(engine, work_items=[
        {**item("J1", type="bug", severity="low", created=utc(2026, 3, 1)), "priority": "Low",
         "labels": []},
        {**item("G1", type="bug", created=utc(2026, 3, 1)), "source": "github",
         "priority": None, "labels": ["bug"]},
    ], work_item_changes=[
        change("J1", utc(2026, 3, 2), "priority", "Medium", "Highest"),
        change("J1", utc(2026, 3, 6), "priority", "Highest", "Low"),
        change("G1", utc(2026, 3, 2), "labels", None, "sev1"),
        change("G1", utc(2026, 3, 6), "labels", "sev1", None),
    ])


def test_severity_is_the_one_a_bug_had_then(engine):
    _severity_fixture(engine)
    s = _scope(utc(2026, 3, 1), utc(2026, 3, 20))
    zero = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    moments = [utc(2026, 3, 1, 12), utc(2026, 3, 4), utc(2026, 3, 8)]
    with engine.connect() as conn:
        counts = [open_bugs_by_severity(conn, s, t) for t in moments]
        many = open_bugs_by_severity_at(conn, s, moments)
        crit4 = open_bugs(conn, s, utc(2026, 3, 4), severities=["critical"])
        crit8 = open_bugs(conn, s, utc(2026, 3, 8), severities=["critical"])
    # 03-01 12:00: J1 priority Medium -> medium; G1 no severity label -> unset
    # 03-04: J1 Highest -> critical; G1 labelled sev1 -> critical
    # 03-08: J1 Low -> low; G1 unlabelled -> unset
    assert counts == [dict(zero, medium=1, unset=1), dict(zero, critical=2),
                      dict(zero, low=1, unset=1)]
    assert many == counts
    assert [(b["key"], b["severity"]) for b in crit4] == [("G1", "critical"),
                                                           ("J1", "critical")]
    assert crit8 == []


def test_weekly_inflow_outflow_and_convergence(engine):
    _fixture(engine)
    with engine.connect() as conn:
        df = bug_flow_weekly(conn, ["PAY"], utc(2026, 3, 2), utc(2026, 3, 16))
    # week 03-02: created B2, B5; resolved B5 (03-04). week 03-09: created B3; resolved B2.
    assert df[["inflow", "outflow"]].values.tolist() == [[2, 1], [1, 1]]
    assert bug_trend_converging(df, weeks=2) is False   # in 3 > out 2
    assert bug_trend_converging(df, weeks=1) is True    # in 1 = out 1
    quiet = df.assign(inflow=0, outflow=0)
    assert bug_trend_converging(quiet) is None


def test_time_to_fix_reopen_rate_and_escaped(engine):
    _fixture(engine)
    with engine.connect() as conn:
        ttf = time_to_fix(conn, ["PAY"], utc(2026, 3, 1), utc(2026, 3, 16))
        rate, n, keys = reopen_rate(conn, ["PAY"], utc(2026, 3, 1), utc(2026, 3, 16))
        esc23 = escaped_defects(conn, "t:release:23")
        esc24 = escaped_defects(conn, "t:release:24", now=utc(2026, 4, 1))
    # only B2 was fixed (B5 is Won't Fix): 03-02 → 03-10 = 192 h
    assert ttf.to_dict("records") == [{"severity": "high", "n": 1, "p50_h": 192.0,
                                       "p85_h": 192.0, "p95_h": 192.0}]
    # done in the window: B1 (03-05), B2 (03-10), B5 (03-04); B1 reopened -> 1/3
    assert (rate, n, keys) == (pytest.approx(1 / 3), 3, ["B1"])
    # 2.3 shipped 03-01, 2.4 on 03-15: B2 (production, 03-02) and B5 (2.3's scope, 03-03)
    # escaped 2.3; B6 (production, 03-16) escaped 2.4
    assert [b["key"] for b in esc23] == ["B2", "B5"]
    assert [b["key"] for b in esc24] == ["B6"]


def test_bug_kpis_and_zero_is_a_count(engine):
    _fixture(engine)
    s = _scope(utc(2026, 3, 2), utc(2026, 3, 16))
    other = Scope(projects=("OPS",), repos=(), services=(), since=s.since, until=s.until)
    with engine.connect() as conn:
        crit = registry.compute("open_bugs_critical", conn, s)
        inflow = registry.compute("bug_inflow", conn, s)
        outflow = registry.compute("bug_outflow", conn, s)
        nodata = registry.compute("open_bugs_critical", conn, other)
        quiet = registry.compute("open_bugs_critical", conn, _scope(utc(2025, 1, 1),
                                                                   utc(2025, 2, 1)))
    # at 03-16 00:00: B1 (reopened) and B3 are critical and open
    assert (crit.value, [e["label"] for e in crit.evidence]) == (2, ["B1", "B3"])
    assert inflow.value == 3 and outflow.value == 2   # created B2, B5, B3; resolved B5, B2
    # OPS has no work items at all: no data. PAY in Jan 2025 had none open: a real 0.
    assert nodata.value is None
    assert quiet.value == 0 and quiet.unit == "count"
