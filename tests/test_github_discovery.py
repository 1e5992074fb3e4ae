"""Organisation discovery against a local fake of several repositories: listing, forks and
archived left out, include/exclude globs, a new repository picked up, a missing one confirmed
(404 reported, rows kept; 301 followed and its rows re-keyed so waivers and snapshots stay
attached), and ``sync --plan`` writing nothing."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from connectors.github.cli import plan, sync_configured
from connectors.github.discovery import why_left_out
from connectors.github.rekey import renamer
from connectors.progress import Progress
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.github_org_server import FakeOrg
from tests.github_server import issue, milestone

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def org(httpserver, corpus):
    return FakeOrg().install(httpserver)


def settings(org: FakeOrg, **github):
    return parse_settings({"github": {"api_url": org.base_url, "orgs": ["acme"], **github}},
                          None)


def go(engine, org, now=NOW, **github):
    return sync_configured(settings(org, **github), engine, Progress("github", terminal=False),
                           clock=FakeClock(now), token="t0ken", token_env="GITHUB_TOKEN")


def scopes_synced(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.sync_runs.c.scope)).scalars())


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_left_out_by_default_forks_and_archived_and_by_globs():
    gh = parse_settings({"github": {"orgs": ["acme"]}}, None).github
    assert why_left_out({"full_name": "acme/web"}, gh) is None
    assert why_left_out({"full_name": "acme/f", "fork": True}, gh).startswith("fork")
    assert why_left_out({"full_name": "acme/a", "archived": True}, gh).startswith("archived")
    both = parse_settings({"github": {"orgs": ["acme"], "include_forks": True,
                                      "include_archived": True,
                                      "include": ["acme/web-*", "acme/api"],
                                      "exclude": ["*/*-legacy"]}}, None).github
    assert why_left_out({"full_name": "acme/f", "fork": True, "archived": True}, both) == \
        "not matched by include"
    assert why_left_out({"full_name": "ACME/Web-Shop", "fork": True}, both) is None  # any case
    assert why_left_out({"full_name": "acme/web-legacy"}, both) == "matched by exclude"
    assert why_left_out({"full_name": "acme/api"}, both) is None


def test_org_listing_over_pages_forks_and_archived_left_out(sqlite_engine, org):
    for n in range(5):
        org.add(f"acme/svc{n}")
    org.add("acme/fork", fork=True)
    org.add("acme/old", archived=True)
    org.add("other/x")
    go(sqlite_engine, org, per_page=2)  # the listing comes in 4 pages of 2
    assert scopes_synced(sqlite_engine) == [f"acme/svc{n}" for n in range(5)]
    asked = [q.get("page", "1") for p, q, _h in org.log if p == "/orgs/acme/repos"]
    assert asked == ["1", "2", "3", "4"]


def test_include_exclude_and_explicit_repos(sqlite_engine, org):
    for name in ("web-a", "web-b", "web-legacy", "api", "docs"):
        org.add(f"acme/{name}")
    org.add("other/tool")
    go(sqlite_engine, org, include=["acme/web-*"], exclude=["*/*-legacy"],
       repos=["other/tool"])
    assert scopes_synced(sqlite_engine) == ["acme/web-a", "acme/web-b", "other/tool"]


def test_a_new_repository_is_picked_up_at_the_next_sync(sqlite_engine, org):
    org.add("acme/a").issues = [issue(1, "2024-03-01T00:00:00Z")]
    go(sqlite_engine, org)
    org.add("acme/b").issues = [issue(1, "2024-03-02T00:00:00Z")]
    go(sqlite_engine, org)
    assert scopes_synced(sqlite_engine) == ["acme/a", "acme/a", "acme/b"]
    assert count(sqlite_engine, schema.work_items) == 2


def test_a_deleted_repository_is_reported_and_its_rows_kept(sqlite_engine, org, capsys):
    org.add("acme/a")
    org.add("acme/gone").issues = [issue(n, "2024-03-01T00:00:00Z") for n in (1, 2)]
    go(sqlite_engine, org)
    org.remove("acme/gone")
    capsys.readouterr()
    go(sqlite_engine, org)
    err = capsys.readouterr().err
    assert "github: repository acme/gone is gone (404)" in err and "rows are kept" in err
    assert "/repos/acme/gone" in org.paths()  # confirmed with its own request
    assert count(sqlite_engine, schema.work_items) == 2  # nothing removed
    assert scopes_synced(sqlite_engine).count("acme/gone") == 1  # not synced again


def test_a_renamed_repository_is_followed_and_its_rows_re_keyed(engine, org, capsys):
    sqlite_engine = engine  # both databases: foreign keys hold at every step of the re-key
    old = org.add("acme/old")
    m1 = milestone(1, "v1")
    old.milestones = [m1]
    old.issues = [issue(1, "2024-03-01T00:00:00Z", milestone=m1),
                  issue(2, "2024-03-02T00:00:00Z", milestone=m1)]
    old.pulls = [{"number": 3, "title": "Fix #1", "user": {"login": "ann"}, "state": "closed",
                  "body": "Fixes #1", "base": {"ref": "main"}, "head": {"ref": "f"},
                  "created_at": "2024-03-01T00:00:00Z", "updated_at": "2024-03-03T00:00:00Z",
                  "closed_at": "2024-03-03T00:00:00Z", "merged_at": "2024-03-03T00:00:00Z",
                  "merge_commit_sha": "abc", "html_url": "u"}]
    go(sqlite_engine, org)
    with sqlite_engine.begin() as conn:  # a waiver on the milestone's release
        conn.execute(schema.gate_waivers.insert().values(
            release_id="github:milestone:acme/old#1", gate="bugs", reason="known",
            waived_by="ann", created_at=datetime(2024, 5, 1, tzinfo=timezone.utc)))
    snapshots = count(sqlite_engine, schema.scope_snapshots)
    assert snapshots == 2
    org.rename("acme/old", "acme/new")
    org.clear_log()
    capsys.readouterr()
    go(sqlite_engine, org, now=NOW + 86400)  # a day later, the milestone unchanged
    assert "github: acme/old is now acme/new" in capsys.readouterr().err
    with sqlite_engine.connect() as conn:
        items = sorted(conn.execute(select(schema.work_items.c.id, schema.work_items.c.key))
                       .all())
        waiver = conn.execute(select(schema.gate_waivers.c.release_id)).scalar()
        snaps = conn.execute(select(schema.scope_snapshots.c.scope_id,
                                    schema.scope_snapshots.c.item_id)).all()
        pr = conn.execute(select(schema.pull_requests.c.id, schema.pull_requests.c.repo,
                                 schema.pull_requests.c.linked_items)).one()
        members = sorted(conn.execute(select(schema.release_items.c.release_id,
                                             schema.release_items.c.item_id)).all())
        states = set(conn.execute(select(schema.sync_state.c.scope)).scalars())
    assert items == [("github:issue:acme/new#1", "acme/new#1"),
                     ("github:issue:acme/new#2", "acme/new#2")]
    assert waiver == "github:milestone:acme/new#1"
    # the first sync's snapshots moved to the new name; the second sync took none, since the
    # re-keyed milestone's members are what its latest snapshot holds (written on change only)
    assert all(s == ("github:milestone:acme/new#1", s[1]) and "acme/new#" in s[1]
               for s in snaps) and len(snaps) == 2
    assert pr == ("github:pr:acme/new#3", "acme/new", ["github:issue:acme/new#1"])
    assert members == [("github:milestone:acme/new#1", "github:issue:acme/new#1"),
                       ("github:milestone:acme/new#1", "github:issue:acme/new#2")]
    assert states == {"acme/new"}
    # cursors came along: the issues listing resumed from the stored cursor
    issues_asked = [q for p, q, _h in org.log if p.endswith("/acme/new/issues")]
    assert issues_asked and "since" in issues_asked[0]
    with sqlite_engine.connect() as conn:
        raw_scopes = set(conn.execute(select(schema.raw_records.c.scope)).scalars())
    assert raw_scopes == {"acme/new"}


def test_renamer_touches_whole_names_only():
    rename = renamer("acme/old", "acme/new")
    assert rename("github:issue:acme/old#4") == "github:issue:acme/new#4"
    assert rename("acme/old") == "acme/new"
    assert rename("acme/old:17") == "acme/new:17"
    assert rename("github:release:acme/old@v1") == "github:release:acme/new@v1"
    assert rename("github:milestone:acme/old#1:github:issue:acme/old#2:2024") == \
        "github:milestone:acme/new#1:github:issue:acme/new#2:2024"
    assert rename("github:issue:acme/older#4") == "github:issue:acme/older#4"
    assert rename("xacme/old#1") == "xacme/old#1"
    assert rename(["github:issue:acme/old#1"]) == ["github:issue:acme/new#1"]


def test_plan_prints_the_cost_and_writes_nothing(sqlite_engine, org):
    for name in ("a", "b"):
        fake = org.add(f"acme/{name}")
        fake.issues = [issue(n, "2024-03-01T00:00:00Z") for n in range(1, 251)]
        fake.pulls = [{"number": 1000 + n, "merged_at": "2024-05-01T00:00:00Z",
                       "created_at": "2024-04-01T00:00:00Z", "updated_at": "2024-05-01"}
                      for n in range(150)]
    org.add("acme/f", fork=True)
    out = io.StringIO()
    result = plan(settings(org), sqlite_engine, clock=FakeClock(NOW), token="t0ken",
                  token_env="GITHUB_TOKEN", out=out)
    text = out.getvalue()
    assert "github plan: 2 repositories to sync" in text
    assert "left out: acme/f (fork" in text
    # per repository, by hand: milestones 1, issues listing (250 + 150) / 100 = 4, events
    # 2 × 250 / 100 = 5, pulls 2, releases 1, runs 1, deployments 1 → 15 requests; details:
    # 150 merged → 2 queries (100 + 50) costing 2 + 1 points
    assert "acme/a: first sync — 250 issues, 150 pull requests (150 merged" in text
    assert "→ 15 requests, 2 GraphQL queries (3 points)" in text
    # 2 × 15 + 1 listing page = 31 REST, 4 GraphQL
    assert "estimated requests: 35 (31 REST, 4 GraphQL)" in text
    assert "estimated graphql points: 6" in text
    assert "hours at the current limit: 0.0" in text
    assert result["points"] == 6
    for table in (schema.sync_runs, schema.sync_state, schema.work_items, schema.raw_records):
        assert count(sqlite_engine, table) == 0


def test_sync_plan_on_the_command_line_creates_no_database(tmp_path, org):
    import os
    import subprocess
    import sys
    from pathlib import Path

    org.add("acme/a").issues = [issue(1, "2024-03-01T00:00:00Z")]
    (tmp_path / "readiness.toml").write_text(
        f'[github]\napi_url = "{org.base_url}"\norgs = ["acme"]\n', encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("READINESS_CONFIG",)}
    env.update(PYTHONPATH=str(root), DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
               GITHUB_TOKEN="t0ken-plan", SHIPREADY_SECRETS=str(tmp_path / "none.toml"))
    done = subprocess.run([sys.executable, "-m", "connectors", "sync", "--plan"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "github plan: 1 repositories to sync" in done.stdout
    assert "estimated graphql points: 0" in done.stdout  # nothing merged: no details
    assert not (tmp_path / "r.db").exists()
    assert "t0ken-plan" not in done.stdout + done.stderr


def test_sync_github_repo_plan_covers_those_repositories(tmp_path, org, monkeypatch, capsys):
    from connectors.__main__ import main

    fake = org.add("acme/a")
    fake.pulls = [{"number": n, "merged_at": "2024-05-01T00:00:00Z"} for n in range(1, 4)]
    org.add("acme/b")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken-plan")
    code = main(["sync", "github", "--repo", "acme/a", "--api-url", org.base_url, "--plan"])
    out = capsys.readouterr().out
    assert code == 0
    assert "github plan: 1 repositories to sync" in out and "acme/b" not in out
    # the look-back window is the 180 days before now (the system clock here): merges in
    # 2024 are outside it, so no details to fetch and no points
    assert "(0 merged since" in out and "estimated graphql points: 0" in out
    assert not (tmp_path / "r.db").exists()
