"""Issues deleted on GitHub (or transferred to another repository) leave the database on a sync
that lists every issue — the first, or ``--full``; an incremental sync (``since``) cannot see
them. Only a listing GitHub's paging completed, whose size equals GraphQL's
``issues.totalCount``, removes anything — and never more than ``[app] max_delete_share`` of the
repository's issues without ``--allow-mass-delete``. An empty listing removes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.__main__ import main
from net.http import SourceError
from connectors.progress import Progress
from connectors.github.cli import sync_repos
from data import schema
from data.config import parse_settings
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue, milestone
from tests.test_github_sync import NOW, sync


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    m1 = milestone(1, "v1.0", due="2024-06-10T07:00:00Z")
    fake.milestones = [m1]
    fake.issues = [issue(1, "2024-03-01T00:00:00Z"),
                   issue(2, "2024-03-02T00:00:00Z", milestone=m1, labels=("bug",)),
                   issue(3, "2024-03-03T00:00:00Z", milestone=m1),
                   issue(4, "2024-03-04T00:00:00Z", pr=True)]
    return fake


def ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.id)).scalars())


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def lenient_sync(engine, gh, **kw):
    """One of three issues is a third of the repository, over the default share of 0.1."""
    cfg = parse_settings({"app": {"max_delete_share": 0.5},
                          "github": {"repos": ["acme/web"]}}, None)
    return sync_repos(cfg, engine, Progress("github", terminal=False), ["acme/web"],
                      api_url=gh.base_url, clock=FakeClock(NOW), token="t0ken-secret",
                      token_env="GITHUB_TOKEN", **kw)


def test_full_sync_removes_a_deleted_issue_and_its_membership(engine, gh):
    sync(engine, gh)
    assert ids(engine) == [f"github:issue:acme/web#{n}" for n in (1, 2, 3)]
    gh.issues = [i for i in gh.issues if i["number"] != 2]  # deleted by an admin

    written = sync(engine, gh)  # incremental (since=…): GitHub does not list deletions
    assert "github:issue:acme/web#2" in ids(engine)
    assert "removed" not in written

    written = lenient_sync(engine, gh, full=True)
    assert ids(engine) == ["github:issue:acme/web#1", "github:issue:acme/web#3"]
    assert written["removed"] == 1
    ri, raw = schema.release_items, schema.raw_records
    assert count(engine, ri, ri.c.item_id == "github:issue:acme/web#2") == 0
    assert count(engine, ri, ri.c.item_id == "github:issue:acme/web#3") == 1
    assert count(engine, raw, raw.c.resource == "issues", raw.c.external_id == "acme/web#2") == 0
    assert count(engine, raw, raw.c.resource == "issues", raw.c.external_id == "acme/web#3") == 1
    # the milestone's earlier scope snapshots still show #2 was in it then
    snaps = schema.scope_snapshots
    assert count(engine, snaps, snaps.c.item_id == "github:issue:acme/web#2") >= 1


def test_a_full_sync_listing_nothing_removes_nothing(engine, gh):
    sync(engine, gh)
    gh.issues = []  # e.g. the token lost access to issues
    with pytest.raises(SourceError, match="lists no issues now, but 3 are stored — nothing "
                                          "removed; check that GITHUB_TOKEN"):
        sync(engine, gh, full=True)
    assert len(ids(engine)) == 3


# --- a listing cut short, a count that disagrees, too many at once ---------------------------
FIFTY = [issue(n, f"2024-03-{1 + n % 28:02d}T{n % 24:02d}:00:00Z") for n in range(1, 51)]


@pytest.fixture
def big(httpserver):
    fake = FakeGitHub().install(httpserver)
    # the pull request (in the REST list, not in the count) comes last, on page 6
    fake.issues = [dict(i) for i in FIFTY] + [issue(99, "2024-03-28T23:00:00Z", pr=True)]
    return fake


def cli(monkeypatch, tmp_path, db_url, gh, *args, token: str | None = "t0ken-secret",
        app: str = "") -> int:
    """``python -m connectors sync github --full …`` in this process: 10 issues a page."""
    (tmp_path / "readiness.toml").write_text(
        f'[app]\n{app}\n[github]\nrepos = ["acme/web"]\nper_page = 10\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "none.toml"))
    if token:
        monkeypatch.setenv("GITHUB_TOKEN", token)
    else:
        monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return main(["sync", "github", "--repo", "acme/web", "--api-url", gh.base_url, "--full",
                 *args])


def errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]


def last_run(engine):
    runs = schema.sync_runs
    with engine.connect() as conn:
        return conn.execute(select(runs.c.outcome, runs.c.error, runs.c["items"])
                            .order_by(runs.c.id.desc())).first()


FIFTY_IDS = [f"github:issue:acme/web#{n}" for n in range(1, 51)]


def test_page_one_without_a_next_link_removes_nothing(monkeypatch, tmp_path, db_url, engine,
                                                      big, capsys):
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    assert ids(engine) == sorted(FIFTY_IDS)
    capsys.readouterr()
    big.issues_last_page = 1  # page 1 of 6 comes without its Link: rel="next"
    assert cli(monkeypatch, tmp_path, db_url, big) == 1
    # 10 issues listed (no pull requests on page 1); GraphQL counts 50 issues
    assert errors(capsys) == ["error: github: acme/web: listed 10 issues but github reports "
                              "50 — nothing removed (the listing may have been cut short); "
                              "rerun the sync"]
    assert ids(engine) == sorted(FIFTY_IDS)
    raw = schema.raw_records
    assert count(engine, raw, raw.c.resource == "issues") == 50
    assert last_run(engine).outcome == "failed"


def test_a_later_page_answering_empty_removes_nothing(monkeypatch, tmp_path, db_url, engine,
                                                      big, capsys):
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    capsys.readouterr()
    big.issues_empty_from = 3  # pages 1 and 2 (20 issues), then [] without a next link
    assert cli(monkeypatch, tmp_path, db_url, big) == 1
    assert errors(capsys) == ["error: github: acme/web: listed 20 issues but github reports "
                              "50 — nothing removed (the listing may have been cut short); "
                              "rerun the sync"]
    assert ids(engine) == sorted(FIFTY_IDS)


def test_without_a_count_the_share_limit_holds(monkeypatch, tmp_path, db_url, engine, big,
                                               capsys):
    """Anonymous: GraphQL answers 401, so the run says the count was not checked, and the
    share limit (0.1 of 50 = 5) stops a cut-short listing from removing 40."""
    assert cli(monkeypatch, tmp_path, db_url, big, token=None) == 0
    capsys.readouterr()
    big.issues_last_page = 1
    assert cli(monkeypatch, tmp_path, db_url, big, token=None) == 1
    err = capsys.readouterr().err.splitlines()
    assert "github: acme/web: could not check the number of issues listed against github's " \
           "count (GraphQL answered 401: it needs a token, an anonymous sync cannot use it); " \
           "removals are held to [app] max_delete_share" in err
    assert [e for e in err if e.startswith("error")] == [
        "error: github: acme/web: 40 of 50 stored issues would be removed, more than [app] "
        "max_delete_share = 0.1 — nothing removed; if they really were deleted at the source, "
        "rerun with --allow-mass-delete"]
    assert ids(engine) == sorted(FIFTY_IDS)
    run = last_run(engine)
    assert run.outcome == "failed" and run.items["unverified_listings"] == 1


def test_a_genuine_deletion_under_the_share_is_removed(monkeypatch, tmp_path, db_url, engine,
                                                       big, capsys):
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    big.issues = [i for i in big.issues if i["number"] not in (7, 21, 44)]  # 3 of 50: 6 %
    capsys.readouterr()
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    assert errors(capsys) == []
    assert ids(engine) == sorted(set(FIFTY_IDS) - {f"github:issue:acme/web#{n}"
                                                  for n in (7, 21, 44)})
    assert big.graphql[-1]["variables"] == {"owner": "acme", "name": "web"}
    assert last_run(engine).items["removed"] == 3


def test_a_large_genuine_deletion_needs_allow_mass_delete(monkeypatch, tmp_path, db_url, engine,
                                                         big, capsys):
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    big.issues = [i for i in big.issues if i["number"] > 20]  # 20 of 50 really deleted
    capsys.readouterr()
    assert cli(monkeypatch, tmp_path, db_url, big) == 1
    assert errors(capsys) == [
        "error: github: acme/web: 20 of 50 stored issues would be removed, more than [app] "
        "max_delete_share = 0.1 — nothing removed; if they really were deleted at the source, "
        "rerun with --allow-mass-delete"]
    assert len(ids(engine)) == 50

    assert cli(monkeypatch, tmp_path, db_url, big, "--allow-mass-delete") == 0
    assert ids(engine) == sorted(FIFTY_IDS[20:])
    assert last_run(engine).items["removed"] == 20


def test_max_delete_share_is_read_from_the_configuration(monkeypatch, tmp_path, db_url, engine,
                                                         big, capsys):
    assert cli(monkeypatch, tmp_path, db_url, big, app="max_delete_share = 0.5") == 0
    big.issues = [i for i in big.issues if i["number"] > 20]  # 40 % ≤ 0.5
    assert cli(monkeypatch, tmp_path, db_url, big, app="max_delete_share = 0.5") == 0
    assert ids(engine) == sorted(FIFTY_IDS[20:])


def test_graphql_on_an_enterprise_server_is_under_api(httpserver, engine):
    from connectors.github.fetch import graphql_url

    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.acme.test/api/v3/") == "https://ghe.acme.test/api/graphql"
    ghes = FakeGitHub(prefix="/api/v3").install(httpserver)
    ghes.issues = [issue(n, f"2024-03-0{n}T00:00:00Z") for n in range(1, 5)]
    cfg = parse_settings({"app": {"max_delete_share": 0.5}}, None)
    sync_repos(cfg, engine, Progress("github", terminal=False), ["acme/web"],
               api_url=ghes.base_url, clock=FakeClock(NOW), token="t0ken-secret",
               token_env="GITHUB_TOKEN")
    ghes.issues = ghes.issues[1:]
    written = sync_repos(cfg, engine, Progress("github", terminal=False), ["acme/web"],
                         api_url=ghes.base_url, clock=FakeClock(NOW), token="t0ken-secret",
                         token_env="GITHUB_TOKEN", full=True)
    assert written["removed"] == 1 and len(ghes.graphql) == 1
    assert "/api/graphql" in [p for p, _q, _h in ghes.log]


def test_a_count_below_the_listing_is_no_sign_of_a_cut(monkeypatch, tmp_path, db_url, engine,
                                                       big, capsys):
    """More listed than counted (say an issue deleted while the pages were read) means nothing
    was missed: the removal goes ahead. The pull request on page 6 is in neither number."""
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    big.issues = [i for i in big.issues if i["number"] != 8]
    big.issue_count = 47
    assert cli(monkeypatch, tmp_path, db_url, big) == 0
    assert "github:issue:acme/web#8" not in ids(engine) and len(ids(engine)) == 49
