"""Helpers for the page tests (AppTest, browser, bench): demo databases and cache hygiene.

Not a test module; imported by tests/test_pages_*.py and tests/test_browser.py.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from data.store import get_engine

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 90  # AppTest default_timeout: these machines have 2 cores


def demo_available() -> bool:
    return importlib.util.find_spec("data.demo") is not None


def load_demo_db(path: Path, scale: float = 0.05, today=None) -> str:
    """A SQLite file at ``path`` with the demo organisation; returns its URL."""
    from data.demo import load_demo

    url = f"sqlite:///{path}"
    engine = get_engine(url)
    try:
        kwargs = {"scale": scale}
        if today is not None:
            kwargs["today"] = today
        load_demo(engine, **kwargs)
    finally:
        engine.dispose()
    return url


def clear_streamlit_caches() -> None:
    """Caches persist between AppTests in one process; every test starts cold."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def demo_copy(template: Path, dest: Path) -> str:
    """A private copy of a prepared demo SQLite file (tests that write get their own)."""
    import shutil

    shutil.copyfile(template, dest)
    return f"sqlite:///{dest}"


@contextmanager
def page_database(url: str, tmp_path: Path, monkeypatch) -> Iterator:
    """Point the app at ``url`` for one test: caches cold before and after (they outlive an
    AppTest), the working directory a temp folder (no stray readiness.toml, so the demo
    organisation's settings), ``READINESS_CONFIG`` unset. Yields an engine on ``url``."""
    clear_streamlit_caches()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    engine = get_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        clear_streamlit_caches()
