"""The command line in a subprocess: output, exit codes, and that the token never leaks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.github_server import FakeGitHub, issue

ROOT = Path(__file__).resolve().parent.parent
# Shaped like a real token (split so no scanner mistakes this fake for a leaked one).
TOKEN = "ghp_" + "FAKEtoken1234567890abcdefSECRET"


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    fake.issues = [issue(1, "2024-03-01T00:00:00Z", title="first")]
    return fake


def cli(tmp_path, *args, token=TOKEN):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_TOKEN", "READINESS_CONFIG", "DATABASE_URL")}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
               SHIPREADY_SECRETS=str(tmp_path / "none.toml"))
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "connectors", "sync", "github", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def db_dump(tmp_path) -> str:
    eng = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with eng.connect() as conn:
        parts = [str(conn.execute(text(f"SELECT * FROM {t}")).all())
                 for t in ("sync_runs", "raw_records", "sync_state", "work_items")]
    eng.dispose()
    return "\n".join(parts)


def test_sync_then_failure_never_shows_the_token(tmp_path, gh):
    ok = cli(tmp_path, "--repo", "acme/web", "--api-url", gh.base_url)
    assert ok.returncode == 0, ok.stderr
    assert "github: issues 1" in ok.stdout
    # the token was sent — as a header, nowhere else
    assert gh.log[0][2]["authorization"] == f"Bearer {TOKEN}"
    assert all(TOKEN not in str(q) for _p, q, _h in gh.log)

    gh.fail_next("/milestones", 401, body={"message": f"Bad credentials {TOKEN}"})
    bad = cli(tmp_path, "--repo", "acme/web", "--api-url", gh.base_url)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert lines == ["error: github: the server rejected the credentials (401) — set "
                     "GITHUB_TOKEN to a valid token"]
    assert "Traceback" not in bad.stderr
    for out in (ok.stdout, ok.stderr, bad.stdout, bad.stderr, db_dump(tmp_path)):
        assert TOKEN not in out
    assert "rejected the credentials" in db_dump(tmp_path)  # the failure is logged


def test_without_token_it_says_so_once_and_still_syncs(tmp_path, gh):
    res = cli(tmp_path, "--repo", "acme/web", "--api-url", gh.base_url, token=None)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("GITHUB_TOKEN is not set") == 1
    assert "authorization" not in gh.log[0][2]


def test_bad_repo_argument_is_a_usage_error(tmp_path, gh):
    res = cli(tmp_path, "--repo", "just-a-name", "--api-url", gh.base_url)
    assert res.returncode == 2
    assert "expected OWNER/NAME" in res.stderr
    assert gh.log == []


def test_unknown_repo_is_one_line(tmp_path, gh):
    res = cli(tmp_path, "--repo", "acme/missing", "--api-url", gh.base_url)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: github: repository acme/missing not found on {gh.base_url.split('//')[1]}, "
        "or not visible to this token (404) — check --repo and GITHUB_TOKEN"]


def test_configured_repos_sync(tmp_path, gh):
    (tmp_path / "readiness.toml").write_text(
        f'[github]\nrepos = ["acme/web"]\napi_url = "{gh.base_url}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG",)}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
               GITHUB_TOKEN=TOKEN)
    res = subprocess.run([sys.executable, "-m", "connectors", "sync"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "github: issues 1" in res.stdout
