"""Every page on the demo organisation through the router: no exception, the numbers are the
metrics layer's for a chosen sprint and the delivery scope, and a deep link opens its view."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data import schema
from data.config import load_settings
from metrics import registry
from metrics.readiness import evaluate_release
from metrics.scope import resolve_scope
from metrics.sprint import sprint_report
from pages_support import APP, TIMEOUT, clear_streamlit_caches, page_database
from ui import theme
from ui.widgets import format_value


def _open(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", ["pages/home.py", "pages/readiness.py", "pages/sprint.py",
                                  "pages/quality.py", "pages/delivery.py",
                                  "pages/data_sources.py"])
def test_every_page_renders_on_the_demo(demo, page):
    at = _open(page)
    assert at.title, "every page has a title"


def test_sprint_deep_link_shows_the_sprint_report_of_that_sprint(demo):
    with demo.connect() as conn:
        sid, name = conn.execute(
            select(schema.sprints.c.id, schema.sprints.c.name)
            .where(schema.sprints.c.project == "PAY", schema.sprints.c.state == "closed")
            .order_by(schema.sprints.c.start_at).limit(1)).one()  # the oldest closed sprint
        rep = sprint_report(conn, sid)
    at = _open("pages/sprint.py", {"sprint": name, "project": "PAY"})
    assert at.selectbox(key="w_sprint").value == sid
    shown = {m.label: m.value for m in at.metric}
    assert shown["Committed"] == format_value(rep.committed, rep.unit)
    assert shown["Completed"] == format_value(rep.completed, rep.unit)
    assert shown["Not completed (carry-over)"] == format_value(rep.not_completed, rep.unit)
    assert at.query_params["sprint"] == name


def test_delivery_tiles_are_the_registry_values(demo):
    at = _open("pages/delivery.py", {"team": "payments"})
    shown = {m.label: m.value for m in at.metric}
    with demo.connect() as conn:
        sc = resolve_scope(conn, load_settings(), team="payments")
        for metric_id in ("deployment_frequency", "lead_time_for_changes",
                          "change_failure_rate"):
            reg = registry.get(metric_id)
            value = registry.compute(metric_id, conn, sc)
            assert shown[reg.metric.label] == format_value(value.value, value.unit)
    assert at.query_params["team"] == "payments"


def test_delivery_lists_every_upcoming_release_with_its_verdict(demo):
    at = _open("pages/delivery.py")
    table = next(df.value for df in at.dataframe if "Verdict" in df.value.columns)
    with demo.connect() as conn:
        rows = conn.execute(select(schema.releases.c.id, schema.releases.c.project,
                                   schema.releases.c.name)
                            .where(schema.releases.c.released_at.is_(None))).all()
        expected = {f"{p} {n}": theme.verdict_label(evaluate_release(conn, load_settings(),
                                                                     rid).verdict)
                    for rid, p, n in rows}
    assert dict(zip(table["Release"], table["Verdict"])) == expected


METRIC_PAGES = ["pages/readiness.py", "pages/sprint.py", "pages/quality.py", "pages/delivery.py"]


@pytest.mark.parametrize("page", METRIC_PAGES)
def test_empty_database_gives_guidance(page, tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'empty.sqlite'}", tmp_path, monkeypatch):
        at = _open(page)
    assert any("python -m connectors demo" in i.value for i in at.info)
    assert not at.metric  # guidance, not zeros


@pytest.mark.parametrize("page", METRIC_PAGES + ["pages/data_sources.py"])
def test_a_broken_readiness_toml_is_one_line_and_the_page_stops(demo, page, tmp_path):
    (tmp_path / "readiness.toml").write_text("[github\nrepos = 1\n")
    at = _open(page)
    assert [e.value.split(":")[0] for e in at.error] == ["Configuration error"]
    assert "readiness.toml" in at.error[0].value
    assert not at.metric


@pytest.mark.parametrize("page", METRIC_PAGES + ["pages/home.py", "pages/data_sources.py"])
def test_an_unreachable_database_is_one_line_naming_the_setting(page, tmp_path, monkeypatch):
    clear_streamlit_caches()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/shipready")
    at = _open(page)
    assert len(at.error) == 1
    assert at.error[0].value.startswith("Database unavailable:")
    assert "DATABASE_URL" in at.error[0].value
    clear_streamlit_caches()


def test_open_bugs_over_time_equals_the_per_moment_counts_on_the_demo(demo):
    from metrics.quality import open_bugs_by_severity, open_bugs_by_severity_at
    from ui.loaders import sample_times

    with demo.connect() as conn:
        sc = resolve_scope(conn, load_settings())
        moments = sample_times(sc.since, sc.until, 10)
        many = open_bugs_by_severity_at(conn, sc, moments)
        assert many == [open_bugs_by_severity(conn, sc, t) for t in moments]
    # The demo has open bugs in the window, so the comparison is not between empty counts.
    assert sum(sum(c.values()) for c in many) > 0


def test_dora_monthly_equals_the_registry_month_by_month_on_the_demo(demo):
    import dataclasses

    import pandas as pd

    from metrics.views import DORA_IDS, dora_monthly

    with demo.connect() as conn:
        sc = resolve_scope(conn, load_settings(), team="payments")
        monthly = dora_monthly(conn, sc)
        expected = []
        for month in sorted(set(monthly["month"])):
            start = pd.Timestamp(month).tz_localize("UTC").to_pydatetime()
            nxt = (pd.Timestamp(month) + pd.offsets.MonthBegin(1)).tz_localize("UTC")
            one = dataclasses.replace(sc, since=start, until=min(nxt.to_pydatetime(), sc.until))
            for metric_id in DORA_IDS:
                v = registry.compute(metric_id, conn, one)
                # The frame holds a missing value as NaN.
                expected.append((month, registry.get(metric_id).metric.label,
                                 float("nan") if v.value is None else v.value))
    got = list(zip(monthly["month"], monthly["metric"], monthly["value"]))
    assert len(got) == 6 * len(DORA_IDS)
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    assert [g[2] for g in got] == pytest.approx([e[2] for e in expected], nan_ok=True)
    # Some month has a lead time, so the comparison is not between empty values.
    assert any(v == v for m, label, v in got if "ead time" in label)


def test_upcoming_releases_show_the_forecast_of_each_release(demo):
    from metrics.forecast import forecast_release
    from ui.loaders import upcoming_releases

    with demo.connect() as conn:
        sc = resolve_scope(conn, load_settings())
        upcoming = upcoming_releases(conn, sc)
        assert upcoming
        for u in upcoming:
            # The loader reuses the readiness forecast gate's run; it must be the forecast.
            fc = forecast_release(conn, u["release"]["id"], settings=load_settings())
            assert (u["p85"], u["on_time"], u["remaining"]) == \
                (fc.p85, fc.probability_on_time, fc.remaining)


def test_delivery_view_equals_each_call_on_its_own_connection(demo):
    """The Delivery composition shares one read of the merged PRs (metrics.dora
    .share_pr_deliveries); every KPI, month and team must equal its own call made on a fresh
    connection, which reads for itself."""
    from datetime import timedelta

    from metrics.dora import pr_deliveries, share_pr_deliveries
    from metrics.views import (DORA_IDS, delivery_view, dora_monthly, previous_window,
                               teams_side_by_side)

    cfg = load_settings()
    with demo.connect() as conn:
        sc = resolve_scope(conn, cfg)
        prev = previous_window(sc)
        assert prev == {"since": (sc.since - (sc.until - sc.since)).date(),
                        "until": sc.since.date()}
        now, before, monthly, teams = delivery_view(conn, cfg, sc, prev)
    with demo.connect() as conn:
        psc = resolve_scope(conn, cfg, **prev)
        assert now == {i: (registry.get(i).metric, registry.compute(i, conn, sc))
                       for i in DORA_IDS}
    with demo.connect() as conn:
        assert before == {i: (registry.get(i).metric, registry.compute(i, conn, psc))
                          for i in DORA_IDS}
    with demo.connect() as conn:
        assert monthly.equals(dora_monthly(conn, sc))
    with demo.connect() as conn:
        assert teams == teams_side_by_side(conn, cfg, sc)
    # Lead times and failed deployments were there to share (not a comparison of empty values).
    assert now["lead_time_for_changes"][1].n > 0
    assert now["change_failure_rate"][1].value and now["deployment_frequency"][1].value
    assert any(t["change_failure_rate"].value for t in teams)
    # Narrower windows and a subset of repos, derived from the shared read, equal a fresh read.
    with demo.connect() as conn:
        repo = sorted(sc.repos)[0]
        fresh = [pr_deliveries(conn, repos=rs, since=s, until=u)
                 for rs in ((), (repo,)) for s, u in ((sc.since, sc.until),
                                                      (sc.since, sc.since + timedelta(days=9)))]
    with demo.connect() as conn:
        share_pr_deliveries(conn, since=sc.since - timedelta(days=1), until=sc.until)
        shared = [pr_deliveries(conn, repos=rs, since=s, until=u)
                  for rs in ((), (repo,)) for s, u in ((sc.since, sc.until),
                                                       (sc.since, sc.since + timedelta(days=9)))]
    assert shared == fresh
    assert any(r.deployed_at is not None for r in fresh[1])


def test_quality_tests_view_equals_each_call_on_its_own_connection(demo):
    """The flaky-tests KPI and the page's flaky list share one answer on one connection
    (metrics.tests_ci.share_flaky_tests); each must equal its own call on a fresh one."""
    from metrics.views import flaky_and_slow, latest_run_failures, quality_tests_view

    ids = ("test_pass_rate", "flaky_tests")
    with demo.connect() as conn:
        sc = resolve_scope(conn, load_settings())
        values, latest, flaky, slow = quality_tests_view(conn, sc, ids)
    with demo.connect() as conn:
        assert values == {i: (registry.get(i).metric, registry.compute(i, conn, sc))
                          for i in ids}
    with demo.connect() as conn:
        assert (flaky, slow) == flaky_and_slow(conn, sc)
    with demo.connect() as conn:
        assert latest == latest_run_failures(conn, sc)
    assert latest and values["test_pass_rate"][1].value is not None
    assert flaky and values["flaky_tests"][1].value == len(flaky)
