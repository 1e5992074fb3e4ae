"""The Data sources page: last sync per source from sync_runs, the mapping, the commands."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from streamlit.testing.v1 import AppTest

from data import schema
from data.store import get_engine
from pages_support import APP, TIMEOUT, page_database
from tests.github_server import FakeGitHub, issue

T = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    with page_database(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, monkeypatch):
        yield


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/data_sources.py").run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "code")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_empty_database_says_what_to_do():
    at = _open()
    text = _texts(at)
    assert "No sync has run yet" in text
    assert "python -m connectors demo" in text
    # no source configured (demo settings): no sync buttons, but the demo can be reloaded
    labels = [b.label for b in at.button]
    assert "Reload demo" in labels and not any(lb.startswith("Sync ") for lb in labels)


def test_last_sync_per_source_with_rows_requests_and_error(tmp_path):
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(schema.sync_runs.insert(), [
            # an older github run, superseded by the next one
            {"source": "github", "scope": "acme/web", "started_at": T, "finished_at": T,
             "outcome": "failed", "items": {}, "requests": 1, "not_modified": 0,
             "duration_s": 1.0, "error": "old failure"},
            {"source": "github", "scope": "acme/web", "started_at": T, "finished_at": T,
             "outcome": "success", "items": {"issues": 12, "pulls": 3}, "requests": 7,
             "not_modified": 2, "duration_s": 4.0, "error": None},
            {"source": "jira", "scope": "PAY", "started_at": T, "finished_at": T,
             "outcome": "failed", "items": {"issues": 5}, "requests": 2, "not_modified": 0,
             "duration_s": 1.5,
             "error": "Jira answered 401: check JIRA_EMAIL and JIRA_API_TOKEN"},
        ])
    engine.dispose()
    at = _open()
    table = at.dataframe[0].value
    by_source = table.set_index("Source")
    assert list(by_source.index) == ["github", "jira"]  # one row per source, the latest run
    assert by_source.loc["github", "Rows"] == 15  # 12 issues + 3 pulls
    assert by_source.loc["github", "Requests"] == 7
    assert by_source.loc["github", "Outcome"] == "✅ success"
    assert by_source.loc["jira", "Outcome"] == "❌ failed"
    assert by_source.loc["github", "Error"] == ""  # the older failure is not the last word
    errors = [e.value for e in at.error]
    assert any("401: check JIRA_EMAIL and JIRA_API_TOKEN" in e for e in errors)


def test_mapping_in_force_is_listed():
    at = _open()
    mapping = next(df.value for df in at.dataframe if "Rule" in df.value.columns)
    rules = dict(zip(mapping["Rule"], mapping["Value"]))
    # the defaults of data/config.py's MappingSettings
    assert rules["bug types"] == "Bug, Defect"
    assert "Highest → critical" in rules["severity by priority"]


def test_configured_sources_get_sync_buttons_and_commands(tmp_path):
    (tmp_path / "readiness.toml").write_text(
        '[github]\nrepos = ["acme/web"]\n[jenkins]\nurl = "https://ci.example"\n'
        'jobs = ["app/main"]\n')
    at = _open()
    labels = [b.label for b in at.button]
    assert {"Sync github", "Sync jenkins", "Sync all"} <= set(labels)
    code = "\n".join(c.value for c in at.code)
    assert "python -m connectors sync --source github --config readiness.toml" in code
    assert "python -m connectors sync --source jenkins --config readiness.toml" in code


def test_sync_now_runs_the_cli_and_a_full_reread_drops_a_deleted_issue(tmp_path, httpserver,
                                                                         monkeypatch):
    gh = FakeGitHub().install(httpserver)
    gh.issues = [issue(1, "2024-03-01T00:00:00Z"), issue(2, "2024-03-02T00:00:00Z")]
    # one of two issues is half the repository: over the default max_delete_share of 0.1
    (tmp_path / "readiness.toml").write_text(
        f'[app]\nmax_delete_share = 0.5\n'
        f'[github]\napi_url = "{gh.base_url}"\nrepos = ["acme/web"]\n')
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "FAKEFAKEFAKEFAKEFAKEFAKE")

    def sync_github(at):
        next(b for b in at.button if b.label == "Sync github").click().run()
        assert not at.exception, at.exception
        labels = [e.label for e in at.main if type(e).__name__ == "Status"]
        assert any(lb.startswith("Sync github: done") for lb in labels), labels
        assert not any("FAKEFAKE" in lb for lb in labels)

    def stored():
        engine = get_engine()
        with engine.connect() as conn:
            from sqlalchemy import select

            ids = sorted(conn.execute(select(schema.work_items.c.id)).scalars())
        engine.dispose()
        return ids

    at = _open()
    sync_github(at)  # a subprocess, run from the project root with this readiness.toml
    assert stored() == ["github:issue:acme/web#1", "github:issue:acme/web#2"]

    gh.issues = gh.issues[:1]  # #2 deleted on GitHub
    sync_github(at)  # incremental: GitHub does not list deletions
    assert len(stored()) == 2
    at.toggle(key="sync_full").set_value(True).run()
    sync_github(at)
    assert stored() == ["github:issue:acme/web#1"]


def test_reload_demo_runs_the_cli_and_the_page_shows_the_new_run(tmp_path):
    at = _open()
    at.select_slider[0].set_value(0.1).run()
    next(b for b in at.button if b.label == "Reload demo").click().run()
    assert not at.exception, at.exception
    # the same command line a user would type, run in a subprocess with live output
    labels = [e.label for e in at.main if type(e).__name__ == "Status"]
    assert any("Reload demo: done" in lb for lb in labels), labels
    engine = get_engine()
    with engine.connect() as conn:
        from sqlalchemy import func, select

        demo_items = conn.execute(select(func.count()).select_from(schema.work_items)
                                  .where(schema.work_items.c.source == "demo")).scalar()
    engine.dispose()
    assert demo_items > 0
    at.run()  # caches were cleared: the next run lists the demo load
    table = at.dataframe[0].value
    assert "demo" in list(table["Source"])
