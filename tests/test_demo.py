"""The demo organisation: determinism, invariants, replacement, removal, the at-risk release,
and the `python -m connectors demo` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from data import schema
from data.demo import load_demo, remove_demo
from data.store import get_engine, upsert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TODAY = date(2026, 3, 2)  # a Monday
NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)
SMALL = 0.05

T = schema


def _count(conn, table, *where) -> int:
    return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def _dump(engine) -> dict[str, list[tuple]]:
    """Every demo row of every table, in a stable order (test results without their serial id,
    sync_runs left out: they record when the load ran)."""
    out = {}
    with engine.connect() as conn:
        for table in schema.sourced_tables_children_first():
            if table.name == "sync_runs":
                continue
            cols = list(table.c)
            rows = conn.execute(select(*cols).where(table.c.source == "demo")).all()
            out[table.name] = sorted(map(tuple, rows), key=repr)
        tr = T.test_results
        cols = [c for c in tr.c if c.name != "id"]
        out["test_results"] = sorted(map(tuple, conn.execute(select(*cols)).all()), key=repr)
    return out


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """One small demo on SQLite, shared by the read-only tests of this module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    eng = get_engine(url)
    counts = load_demo(eng, scale=SMALL, today=TODAY)
    yield eng, counts
    eng.dispose()


def _insert_foreign_rows(conn) -> None:
    """Rows another source wrote: they must survive demo loads and removal."""
    upsert(conn, T.work_items, [{
        "id": "jira:issue:REAL-1", "source": "jira", "project": "REAL", "key": "REAL-1",
        "type": "bug", "status": "Open", "status_category": "todo",
        "created_at": NOW - timedelta(days=3)}])
    upsert(conn, T.pipeline_runs, [{
        "id": "junit:run:abc", "source": "junit", "pipeline": "ci", "branch": "main"}])
    conn.execute(T.test_results.insert(), [
        {"run_id": "junit:run:abc", "name": "test_real", "status": "passed", "flaky": False}])


# --- determinism ------------------------------------------------------------------------------
def test_same_seed_and_day_give_identical_rows(tmp_path, small_db):
    eng, _ = small_db
    other = get_engine(f"sqlite:///{tmp_path / 'again.db'}")
    load_demo(other, scale=SMALL, today=TODAY)
    assert _dump(other) == _dump(eng)
    other.dispose()


def test_another_seed_gives_other_rows(tmp_path, small_db):
    eng, _ = small_db
    other = get_engine(f"sqlite:///{tmp_path / 'seed8.db'}")
    load_demo(other, scale=SMALL, seed=8, today=TODAY)
    a, b = _dump(eng), _dump(other)
    assert a["work_items"] != b["work_items"]
    assert a["test_results"] != b["test_results"]
    other.dispose()


