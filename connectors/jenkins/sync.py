"""Sync one Jenkins job: builds → pipeline runs (+ deployments), test reports → test results.

Incremental rules:
- ``sync_state`` (source ``jenkins``, scope = job path, resource ``builds``) keeps the highest
  build number stored as the cursor and the builds still running as ``pending``;
- a sync reads build pages newest first down to the cursor, then fetches each pending build
  that the pages did not include, so a running build is read again until it has finished;
- each build is written in its own transaction (raw record, run, test results, deployment);
  the cursor and pending list move last, once every build they cover is committed — a failed
  sync leaves them where they were, and the rerun reads the same builds again (upserts make
  that harmless);
- a build's test report is read once it has finished (a 404 means it published none) and
  replaces that build's test results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from net.http import HttpClient
from connectors.progress import NULL_PROGRESS, Progress
from connectors.frame import SyncRun, get_state, reading, refetch_pending, save_raw, set_state
from data import schema
from data.store import replace_rows, upsert

from . import fetch
from . import normalize as nz

if TYPE_CHECKING:
    from data.config import MappingSettings

SOURCE = nz.SOURCE
RESOURCE = "builds"


@dataclass
class JobSync:
    engine: Engine
    client: HttpClient
    job: str  # canonical "folder/sub/job"
    mapping: MappingSettings
    deploy_job_pattern: str = ""
    project_for_repo: Any = staticmethod(lambda repo: None)
    run: SyncRun | None = None
    progress: Progress = NULL_PROGRESS
    full: bool = False
    page_size: int = fetch.PAGE_SIZE
    written: dict[str, int] = field(default_factory=dict)
    _where: str = field(default="the first page of builds", init=False, repr=False)

    def _count(self, resource: str, n: int) -> None:
        if not n:
            return
        self.written[resource] = self.written.get(resource, 0) + n
        if self.run is not None:
            self.run.add(resource, n)
        self.progress.update(resource, n)

    def sync(self) -> dict[str, int]:
        """Read new builds (and those still running) and store them; a build of the wrong
        shape stops the sync with one line naming it (what is stored stays)."""
        with reading(nz.SOURCE, lambda: f"{self.job}, {self._where}"):
            return self._sync()

    def _sync(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            state = get_state(conn, SOURCE, self.job, RESOURCE)
        cursor = None if self.full or not state.cursor else int(state.cursor)
        pending = {int(n) for n in (state.pending or [])}
        newest = cursor or 0
        seen: set[int] = set()
        running: set[int] = set()

        for page in fetch.iter_build_pages(self.client, self.job, self.page_size):
            reached = False
            for build in page:
                number = int(build["number"])
                self._where = f"build {number}"
                seen.add(number)
                newest = max(newest, number)
                if cursor is not None and number <= cursor:
                    reached = True
                    if number not in pending:
                        continue
                if self._store(build):
                    running.add(number)
            if reached:
                break

        def fetch_build(number: int) -> dict[str, Any] | None:  # None: deleted since
            self._where = f"build {number}"
            return fetch.fetch_build(self.client, self.job, number)

        running.update(refetch_pending(sorted(pending - seen), fetch_build, self._store))

        with self.engine.begin() as conn:
            set_state(conn, SOURCE, self.job, RESOURCE,
                      cursor=str(newest) if newest else None, pending=sorted(running))
        return dict(self.written)

    def _store(self, build: dict[str, Any]) -> bool:
        """Write one build (and its tests once finished). Returns True while it is running."""
        row = nz.build_to_run(build, self.job, project_for_repo=self.project_for_repo)
        tests = None
        if row["status"] == "completed":
            report = fetch.fetch_test_report(self.client, self.job, row["number"])
            tests = nz.test_rows(report, row["id"])
        deployment = (nz.build_to_deployment(row, self.job, self.mapping)
                      if nz.is_deploy_job(self.job, self.deploy_job_pattern) else None)
        with self.engine.begin() as conn:
            save_raw(conn, SOURCE, RESOURCE, self.job, [(row["id"], build)])
            upsert(conn, schema.pipeline_runs, [row])
            if tests is not None:
                t = schema.test_results
                replace_rows(conn, t, t.c.run_id == row["id"], tests)
            if deployment is not None:
                upsert(conn, schema.deployments, [deployment])
        self._count("builds", 1)
        self._count("test_results", len(tests or []))
        self._count("deployments", 1 if deployment else 0)
        return row["status"] != "completed"
