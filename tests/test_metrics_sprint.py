"""Sprint report, burndown, burnup and velocity on a hand-built sprint.

Sprint PAY 1 (natural id "1"): starts Mon 2026-03-02 09:00 UTC, completed Fri 2026-03-13 16:00.
Items (created 2026-02-20 unless said):
  PAY-1  3 pts, in sprint before start, In Progress 03-03, Done 03-05 10:00
  PAY-2  5 pts at start, re-estimated to 8 on 03-04 08:00, never done
  PAY-3  2 pts, added to the sprint 03-04 12:00, Done 03-10 10:00
  PAY-4  1 pt, in sprint at start, removed 03-06 12:00
  PAY-5  no estimate, in sprint at start, Done (resolution Won't Do) 03-09 10:00
  PAY-6  4 pts, created 03-09 11:00 straight into the sprint (no sprint history)
  PAY-7  2 pts, member without history, resolved 03-12 10:00 (no status history)
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from metrics.sprint import burndown, burnup, sprint_report, velocity
from tests.metrics_rows import change, item, load, sprint, utc

START, DONE_AT = utc(2026, 3, 2, 9), utc(2026, 3, 13, 16)
CREATED = utc(2026, 2, 20)


def _fixture(engine):
    items = [
        item("PAY-1", created=CREATED, points=3, status_category="done",
             resolved=utc(2026, 3, 5, 10)),
        item("PAY-2", created=CREATED, points=8),
        item("PAY-3", created=CREATED, points=2, status_category="done",
             resolved=utc(2026, 3, 10, 10)),
        item("PAY-4", created=CREATED, points=1),
        item("PAY-5", created=CREATED, status_category="done", resolution="Won't Do",
             resolved=utc(2026, 3, 9, 10)),
        item("PAY-6", created=utc(2026, 3, 9, 11), points=4),
        item("PAY-7", created=CREATED, points=2, status_category="done",
             resolved=utc(2026, 3, 12, 10)),
    ]
    changes = [
        change("PAY-1", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-1", utc(2026, 3, 3, 9), "status", "To Do", "In Progress"),
        change("PAY-1", utc(2026, 3, 5, 10), "status", "In Progress", "Done"),
        change("PAY-2", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-2", utc(2026, 3, 4, 8), "story_points", "5", "8"),
        change("PAY-3", utc(2026, 3, 4, 12), "Sprint", "", "1"),
        change("PAY-3", utc(2026, 3, 10, 10), "status", "To Do", "Done"),
        change("PAY-4", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-4", utc(2026, 3, 6, 12), "Sprint", "1", ""),
        change("PAY-5", utc(2026, 2, 25), "Sprint", "", "1"),
        change("PAY-5", utc(2026, 3, 9, 10), "status", "To Do", "Done"),
    ]
    members = [{"sprint_id": "t:sprint:1", "item_id": f"t:issue:PAY-{n}", "source": "t"}
               for n in (1, 2, 3, 5, 6, 7)]
    load(engine, work_items=items, work_item_changes=changes,
         sprints=[sprint("1", "PAY 1", start=START, end=utc(2026, 3, 13, 17),
                         completed=DONE_AT)],
         sprint_items=members)


def test_sprint_report_counts_like_jira(engine):
    _fixture(engine)
    with engine.connect() as conn:
        r = sprint_report(conn, "t:sprint:1")
    assert r.unit == "points"
    # committed: PAY-1 3 + PAY-2 5 (estimate at start) + PAY-4 1 + PAY-5 0 + PAY-7 2 = 11
    assert r.committed == 11
    # completed: PAY-1 3 + PAY-3 2 + PAY-5 0 (done, Won't Do still counts) + PAY-7 2 = 7
    assert r.completed == 7
    # not completed: PAY-2 8 (estimate at completion) + PAY-6 4 = 12
    assert r.not_completed == 12
    # added after start: PAY-3 2 + PAY-6 4 = 6; removed: PAY-4 1
    assert r.added == 6 and r.removed == 1
    assert r.say_do_ratio == pytest.approx(7 / 11)
    assert [i.key for i in r.items["completed"]] == ["PAY-1", "PAY-3", "PAY-5", "PAY-7"]
    assert [i.key for i in r.carry_over] == ["PAY-2", "PAY-6"]
    assert [i.key for i in r.items["removed"]] == ["PAY-4"]
    assert r.items["added"][0].url == "https://t/PAY-3"


def test_burndown_by_day_with_guideline_and_scope_markers(engine):
    _fixture(engine)
    with engine.connect() as conn:
        df = burndown(conn, "t:sprint:1", tz="UTC")
        up = burnup(conn, "t:sprint:1", tz="UTC")
    by = {d.isoformat(): row for d, row in zip(df["day"], df.to_dict("records"))}
    assert len(df) == 12  # Mon 03-02 .. Fri 03-13
    # remaining at each day's end, worked out from the item list:
    expected = {
        "2026-03-02": 11,  # 3+5+1+0+2
        "2026-03-03": 11,
        "2026-03-04": 16,  # PAY-2 now 8 (+3), PAY-3 added (+2)
        "2026-03-05": 13,  # PAY-1 done (−3)
        "2026-03-06": 12,  # PAY-4 removed (−1)
        "2026-03-07": 12, "2026-03-08": 12,
        "2026-03-09": 16,  # PAY-5 done (0), PAY-6 created into the sprint (+4)
        "2026-03-10": 14,  # PAY-3 done (−2)
        "2026-03-11": 14,
        "2026-03-12": 12,  # PAY-7 resolved (−2)
        "2026-03-13": 12,  # = not completed 8 + 4
    }
    assert {k: v["remaining"] for k, v in by.items()} == expected
    # guideline: 11 committed over 10 working days, value = 11 × working days left after day
    assert by["2026-03-02"]["guideline"] == pytest.approx(9.9)   # 9 left
    assert by["2026-03-06"]["guideline"] == pytest.approx(5.5)   # 5 left (Mon-Fri next week)
    assert by["2026-03-07"]["guideline"] == pytest.approx(5.5)   # weekend: flat
    assert by["2026-03-08"]["guideline"] == pytest.approx(5.5)
    assert by["2026-03-13"]["guideline"] == 0
    assert not by["2026-03-07"]["working"]
    # 03-04: PAY-2 re-estimated 5 → 8 (+3) and PAY-3 added (+2)
    assert by["2026-03-04"]["scope_change"] == 5
    assert by["2026-03-04"]["changes"] == "~PAY-2 (5→8), +PAY-3 (2)"
    assert by["2026-03-06"]["scope_change"] == -1 and "PAY-4" in by["2026-03-06"]["changes"]
    assert by["2026-03-09"]["changes"] == "+PAY-6 (4)"
    # burnup: scope and completed at 03-13: scope 8+4+3+2+0+2 = 19, completed 7
    last = up.iloc[-1]
    assert last["scope"] == 19 and last["completed"] == 7


def test_burndown_days_follow_the_team_zone(engine):
    _fixture(engine)
    with engine.connect() as conn:
        df = burndown(conn, "t:sprint:1", tz="Pacific/Auckland")
    # Auckland is UTC+13 in March: the start 03-02 09:00 UTC is 03-02 22:00 local, the end
    # 03-13 16:00 UTC is 03-14 05:00 local (a Saturday) -> 13 local days, 10 working days.
    assert df["day"].iloc[0].isoformat() == "2026-03-02"
    assert df["day"].iloc[-1].isoformat() == "2026-03-14"
    # PAY-3 was added 03-04 12:00 UTC = 03-05 01:00 local: the marker moves to the 5th
    by = dict(zip((d.isoformat() for d in df["day"]), df["changes"]))
    # and PAY-2's re-estimate (03-04 08:00 UTC = 21:00 local) stays on the 4th
    assert by["2026-03-05"] == "+PAY-3 (2)" and by["2026-03-04"] == "~PAY-2 (5→8)"


def test_empty_sprint_and_no_points_counts_items(engine):
    load(engine,
         work_items=[item("PAY-1", created=CREATED, status_category="done",
                          resolved=utc(2026, 3, 5)),
                     item("PAY-2", created=CREATED)],
         sprints=[sprint("1", "S1", start=START, end=DONE_AT, completed=DONE_AT),
                  sprint("2", "Empty", start=utc(2026, 3, 16), end=utc(2026, 3, 27),
                         completed=utc(2026, 3, 27))],
         sprint_items=[{"sprint_id": "t:sprint:1", "item_id": f"t:issue:PAY-{n}", "source": "t"}
                       for n in (1, 2)])
    with engine.connect() as conn:
        r = sprint_report(conn, "t:sprint:1")
        e = sprint_report(conn, "t:sprint:2")
        v = velocity(conn, "PAY")
    # no estimates anywhere: counts of items; 2 committed, PAY-1 done -> 1 completed
    assert (r.unit, r.committed, r.completed, r.not_completed) == ("items", 2, 1, 1)
    assert r.say_do_ratio == 0.5
    # the empty sprint commits nothing: say/do is no data, not 0
    assert (e.committed, e.completed) == (0, 0) and e.say_do_ratio is None
    assert list(v["sprint"]) == ["S1", "Empty"] and list(v["completed"]) == [1, 0]


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 8), st.booleans(), st.integers(-3, 12)), max_size=8))
def test_sprint_arithmetic_balances(sqlite_engine, spec):
    """committed + added − removed = completed + not completed when estimates never change."""
    from sqlalchemy import delete

    from data.schema import sprint_items as si, sprints as sp, work_item_changes, work_items
    with sqlite_engine.begin() as conn:
        for t in (work_item_changes, si, sp, work_items):
            conn.execute(delete(t))
    items, changes, members = [], [], []
    for n, (pts, done, join_day) in enumerate(spec):
        key = f"P-{n}"
        items.append(item(key, created=CREATED, points=pts or None,
                          status_category="done" if done else "todo",
                          resolved=utc(2026, 3, 10) if done else None))
        # join_day < 0: joined before start; > 10: joined and left again (removed)
        at = utc(2026, 3, 2 + max(join_day, 0) % 10, 12) if join_day >= 0 else utc(2026, 2, 25)
        changes.append(change(key, at, "Sprint", "", "1"))
        if join_day > 10:
            changes.append(change(key, at.replace(hour=13), "Sprint", "1", ""))
        else:
            members.append({"sprint_id": "t:sprint:1", "item_id": f"t:issue:{key}",
                            "source": "t"})
    load(sqlite_engine, work_items=items, work_item_changes=changes,
         sprints=[sprint("1", "S", start=START, end=DONE_AT, completed=DONE_AT)],
         sprint_items=members)
    with sqlite_engine.connect() as conn:
        r = sprint_report(conn, "t:sprint:1")
    assert r.committed + r.added - r.removed == pytest.approx(r.completed + r.not_completed)


def test_open_sprint_burndown_spans_the_planned_days(engine):
    _fixture(engine)
    from sqlalchemy import update

    from data.schema import sprints as sp
    with engine.begin() as conn:
        conn.execute(update(sp).values(state="active", completed_at=None))
    with engine.connect() as conn:
        df = burndown(conn, "t:sprint:1", tz="UTC", as_of=utc(2026, 3, 6, 18))
        r = sprint_report(conn, "t:sprint:1", as_of=utc(2026, 3, 6, 18))
    # still 03-02 .. 03-13 (planned end), same guideline; actuals stop after Fri 03-06
    assert len(df) == 12 and df["guideline"].iloc[0] == pytest.approx(9.9)
    by = dict(zip((d.isoformat() for d in df["day"]), df["remaining"]))
    assert by["2026-03-06"] == 12 and all(v != v for k, v in by.items() if k > "2026-03-06")
    # as of 03-06 18:00: PAY-1 done (3); PAY-2 8, PAY-3 2, PAY-5 0, PAY-7 2 still open = 12
    assert (r.completed, r.not_completed) == (3, 12)


def test_velocity_equals_each_sprint_report(engine):
    """Velocity builds its sprints together; each row must equal that sprint's own report.

    Sprints S1 (03-02 09:00 → 03-13 16:00), S2 (03-16 09:00 → 03-27 16:00) and S11
    (03-30 09:00 → 04-10 16:00; natural id "11", which must not be read as sprint "1"):
      A  3 pts, in S1 from 02-25, carried over ("1" → "1, 2" on 03-13 17:00), Done 03-20
      B  5 pts, into S2 on 03-14, removed 03-18
      C  2 pts, into S11 on 03-27, Done 04-01
      D  1 pt, added to S11 on 04-02, never done
    S1: committed A 3, completed 0, not completed A 3.
    S2: committed A 3 + B 5 = 8, completed A 3, removed B 5, not completed 0; say/do 3/8.
    S11: committed C 2, completed C 2, added D 1, not completed D 1; say/do 1.
    """
    items = [item("A", created=CREATED, points=3, status_category="done",
                  resolved=utc(2026, 3, 20, 10)),
             item("B", created=CREATED, points=5),
             item("C", created=CREATED, points=2, status_category="done",
                  resolved=utc(2026, 4, 1, 10)),
             item("D", created=CREATED, points=1)]
    changes = [change("A", utc(2026, 2, 25), "Sprint", "", "1"),
               change("A", utc(2026, 3, 13, 17), "Sprint", "1", "1, 2"),
               change("A", utc(2026, 3, 20, 10), "status", "To Do", "Done"),
               change("B", utc(2026, 3, 14), "Sprint", "", "2"),
               change("B", utc(2026, 3, 18), "Sprint", "2", ""),
               change("C", utc(2026, 3, 27), "Sprint", "", "11"),
               change("C", utc(2026, 4, 1, 10), "status", "To Do", "Done"),
               change("D", utc(2026, 4, 2), "Sprint", "", "11")]
    members = [("1", "A"), ("2", "A"), ("11", "C"), ("11", "D")]
    load(engine, work_items=items, work_item_changes=changes,
         sprints=[sprint("1", "S1", start=START, end=DONE_AT, completed=DONE_AT),
                  sprint("2", "S2", start=utc(2026, 3, 16, 9), end=utc(2026, 3, 27, 16),
                         completed=utc(2026, 3, 27, 16)),
                  sprint("11", "S11", start=utc(2026, 3, 30, 9), end=utc(2026, 4, 10, 16),
                         completed=utc(2026, 4, 10, 16))],
         sprint_items=[{"sprint_id": f"t:sprint:{s}", "item_id": f"t:issue:{k}", "source": "t"}
                       for s, k in members])
    with engine.connect() as conn:
        v = velocity(conn, "PAY")
    reports = {}
    for sid in ("1", "2", "11"):
        with engine.connect() as conn:  # a fresh connection: no report shared with velocity
            reports[sid] = sprint_report(conn, f"t:sprint:{sid}")
    expected = {"1": (3, 0, 0, 0, 3), "2": (8, 3, 0, 5, 0), "11": (2, 2, 1, 0, 1)}
    for sid, r in reports.items():
        assert (r.committed, r.completed, r.added, r.removed, r.not_completed) == expected[sid]
        assert r.unit == "points"
    assert list(v["sprint"]) == ["S1", "S2", "S11"]
    for row in v.to_dict("records"):
        r = reports[row["sprint_id"].rsplit(":", 1)[-1]]
        assert (row["committed"], row["completed"], row["not_completed"], row["unit"]) == (
            r.committed, r.completed, r.not_completed, r.unit)
        assert row["say_do_ratio"] == r.say_do_ratio
    assert list(v["say_do_ratio"]) == [0.0, 3 / 8, 1.0]
