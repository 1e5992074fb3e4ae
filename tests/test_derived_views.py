"""Derived views (metrics/derived.py, metrics/codec.py, data/derived.py): what a page's default
view computes, stored once per data version — read back equal to what was computed, used only
for the data version, configuration, parameters and age it was derived for, and what the
page shows when it is there."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import func, select, update

from data import schema
from data.config import load_settings
from data.store import get_engine, read_snapshot
from data.version import bump, current
from metrics import codec, derived
from metrics.registry import Metric, MetricValue
from metrics.tests_ci import FlakyTest
from pages_support import APP, TIMEOUT, clear_streamlit_caches


def same(a, b) -> bool:
    """Deep equality where DataFrames compare by columns, dtypes and cells (NaN equal NaN)."""
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        if not (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)):
            return False
        try:
            pd.testing.assert_frame_equal(a, b)
        except AssertionError:
            return False
        return True
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


# --- the stored form ----------------------------------------------------------------------------
def test_codec_keeps_types_that_json_has_no_word_for():
    when = datetime(2026, 11, 30, 9, 15, tzinfo=timezone.utc)
    value = {
        "tuple": (1, "a", None), "int keys": {3: "three", (1, 2): "pair"},
        "moments": [when, date(2026, 11, 30), timedelta(hours=36)],
        "odd floats": [float("inf"), -float("inf")], "sets": (frozenset({"b", "a"}), {1, 2}),
        "kpi": (Metric("x", "X", "count", "higher", "an example", "quality"),
                MetricValue(3.0, "count", 2, "2 of 3", [{"id": 1}], {"tier": "elite"})),
        "flaky": [FlakyTest("suite.test", ["flips"], {"runs": 5})],
    }
    back = codec.loads(codec.dumps(value))
    assert same(back, value)
    assert isinstance(back["tuple"], tuple) and (1, 2) in back["int keys"]
    assert back["moments"][0].tzinfo is not None and back["moments"][2] == timedelta(hours=36)
    assert isinstance(back["sets"][0], frozenset) and isinstance(back["sets"][1], set)
    assert math.isnan(codec.loads(codec.dumps(float("nan"))))


def test_codec_keeps_a_frames_dtypes_and_missing_cells():
    frame = pd.DataFrame({
        "at": pd.Series([datetime(2026, 11, 1, tzinfo=timezone.utc), None],
                        dtype="datetime64[us, UTC]"),
        "n": pd.Series([1, 2], dtype="int64"), "x": [0.5, float("nan")],
        "name": pd.Series(["a", None], dtype="str"), "day": [date(2026, 11, 1), None],
    })
    back = codec.loads(codec.dumps(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert str(back["at"].dtype) == "datetime64[us, UTC]" and pd.isna(back["at"][1])
    empty = pd.DataFrame(columns=["a", "b"])
    pd.testing.assert_frame_equal(codec.loads(codec.dumps(empty)), empty)


@pytest.mark.parametrize("payload", [
    '{"$dataclass":"os:system","fields":{}}',  # outside metrics.*
    '{"$dataclass":"metrics.registry:compute","fields":{}}',  # not a dataclass
    '{"$dataclass":"metrics.registry:Metric.__init__","fields":{}}',
    '{"$unknown":1}', '{"a":1}', '{}',
])
def test_decoding_builds_nothing_it_did_not_write(payload):
    with pytest.raises(ValueError):
        codec.loads(payload)


def test_a_value_without_a_stored_form_is_refused_not_guessed():
    with pytest.raises(TypeError):
        codec.dumps({"x": object()})
    with pytest.raises(TypeError):
        codec.dumps(pd.DataFrame({"a": [1]}, index=[5]))


# --- the pages' default views on the demo ------------------------------------------------------
def test_every_default_view_reads_back_equal_to_what_was_computed(demo):
    cfg = load_settings()
    with read_snapshot(demo) as conn:
        requests = derived.default_requests(conn, cfg)
        assert [r.view for r in requests] == ["delivery", "quality_tests", "velocity"]
        for request in requests:
            value = derived.compute(conn, cfg, request)
            assert same(codec.loads(codec.dumps(value)), value), request.view
        # The comparison is between real figures, not empty ones.
        delivery = derived.compute(conn, cfg, requests[0])
    assert delivery[0]["deployment_frequency"][1].value and not delivery[2].empty


def test_derive_stores_each_view_once_for_this_data_version(demo):
    cfg = load_settings()
    done = derived.derive_defaults(demo, cfg)
    assert all(d.stored for d in done) and len(done) == 3
    with read_snapshot(demo) as conn:
        version = current(conn)
        rows = conn.execute(select(schema.derived_views.c.name,
                                   schema.derived_views.c.data_version)).all()
        assert sorted(rows) == sorted((d.request.view, version) for d in done)
        for d in done:
            stored = derived.lookup(conn, cfg, d.request, version=version)
            assert same(stored, derived.compute(conn, cfg, d.request)), d.request.view
    # Derived again at the same version: replaced, not added to.
    derived.derive_defaults(demo, cfg)
    with demo.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.derived_views)).scalar() == 3


def test_a_stored_view_is_used_only_for_its_version_settings_parameters_and_age(demo):
    cfg = load_settings()
    now = datetime.now(timezone.utc)
    with read_snapshot(demo) as conn:
        request = derived.default_requests(conn, cfg)[2]  # velocity: the cheapest
        version = current(conn)
        value = derived.compute(conn, cfg, request)
    assert derived.remember(demo, cfg, request, value, version=version, now=now)
    with read_snapshot(demo) as conn:
        assert derived.lookup(conn, cfg, request, version=version, now=now) \
            is not derived.MISSING
        # Another data version, other filters, another configuration, too old: each a miss.
        assert derived.lookup(conn, cfg, request, version=version + 1, now=now) \
            is derived.MISSING
        other = derived.Request("velocity", derived.scope_args(project="NOPE"), request.options)
        assert derived.lookup(conn, cfg, other, version=version, now=now) is derived.MISSING
        team = next(iter(cfg.teams))
        edited = dataclasses.replace(cfg, teams={k: v for k, v in cfg.teams.items()
                                                 if k != team})
        assert derived.lookup(conn, edited, request, version=version, now=now) \
            is derived.MISSING
        later = now + derived.MAX_AGE + timedelta(seconds=1)
        assert derived.lookup(conn, cfg, request, version=version, now=later) \
            is derived.MISSING
    # A payload that does not decode is a miss, not an error.
    with demo.begin() as conn:
        conn.execute(update(schema.derived_views).values(payload='{"$dataclass":"os:system"}'))
    with read_snapshot(demo) as conn:
        assert derived.lookup(conn, cfg, request, version=version, now=now) is derived.MISSING


def test_a_write_leaves_the_older_versions_views_unused_and_the_next_store_drops_them(demo):
    cfg = load_settings()
    derived.derive_defaults(demo, cfg)
    with demo.begin() as conn:
        old = current(conn)
        bump(conn)
    with read_snapshot(demo) as conn:
        request = derived.default_requests(conn, cfg)[2]
        assert derived.lookup(conn, cfg, request, version=old + 1) is derived.MISSING
    derived.derive_defaults(demo, cfg)
    with demo.connect() as conn:
        versions = set(conn.execute(select(schema.derived_views.c.data_version)).scalars())
    assert versions == {old + 1}


def test_storing_while_a_sync_holds_the_write_lock_gives_up_at_once(sqlite_url):
    engine = get_engine(sqlite_url)
    cfg = load_settings()
    request = derived.Request("velocity", derived.scope_args(), {"n": 6})
    blocker = engine.raw_connection()
    try:
        blocker.execute("BEGIN IMMEDIATE")
        assert derived.remember(engine, cfg, request, ("a", 1), version=1) is False
    finally:
        blocker.rollback()
        blocker.close()
    # The connection went back to the pool with its usual lock wait.
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert derived.remember(engine, cfg, request, ("a", 1), version=1) is True
    engine.dispose()


def test_store_and_lookup_on_both_databases(engine):
    cfg = load_settings()
    request = derived.Request("velocity", derived.scope_args(project="PAY"), {"n": 6})
    value = (pd.DataFrame({"sprint": ["S1"], "committed": [8.0]}),
             (Metric("velocity", "Velocity", "points", "higher", "d", "sprint"),
              MetricValue(8.0, "points", 1)))
    assert derived.remember(engine, cfg, request, value, version=7)
    assert derived.remember(engine, cfg, request, value, version=8)  # replaces, drops 7
    with read_snapshot(engine) as conn:
        assert same(derived.lookup(conn, cfg, request, version=8), value)
        assert derived.lookup(conn, cfg, request, version=7) is derived.MISSING
        assert conn.execute(select(func.count()).select_from(schema.derived_views)).scalar() == 1


# --- what the page shows ----------------------------------------------------------------------
def test_the_delivery_page_reads_the_stored_view_and_not_after_a_write(demo):
    """A stored view doctored to a figure no computation gives shows on the page; after a
    write (the data version advances) the page computes again and the figure is gone."""
    from streamlit.testing.v1 import AppTest

    cfg = load_settings()
    with read_snapshot(demo) as conn:
        version = current(conn)
        request = derived.default_requests(conn, cfg)[0]
        now, before, monthly, teams = derived.compute(conn, cfg, request)
    metric, value = now["deployment_frequency"]
    now["deployment_frequency"] = (metric, dataclasses.replace(value, value=987.0))
    assert derived.remember(demo, cfg, request, (now, before, monthly, teams), version=version)

    def shown() -> str:
        clear_streamlit_caches()
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        at.switch_page("pages/delivery.py").run()
        assert not at.exception, at.exception
        return {m.label: m.value for m in at.metric}[metric.label]

    assert "987" in shown()
    with demo.begin() as conn:
        bump(conn)
    assert "987" not in shown()


def test_the_scheduler_derives_what_is_missing_or_ageing_and_is_quiet_otherwise(demo):
    from jobs.schedule import RoundResult, Scheduler

    cfg = load_settings()
    clock = [datetime.now(timezone.utc)]
    log: list[str] = []
    sched = Scheduler(demo, lambda: cfg, every=60, clock=lambda: clock[0], log=log.append)
    sched.derive_step(cfg, RoundResult())
    assert len(log) == 1 and log[0].startswith("derived views: 3 of 3 stored ("), log
    clock[0] += timedelta(minutes=10)
    sched.derive_step(cfg, RoundResult())
    assert len(log) == 1  # all stored less than half an hour ago: nothing to do, nothing said
    clock[0] += derived.MAX_AGE / 2
    sched.derive_step(cfg, RoundResult())
    assert len(log) == 2 and log[1].startswith("derived views: 3 of 3 stored ("), log
