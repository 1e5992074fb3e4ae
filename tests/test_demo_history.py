"""The demo's readiness history (data/demo/snapshots.py): which moments each release is
evaluated at, worked out by hand from the rule, and that a loaded demo carries them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from data import schema
from data.demo import load_demo
from data.demo.layout import Layout, ReleaseSlot
from data.demo.snapshots import moments
from data.store import get_engine

TODAY = date(2026, 3, 2)  # a Monday; the demo's "now" is 00:00 UTC that day


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def slot(name, released_at, target):
    kind = "shipped" if released_at else "upcoming"
    return ReleaseSlot(name, kind, target.date(), released_at, target, target, target)


def test_moments_cover_the_last_21_days_of_each_recent_life():
    layout = Layout(TODAY)
    r1 = slot("1", utc(2025, 12, 1), utc(2025, 12, 1))          # shipped long ago
    r2 = slot("2", utc(2026, 2, 10, 16, 30), utc(2026, 2, 10))  # shipped 20 days ago
    r3 = slot("3", None, utc(2026, 3, 12))                       # upcoming
    r4 = slot("4", None, utc(2026, 4, 9))                        # its life starts after r3's target
    got = moments([r1, r2, r3, r4], layout)
    assert list(got) == ["1", "2", "3"]
    # Ended before now − 42 days (19 Jan): one snapshot, at its ship moment.
    assert got["1"] == [utc(2025, 12, 1)]
    # 21 days ending at the ship (21 Jan … 10 Feb at 00:00), then the ship moment itself.
    assert got["2"][0] == utc(2026, 1, 21) and got["2"][-2:] == [utc(2026, 2, 10),
                                                                 utc(2026, 2, 10, 16, 30)]
    assert len(got["2"]) == 22
    assert all(b - a == timedelta(days=1) for a, b in zip(got["2"][:-2], got["2"][1:-1]))
    # Upcoming: from the day its predecessor shipped (10 Feb) to today's 00:00 (2 Mar).
    assert got["3"][0] == utc(2026, 2, 10) and got["3"][-1] == utc(2026, 3, 2)
    assert len(got["3"]) == 21
    # Weekly (benchmark sizes): counted back from the last day, 2 Mar, 23 Feb, 16 Feb; the
    # shipped one also keeps its ship moment.
    weekly = moments([r1, r2, r3, r4], layout, step_days=7)
    assert weekly["3"] == [utc(2026, 2, 16), utc(2026, 2, 23), utc(2026, 3, 2)]
    assert weekly["2"] == [utc(2026, 1, 27), utc(2026, 2, 3), utc(2026, 2, 10),
                           utc(2026, 2, 10, 16, 30)]


def test_a_loaded_demo_carries_daily_snapshots(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    counts = load_demo(engine, scale=0.05, today=TODAY)
    t = schema.readiness_snapshots
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.release_id, t.c.as_of, t.c.evaluated_at, t.c.verdict)
                            .order_by(t.c.release_id, t.c.as_of)).all()
    engine.dispose()
    assert counts["readiness_snapshots"] == len(rows)
    pay24 = [r for r in rows if r.release_id == "demo:release:PAY:2.4"]
    # PAY 2.3 shipped on Thu 5 Feb 2026 (today − 21 days = Mon 9 Feb, moved back to a Tue–Thu):
    # 2.4's life starts then, and the snapshots run daily over its last 21 days, 10 Feb to
    # today 00:00.
    assert [r.as_of for r in pay24] == [utc(2026, 2, 10) + timedelta(days=i) for i in range(21)]
    assert all(r.as_of == r.evaluated_at for r in rows)  # what a daily job would have stored
    assert pay24[-1].verdict == "NO_GO"  # README: PAY 2.4 is NO-GO today
    pay23 = [r for r in rows if r.release_id == "demo:release:PAY:2.3"]
    assert pay23[-1].as_of == utc(2026, 2, 5) and pay23[-1].verdict == "GO"
