"""The demo organisation: a deterministic, realistic company to explore ShipReady with.

``load_demo(engine, scale=1, seed=7, today=None)`` replaces every demo row (source ``demo``)
with a fresh organisation laid out around ``today`` (default: today in UTC);
``remove_demo(engine)`` deletes the demo rows and nothing else. The same seed and day give the
same rows; ``--scale 1`` is about 2,000 work items and 50,000 test results.

What it holds (data/demo.toml has the matching configuration):
- teams payments (Jira project PAY, repo acme/payments, service payments-api), platform (OPS,
  acme/platform, platform-gateway), web (GitHub-style project acme/web, service web) and
  mobile (GitLab project acme/mobile/app, service mobile-api: ``data/demo/gitlab_team.py``);
- for PAY and OPS: 12 closed two-week sprints, the active sprint (it contains today) and an
  undated future sprint, with story points and history (``data/demo/work.py`` documents the
  change rows); for acme/web: issues, labels and milestones;
- releases: PAY 2.1–2.3 shipped (2.3 about three weeks ago, green as of its ship date), 2.4 due
  about ten days after today and at risk — an open critical bug in its scope (found in
  production after 2.3), a flaky test and a new failure on release/2.4, a red latest staging
  deploy of payments-api — and 2.5 later; OPS 1.9 upcoming and healthy; acme/web v3.2 upcoming;
- bugs every week with severities, reopenings and escaped defects (``found_in`` production);
- pull requests with first commit, review and merge times, linked to their items;
- CI runs with test results on main and release branches (``data/demo/ci.py``);
- staging and production deployments, the commits each production deploy shipped, incidents,
  rollbacks and hotfixes (``data/demo/delivery.py``);
- readiness snapshots: each release evaluated daily over its life (``data/demo/snapshots.py``).

Ids are ``demo:<kind>:<natural key>``: demo:issue:PAY-123, demo:issue:acme/web#45,
demo:sprint:PAY:13, demo:release:PAY:2.4, demo:pr:acme/payments#12,
demo:run:acme/payments:4321, demo:deploy:payments-api:17, demo:incident:PAY-400.
Only fields the real connectors also fill are set.

Rows are generated lazily and written in chunks (a few thousand rows per transaction), so
memory stays flat at ``--scale 50``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from sqlalchemy import Engine, Table, update

from data import schema
from data.demo.ci import generate_ci
from data.demo.delivery import plan_delivery
from data.demo.layout import Layout, ReleaseSlot
from data.demo.gitlab_team import GITLAB_PROJECTS
from data.demo.gitlab_team import finish as _finish_gitlab
from data.demo.org import PROJECTS as _ORG_PROJECTS
from data.demo.org import Project
from data.demo.rand import stream
from data.demo.work import ProjectWork
from data.store import delete_source
from data.version import bump

SOURCE = "demo"
PROJECTS = _ORG_PROJECTS + GITLAB_PROJECTS  # the GitLab team: data/demo/gitlab_team.py
CHUNK_ROWS = 5000
SPRINT_GOALS = ("Ship the next checkout milestone", "Burn down tech debt", "Harden for launch",
                "Close the top customer bugs", "Finish the epic's last stories")


class ProgressLike(Protocol):
    def update(self, resource: str, n: int = 1) -> None: ...


class _ChunkWriter:
    """Buffers rows per table and writes them, parents first, once a chunk is full.

    Generators emit a parent row before any row pointing at it, so writing every buffer in
    dependency order keeps foreign keys satisfied chunk by chunk.
    """

    def __init__(self, engine: Engine, progress: ProgressLike | None, chunk_rows: int) -> None:
        self.engine = engine
        self.progress = progress
        self.chunk_rows = chunk_rows
        self.order = {t: i for i, t in enumerate(schema.metadata.sorted_tables)}
        self.buffers: dict[Table, list[dict]] = {}
        self.pending = 0
        self.counts: dict[str, int] = {}

    def add(self, table: Table, row: dict) -> None:
        self.buffers.setdefault(table, []).append(row)
        self.pending += 1
        if self.pending >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with self.engine.begin() as conn:
            for table in sorted(self.buffers, key=self.order.__getitem__):
                rows = self.buffers[table]
                if table is schema.test_results and rows:
                    _insert_plain(conn, table, rows)
                elif rows:
                    conn.execute(table.insert(), rows)
        for table, rows in self.buffers.items():
            if rows:
                self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
                if self.progress is not None:
                    self.progress.update(table.name, len(rows))
        self.buffers = {}
        self.pending = 0


def _insert_plain(conn, table: Table, rows: list[dict]) -> None:
    """Insert rows of plain values (no timestamps, no JSON) straight through the driver.

    Test results are most of the demo's rows; skipping SQLAlchemy's per-row parameter
    processing for them roughly halves the load time.
    """
    cols = list(rows[0])
    marks = ", ".join(["?"] * len(cols) if conn.dialect.paramstyle == "qmark"
                      else ["%s"] * len(cols))
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})"
    conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])


def _releases(project: Project, layout: Layout) -> list[ReleaseSlot]:
    hour = 16.5 if project.style != "jira" else 0.0  # GitHub/GitLab releases carry a real time
    return [layout.release(name, kind, offset, hour) for name, kind, offset in project.releases]


def _release_rows(project: Project, releases: list[ReleaseSlot]) -> Iterator[tuple]:
    for i, rel in enumerate(releases, start=1):
        if project.style == "jira":
            url = f"https://acme.atlassian.net/projects/{project.key}/versions/{10000 + i}"
        else:
            url = f"https://github.com/{project.repo}/milestone/{i}"
        yield schema.releases, {
            "id": f"demo:release:{project.key}:{rel.name}", "source": SOURCE,
            "project": project.key, "name": rel.name,
            "description": f"{project.key} {rel.name}", "target_date": rel.target,
            "released_at": rel.released_at,
            "state": "released" if rel.kind == "shipped" else "unreleased",
            "prerelease": False, "url": url,
        }


def _sprint_rows(project: Project, sprints) -> Iterator[tuple]:
    for s in sprints:
        yield schema.sprints, {
            "id": f"demo:sprint:{project.key}:{s.number}", "source": SOURCE,
            "project": project.key, "board": project.board,
            "name": f"{project.key} Sprint {s.number}", "state": s.state,
            "goal": SPRINT_GOALS[s.number % len(SPRINT_GOALS)] if s.start else None,
            "start_at": s.start, "end_at": s.end, "completed_at": s.completed,
            "url": (f"https://acme.atlassian.net/jira/software/projects/{project.key}/boards/"
                    f"{project.board}/reports/sprint-report?sprint={s.number}"),
        }


def generate(*, scale: float, seed: int, today: date) -> Iterator[tuple[Table, dict]]:
    """Every demo row as ``(table, row)``, parents before the rows that point at them."""
    layout = Layout(today)
    for project in PROJECTS:
        rng = stream(seed, project.key)
        releases = _releases(project, layout)
        sprints = []
        if project.style == "jira":
            sprints = layout.sprints(project.sprint_hour,
                                     [rng.random() < 0.35 for _ in range(12)])
            yield from _sprint_rows(project, sprints)
        yield from _release_rows(project, releases)
        delivery = plan_delivery(project, layout, releases, stream(seed, f"{project.key}:deploy"))
        for row in delivery.deployments:
            yield schema.deployments, row
        for row in delivery.commits:
            yield schema.deployment_commits, row
        work = ProjectWork(project, layout, releases, sprints, delivery, scale,
                           stream(seed, f"{project.key}:work"))
        yield from work.rows()
        yield from generate_ci(project, layout, releases, scale,
                               stream(seed, f"{project.key}:ci"))


def load_demo(engine: Engine, *, scale: float = 1.0, seed: int = 7, today: date | None = None,
              progress: ProgressLike | None = None,
              chunk_rows: int = CHUNK_ROWS) -> dict[str, int]:
    """Replace the demo rows with a fresh organisation; returns rows written per table.

    ``scale`` multiplies the volume (1 ≈ 2,000 work items, 50,000 test results); ``today``
    is the day the data is laid out around. Rows of other sources are never touched.
    """
    if not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    today = today or datetime.now(timezone.utc).date()
    with engine.begin() as conn:
        delete_source(conn, SOURCE)
        conn.execute(schema.sync_runs.insert(), sync_history(today))
        run_id = conn.execute(schema.sync_runs.insert().values(
            source=SOURCE, scope=f"scale={scale:g} seed={seed} today={today.isoformat()}",
            started_at=datetime.now(timezone.utc), outcome="running", requests=0,
            not_modified=0)).inserted_primary_key[0]
    writer = _ChunkWriter(engine, progress, chunk_rows)
    started = datetime.now(timezone.utc)
    try:
        for table, row in generate(scale=scale, seed=seed, today=today):
            writer.add(table, row)
        writer.flush()
        _derive_domain(engine)
        _finish_gitlab(engine)
        writer.counts["readiness_snapshots"] = _history(engine, today, scale, progress)
    except BaseException as exc:
        _close_run(engine, run_id, started, "failed", writer.counts,
                   f"demo load stopped: {type(exc).__name__}")
        raise
    _close_run(engine, run_id, started, "success", writer.counts, None)
    return dict(sorted(writer.counts.items()))


HISTORY_SCOPE = "daily sync (demo history)"


def sync_history(today: date) -> list[dict]:
    """One successful sync a day, finished at 00:00 UTC, from the start of the generated
    history to ``today`` — the demo stamped by its ``--today``. Data age (data/freshness.py)
    reads the syncs before a moment, so the demo is fresh on its own day and a past moment
    (``--as-of`` a ship date) is judged by that day's sync, as a live installation's would be.
    The load itself is logged separately, when it really ran."""
    layout = Layout(today)
    day, rows = layout.history_start, []
    while day <= layout.now:
        rows.append({"source": SOURCE, "scope": HISTORY_SCOPE, "started_at": day,
                     "finished_at": day, "heartbeat_at": day, "outcome": "success",
                     "items": {}, "requests": 0, "not_modified": 0, "duration_s": 0.0})
        day += timedelta(days=1)
    return rows


def _derive_domain(engine: Engine) -> None:
    """Membership history and scopes, as the connectors write them (data/domain.py): the
    generator writes sprint changes in Jira's form, and this turns them into domain rows."""
    from data import domain
    from data.mapping import mapping_rules

    rules = mapping_rules(None)
    with engine.begin() as conn:
        releases = domain.ReleaseIndex.load(conn)
        for batch in domain.item_ids_with_history(conn, source=SOURCE):
            domain.rederive(conn, batch, rules, releases=releases)
        scopes = {}
        for p in PROJECTS:
            scopes[p.repo] = {"key": p.repo, "kind": "repository", "source": SOURCE}
            scopes[p.key] = {"key": p.key, "source": SOURCE,
                             "kind": "repository" if p.style != "jira" else "project"}
        domain.upsert_scopes(conn, scopes.values())


def _history(engine: Engine, today: date, scale: float, progress: ProgressLike | None) -> int:
    """Daily readiness snapshots over each release's life (data/demo/snapshots.py)."""
    from data.demo import snapshots

    layout, step = Layout(today), snapshots.step_for(scale)
    plan = {p.key: snapshots.moments(_releases(p, layout), layout, step) for p in PROJECTS}
    return snapshots.record_history(engine, plan, progress)


def _close_run(engine: Engine, run_id: int, started: datetime, outcome: str,
               counts: dict[str, int], error: str | None) -> None:
    finished = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(update(schema.sync_runs).where(schema.sync_runs.c.id == run_id).values(
            outcome=outcome, finished_at=finished, items=dict(counts), error=error,
            duration_s=(finished - started).total_seconds()))
        bump(conn)  # pages' caches key on the data version (data/version.py)


def remove_demo(engine: Engine) -> dict[str, int]:
    """Delete every demo row (and nothing else); returns rows deleted per table."""
    with engine.begin() as conn:
        counts = delete_source(conn, SOURCE)
        bump(conn)
    return {table: n for table, n in counts.items() if n}


__all__ = ["load_demo", "remove_demo", "generate"]