# --- invariants (on both databases) -----------------------------------------------------------
def test_invariants(engine):
    counts = load_demo(engine, scale=SMALL, today=TODAY)
    wi, ch, sp = T.work_items, T.work_item_changes, T.sprints
    with engine.connect() as conn:
        assert _count(conn, wi) == counts["work_items"] > 0
        # Resolved never before created; started never before created; nothing after now.
        assert _count(conn, wi, wi.c.resolved_at < wi.c.created_at) == 0
        assert _count(conn, wi, wi.c.started_at < wi.c.created_at) == 0
        assert _count(conn, wi, wi.c.created_at >= NOW) == 0
        assert _count(conn, wi, wi.c.status_category == "done", wi.c.resolved_at.is_(None)) == 0
        assert _count(conn, wi, wi.c.status_category != "done",
                      wi.c.resolved_at.is_not(None)) == 0
        # History: after the item was created, before now, and the last status change is the
        # item's status.
        late = select(func.count()).select_from(ch.join(wi, ch.c.item_id == wi.c.id)).where(
            (ch.c.at < wi.c.created_at) | (ch.c.at >= NOW))
        assert conn.execute(late).scalar() == 0
        last = (select(ch.c.item_id, func.max(ch.c.at).label("at"))
                .where(ch.c.field == "status").group_by(ch.c.item_id).subquery())
        final = (select(wi.c.status, ch.c.to_string)
                 .select_from(ch.join(last, (ch.c.item_id == last.c.item_id)
                                      & (ch.c.at == last.c.at))
                              .join(wi, wi.c.id == ch.c.item_id))
                 .where(ch.c.field == "status"))
        pairs = conn.execute(final).all()
        assert pairs and all(status == to for status, to in pairs)
        # Sprints: start < end; closed ones completed; the active one contains today.
        assert _count(conn, sp, sp.c.start_at >= sp.c.end_at) == 0
        assert _count(conn, sp, sp.c.state == "closed", sp.c.completed_at.is_(None)) == 0
        assert _count(conn, sp, sp.c.state == "closed") == 24  # 12 per Jira project
        active = conn.execute(select(sp.c.project, sp.c.start_at, sp.c.end_at)
                              .where(sp.c.state == "active")).all()
        assert sorted(p for p, _, _ in active) == ["OPS", "PAY"]
        assert all(s < NOW < e for _, s, e in active)
        # Every child row points at a stored parent.
        tr, pr = T.test_results, T.pipeline_runs
        orphans = (select(func.count()).select_from(tr.outerjoin(pr, tr.c.run_id == pr.c.id))
                   .where(pr.c.id.is_(None)))
        assert conn.execute(orphans).scalar() == 0
        for link, parent, fk in ((T.release_items, T.work_items, "item_id"),
                                 (T.release_items, T.releases, "release_id"),
                                 (T.sprint_items, T.work_items, "item_id"),
                                 (T.deployment_commits, T.deployments, "deployment_id")):
            q = (select(func.count()).select_from(
                link.outerjoin(parent, link.c[fk] == parent.c.id)).where(parent.c.id.is_(None)))
            assert conn.execute(q).scalar() == 0, (link.name, parent.name)
        # Pull requests: first commit <= created <= first review <= merged.
        p = T.pull_requests
        assert _count(conn, p, p.c.first_commit_at > p.c.created_at) == 0
        assert _count(conn, p, p.c.first_review_at < p.c.created_at) == 0
        assert _count(conn, p, p.c.merged_at < p.c.first_review_at) == 0
        # Ids say where rows came from.
        assert _count(conn, wi, ~wi.c.id.startswith("demo:issue:")) == 0
        assert _count(conn, sp, ~sp.c.id.startswith("demo:sprint:")) == 0


def test_every_merged_pr_is_deployed_after_its_merge_or_not_yet(small_db):
    eng, _ = small_db
    p, dc, d = T.pull_requests, T.deployment_commits, T.deployments
    with eng.connect() as conn:
        rows = conn.execute(
            select(p.c.merged_at, p.c.first_commit_at, d.c.finished_at, d.c.environment,
                   d.c.status)
            .select_from(p.join(dc, dc.c.sha == p.c.merge_sha).join(d, d.c.id ==
                                                                    dc.c.deployment_id))).all()
        merged = _count(conn, p, p.c.merged_at.is_not(None))
    assert rows and len(rows) <= merged
    for merged_at, first_commit, finished, env, status in rows:
        assert (env, status) == ("production", "success")
        assert first_commit < merged_at < finished


def test_dates_are_laid_out_around_today(small_db):
    eng, _ = small_db
    r = T.releases
    with eng.connect() as conn:
        rel = {name: (target, released, state) for name, target, released, state in
               conn.execute(select(r.c.name, r.c.target_date, r.c.released_at, r.c.state)
                            .where(r.c.project == "PAY"))}
        latest = max(conn.execute(select(func.max(t.c[col])) ).scalar()
                     for t, col in ((T.pipeline_runs, "finished_at"),
                                    (T.deployments, "finished_at"),
                                    (T.work_item_changes, "at"),
                                    (T.pull_requests, "updated_at")))
    # 2.3 shipped about three weeks before today (moved back to a Tue–Thu): 2026-02-05 is a
    # Thursday, 25 days before 2026-03-02; 2.4 is due ten days after today: 2026-03-12.
    assert rel["2.3"][1:] == (datetime(2026, 2, 5, tzinfo=timezone.utc), "released")
    assert rel["2.4"] == (datetime(2026, 3, 12, tzinfo=timezone.utc), None, "unreleased")
    assert rel["2.5"][2] == "unreleased" and rel["2.5"][0] > rel["2.4"][0]
    assert latest < NOW


def test_volumes_grow_with_scale(tmp_path, small_db):
    eng, small = small_db
    bigger_engine = get_engine(f"sqlite:///{tmp_path / 'bigger.db'}")
    bigger = load_demo(bigger_engine, scale=0.2, today=TODAY)
    bigger_engine.dispose()
    for table in ("work_items", "work_item_changes", "pull_requests", "pipeline_runs",
                  "test_results", "sprint_items"):
        assert bigger[table] > small[table], table
    # The scaled parts grow 4x; fixed parts (epics, incidents, release-branch runs) do not.
    assert bigger["work_items"] > 2.5 * small["work_items"]
    assert bigger["test_results"] > 1.5 * small["test_results"]


