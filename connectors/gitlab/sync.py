"""Sync one GitLab project: fetch → normalise → store, one transaction per page, cursors last.

Milestones, iterations, issues, merge requests, pipelines and deployments are declared
endpoints (``fetch.py``, normalisers in ``normalize.py``) that the frame's executor runs
(``connectors/frame/stream.py``): it keeps the cursors, writes each page in one transaction,
counts, and removes unlisted issues after a complete listing. Releases (matched to
milestones over the whole list, sorted by release date) and the per-deployment compare keep
their own short loops.

Order: the project (its numeric id, a rename), milestones and iterations before issues (their
membership points at them), issues with their resource events, merge requests with their
commits, approvals and notes, GitLab releases (they mark milestones shipped), pipelines with
their test reports, environments and deployments, then the commits each successful production
deployment shipped.

Incremental rules (docs/architecture.md): issues, merge requests, pipelines and deployments
are listed oldest change first with ``updated_after=<cursor>`` ("updated on or after"); the
cursor — the newest ``updated_at`` stored — moves in the transaction that wrote the page, so
a rerun resumes after the last committed page, and a sync with nothing new reads one page per
list (the item at the cursor itself). A pipeline or deployment still running changes
``updated_at`` when it finishes, so it comes back by itself. Notes, commits, approvals and
resource events have no ``updated_after``: they are fetched again for every changed parent.

Deletions: a complete listing of every issue (first sync, ``--full``) removes the project's
work items GitLab no longer lists, guarded by ``connectors/frame/deletions.py`` (count from
``issues_statistics``). A moved issue (``moved_to_id``) is removed at once: GitLab says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, delete, func, literal, select, update

from connectors.frame import (DeletePolicy, Listing, RemovalRefused, SyncRun, reading,
                              remove_items, save_raw)
from connectors.frame.shipped import store_shipped_commits
from connectors.frame.stream import Deletions, Page, Stream
from connectors.progress import NULL_PROGRESS, Progress
from data import domain, schema
from data.mapping import mapping_rules
from data.store import in_values, replace_rows, upsert
from net.http import HttpClient, NotFound, PermissionDenied, SourceError

from . import fetch
from . import normalize as nz

if TYPE_CHECKING:
    from data.config import Settings

SOURCE = "gitlab"
# What a 403 means, per step: the scope and role GitLab asks for (docs "Roles and
# permissions", "Personal access token scopes").
PERMISSION = "the token needs the read_api scope and at least the Reporter role in the project"
# Issues whose event lists are fetched at once. GitLab.com allows 2,000 authenticated requests
# a minute (GitLab docs, "Rate limits on GitLab.com"); four in flight at ~150 ms each stay
# under it (about 1,600 a minute).
EVENT_WORKERS = 4


def prefix_range(column, prefix: str):
    """``column`` starts with ``prefix``, as a range (the index is used; ``_``/``%`` literal)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


def upsert_by_columns(conn, table, rows: list[dict]) -> int:
    """Upsert ``rows`` one batch per column set: a merged MR's row carries its details, an
    open one's does not, and must not blank the details stored for it."""
    batches: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        batches.setdefault(tuple(row), []).append(row)
    return sum(upsert(conn, table, batch) for batch in batches.values())


def check_items(items: list[dict], where: str, *fields: str) -> list[dict]:
    for item in items:
        for name in fields:
            if item.get(name) is None:
                raise fetch.bad_shape(SOURCE, where, f"objects with '{name}'", item.get(name))
    return items


