"""``python -m connectors sync jira`` in a subprocess: output, exit codes, and that the token
never reaches the output or the database."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from tests.jira_server import FakeJira, history, issue, status_item

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "bot@example.com"
# Shaped like a real token (split so no scanner mistakes this fake for a leaked one).
TOKEN = "ATATT" + "3xFAKEjiraTOKEN0123456789SECRET"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


def cli(tmp_path, *args):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JIRA_") and k not in ("READINESS_CONFIG", "DATABASE_URL")}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
               SHIPREADY_SECRETS=str(tmp_path / "none.toml"), JIRA_EMAIL=EMAIL,
               JIRA_API_TOKEN=TOKEN)
    return subprocess.run([sys.executable, "-m", "connectors", "sync", "jira", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def db_text(tmp_path) -> str:
    eng = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with eng.connect() as conn:
        parts = [str(conn.execute(text(f'SELECT * FROM "{t}"')).all())
                 for t in inspect(conn).get_table_names()]
    eng.dispose()
    return "\n".join(parts)


def test_cli_sync_and_401_never_show_the_token(tmp_path, httpserver):
    fake = FakeJira(httpserver, require_auth=f"Basic {BASIC}", issues=[issue(
        "PAY-1", histories=[history(1, "2024-03-02T10:00:00.000+0000", status_item("1", "3"))])])
    ok = cli(tmp_path, "--url", fake.url, "--project", "PAY")
    assert ok.returncode == 0, ok.stderr
    # 1 issue; 2 changes (the status item and its status_category row)
    assert "jira: releases 0, sprints 0, issues 1, changes 2" in ok.stdout
    assert all(r.headers["Authorization"] == f"Basic {BASIC}" for r in fake.requests())
    assert all(TOKEN not in r.url for r in fake.requests())

    fake.fail_next("/rest/api/3/search/jql", 401)
    bad = cli(tmp_path, "--url", fake.url, "--project", "PAY")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: jira: the server rejected the credentials (401) — set JIRA_EMAIL and "
        "JIRA_API_TOKEN (Jira Cloud) or JIRA_TOKEN (Data Center) to a valid token"]
    for output in (ok.stdout, ok.stderr, bad.stdout, bad.stderr, db_text(tmp_path)):
        assert TOKEN not in output and BASIC not in output


def test_cli_unknown_project_is_one_line(tmp_path, httpserver):
    fake = FakeJira(httpserver, require_auth=f"Basic {BASIC}")
    bad = cli(tmp_path, "--url", fake.url, "--project", "NOPE")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: jira: project NOPE not found (404) — check --project, and that this account "
        "may browse it"]


def test_cli_without_url_says_what_to_do(tmp_path):
    bad = cli(tmp_path, "--project", "PAY")
    assert bad.returncode == 1
    assert "pass --url" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