# --- replace and remove (on both databases) ---------------------------------------------------
def test_loading_twice_replaces_and_keeps_other_sources(engine):
    with engine.begin() as conn:
        _insert_foreign_rows(conn)
    first = load_demo(engine, scale=SMALL, today=TODAY)
    second = load_demo(engine, scale=SMALL, today=TODAY)
    assert first == second
    with engine.connect() as conn:
        assert _count(conn, T.work_items) == first["work_items"] + 1
        assert _count(conn, T.work_items, T.work_items.c.source == "jira") == 1
        assert _count(conn, T.test_results) == first["test_results"] + 1
        runs = conn.execute(select(T.sync_runs.c.outcome).where(
            T.sync_runs.c.source == "demo",
            T.sync_runs.c.scope != "daily sync (demo history)")).all()
        days = conn.execute(select(T.sync_runs.c.finished_at).where(
            T.sync_runs.c.scope == "daily sync (demo history)")).scalars().all()
    assert runs == [("success",)]  # the load is logged once, like a sync
    # plus one daily sync at 00:00 UTC, once (not twice), up to and including --today
    assert len(days) == len(set(days)) and max(days) == datetime(
        TODAY.year, TODAY.month, TODAY.day, tzinfo=timezone.utc)
    assert all(d.hour == 0 and d.minute == 0 for d in days)


def test_remove_deletes_demo_rows_only(engine):
    with engine.begin() as conn:
        _insert_foreign_rows(conn)
    counts = load_demo(engine, scale=SMALL, today=TODAY)
    removed = remove_demo(engine)
    assert removed["work_items"] == counts["work_items"]
    assert removed["test_results"] == counts["test_results"]
    with engine.connect() as conn:
        for table in schema.sourced_tables_children_first():
            assert _count(conn, table, table.c.source == "demo") == 0, table.name
        assert conn.execute(select(T.work_items.c.id)).all() == [("jira:issue:REAL-1",)]
        assert conn.execute(select(T.test_results.c.name)).all() == [("test_real",)]


# --- the story the demo tells -----------------------------------------------------------------
def test_release_2_4_is_at_risk_for_visible_reasons(small_db):
    eng, _ = small_db
    wi, ri, pr, tr, d = (T.work_items, T.release_items, T.pipeline_runs, T.test_results,
                         T.deployments)
    with eng.connect() as conn:
        open_critical = conn.execute(
            select(wi.c.key, wi.c.found_in).select_from(wi.join(ri, ri.c.item_id == wi.c.id))
            .where(ri.c.release_id == "demo:release:PAY:2.4", wi.c.type == "bug",
                   wi.c.severity == "critical", wi.c.status_category != "done")).all()
        runs = conn.execute(
            select(pr.c.id, pr.c.sha, pr.c.conclusion)
            .where(pr.c.repo == "acme/payments", pr.c.branch == "release/2.4")
            .order_by(pr.c.started_at.desc())).all()

        def failed(run_id):
            return {n for n, in conn.execute(select(tr.c.name).where(
                tr.c.run_id == run_id, tr.c.status.in_(["failed", "error"])))}

        both = conn.execute(text(
            "SELECT t.name FROM test_results t JOIN pipeline_runs r ON r.id = t.run_id "
            "WHERE r.branch = 'release/2.4' AND r.repo = 'acme/payments' "
            "GROUP BY r.sha, t.name "
            "HAVING SUM(CASE WHEN t.status = 'passed' THEN 1 ELSE 0 END) > 0 "
            "AND SUM(CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END) > 0")).scalars().all()
        staging = conn.execute(
            select(d.c.status, d.c.ref).where(d.c.service == "payments-api",
                                              d.c.environment == "staging")
            .order_by(d.c.finished_at.desc()).limit(1)).one()
        latest, previous = runs[0], runs[1]
        new_failures = failed(latest.id) - failed(previous.id)
    assert ("production" in {f for _, f in open_critical}), open_critical
    assert latest.conclusion == "failure"
    assert new_failures == {"test_refund_partial_currency_rounding"}
    assert both == ["test_webhook_retry_backoff"]
    assert tuple(staging) == ("failure", "release/2.4")


