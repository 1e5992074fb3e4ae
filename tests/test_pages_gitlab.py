"""Every page on a database a GitLab sync wrote (the fake API of tests/gitlab_server.py, the
project of tests/test_gitlab_sync.py): no exception, and the GitLab project, its release and
its merge requests show where GitHub's would."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from connectors.gitlab.cli import sync_gitlab
from connectors.progress import NULL_PROGRESS
from data.config import load_settings
from pages_support import APP, TIMEOUT, page_database
from tests.fake_clock import FakeClock
from tests.gitlab_server import FakeGitLab, Project
from tests.test_gitlab_sync import NOW, PATH, PID, populate
from tests.test_secret_sweep import _tree_text as _text

CONFIG = f"""
[gitlab]
projects = ["{PATH}"]

[projects.API]
repos = ["{PATH}"]
services = ["{PATH}"]

[teams.mobile]
projects = ["API"]
repos = ["{PATH}"]
"""


@pytest.mark.parametrize("page", ["pages/home.py", "pages/readiness.py", "pages/sprint.py",
                                  "pages/quality.py", "pages/delivery.py",
                                  "pages/data_sources.py"])
def test_every_page_renders_a_gitlab_sync(page, httpserver, tmp_path, monkeypatch):
    (tmp_path / "readiness.toml").write_text(CONFIG, encoding="utf-8")
    gl = FakeGitLab(prefix="/gitlab").install(httpserver)
    populate(gl.add(Project(PID, PATH)))
    with page_database(f"sqlite:///{tmp_path / 'gl.db'}", tmp_path, monkeypatch) as engine:
        settings = load_settings()
        assert settings.configured_sources() == ["gitlab"]
        sync_gitlab(settings, engine, NULL_PROGRESS, url=gl.url, projects=[PATH], groups=[],
                    include_archived=False, clock=FakeClock(NOW), token=gl.token)
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        assert not at.exception, at.exception
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert at.title, "every page has a title"
        text = _text(at)
        if page == "pages/data_sources.py":
            assert "gitlab" in text and PATH in text
        if page == "pages/readiness.py":
            assert "2.4" in text  # the open milestone is the upcoming release
