"""Shared fixtures: databases (SQLite and, when configured, PostgreSQL), the corpus, skips.

Optional parts — the corpus, PostgreSQL, Chromium — skip with a visible reason on a machine
that lacks them; CI sets SHIPREADY_REQUIRE=postgres,corpus,chromium to turn those skips into
failures, so a green CI means they really ran.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from data.store import get_engine

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {p.strip() for p in os.environ.get("SHIPREADY_REQUIRE", "").split(",") if p.strip()}


def need(kind: str, reason: str) -> None:
    """Skip with ``reason`` — or fail, when CI requires ``kind``."""
    if kind in REQUIRED:
        pytest.fail(f"{reason} (required by SHIPREADY_REQUIRE)")
    pytest.skip(reason)


def corpus_dir() -> Path | None:
    env = os.environ.get("SHIPREADY_CORPUS")
    # Absolute, so tests that change directory still find it from a relative setting.
    path = Path(env).resolve() if env else ROOT.parent / "shared" / "corpus"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real payloads in ../shared/corpus (read in place, never copied)."""
    path = corpus_dir()
    if path is None:
        need("corpus", "corpus not found: set SHIPREADY_CORPUS or place ../shared/corpus")
    return path


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards."""
    base = _postgres_url()
    if not base:
        need("postgres", "PostgreSQL not configured: set TEST_DATABASE_URL to run on it")
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    except Exception as exc:  # server down or URL wrong
        admin.dispose()
        need("postgres", f"PostgreSQL at TEST_DATABASE_URL unreachable: {type(exc).__name__}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema_name}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'readiness.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """Each test using this runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'readiness.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    eng = get_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    eng = get_engine(sqlite_url)
    yield eng
    eng.dispose()


# --- the app on the demo organisation ----------------------------------------------------------
@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """One small demo organisation per test session, copied for each test that opens pages."""
    from pages_support import load_demo_db

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    load_demo_db(path, scale=0.05)
    return path


@pytest.fixture
def demo(demo_template, tmp_path, monkeypatch):
    """The app pointed at a private copy of the demo organisation (caches cold, no stray
    readiness.toml); yields an engine on it. tests/test_readiness.py has its own ``demo``."""
    from pages_support import demo_copy, page_database

    with page_database(demo_copy(demo_template, tmp_path / "demo.db"), tmp_path,
                       monkeypatch) as engine:
        yield engine


@pytest.fixture(autouse=True)
def _loopback_server_address():
    """AppTests run as if served by `make run` (127.0.0.1): with no address Streamlit listens
    on every interface, and the router then opens to nobody without sign-in (README
    "Sign-in"). Tests of other addresses set the option themselves."""
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)
