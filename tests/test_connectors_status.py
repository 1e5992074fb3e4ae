"""``python -m connectors status`` (issue 15, part 2): each source's last success, age and
state; exit 1 when any source is too old, failing or never synced. Expectations worked out by
hand from data/freshness.py's definitions and the rows written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from data import schema
from data.config import parse_settings
from data.freshness import format_age, source_ages
from data.store import get_engine

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def _run(conn, source, scope, outcome, finished, error=None):
    conn.execute(schema.sync_runs.insert().values(
        source=source, scope=scope, started_at=finished - timedelta(minutes=1),
        finished_at=finished, outcome=outcome, items={}, requests=0, not_modified=0,
        error=error))


def test_ages_and_states_at_a_moment(engine):
    with engine.begin() as conn:
        # github: acme/web ok 2 h ago; acme/api's latest run (1 h ago) failed after a success
        _run(conn, "github", "acme/web", "success", NOW - timedelta(hours=2))
        _run(conn, "github", "acme/api", "success", NOW - timedelta(hours=30))
        _run(conn, "github", "acme/api", "failed", NOW - timedelta(hours=1), "github: 401")
        # jira: last success 30 h ago, nothing since
        _run(conn, "jira", "PAY", "success", NOW - timedelta(hours=30))
        # jenkins: a success after now does not count at NOW
        _run(conn, "jenkins", "app/main", "success", NOW + timedelta(hours=1))
    with engine.connect() as conn:
        ages = {a.source: a for a in source_ages(conn, NOW, ["github", "jira", "jenkins"])}
        # as of 25 h ago: github's acme/api had only its success (at NOW-30h): ok at 5 h
        past = {a.source: a for a in source_ages(conn, NOW - timedelta(hours=25))}
    assert (ages["github"].state, ages["github"].age_hours) == ("failing", 2.0)
    assert ages["github"].error == "github: 401"
    assert (ages["jira"].state, ages["jira"].age_hours) == ("stale", 30.0)
    assert (ages["jenkins"].state, ages["jenkins"].age_hours) == ("never", None)
    assert sorted(past) == ["github", "jira"]
    assert (past["github"].state, past["github"].age_hours) == ("ok", 5.0)
    assert (past["jira"].state, past["jira"].age_hours) == ("ok", 5.0)
    assert [format_age(h) for h in (0.5, 5.25, 72, None)] == [
        "30 min", "5.2 h", "3.0 days", "never synced"]


def _cli(tmp_path, url, *args, config=""):
    (tmp_path / "readiness.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG",)}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "connectors", "status", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


CONFIG = ('[github]\nrepos = ["acme/web"]\n[jira]\nurl = "https://jira.invalid"\n'
          'projects = ["PAY"]\n[gates.data_fresh]\nmax_age_hours = 6\n')


def test_status_command_exit_codes_and_json(sqlite_url, tmp_path):
    now = datetime.now(timezone.utc)
    eng = get_engine(sqlite_url)
    with eng.begin() as conn:
        _run(conn, "github", "acme/web", "success", now - timedelta(hours=1))
        _run(conn, "jira", "PAY", "success", now - timedelta(hours=5))
    ok = _cli(tmp_path, sqlite_url, config=CONFIG)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert [line.split(" — ")[0] for line in lines] == ["github: ok", "jira: ok"]
    assert lines[0].endswith("1.0 h ago (limit 6 h)")
    # seven hours old with a 6-hour limit: stale, exit 1
    with eng.begin() as conn:
        _run(conn, "jira", "PAY", "failed", now - timedelta(minutes=1), "jira: 503 twice")
    bad = _cli(tmp_path, sqlite_url, "--format", "json", config=CONFIG)
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert doc["max_age_hours"] == 6 and doc["ok"] is False
    jira = [s for s in doc["sources"] if s["source"] == "jira"][0]
    assert jira["state"] == "failing" and jira["error"] == "jira: 503 twice"
    assert 4.9 < jira["age_hours"] < 5.1
    # a configured source never synced is not ok either
    none = _cli(tmp_path, sqlite_url, config=CONFIG + '[jenkins]\nurl = "https://ci.invalid"\n'
                'jobs = ["app/main"]\n')
    assert none.returncode == 1 and "jenkins: never — never synced successfully" in none.stdout
    eng.dispose()


def test_status_with_nothing_synced_says_so_and_fails(sqlite_url, tmp_path):
    res = _cli(tmp_path, sqlite_url)
    assert res.returncode == 1
    assert res.stdout.strip() == ("no source has synced yet and none is configured in "
                                  "readiness.toml")


def test_the_limit_comes_from_the_data_fresh_gate():
    from data.freshness import max_age_hours
    assert max_age_hours(parse_settings({}, None)) == 24
    assert max_age_hours(parse_settings({"gates": {"data_fresh": {"max_age_hours": 6}}},
                                        None)) == 6
