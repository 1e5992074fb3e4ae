"""Sync one Jenkins job: builds → pipeline runs (+ deployments), test reports → test results.

Incremental rules:
- ``sync_state`` (source ``jenkins``, scope = job path, resource ``builds``) keeps the highest
  build number stored as the cursor and the builds still running as ``pending``;
- a sync reads build pages newest first down to the cursor, then fetches each pending build
  that the pages did not include, so a running build is read again until it has finished;
- the frame's executor (``connectors/frame/stream.py``, newest first) writes each page of
  builds in one transaction (raw records, runs, test results, deployments); the cursor and
  pending list move last, once every build they cover is committed — a failed sync leaves
  them where they were, and the rerun reads the same builds again (upserts make that
  harmless);
- a build's test report is read once it has finished (a 404 means it published none) and
  replaces that build's test results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from net.http import HttpClient
from connectors.progress import NULL_PROGRESS, Progress
from connectors.frame import SyncRun
from connectors.frame.stream import Page, Stream
from data import schema
from data.store import replace_rows

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
        def pages(_since, _etag):
            return (Page(items) for items in
                    fetch.iter_build_pages(self.client, self.job, self.page_size))

        def refetch(number: int) -> dict[str, Any] | None:  # None: deleted since
            return fetch.fetch_build(self.client, self.job, number)

        Stream(engine=self.engine, source=SOURCE, scope=self.job, endpoint=fetch.BUILDS,
               key=lambda b: nz.build_id(self.job, int(b["number"])), context=self,
               run=self.run, count=self._count, full=self.full, order="newest_first",
               position=lambda n: None if n is None else int(n),
               expand=self._report, on_page=self._tests,
               counts={"pipeline_runs": "builds", "deployments": "deployments"},
               pending_key=lambda b: int(b["number"]), unfinished=_running, refetch=refetch,
               item_where=lambda b: f"build {b['number']}",
               pending_where=lambda n: f"build {n}").sync(pages)
        return dict(self.written)

    def _report(self, build: dict[str, Any]) -> dict[str, Any] | None:
        """A finished build's test report (``{"report": None}`` when it published none);
        None while it runs — its results are read once it has finished."""
        if nz.is_running(build):
            return None
        return {"report": fetch.fetch_test_report(self.client, self.job, int(build["number"]))}

    def _tests(self, conn, builds, reports, rows) -> dict[str, int]:
        """In the page's transaction: each finished build's report replaces its results."""
        written = 0
        t = schema.test_results
        for build, report in zip(builds, reports):
            if report is None:
                continue
            run_id = nz.build_id(self.job, int(build["number"]))
            written += replace_rows(conn, t, t.c.run_id == run_id,
                                    nz.test_rows(report["report"], run_id))
        return {"test_results": written}


def _running(_build: dict[str, Any], rows: dict) -> bool:
    return rows[schema.pipeline_runs][0]["status"] != "completed"