@dataclass
class ProjectSync:
    engine: Engine
    client: HttpClient
    settings: Settings
    path: str  # as configured or listed by a group
    run: SyncRun
    progress: Progress = NULL_PROGRESS
    full: bool = False
    delete_policy: DeletePolicy = field(default_factory=DeletePolicy)
    pid: int = 0
    project: dict = field(default_factory=dict)
    _where: str = "the first answer"
    _listing: Listing | None = None
    _item: str = ""
    _failed_at: str = ""  # set by a worker thread whose request failed
    _pool: ThreadPoolExecutor | None = None
    _refused: RemovalRefused | None = None
    _milestones_seen: set[str] = field(default_factory=set)
    tiers: dict[Any, str | None] | None = None  # environment id → tier, read with deployments

    # --- helpers ------------------------------------------------------------------------
    @property
    def gl(self):
        return self.settings.gitlab

    @property
    def base(self) -> str:
        return f"/projects/{self.pid}"

    @property
    def project_key(self) -> str:
        """The project rows belong to: the one listing the path in readiness.toml, else it."""
        return self.settings.project_for_repo(self.path) or self.path

    @property
    def scope(self) -> str:
        """sync_state scope: the numeric id, so cursors survive a rename."""
        return str(self.pid)

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.client.clock.now(), timezone.utc)

    def listing(self) -> Listing:
        """A new listing, followed by error messages (its ``where`` names the page asked)."""
        self._listing = Listing()
        return self._listing

    def where(self) -> str:
        """The page or resource being read, for a message: an item's own resource while it
        is fetched (:meth:`item`), else the listing's page, else the last resource named."""
        if self._failed_at:
            return self._failed_at
        if self._item:
            return self._item
        if self._listing is not None and self._listing.where:
            return self._listing.where
        return self._where

    def at(self, where: str) -> None:
        self._where, self._listing = where, None

    @contextmanager
    def item(self, where: str) -> Iterator[None]:
        """While one item's own resources (events, notes, a test report) are fetched."""
        self._item = where
        try:
            yield
        finally:
            self._item = ""

    def count(self, resource: str, n: int) -> None:
        if n:
            self.run.add(resource, n)
            self.progress.update(resource, n)

    def sync(self) -> dict[str, int]:
        host = urlsplit(self.client.base_url).netloc
        try:
            return self._sync(host)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _sync(self, host: str) -> dict[str, int]:
        try:
            with reading(SOURCE, lambda: f"{self.path}, {self.where()}"):
                self.resolve()
                self.sync_milestones()
                self.sync_iterations()
                self.sync_issues()
                self.sync_merge_requests()
                self.derive_started()
                self.sync_releases()
                self.sync_pipelines()
                self.sync_deployments()
                self.sync_deployment_commits()
        except NotFound as exc:
            if self.pid:
                raise NotFound(f"gitlab: {self.path}: not found (404) at {self.where()} on "
                               f"{host} — the feature may be disabled in the project, or "
                               f"{self.client.token_hint} cannot see it") from exc
            raise NotFound(
                f"gitlab: project {self.path} not found on {host}, or not visible to this "
                f"token (404) — check --project and {self.client.token_hint}") from exc
        except PermissionDenied as exc:
            raise PermissionDenied(
                f"gitlab: {self.path}: permission denied (403) at {self.where()} — {PERMISSION} "
                f"(set {self.client.token_hint})") from exc
        if self._refused is not None:
            raise self._refused
        return dict(self.run.items)

    # --- the frame's executor (connectors/frame/stream.py) runs the declared endpoints ------
    def stream(self, endpoint, **kw) -> Stream:
        """The executor for one of this project's endpoints: state under the numeric id,
        messages naming the path."""
        return Stream(engine=self.engine, source=SOURCE, scope=self.scope, label=self.path,
                      endpoint=endpoint, context=self, run=self.run, count=self.count,
                      full=self.full, **kw)

    def pages(self, path: str, params: dict[str, Any], *,
              fallback: dict[str, Any] | None = None) -> Iterator[Page]:
        """GitLab's pages of ``path``, followed by :meth:`where`. No ETags are kept or sent:
        an incremental listing asks ``updated_after`` the cursor, so the one page a sync with
        nothing new reads holds the item at the cursor, and the executor's
        ``since_inclusive`` writes nothing for it."""
        for page in fetch.pages(self.client, path, params, self.listing(), fallback=fallback):
            page.etag = None
            yield page

    def _map(self, fn, items: list[dict]) -> list[Any]:
        """``fn`` over a page's items, ``EVENT_WORKERS`` at a time: per-item lists are small,
        so on a remote GitLab the wait for answers, not the work, is what a sync spends its
        time on. The first failure is raised once the others in flight have finished."""
        if len(items) <= 1 or EVENT_WORKERS <= 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(EVENT_WORKERS, thread_name_prefix="gitlab-events")
        return list(self._pool.map(fn, items))

    # --- the project ----------------------------------------------------------------------
    def resolve(self) -> None:
        """The project's numeric id and current path (a moved project answers with a redirect
        on the same host, which the client follows); a renamed project's rows move to the new
        path."""
        self.at(f"/projects/{fetch.encode_path(self.path)}")
        body, _ = fetch.get_object(self.client, self._where)
        check_items([body], self._where, "id", "path_with_namespace")
        self.project, self.pid = body, int(body["id"])
        new = body["path_with_namespace"]
        sc = schema.scopes
        with self.engine.begin() as conn:
            old = conn.execute(select(sc.c.key).where(sc.c.source == SOURCE,
                                                      sc.c.external_id == self.pid,
                                                      sc.c.key != new)).scalars().all()
            for key in old:
                self._rename(conn, key, new)
                conn.execute(delete(sc).where(sc.c.key == key, sc.c.source == SOURCE))
            domain.upsert_scopes(conn, [{"key": new, "kind": "repository", "source": SOURCE,
                                         "name": body.get("name_with_namespace") or new,
                                         "external_id": self.pid}])
        self.path = new

    def _rename(self, conn, old: str, new: str) -> None:
        """Rows of project ``pid`` stored under ``old`` now under ``new`` (ids do not change)."""
        pid = self.pid
        wi = schema.work_items
        mine = prefix_range(wi.c.id, nz.issue_id(pid, 0)[:-1])
        conn.execute(update(wi).where(mine).values(
            key=literal(new) + func.substr(wi.c.key, len(old) + 1)))
        # ``project`` is the path unless [projects.X] names it (then it stays X)
        conn.execute(update(wi).where(mine, wi.c.project == old).values(project=new))
        rel = schema.releases
        for prefix in (nz.milestone_id(pid, 0)[:-1], f"{SOURCE}:release:{pid}@"):
            conn.execute(update(rel).where(prefix_range(rel.c.id, prefix), rel.c.project == old)
                         .values(project=new))
        pr = schema.pull_requests
        conn.execute(update(pr).where(prefix_range(pr.c.id, nz.mr_id(pid, 0)[:-1]))
                     .values(repo=new))
        runs = schema.pipeline_runs
        conn.execute(update(runs).where(prefix_range(runs.c.id, nz.pipeline_id(pid, 0)[:-1]))
                     .values(repo=new, pipeline=func.replace(runs.c.pipeline, old, new)))
        conn.execute(update(runs).where(prefix_range(runs.c.id, nz.pipeline_id(pid, 0)[:-1]),
                                        runs.c.project == old).values(project=new))
        dep = schema.deployments
        conn.execute(update(dep).where(prefix_range(dep.c.id, nz.deployment_id(pid, 0)[:-1]))
                     .values(service=new, repo=new))
        inc = schema.incidents
        conn.execute(update(inc).where(prefix_range(inc.c.id, f"{SOURCE}:incident:{pid}#"))
                     .values(service=new))
        sp = schema.sprints
        conn.execute(update(sp).where(sp.c.source == SOURCE, sp.c.project == old)
                     .values(project=new))

    # --- milestones and iterations ----------------------------------------------------------
    def sync_milestones(self) -> None:
        """Project milestones and those of its ancestor groups, every state."""
        def pages(_since, _etag):
            return self.pages(f"{self.base}/milestones",
                              {"include_ancestors": "true", "per_page": self.gl.per_page})

        def seen(_conn, _items, _extras, rows) -> None:
            self._milestones_seen.update(r["id"] for r in rows.get(schema.releases, ()))

        self.stream(fetch.MILESTONES, key=lambda ms: f"{self.pid}#{ms['id']}", require=("id",),
                    counts={"releases": "milestones"}, on_page=seen).sync(pages)

    def sync_iterations(self) -> None:
        """Iterations of the project's groups (Premium). On the Free tier the endpoint is not
        there: no sprints, which the pages show as no data, never as zero."""
        def pages(_since, _etag):
            try:
                yield from self.pages(f"{self.base}/iterations",
                                      {"state": "all", "per_page": 100})
            except (NotFound, PermissionDenied):  # Premium, or turned off: no data
                return

        self.stream(fetch.ITERATIONS, key=lambda it: str(it["id"]), require=("id",),
                    counts={"sprints": "iterations"}).sync(pages)

    # --- issues ---------------------------------------------------------------------------
    def sync_issues(self) -> None:
        """Issues by ``updated_after``, oldest change first, keyset pages where the server
        has them; each with its resource events. A listing of every issue (first sync,
        ``--full``) removes those GitLab no longer lists (:meth:`issue_deletions`)."""
        def pages(since, _etag):
            params: dict[str, Any] = {"state": "all", "sort": "asc",
                                      "per_page": self.gl.per_page}
            if since:
                params["updated_after"] = since
            keyset, offset = fetch.keyset_query(params, order_by="updated_at")
            return self.pages(f"{self.base}/issues", keyset, fallback=offset)

        try:
            self.stream(fetch.PROJECT_ISSUES, key=lambda i: f"{self.pid}#{i['iid']}",
                        require=("iid", "created_at", "updated_at"), since_inclusive=True,
                        expand=self._issue_events, expand_map=self._map,
                        counts={"work_items": "issues"}, on_page=self._issue_extras,
                        deletions=self.issue_deletions()).sync(pages)
        except RemovalRefused as exc:
            self._refused = exc  # raised once everything else is synced

    def _issue_events(self, issue: dict) -> dict[str, list[dict] | None]:
        """Every resource event of one issue; iteration events only where the issue carries
        the Premium ``iteration`` key (the endpoint is Premium too). Runs in worker threads:
        a failing request records its path for the message, nothing else is shared. None
        for an issue moved to another project (it is removed, its events are not read)."""
        if issue.get("moved_to_id"):
            return None
        base = f"{self.base}/issues/{issue['iid']}"
        out: dict[str, list[dict] | None] = {}
        kinds = ("state", "label", "milestone") + (("iteration",) if "iteration" in issue
                                                   else ())
        for kind in kinds:
            path = f"{base}/resource_{kind}_events"
            try:
                if kind == "iteration":
                    out[kind] = fetch.optional_items(self.client, path)
                else:
                    out[kind] = fetch.all_items(self.client, path)
            except NotFound:  # deleted since it was listed: a full sync removes it
                out[kind] = []
            except SourceError:
                self._failed_at = self._failed_at or path
                raise
        return out

    def _issue_extras(self, conn, items: list[dict], events: list, rows) -> dict[str, int]:
        """In the page's transaction, after the issues' rows: moved issues removed, a
        milestone created after the milestones list was read, release and sprint membership,
        the history rows from the resource events (replacing what was stored) and their
        derived rows, incidents."""
        counts: dict[str, int] = {}
        moved = [i for i in items if i.get("moved_to_id")]
        if moved:
            counts["moved"] = self._remove_moved(conn, moved)
        pairs = [(i, e) for i, e in zip(items, events) if not i.get("moved_to_id")]
        if not pairs:
            return counts
        issues = [i for i, _ in pairs]
        by_id = {r["id"]: r for r in rows[schema.work_items]}
        fresh = {}
        for i in issues:
            ms = i.get("milestone")
            if isinstance(ms, dict) and ms.get("id") is not None:
                row = nz.milestone_to_release(ms, self.pid, self.project_key)
                if row["id"] not in self._milestones_seen:
                    fresh[row["id"]] = row
        if fresh:  # created after the milestones list was read
            upsert(conn, schema.releases, list(fresh.values()))
            self._milestones_seen.update(fresh)
        rows = [by_id[nz.issue_id(self.pid, i["iid"])] for i in issues]
        ids = list(by_id)
        for table in (schema.release_items, schema.sprint_items):
            conn.execute(delete(table).where(in_values(table.c.item_id, ids),
                                             table.c.source == SOURCE))
        members = [m for m in (nz.release_item(i, self.pid) for i in issues) if m]
        if members:
            upsert(conn, schema.release_items, members)
        sprint_members = [m for m in (nz.sprint_item(i, self.pid) for i in issues) if m]
        if sprint_members:
            known = set(conn.execute(select(schema.sprints.c.id).where(
                in_values(schema.sprints.c.id, {m["sprint_id"] for m in sprint_members})))
                .scalars())
            sprint_members = [m for m in sprint_members if m["sprint_id"] in known]
            if sprint_members:
                upsert(conn, schema.sprint_items, sprint_members)
        # Raw history: every event of these issues, fetched again, replaces what was stored.
        changes = []
        for (issue, ev), row in zip(pairs, rows):
            ev = ev or {}
            state = nz.state_changes(ev.get("state") or [], row["id"])
            changes += state or nz.closed_fallback(issue, row["id"])
            changes += nz.label_changes(ev.get("label") or [], row["id"])
            changes += nz.milestone_changes(ev.get("milestone") or [], row["id"], self.pid)
            changes += nz.iteration_changes(ev.get("iteration") or [], row["id"])
        wic = schema.work_item_changes
        conn.execute(delete(wic).where(in_values(wic.c.item_id, ids), wic.c.source == SOURCE))
        if changes:
            upsert(conn, wic, changes)
        domain.rederive(conn, ids, mapping_rules(self.settings.mapping), label_events=True)
        inc = schema.incidents
        conn.execute(delete(inc).where(in_values(inc.c.work_item_id, ids)))
        incidents = [r for r in (nz.incident_row(row, self.path) for row in rows) if r]
        if incidents:
            upsert(conn, inc, incidents)
        counts["changes"], counts["incidents"] = len(changes), len(incidents)
        return counts

    def _remove_moved(self, conn, moved: list[dict]) -> int:
        """Issues moved to another project: GitLab states it (``moved_to_id``), so they go
        at once — no listing to doubt, hence no share limit."""
        ids = {nz.issue_id(self.pid, i["iid"]): f"{self.pid}#{i['iid']}" for i in moved}
        wi = schema.work_items
        stored = set(conn.execute(select(wi.c.id).where(in_values(wi.c.id, list(ids))))
                     .scalars())
        gone = {k: v for k, v in ids.items() if k in stored}
        if not gone:
            return 0
        return remove_items(conn, SOURCE, "issues", gone, scope=self.path, stored=len(gone),
                            policy=DeletePolicy(1.0, True))

    def _issue_count(self) -> tuple[int | None, str]:
        try:
            body, _ = self.client.get_json(f"{self.base}/issues_statistics")
            return int(body["statistics"]["counts"]["all"]), ""
        except (KeyError, TypeError, ValueError):
            return None, "issues_statistics answered without a count"
        except (NotFound, PermissionDenied) as exc:
            return None, str(exc)

    def issue_deletions(self) -> Deletions:
        """After a complete listing (first sync, ``--full``): remove the project's work items
        GitLab no longer lists, within the frame's guards, the listing checked against
        ``issues_statistics``."""
        wi = schema.work_items

        def stored(conn) -> dict[str, str]:
            ids = conn.execute(select(wi.c.id).where(
                prefix_range(wi.c.id, nz.issue_id(self.pid, 0)[:-1]))).scalars().all()
            return {i: i.split(":", 2)[2] for i in ids}

        return Deletions(stored=stored, policy=self.delete_policy, resource="issues",
                         count=self._issue_count,
                         empty_hint=f"check that {self.client.token_hint} can still read it")

    # --- merge requests ---------------------------------------------------------------------
    def sync_merge_requests(self) -> None:
        """Merge requests by ``updated_after``, oldest change first; a merged one with its
        details (:meth:`_mr_detail`)."""
        def pages(since, _etag):
            params: dict[str, Any] = {"state": "all", "order_by": "updated_at", "sort": "asc",
                                      "per_page": self.gl.per_page}
            if since:
                params["updated_after"] = since
            return self.pages(f"{self.base}/merge_requests", params)

        def details(_conn, _items, fetched, _rows) -> dict[str, int]:
            return {"mr_details": sum(d is not None for d in fetched)}

        self.stream(fetch.MERGE_REQUESTS, key=lambda m: f"{self.pid}!{m['iid']}",
                    require=("iid", "created_at", "updated_at"), since_inclusive=True,
                    expand=self._mr_detail, counts={"pull_requests": "merge_requests"},
                    write=upsert_by_columns, on_page=details).sync(pages)

    def _mr_detail(self, mr: dict) -> dict[str, Any] | None:
        """Size, first commit and first review of a merged MR: its own answer (for
        ``changes_count``), commits, approvals and notes — four requests. None when it is not
        merged, or was deleted since it was listed."""
        if nz.mr_to_row(mr, self.pid, self.path)["state"] != "merged":
            return None
        base = f"{self.base}/merge_requests/{mr['iid']}"
        with self.item(base):
            single, _ = fetch.get_object(self.client, base, allow=(404,))
        if single is None:
            return None
        with self.item(f"{base}/commits"):
            commits = fetch.all_items(self.client, self._item)
        with self.item(f"{base}/approvals"):
            try:
                approvals, _ = fetch.get_object(self.client, self._item)
            except (NotFound, PermissionDenied):
                approvals = None
        with self.item(f"{base}/notes"):
            notes = fetch.all_items(self.client, self._item,
                                    {"sort": "asc", "order_by": "created_at"})
        return nz.mr_detail(single, commits, approvals, notes)

    # --- started_at -----------------------------------------------------------------------
    def derive_started(self) -> None:
        """started_at = the earliest signal ``[mapping] started_from`` allows that GitLab
        records: an in-progress label added (label events), a merge request naming the issue
        created (``linked_pr``). Assignments have no resource event, so ``assigned`` marks an
        open item in progress (its current assignee) without a start time. An open item
        started is in progress. Over the project's stored items, so a mapping change applies
        on the next sync."""
        started_from = set(self.settings.mapping.started_from)
        in_progress = {x.casefold() for x in self.settings.mapping.in_progress_labels}
        wi, ch, pr = schema.work_items, schema.work_item_changes, schema.pull_requests
        prefix = nz.issue_id(self.pid, 0)[:-1]
        first: dict[str, datetime] = {}

        def offer(item: str, at: datetime | None) -> None:
            if at is not None and (item not in first or at < first[item]):
                first[item] = at

        with self.engine.begin() as conn:
            if "label" in started_from and in_progress:
                for item, value, at in conn.execute(
                        select(ch.c.item_id, ch.c.to_value, ch.c.at).where(
                            prefix_range(ch.c.item_id, prefix), ch.c.field == "labels",
                            ch.c.to_value.is_not(None))):
                    if value.casefold() in in_progress:
                        offer(item, at)
            if "linked_pr" in started_from:
                for created, linked in conn.execute(select(pr.c.created_at, pr.c.linked_items)
                                                    .where(prefix_range(pr.c.id, nz.mr_id(
                                                        self.pid, 0)[:-1]))):
                    for item in linked or []:
                        offer(item, created)
            if not first:
                return
            for item, stored, category in conn.execute(
                    select(wi.c.id, wi.c.started_at, wi.c.status_category).where(
                        in_values(wi.c.id, list(first)))).all():
                start = first[item]
                new_category = "in_progress" if category == "todo" else category
                if start != stored or new_category != category:
                    conn.execute(update(wi).where(wi.c.id == item).values(
                        started_at=start, status_category=new_category))

    # --- GitLab releases ----------------------------------------------------------------------
    def sync_releases(self) -> None:
        """A release marks the milestones it names (else the one with its name or tag)
        shipped at its ``released_at``; one no milestone matches is a release of its own."""
        listing, items_all = self.listing(), []
        for page in fetch.pages(self.client, f"{self.base}/releases",
                                {"per_page": self.gl.per_page}, listing):
            items_all += check_items(page.items, page.where, "tag_name")
        if not items_all:
            return
        rel = schema.releases
        with self.engine.begin() as conn:
            save_raw(conn, SOURCE, "releases", self.scope,
                     ((f"{self.pid}@{r['tag_name']}", r) for r in items_all))
            milestones = [dict(r._mapping) for r in conn.execute(select(rel.c.id, rel.c.name)
                          .where(prefix_range(rel.c.id, nz.milestone_id(self.pid, 0)[:-1])))]
            for r in sorted(items_all, key=lambda r: r.get("released_at") or ""):
                matched = nz.release_milestones(r, milestones)
                if matched:
                    fields = nz.release_fields(r)
                    if fields:
                        conn.execute(update(rel).where(rel.c.id.in_(matched)).values(**fields))
                else:
                    upsert(conn, rel, [nz.release_to_release(r, self.pid, self.project_key)])
        self.count("releases", len(items_all))

    # --- pipelines ----------------------------------------------------------------------------
    def sync_pipelines(self) -> None:
        """Pipelines and, listed apart (GitLab leaves them out of the default list), child
        pipelines, by ``updated_after`` (the first sync from ``lookback_days`` ago); each with
        its details and, once finished, its test report."""
        for endpoint, extra in ((fetch.PIPELINES, {}),
                                (fetch.CHILD_PIPELINES, {"source": "parent_pipeline"})):
            def pages(since, _etag, extra=extra):
                start = since or (self.now - timedelta(days=self.gl.lookback_days)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                return self.pages(f"{self.base}/pipelines",
                                  {"updated_after": start, "order_by": "updated_at",
                                   "sort": "asc", "per_page": self.gl.per_page, **extra})

            self.stream(endpoint, key=lambda p: f"{self.pid}:{p['id']}",
                        require=("id", "updated_at"), since_inclusive=True,
                        expand=self._pipeline, raw=lambda p, fetched: fetched[0],
                        counts={"pipeline_runs": endpoint.resource},
                        on_page=self._test_results).sync(pages)

    def _test_results(self, conn, _items, fetched, _rows) -> dict[str, int]:
        """In the page's transaction: each report read replaces its pipeline's results."""
        tr = schema.test_results
        tests = 0
        for detail, report in fetched:
            if report is not None:
                run_id = nz.pipeline_id(self.pid, detail["id"])
                tests += replace_rows(conn, tr, tr.c.run_id == run_id,
                                      nz.report_rows(report, run_id))
        return {"test_results": tests}

    def _pipeline(self, p: dict) -> tuple[dict, dict | None]:
        """The pipeline's own answer (started, finished, duration) and, for a pipeline that
        passed or failed, its test report (None: not asked, or not available — 403 without
        ``read_build``, 404 where the feature is off)."""
        path = f"{self.base}/pipelines/{p['id']}"
        with self.item(path):
            detail, _status = fetch.get_object(self.client, path, allow=(404,))
        if detail is None:  # deleted since it was listed
            return p, None
        report = None
        if str(detail.get("status")) in ("success", "failed"):
            with self.item(f"{path}/test_report"):
                report, _ = fetch.get_object(self.client, self._item, allow=(403, 404))
        return detail, report

    # --- deployments --------------------------------------------------------------------------
    def environment_tiers(self) -> dict[Any, str | None]:
        """``{environment id: tier}`` of the project's environments (one listing per sync)."""
        tiers: dict[Any, str | None] = {}
        try:
            with self.item(f"{self.base}/environments"):
                for page in fetch.pages(self.client, self._item,
                                        {"per_page": self.gl.per_page}):
                    for env in page.items:
                        tiers[env.get("id")] = env.get("tier")
        except (NotFound, PermissionDenied):
            return {}  # no tiers to read: environments by name ([mapping])
        return tiers

    def sync_deployments(self) -> None:
        """Deployments by ``updated_after``, oldest change first (a deployment without
        ``updated_at`` by its ``created_at``); the environments' tiers read once, with the
        first page."""
        def pages(since, _etag):
            params: dict[str, Any] = {"order_by": "updated_at", "sort": "asc",
                                      "per_page": self.gl.per_page}
            if since:
                params["updated_after"] = since
            self.tiers = None
            for page in self.pages(f"{self.base}/deployments", params):
                if self.tiers is None:
                    self.tiers = self.environment_tiers()
                yield page

        self.stream(fetch.DEPLOYMENTS, key=lambda d: f"{self.pid}:{d['id']}", require=("id",),
                    since_inclusive=True,
                    value=lambda d: d.get("updated_at") or d.get("created_at"),
                    counts={"deployments": "deployments"}).sync(pages)

    def sync_deployment_commits(self) -> None:
        """For each successful production deployment without commits yet: the commits between
        the previous successful production deployment of the same environment of this project
        and its own sha (repository compare). The first one, a redeploy of the same sha, or a
        sha the compare cannot find ship their own sha only — nothing is guessed."""
        d = schema.deployments
        with self.engine.connect() as conn:
            deps = conn.execute(select(d.c.id, d.c.environment_name, d.c.sha, d.c.finished_at,
                                       d.c.created_at).where(
                prefix_range(d.c.id, nz.deployment_id(self.pid, 0)[:-1]),
                d.c.environment == "production", d.c.status == "success")).all()
        self.count("deployment_commits", store_shipped_commits(
            self.engine, deps, source=SOURCE, chain=lambda dep: dep.environment_name or "",
            compare=self._compare, to_rows=nz.compare_rows))

    def _compare(self, base: str, head: str) -> list[dict]:
        """Commits in ``head`` and not in ``base``; none when GitLab cannot compare them."""
        path = f"{self.base}/repository/compare"
        self.at(path)
        try:
            body, _ = fetch.get_object(self.client, path, params={"from": base, "to": head})
        except NotFound:
            return []
        commits = body.get("commits") if body else None
        return [c for c in commits if isinstance(c, dict)] if isinstance(commits, list) else []


def group_projects(client: HttpClient, group: str, *, include_archived: bool,
                   per_page: int = 100) -> list[str]:
    """Paths of a group's projects, its subgroups' included; archived ones only if asked."""
    params: dict[str, Any] = {"include_subgroups": "true", "with_shared": "false",
                              "order_by": "id", "sort": "asc", "per_page": per_page}
    if not include_archived:
        params["archived"] = "false"
    out: list[str] = []
    listing = Listing()
    try:
        for page in fetch.pages(client, f"/groups/{fetch.encode_path(group)}/projects",
                                params, listing):
            check_items(page.items, page.where, "path_with_namespace")
            out += [p["path_with_namespace"] for p in page.items
                    if include_archived or not p.get("archived")]
    except NotFound:
        raise NotFound(f"gitlab: group {group} not found on "
                       f"{urlsplit(client.base_url).netloc}, or not visible to this token "
                       f"(404) — check --group and {client.token_hint}") from None
    return out
