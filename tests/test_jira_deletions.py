"""Issues deleted in Jira (or moved to another project) leave the database: at once on a sync
that lists every issue (the first, or --full), otherwise at the daily key-only listing. Only a
listing Jira's paging completed, whose size agrees with Jira's count (Cloud: approximate-count,
within its tolerance; Data Center: the search's total), removes anything — never more than
``[app] max_delete_share`` of the project without --allow-mass-delete. An empty listing while
items are stored removes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from net.http import SourceError
from data import schema
from tests.jira_server import FakeJira, history, issue, status_item
from tests.fake_clock import FakeClock
from connectors.__main__ import main
from data.config import parse_settings
from tests.test_jira_sync import run_sync

DAY = 24 * 3600
# One of three issues is a third of the project, over the default share of 0.1.
LENIENT = parse_settings({"app": {"max_delete_share": 0.5}}, None)


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def keys(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.key)).scalars())


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch):
    for name in ("JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def three_issues() -> list[dict]:
    """PAY-2 carries a status change and a fix version, so there is something hanging off it."""
    return [
        issue("PAY-1"),
        issue("PAY-2", issuetype="Bug", priority="Highest",
              histories=[history(1, "2024-03-02T08:00:00.000+0000", status_item("1", "3"))],
              extra={"fixVersions": [{"id": "40", "name": "2.4", "released": False}]}),
        issue("PAY-3"),
    ]


def item_key_searches(fake: FakeJira) -> list:
    api = "/rest/api/3/search/jql" if fake.deployment == "Cloud" else "/rest/api/2/search"
    return [r.args for r in fake.requests(api) if r.args.get("fields") == "key"]


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_a_deleted_issue_goes_at_the_daily_listing_with_what_hangs_off_it(
        httpserver, engine, deployment):
    fake = FakeJira(httpserver, deployment=deployment, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    pay2 = schema.work_items.c.id == "jira:issue:PAY-2"
    assert count(engine, schema.work_items, pay2) == 1
    assert count(engine, schema.work_item_changes,
                 schema.work_item_changes.c.item_id == "jira:issue:PAY-2") >= 1
    assert count(engine, schema.release_items,
                 schema.release_items.c.item_id == "jira:issue:PAY-2") == 1
    assert not item_key_searches(fake)  # the first sync listed every issue itself

    fake.issues = [i for i in fake.issues if i["key"] != "PAY-2"]  # deleted in Jira
    clock.t += 3600
    run_sync(fake, engine, clock=clock)  # an hour later: incremental, listing not due
    assert keys(engine) == ["PAY-1", "PAY-2", "PAY-3"]
    assert not item_key_searches(fake)

    clock.t += DAY
    written = run_sync(fake, engine, clock=clock, cfg=LENIENT)
    assert keys(engine) == ["PAY-1", "PAY-3"]
    assert written["removed"] == 1
    [listing] = item_key_searches(fake)
    assert listing["jql"] == 'project = "PAY"' and "expand" not in listing
    assert int(listing["maxResults"]) == 1000
    for table, column in ((schema.work_item_changes, "item_id"),
                          (schema.release_items, "item_id")):
        assert count(engine, table, table.c[column] == "jira:issue:PAY-2") == 0
    raw = schema.raw_records
    assert count(engine, raw, raw.c.source == "jira", raw.c.external_id == "PAY-2") == 0
    assert count(engine, raw, raw.c.source == "jira", raw.c.external_id == "PAY-1") == 1
    # the release it was planned for stays: other issues may still be in it
    assert count(engine, schema.releases, schema.releases.c.name == "2.4") == 1

    clock.t += 3600
    run_sync(fake, engine, clock=clock)  # the listing ran less than a day ago
    assert len(item_key_searches(fake)) == 1


def test_a_full_sync_removes_at_once_without_an_extra_listing(httpserver, engine):
    fake = FakeJira(httpserver, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-3"]
    written = run_sync(fake, engine, clock=clock, full=True, cfg=LENIENT)
    assert keys(engine) == ["PAY-1", "PAY-2"]
    assert written["removed"] == 1
    assert not item_key_searches(fake)


def test_an_issue_moved_to_another_project_leaves_this_one(httpserver, engine):
    fake = FakeJira(httpserver, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    moved = issue("OPS-7", updated="2024-03-09T09:00:00.000+0000")  # was PAY-1
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-1"] + [moved]
    clock.t += DAY
    run_sync(fake, engine, clock=clock, cfg=LENIENT)
    assert keys(engine) == ["PAY-2", "PAY-3"]  # OPS is not a project synced here


def test_an_empty_listing_removes_nothing_and_says_why(httpserver, engine):
    fake = FakeJira(httpserver, issues=three_issues())
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    fake.issues = []  # e.g. the account lost "Browse projects"
    clock.t += DAY
    with pytest.raises(SourceError, match="lists no issues now, but 3 are stored — nothing "
                                          "removed; check that this account can still browse"):
        run_sync(fake, engine, clock=clock)
    assert keys(engine) == ["PAY-1", "PAY-2", "PAY-3"]
    runs = schema.sync_runs
    with engine.connect() as conn:
        last = conn.execute(select(runs.c.outcome, runs.c.error)
                            .order_by(runs.c.id.desc())).first()
    assert last.outcome == "failed" and "nothing removed" in last.error


# --- a listing cut short, a count that disagrees, too many at once ---------------------------
THIRTY = [f"PAY-{n}" for n in range(1, 31)]


def thirty() -> list[dict]:
    return [issue(k, updated=f"2024-03-{n:02d}T09:00:00.000+0000")
            for n, k in enumerate(THIRTY, start=1)]


def cli(monkeypatch, tmp_path, db_url, fake, *args, app: str = "") -> int:
    """``python -m connectors sync jira --full …`` in this process."""
    (tmp_path / "readiness.toml").write_text(f"[app]\n{app}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "none.toml"))
    return main(["sync", "jira", "--url", fake.url, "--project", "PAY", "--full", *args])


def errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]


def last_run(engine):
    runs = schema.sync_runs
    with engine.connect() as conn:
        return conn.execute(select(runs.c.outcome, runs.c.error, runs.c["items"])
                            .order_by(runs.c.id.desc())).first()


def test_cloud_a_listing_ending_early_removes_nothing(httpserver, monkeypatch, tmp_path, db_url,
                                                      engine, capsys):
    fake = FakeJira(httpserver, issues=thirty(), search_page_size=10)
    assert cli(monkeypatch, tmp_path, db_url, fake) == 0
    capsys.readouterr()
    fake.search_cut = 10  # page 1 says isLast; approximate-count still counts 30
    assert cli(monkeypatch, tmp_path, db_url, fake) == 1
    assert errors(capsys) == ["error: jira: PAY: listed 10 issues but jira reports 30 — nothing "
                              "removed (the listing may have been cut short); rerun the sync"]
    assert keys(engine) == sorted(THIRTY)
    assert fake.requests("/rest/api/3/search/approximate-count")[-1].method == "POST"
    assert last_run(engine).outcome == "failed"


def test_data_center_an_empty_page_before_the_total_removes_nothing(
        httpserver, monkeypatch, tmp_path, db_url, engine, capsys):
    fake = FakeJira(httpserver, deployment="Server", issues=thirty(), search_page_size=10)
    assert cli(monkeypatch, tmp_path, db_url, fake) == 0
    capsys.readouterr()
    fake.search_cut = 20  # startAt 20 answers no issues while total says 30
    assert cli(monkeypatch, tmp_path, db_url, fake) == 1
    assert errors(capsys) == ["error: jira: search page 3 (/rest/api/2/search, startAt 20) "
                              "answered no issues, though its total is 30 — the listing was "
                              "cut short; stored data is intact, rerun the sync"]
    assert keys(engine) == sorted(THIRTY)


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_a_genuine_deletion_under_the_share_is_removed(httpserver, monkeypatch, tmp_path,
                                                       db_url, engine, capsys, deployment):
    fake = FakeJira(httpserver, deployment=deployment, issues=thirty(), search_page_size=10)
    assert cli(monkeypatch, tmp_path, db_url, fake) == 0
    fake.issues = [i for i in fake.issues if i["key"] not in ("PAY-4", "PAY-17")]  # 2 of 30
    capsys.readouterr()
    assert cli(monkeypatch, tmp_path, db_url, fake) == 0
    assert errors(capsys) == []
    assert keys(engine) == sorted(set(THIRTY) - {"PAY-4", "PAY-17"})
    assert last_run(engine)[2]["removed"] == 2


def test_cloud_an_approximate_count_a_little_ahead_is_tolerated(httpserver, engine):
    fake = FakeJira(httpserver, issues=thirty(), search_page_size=10)
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-9"]
    fake.approximate_count = 29 + 5  # the index lags by 5 (the tolerance): still removed
    assert run_sync(fake, engine, clock=clock, full=True)["removed"] == 1
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-10"]
    fake.approximate_count = 28 + 6  # 6 short: distrusted
    with pytest.raises(SourceError, match="listed 28 issues but jira reports 34"):
        run_sync(fake, engine, clock=clock, full=True)
    assert "PAY-10" in keys(engine)


def test_a_large_genuine_deletion_needs_allow_mass_delete(httpserver, monkeypatch, tmp_path,
                                                         db_url, engine, capsys):
    fake = FakeJira(httpserver, issues=thirty(), search_page_size=10)
    assert cli(monkeypatch, tmp_path, db_url, fake) == 0
    fake.issues = fake.issues[10:]  # 10 of 30 really deleted; 0.1 of 30 allows 3
    capsys.readouterr()
    assert cli(monkeypatch, tmp_path, db_url, fake) == 1
    assert errors(capsys) == [
        "error: jira: PAY: 10 of 30 stored issues would be removed, more than [app] "
        "max_delete_share = 0.1 — nothing removed; if they really were deleted at the source, "
        "rerun with --allow-mass-delete"]
    assert keys(engine) == sorted(THIRTY)
    assert cli(monkeypatch, tmp_path, db_url, fake, "--allow-mass-delete") == 0
    assert keys(engine) == sorted(THIRTY[10:])


def test_without_a_count_the_run_says_so_and_the_share_limit_holds(
        httpserver, monkeypatch, tmp_path, db_url, engine, capsys):
    fake = FakeJira(httpserver, issues=thirty(), search_page_size=10)
    assert cli(monkeypatch, tmp_path, db_url, fake) == 0
    fake.search_cut = 10
    fake.fail_next("/rest/api/3/search/approximate-count", 404)  # e.g. an older Jira
    capsys.readouterr()
    assert cli(monkeypatch, tmp_path, db_url, fake) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("jira: PAY: could not check the number of issues listed against "
                             "jira's count (approximate-count failed: not found (404)")
    assert err[-1] == ("error: jira: PAY: 20 of 30 stored issues would be removed, more than "
                       "[app] max_delete_share = 0.1 — nothing removed; if they really were "
                       "deleted at the source, rerun with --allow-mass-delete")
    assert keys(engine) == sorted(THIRTY)
    assert last_run(engine)[2]["unverified_listings"] == 1


def test_the_daily_listing_is_checked_too(httpserver, engine):
    fake = FakeJira(httpserver, issues=thirty(), search_page_size=10)
    clock = FakeClock()
    run_sync(fake, engine, clock=clock)
    clock.t += DAY
    fake.issues = [i for i in fake.issues if i["key"] != "PAY-5"]
    fake.approximate_count = 29 + 7
    with pytest.raises(SourceError, match="listed 29 issues but jira reports 36"):
        run_sync(fake, engine, clock=clock)
    assert "PAY-5" in keys(engine)
