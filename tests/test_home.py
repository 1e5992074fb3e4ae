"""The home page (through the app's router) on a demo database and on an empty one."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from data import schema
from data.demo import load_demo
from pages_support import APP, TIMEOUT, page_database


@pytest.fixture
def database(tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'home.db'}", tmp_path, monkeypatch) as engine:
        yield engine


def _run() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_home_shows_rows_per_source_of_the_demo(database):
    load_demo(database, scale=0.05, today=date(2026, 3, 2))
    with database.connect() as conn:
        items = conn.execute(select(func.count()).select_from(schema.work_items)
                             .where(schema.work_items.c.source == "demo")).scalar()
        results = conn.execute(select(func.count()).select_from(schema.test_results)).scalar()
        total = sum(conn.execute(select(func.count()).select_from(t)
                                 .where(t.c.source == "demo")).scalar()
                    for t in schema.sourced_tables_children_first()) + results
    at = _run()
    table = at.dataframe[0].value
    assert table.loc["work_items", "demo"] == items
    assert table.loc["test_results", "demo"] == results
    demo = next(m for m in at.metric if m.label == "demo")
    assert demo.value == f"{total:,} rows"
    # The demo load is logged like a sync, so the home page can say when it happened.
    assert any("success" in c.value for c in at.caption)
    assert any("--remove" in c.value for c in at.caption)
    assert not at.info


def test_home_on_an_empty_database_says_how_to_load_data(database):
    at = _run()
    assert at.info, "the empty database needs guidance"
    assert "python -m connectors demo" in at.info[0].value
    assert not at.dataframe
