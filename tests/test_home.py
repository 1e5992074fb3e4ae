"""Home — the portfolio (through the app's router) on the demo, on an empty database; and the
rows-per-table view, which moved to Data sources."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from data import schema
from data.demo import load_demo
from pages_support import APP, TIMEOUT, page_database
from ui import theme


@pytest.fixture
def database(tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'home.db'}", tmp_path, monkeypatch) as engine:
        yield engine


def _run() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _links(at) -> list[tuple[str, str]]:
    return [(link.proto.label, link.proto.query_string) for link in at.get("page_link")
            if link.proto.page == "readiness"]


def test_portfolio_lists_every_upcoming_release_with_a_deep_link(demo):
    r = schema.releases
    with demo.connect() as conn:
        upcoming = conn.execute(select(r.c.project, r.c.name).where(r.c.released_at.is_(None))
                                .order_by(r.c.target_date)).all()
    at = _run()
    # Every release not shipped, soonest target first, each one click from its Readiness page
    # with the query parameters that select it (ui/filters.py).
    assert _links(at) == [(f"**{p} {n}**", f"project={p.replace('/', '%2F')}&release={n}")
                          for p, n in upcoming]
    text = "\n".join(m.value for m in at.markdown)
    # README: PAY 2.4 is NO-GO today, OPS 1.9 GO; verdicts in icon and word.
    assert f"**{theme.verdict_label('NO_GO')}**" in text and "❌ NO-GO" in text
    assert f"**{theme.verdict_label('GO')}**" in text
    # The demo's history (data/demo/snapshots.py): the releases whose life has begun carry
    # daily snapshots — PAY 2.4, OPS 1.9, acme/web v3.2 and the GitLab team's acme/mobile/app
    # 4.2; PAY 2.5 and OPS 2.0 start after their predecessors' targets, so they have none yet
    # and say so.
    sparks = [c for c in at.get("plotly_chart")]
    assert len(sparks) == 4
    assert all("4-week score (0–100)" in c.proto.spec for c in sparks)
    assert sum("No score history yet" in c.value for c in at.caption) == 2
    # Beside it: the DORA keys and how fresh the data is.
    for label in ("Deployment frequency", "Lead time for changes", "Change failure rate"):
        assert label in text
    assert "**demo** · last success" in text
    assert any(c.value.startswith("✅ success · latest run") for c in at.caption)
    assert not at.dataframe  # rows per table live on Data sources now


def test_home_on_an_empty_database_says_how_to_load_data(database):
    at = _run()
    assert at.info, "the empty database needs guidance"
    assert "python -m connectors demo" in at.info[0].value
    assert not at.dataframe and not _links(at)


def test_rows_per_source_and_table_are_on_data_sources(database):
    load_demo(database, scale=0.05, today=date(2026, 3, 2))
    with database.connect() as conn:
        items = conn.execute(select(func.count()).select_from(schema.work_items)
                             .where(schema.work_items.c.source == "demo")).scalar()
        results = conn.execute(select(func.count()).select_from(schema.test_results)).scalar()
        total = sum(conn.execute(select(func.count()).select_from(t)
                                 .where(t.c.source == "demo")).scalar()
                    for t in schema.sourced_tables_children_first()) + results
    at = _run()
    at.switch_page("pages/data_sources.py").run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "demo" in d.value.columns)
    assert table.loc["work_items", "demo"] == items
    assert table.loc["test_results", "demo"] == results
    demo = next(m for m in at.metric if m.label == "demo")
    assert demo.value == f"{total:,} rows"
    assert any("--remove" in c.value for c in at.caption)