def test_release_2_3_looked_green_when_it_shipped(small_db):
    eng, _ = small_db
    wi, ri, pr, tr, d, r = (T.work_items, T.release_items, T.pipeline_runs, T.test_results,
                            T.deployments, T.releases)
    with eng.connect() as conn:
        shipped = conn.execute(select(r.c.released_at).where(
            r.c.id == "demo:release:PAY:2.3")).scalar()
        scope = conn.execute(
            select(wi.c.key, wi.c.resolved_at, wi.c.status_category)
            .select_from(wi.join(ri, ri.c.item_id == wi.c.id))
            .where(ri.c.release_id == "demo:release:PAY:2.3")).all()
        # Any status change of a scope item after it shipped would mean it was reopened.
        reopened = conn.execute(
            select(func.count()).select_from(
                T.work_item_changes.join(ri, ri.c.item_id == T.work_item_changes.c.item_id))
            .where(ri.c.release_id == "demo:release:PAY:2.3",
                   T.work_item_changes.c.at > shipped)).scalar()
        runs = conn.execute(select(pr.c.id, pr.c.conclusion, pr.c.finished_at).where(
            pr.c.branch == "release/2.3", pr.c.repo == "acme/payments")).all()
        bad_results = conn.execute(select(func.count()).select_from(
            tr.join(pr, pr.c.id == tr.c.run_id)).where(
            pr.c.branch == "release/2.3", tr.c.status.in_(["failed", "error"]))).scalar()
        staging = conn.execute(
            select(d.c.status, d.c.ref).where(d.c.service == "payments-api",
                                              d.c.environment == "staging",
                                              d.c.finished_at <= shipped)
            .order_by(d.c.finished_at.desc()).limit(1)).one()
        # Bug trend: every bug reported in the four weeks before the ship date was fixed by it.
        late_bugs = conn.execute(select(wi.c.key, wi.c.resolved_at).where(
            wi.c.project == "PAY", wi.c.type == "bug",
            wi.c.created_at >= shipped - timedelta(days=28), wi.c.created_at < shipped)).all()
    assert scope and all(cat == "done" and res < shipped for _, res, cat in scope)
    assert reopened == 0
    assert all(res is not None and res < shipped for _, res in late_bugs), late_bugs
    assert len(runs) >= 5 and all(c == "success" and f < shipped for _, c, f in runs)
    assert bad_results == 0
    assert tuple(staging) == ("success", "release/2.3")


def test_sprint_history_has_scope_changes_and_carry_over(small_db):
    eng, _ = small_db
    ch, sp = T.work_item_changes, T.sprints
    with eng.connect() as conn:
        starts = dict(conn.execute(select(sp.c.id, sp.c.start_at)
                                   .where(sp.c.start_at.is_not(None))).all())
        rows = conn.execute(select(ch.c.at, ch.c.from_value, ch.c.to_value)
                            .where(ch.c.field == "sprint")).all()
    added = removed = carried = 0
    for at, before, after in rows:
        old = set((before or "").split(",")) - {""}
        new = set((after or "").split(",")) - {""}
        for sid in new - old:
            start = starts.get(sid)
            if start and at > start:
                added += 1
        for sid in old - new:
            if at > starts[sid]:
                removed += 1
        if old and old <= new and len(new) == len(old) + 1:
            carried += 1
    assert added and removed and carried


