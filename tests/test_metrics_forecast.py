"""Monte Carlo release forecast.

Project acme/web (team web: UTC, Mon–Fri). as_of = Wed 2026-03-18 00:00 UTC; history = the 42
days before: local days 02-04 .. 03-17, i.e. 30 working days. The forecast counts working days
strictly after as_of's day: 03-19 (1), 03-20 (2), 03-23 (3), 03-24 (4), 03-25 (5), 03-26 (6),
03-27 (7), 03-30 (8).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from data.config import load_settings
from metrics.forecast import forecast_release, simulate
from tests.metrics_rows import item, load, release, utc

P = "acme/web"
AS_OF = utc(2026, 3, 18)


@pytest.fixture
def demo_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return load_settings()


def _working_days():
    d, out = date(2026, 2, 4), []
    while d < date(2026, 3, 18):
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def _history(per_day):
    """Items delivered at 10:00 UTC; per_day(i) items on the i-th working day."""
    rows = []
    for i, d in enumerate(_working_days()):
        for j in range(per_day(i)):
            rows.append(item(f"H-{i}-{j}", project=P, created=utc(2026, 1, 5),
                             status_category="done", resolved=utc(d.year, d.month, d.day, 10)))
    return rows


def _release(n_open, target):
    items = [item(f"R-{k}", project=P, created=utc(2026, 3, 1)) for k in range(n_open)]
    # R-done was finished before the history window, so it is not part of the sample
    items += [item("R-done", project=P, created=utc(2026, 1, 10), status_category="done",
                   resolved=utc(2026, 2, 1)),
              item("R-epic", project=P, type="epic", created=utc(2026, 3, 1))]
    links = [{"release_id": "t:release:3", "item_id": i["id"], "source": "t"} for i in items]
    return items, links, [release("3", "3.0", project=P, target=target)]


def test_steady_throughput_is_deterministic(engine, demo_settings):
    assert len(_working_days()) == 30
    items, links, rels = _release(5, utc(2026, 3, 24))
    load(engine, work_items=_history(lambda i: 1) + items, releases=rels, release_items=links)
    with engine.connect() as conn:
        fc = forecast_release(conn, "t:release:3", as_of=AS_OF, settings=demo_settings)
    # 5 open items (the done one and the epic do not count) at exactly 1 a day: every trial
    # needs 5 working days -> Wed 03-25; the target Tue 03-24 is missed by all trials.
    assert fc.remaining == 5
    assert fc.p50 == fc.p85 == fc.p95 == date(2026, 3, 25)
    assert fc.probability_on_time == 0.0 and fc.target_date == date(2026, 3, 24)
    assert fc.samples["history_working_days"] == 30 and fc.samples["delivered"] == 30


def test_mixed_throughput_percentiles(engine, demo_settings):
    # 2 items on every third working day (10 of 30 days), else 0: a day delivers the one open
    # item with p = 1/3, so P(done within k days) = 1 − (2/3)^k:
    #   k=1 .333, k=2 .556 -> P50 = day 2 = 03-20
    #   k=4 .802, k=5 .868 -> P85 = day 5 = 03-25
    #   k=7 .941, k=8 .961 -> P95 = day 8 = 03-30
    # target 03-23 = day 3: P(on time) = 1 − 8/27 = 0.7037
    items, links, rels = _release(1, utc(2026, 3, 23, 12))
    load(engine, work_items=_history(lambda i: 2 if i % 3 == 0 else 0) + items, releases=rels,
         release_items=links)
    with engine.connect() as conn:
        fc = forecast_release(conn, "t:release:3", as_of=AS_OF, settings=demo_settings)
        again = forecast_release(conn, "t:release:3", as_of=AS_OF, settings=demo_settings)
    assert (fc.p50, fc.p85, fc.p95) == (date(2026, 3, 20), date(2026, 3, 25), date(2026, 3, 30))
    assert fc.probability_on_time == pytest.approx(1 - 8 / 27, abs=0.02)
    assert again.probability_on_time == fc.probability_on_time  # seeded


def test_no_throughput_is_no_data_and_nothing_left_is_done(engine, demo_settings):
    items, links, rels = _release(3, utc(2026, 3, 24))
    load(engine, work_items=items, releases=rels, release_items=links)
    with engine.connect() as conn:
        fc = forecast_release(conn, "t:release:3", as_of=AS_OF, settings=demo_settings)
        # as of 02-28 the open items did not exist yet and R-done was done: nothing left
        early = forecast_release(conn, "t:release:3", as_of=utc(2026, 2, 28),
                                 settings=demo_settings)
    assert fc.remaining == 3 and fc.p50 is None and fc.probability_on_time is None
    assert not fc.has_data
    assert early.remaining == 0 and early.probability_on_time == 1.0


@hsettings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=20).filter(lambda s: sum(s) > 0),
       st.integers(1, 40), st.integers(0, 2**31))
def test_simulation_properties(sample, remaining, seed):
    days = simulate(np.array(sample), remaining, trials=500, seed=seed)
    # never faster than delivering the best day's count every day
    assert days.min() >= -(-remaining // max(sample))
    if min(sample) > 0:  # never slower than the worst day every day
        assert days.max() <= -(-remaining // min(sample))
    assert (simulate(np.array(sample), remaining, trials=500, seed=seed) == days).all()
