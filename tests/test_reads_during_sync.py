"""Reads while a sync writes (issue 15, part 4): every write advances the data version that
every page cache key includes, so another process's write shows at the next render; pages
render while a sync in another process writes, without "database is locked" reaching a user;
and the data age shows on every page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from connectors.frame import SyncRun, set_state
from data import schema
from data.version import current
from metrics.waivers import add_waiver
from pages_support import APP, TIMEOUT
from ui import theme

ROOT = Path(__file__).resolve().parent.parent


def test_every_write_advances_the_data_version(engine):
    with engine.connect() as conn:
        v0 = current(conn)
    assert v0 == 0  # a new database: no write yet
    with engine.begin() as conn:  # one sync page
        set_state(conn, "github", "acme/web", "issues", cursor="2026-03-01")
    with engine.connect() as conn:
        assert current(conn) == 1
    with SyncRun(engine, "github", "acme/web"):  # its end (a run that stored no cursor) counts
        pass
    with engine.begin() as conn:
        add_waiver(conn, "r1", "scope_done", reason="agreed", by="Ana")
    with engine.connect() as conn:
        assert current(conn) == 3
    with engine.begin() as conn:  # a page that rolls back leaves the version as it was
        set_state(conn, "github", "acme/web", "pulls", cursor="x")
        conn.rollback()
    with engine.connect() as conn:
        assert current(conn) == 3


def _env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG",)}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=url)
    return env


def _gate_status(at, label: str) -> str:
    table = next(df.value for df in at.dataframe if "Threshold" in df.value.columns)
    return table.set_index("Gate").loc[label, "Status"]


def test_a_waiver_by_another_process_shows_at_the_next_render(demo, tmp_path):
    url = str(demo.url)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["release"] = "2.4"
    at.query_params["project"] = "PAY"
    at.run()
    at.switch_page("pages/readiness.py").run()
    assert not at.exception, at.exception
    assert _gate_status(at, "No open critical bugs") == theme.status_label("FAIL")
    res = subprocess.run([sys.executable, "-m", "metrics", "waive", "--release", "2.4",
                          "--project", "PAY", "--gate", "open_critical_bugs", "--reason",
                          "hotfix ready", "--by", "Ana"], cwd=tmp_path, env=_env(url),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    at.run()  # same session, caches warm: the version in their keys moved on
    assert not at.exception, at.exception
    assert _gate_status(at, "No open critical bugs") == theme.status_label("WAIVED")


# A sync in another process: 150 page transactions, each rewriting item titles and storing a
# cursor (which advances the data version), as fast as it can.
WRITER = """
import sys
from sqlalchemy import select, update
from connectors.frame import SyncRun, set_state
from data import schema
from data.store import get_engine
engine = get_engine(sys.argv[1])
wi = schema.work_items
with engine.connect() as conn:
    ids = conn.execute(select(wi.c.id).order_by(wi.c.id).limit(200)).scalars().all()
print("writing", flush=True)
with SyncRun(engine, "writer", "all"):
    for page in range(150):
        with engine.begin() as conn:
            conn.execute(update(wi).where(wi.c.id.in_(ids)).values(title=f"page {page}"))
            set_state(conn, "writer", "all", "items", cursor=str(page))
print("done", flush=True)
"""


def test_pages_render_while_another_process_syncs(demo, tmp_path):
    url = str(demo.url)
    with demo.connect() as conn:
        before = current(conn)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], env=_env(url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        renders = 0
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params["release"] = "2.4"
        at.query_params["project"] = "PAY"
        while writer.poll() is None or renders < 3:
            for page in ("pages/home.py", "pages/readiness.py", "pages/quality.py"):
                at.switch_page(page).run()
                assert not at.exception, at.exception
                shown = " ".join(str(e.value) for kind in ("error", "warning", "info")
                                 for e in getattr(at, kind))
                assert "locked" not in shown.lower(), shown
                renders += 1
            if renders > 60:
                break
        out, err = writer.communicate(timeout=300)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    assert out.strip() == "done"
    with demo.connect() as conn:
        assert current(conn) == before + 151  # 150 pages + the run's end
    assert renders >= 3


def test_every_page_shows_the_data_age(demo):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    for page in ("pages/home.py", "pages/sprint.py", "pages/data_sources.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        captions = [c.value for c in at.caption]
        # The demo was loaded by this test session just now: its age is minutes.
        assert any(c.startswith("Data age: demo ") and c.endswith(" min") for c in captions), \
            captions
        assert not [w for w in at.warning if "Data older" in w.value]


def test_the_page_warns_when_a_source_is_too_old(demo):
    from datetime import datetime, timedelta, timezone

    old = datetime.now(timezone.utc) - timedelta(hours=30)
    with demo.begin() as conn:
        conn.execute(schema.sync_runs.insert().values(
            source="jira", scope="PAY", started_at=old, finished_at=old, outcome="success",
            items={}, requests=0, not_modified=0))
        from data.version import bump
        bump(conn)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Data older than 24 h or not syncing: jira (30.0 h old).")
               for w in warnings), warnings
    with demo.connect() as conn:
        assert conn.execute(select(schema.sync_runs.c.id)).first() is not None


def test_metrics_commands_run_while_another_process_syncs(demo, tmp_path):
    url = str(demo.url)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], env=_env(url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        results = [subprocess.run([sys.executable, "-m", "metrics", *args], cwd=tmp_path,
                                  env=_env(url), capture_output=True, text=True, timeout=300)
                   for args in (("readiness", "--release", "2.4", "--project", "PAY",
                                 "--format", "json"),
                                ("kpis", "--project", "PAY", "--format", "json"),
                                ("readiness", "--release", "1.9", "--project", "OPS"))]
        writer.communicate(timeout=300)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0
    for res in results:
        assert res.returncode in (0, 1), res.stderr  # a verdict, never an error (2)
        assert "locked" not in (res.stdout + res.stderr).lower()


# Another process records a finished sync of a new source (as a connector's SyncRun does).
RECORDER = """
import sys
from connectors.frame import SyncRun
from data.store import get_engine
with SyncRun(get_engine(sys.argv[1]), "jenkins", "app/main"):
    pass
"""


def test_the_router_and_page_lists_see_another_process_sync_at_once(demo):
    url = str(demo.url)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/data_sources.py").run()
    assert not at.exception, at.exception

    def sources():
        table = next(df.value for df in at.dataframe if "Source" in df.value.columns)
        return sorted(table["Source"])

    assert sources() == ["demo"]
    res = subprocess.run([sys.executable, "-c", RECORDER, url], env=_env(url),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    at.run()  # within the lists' 10-30 s TTL: only the data version can tell
    assert sources() == ["demo", "jenkins"]