# --- command line -----------------------------------------------------------------------------
def _cli(args, db_path, **kw):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db_path}")
    return subprocess.run([sys.executable, "-m", "connectors", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def test_cli_loads_and_removes_the_demo(tmp_path):
    db = tmp_path / "cli.db"
    done = _cli(["demo", "--scale", "0.05", "--today", "2026-03-02"], db)
    assert done.returncode == 0, done.stderr
    assert "loaded demo organisation" in done.stdout
    eng = get_engine(f"sqlite:///{db}")
    with eng.connect() as conn:
        n = _count(conn, T.work_items, T.work_items.c.source == "demo")
    assert n > 0 and f"work_items {n}" in done.stdout
    gone = _cli(["demo", "--remove"], db)
    assert gone.returncode == 0, gone.stderr
    with eng.connect() as conn:
        assert _count(conn, T.work_items) == 0
    eng.dispose()


@pytest.mark.parametrize("args", [["--scale", "abc"], ["--today", "yesterday"], ["--bogus"]])
def test_cli_bad_arguments_give_usage_and_exit_2(tmp_path, args):
    done = _cli(["demo", *args], tmp_path / "bad.db")
    assert done.returncode == 2
    assert done.stderr.startswith("usage:")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "bad.db").exists()


def test_if_empty_loads_an_empty_database_and_leaves_a_full_one(tmp_path):
    db = tmp_path / "boot.db"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}")
    run = [sys.executable, "-m", "connectors", "demo", "--if-empty"]
    first = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    eng = get_engine(f"sqlite:///{db}")
    with eng.connect() as conn:
        items = _count(conn, T.work_items)
        results = _count(conn, T.test_results)
    # --scale 1 (the default): about 2,000 work items and 50,000 test results.
    assert 1700 <= items <= 2300
    assert 42_000 <= results <= 58_000

    # A database with rows of any source is left exactly as it is.
    other = tmp_path / "real.db"
    real = get_engine(f"sqlite:///{other}")
    with real.begin() as conn:
        _insert_foreign_rows(conn)
    again = subprocess.run(run, cwd=ROOT, env=dict(env, DATABASE_URL=f"sqlite:///{other}"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with real.connect() as conn:
        assert conn.execute(select(T.work_items.c.id)).all() == [("jira:issue:REAL-1",)]
    eng.dispose()
    real.dispose()


def test_ops_1_9_is_the_healthy_upcoming_release(small_db):
    eng, _ = small_db
    wi, ri, pr, d = T.work_items, T.release_items, T.pipeline_runs, T.deployments
    with eng.connect() as conn:
        scope = conn.execute(select(wi.c.status_category).select_from(
            wi.join(ri, ri.c.item_id == wi.c.id)).where(
            ri.c.release_id == "demo:release:OPS:1.9")).scalars().all()
        runs = conn.execute(select(pr.c.conclusion).where(
            pr.c.repo == "acme/platform", pr.c.branch == "release/1.9")).scalars().all()
        staging = conn.execute(
            select(d.c.status).where(d.c.service == "platform-gateway",
                                     d.c.environment == "staging")
            .order_by(d.c.finished_at.desc()).limit(1)).scalar()
        incidents = _count(conn, T.incidents, T.incidents.c.service == "platform-gateway",
                           T.incidents.c.opened_at >= NOW - timedelta(days=30))
    assert scope and set(scope) == {"done"}
    assert runs and set(runs) == {"success"}
    assert staging == "success"
    assert incidents == 0


def test_change_rows_have_the_connectors_shape(small_db):
    eng, _ = small_db
    ch, wi = T.work_item_changes, T.work_items
    with eng.connect() as conn:
        rows = conn.execute(select(wi.c.project, ch.c.id, ch.c.at, ch.c.field, ch.c.from_value,
                                   ch.c.to_value, ch.c.to_string)
                            .select_from(ch.join(wi, wi.c.id == ch.c.item_id))).all()
    issue_style = {"acme/web", "acme/mobile/app"}  # GitHub and GitLab: open/closed events
    # (status_category rows ending ":status_category" are derived by data/domain.py, below)
    derived = {(r.id.removesuffix(":status_category"), r.at): r.to_value for r in rows
               if r.field == "status_category" and r.id.endswith(":status_category")
               and r.project in issue_style}
    jira_status = {(r.id, r.at) for r in rows if r.project not in issue_style
                   and r.field == "status"}
    categories = {(r.id[:-1], r.at): r.to_value for r in rows if r.field == "status_category"
                  and not r.id.endswith(":status_category")}
    # Jira: a status change (ids + names) comes with a status_category change (id + "c").
    assert jira_status and jira_status == set(categories)
    assert set(categories.values()) == {"todo", "in_progress", "done"}
    assert {r.to_value for r in rows if r.field == "status" and r.project not in issue_style} <= {
        "10000", "10001", "3", "10002", "10003", "4"}
    # GitHub: open/closed, as the issue events give them.
    web = {(r.from_value, r.to_value) for r in rows if r.project in issue_style
           and r.field == "status"}
    assert ("open", "closed") in web and web <= {("open", "closed"), ("closed", "open")}
    # ... and each gets its category from data/domain.py: closing is done, reopening todo
    web_status = {(r.id, r.at): r.to_string for r in rows if r.project in issue_style
                  and r.field == "status"}
    assert set(derived) == set(web_status)
    assert all(derived[k] == ("done" if to == "closed" else "todo")
               for k, to in web_status.items())
    # Sprint values are comma-separated sprint ids.
    sprint_values = {v for r in rows if r.field == "sprint" for v in (r.to_value or "").split(",")}
    assert sprint_values - {""} and all(v.startswith("demo:sprint:") for v in sprint_values - {""})
