"""Sync one repository: fetch → normalise → store, one transaction per page, cursors last.

Order matters: milestones before issues (release membership points at them), issues before
their events, events and pulls before ``started_at`` is derived, milestones before GitHub
releases are matched to them, runs and deployments before the commits each deployment shipped.

Incremental rules (see docs/architecture.md):
- issues: ``since=<cursor>&sort=updated&direction=asc``; the cursor moves page by page;
- pulls, issue events, deployments: newest first, read down to the stored watermark, which
  moves once the walk is complete;
- runs: ``created`` windows under the 1,000-result cap, the cursor moving window by window;
  runs (and deployments) still in progress are kept in ``pending`` and fetched again;
- conditional requests: an ETag is reused only for the same query, and only when its answer
  was complete in one page — so a 304 means nothing in the whole list changed.

Deletions: a listing of every issue (first sync, ``--full``) removes the issues GitHub no
longer lists — only when the listing reached its last page by GitHub's own paging, every page
parsed, and the number listed is not below GraphQL's ``issues.totalCount``; and never more than
``[app] max_delete_share`` of the repository's issues unless ``--allow-mass-delete``
(``connectors/frame/``). A refused removal fails the run once everything else is synced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, String, and_, bindparam, delete, literal, select, update

from net.http import HttpClient, NotFound
from connectors.frame.paging import link_pages
from connectors.progress import NULL_PROGRESS, Progress
from connectors.frame.shipped import store_shipped_commits
from connectors.frame.stream import Deletions, Stream
from connectors.frame import (
    DeletePolicy,
    RemovalRefused,
    SyncRun,
    etag_for,
    etag_key,
    get_state,
    reading,
    refetch_pending,
    save_raw,
    set_state,
)
from data import schema
from data import domain
from data.mapping import mapping_rules
from data.snapshots import changed_release_scopes
from data.store import in_values, insert_for, upsert

from . import fetch
from .bulk import bulk_upsert
from . import normalize as nz

if TYPE_CHECKING:
    from data.config import GithubSettings, MappingSettings

SOURCE = "github"
TERMINAL = set(nz.TERMINAL_DEPLOY_STATES)


def _prefix_range(column, prefix: str):
    """``column`` starts with ``prefix`` — as a range, so ``_``/``%`` in repo names are literal
    and the primary-key index is used. Our prefixes end in ``#``, ``:`` or ``@``; the next
    character code bounds the range."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


def _max_time(values: Iterable[str | None], current: str | None = None) -> str | None:
    best = nz.parse_time(current) if current else None
    out = current
    for v in values:
        t = nz.parse_time(v)
        if t is not None and (best is None or t > best):
            best, out = t, v
    return out


@dataclass
class RepoSync:
    engine: Engine
    client: HttpClient
    repo: str
    project: str
    mapping: MappingSettings
    github: GithubSettings
    run: SyncRun
    progress: Progress = NULL_PROGRESS
    full: bool = False
    junit_importer: Any = None  # callable(conn, run_row, files) or None
    delete_policy: DeletePolicy = field(default_factory=DeletePolicy)
    changed_milestones: set[str] = field(default_factory=set)
    _seen_milestones: dict[str, dict] = field(default_factory=dict)
    _where: str = "the first answer"  # the page being read, for a malformed-answer message
    _refused: RemovalRefused | None = None
    graphql: Any = None  # a connectors.github.graphql.GraphQL shared by the org's repositories

    # --- helpers ------------------------------------------------------------------------
    @property
    def per_page(self) -> int:
        return self.github.per_page

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.client.clock.now(), timezone.utc)

    @property
    def lookback_start(self) -> datetime:
        return self.now - timedelta(days=self.github.lookback_days)

    def state(self, resource: str):
        with self.engine.connect() as conn:
            return get_state(conn, SOURCE, self.repo, resource)

    def count(self, resource: str, n: int) -> None:
        if n:
            self.run.add(resource, n)
            self.progress.update(resource, n)

    def _items(self, page: fetch.Page, *fields: str) -> list[dict]:
        """The page's items, each checked to hold the ``fields`` it is stored by."""
        self._where = page.where
        for item in page.items:
            fetch.check_object(item, page.where, *fields)
        return page.items

    def sync(self) -> dict[str, int]:
        """Every resource of the repository; returns the items written per resource."""
        try:
            with reading(SOURCE, lambda: f"{self.repo}, {self._where}"):
                self.sync_milestones()
                self.sync_issues()
                self.sync_issue_events()
                self.sync_pulls()
                self.derive_started()
                self.sync_releases()
                self.sync_runs()
                self.sync_deployments()
                self.sync_deployment_commits()
                self.take_scope_snapshots()
        except NotFound as exc:
            host = urlsplit(self.client.base_url).netloc
            raise NotFound(
                f"github: repository {self.repo} not found on {host}, or not visible to this "
                f"token (404) — check --repo and {self.client.token_hint}"
            ) from exc
        if self._refused is not None:
            raise self._refused  # everything else is stored; the run fails on this line
        return dict(self.run.items)

    # --- milestones and issues: declared endpoints the frame runs (connectors/frame/stream.py)
    def stream(self, endpoint, **kw) -> Stream:
        """The frame's executor for one of this repository's declared endpoints."""
        return Stream(engine=self.engine, source=SOURCE, scope=self.repo, endpoint=endpoint,
                      context=self, run=self.run, count=self.count, full=self.full,
                      page_size=self.per_page, **kw)

    def sync_milestones(self) -> None:
        def pages(_since, etag):
            return fetch.list_pages(self.client, fetch.MILESTONES.url(repo=self.repo),
                                    params={"state": "all", "per_page": self.per_page},
                                    etag=etag)

        def changed(conn, items, extras, rows):
            self.changed_milestones.update(r["id"] for r in rows.get(schema.releases, ()))

        self.stream(fetch.MILESTONES, key=lambda ms: f"{self.repo}#{ms['number']}",
                    require=("number", "title"), etag_query=lambda since: "all",
                    counts={"releases": "milestones"}, on_page=changed).sync(pages)

    def sync_issues(self) -> None:
        """Issues by ``since`` on ``updated_at``, oldest first; a listing of every issue
        (first sync, ``--full``) removes those GitHub no longer lists
        (:meth:`issue_deletions`)."""
        def pages(since, etag):
            params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc",
                                      "per_page": self.per_page}
            if since:
                params["since"] = since
            return fetch.prefetch(fetch.list_pages(
                self.client, fetch.ISSUES.url(repo=self.repo), params=params, etag=etag))

        try:
            # The hot path of a large sync: bulk_upsert (same contract as upsert).
            self.stream(fetch.ISSUES, key=lambda i: f"{self.repo}#{i['number']}",
                        require=("number", "created_at", "updated_at"),
                        keep=lambda i: not nz.is_pull_request(i), write=bulk_upsert,
                        counts={"work_items": "issues"}, skip_unchanged=frozenset({"releases"}),
                        on_page=self._issue_extras,
                        deletions=self.issue_deletions()).sync(pages)
        except RemovalRefused as exc:
            self._refused = exc  # raised once the other resources are synced

    def issue_deletions(self) -> Deletions:
        """After a complete listing (first sync, or ``--full``): remove the repository's work
        items GitHub no longer lists — deleted, or transferred to another repository.

        Refused (:class:`RemovalRefused`, nothing removed) when the listing is empty while
        items are stored (lost access is likelier), when fewer issues were listed than
        GraphQL's ``issues.totalCount`` (like with like: the REST list holds pull requests
        too, the listed keys and the count do not), or when more than the policy's share
        would go. Without a count (GraphQL needs a token) the run says so and the share
        limit alone applies."""
        wi = schema.work_items

        def stored(conn) -> dict[str, str]:
            ids = conn.execute(select(wi.c.id).where(
                _prefix_range(wi.c.id, nz.issue_id(self.repo, 0)[:-1]))).scalars().all()
            return {i: i.split(":", 2)[2] for i in ids}

        return Deletions(stored=stored, policy=self.delete_policy, resource="issues",
                         count=lambda: fetch.issue_count(self.client, self.repo),
                         empty_hint=f"check that {self.client.token_hint} can still read it")

    def _issue_extras(self, conn, issues: list[dict], _extras, rows) -> None:
        """In the page's transaction: the issues' release membership (their milestone now
        is the truth) and the repository's scope row."""
        if not issues:
            return
        ids = [r["id"] for r in rows[schema.work_items]]
        conn.execute(delete(schema.release_items).where(
            in_values(schema.release_items.c.item_id, ids),
            schema.release_items.c.source == SOURCE))
        members = [m for m in (nz.release_item(i, self.repo) for i in issues) if m]
        if members:
            bulk_upsert(conn, schema.release_items, members)
        domain.upsert_scopes(conn, [{"key": self.repo, "kind": "repository", "source": SOURCE}])

    # --- issue events (status, labels, assignee, milestone history) ---------------------
    def sync_issue_events(self) -> None:
        st = self.state("issue_events")
        watermark = None if self.full else st.cursor
        etag = None if self.full else etag_for(st.etag, "")
        newest, first_etag = watermark, None
        for page in fetch.list_pages(self.client, fetch.ISSUE_EVENTS.url(repo=self.repo),
                                     params={"per_page": self.per_page}, etag=etag):
            if page.not_modified:
                return
            if page.first:
                first_etag = page.etag
            self._items(page, "created_at")
            newest = _max_time((e.get("created_at") for e in page.items), newest)
            rows = []
            for ev in page.items:
                issue = ev.get("issue") or {}
                if not issue or nz.is_pull_request(issue):
                    continue
                rows += nz.event_to_changes(ev, nz.issue_id(self.repo, issue["number"]))
            with self.engine.begin() as conn:
                if rows:
                    known = set(conn.execute(select(schema.work_items.c.id).where(
                        in_values(schema.work_items.c.id, {r["item_id"] for r in rows}))).scalars())
                    rows = [r for r in rows if r["item_id"] in known]
                    if rows:
                        upsert(conn, schema.work_item_changes, rows)
                        # Domain history from every stored event of these issues (labels
                        # are single-label events here).
                        domain.rederive(conn, {r["item_id"] for r in rows},
                                        mapping_rules(self.mapping), label_events=True)
            self.count("issue_events", len(rows))
            older = nz.parse_time(watermark) if watermark else None
            if older and all(nz.parse_time(e["created_at"]) < older for e in page.items):
                break  # newest first: everything further down is already stored
        with self.engine.begin() as conn:
            set_state(conn, SOURCE, self.repo, "issue_events", cursor=newest,
                      etag=etag_key("", first_etag))

    # --- pull requests ----------------------------------------------------------------------
    def sync_pulls(self) -> None:
        st = self.state("pulls")
        watermark = None if self.full else st.cursor
        etag = None if self.full else etag_for(st.etag, "")
        newest, first_etag = watermark, None
        older = nz.parse_time(watermark) if watermark else None
        for page in fetch.list_pages(self.client, fetch.PULLS.url(repo=self.repo),
                                     params={"state": "all", "sort": "updated",
                                             "direction": "desc", "per_page": self.per_page},
                                     etag=etag):
            if page.not_modified:
                break
            if page.first:
                first_etag = page.etag
            fresh = [p for p in self._items(page, "number", "created_at", "updated_at")
                     if older is None or nz.parse_time(p["updated_at"]) >= older]
            newest = _max_time((p.get("updated_at") for p in fresh), newest)
            if fresh:
                with self.engine.begin() as conn:
                    save_raw(conn, SOURCE, "pulls", self.repo,
                             ((f"{self.repo}#{p['number']}", p) for p in fresh))
                    upsert(conn, schema.pull_requests,
                           [nz.pull_to_row(p, self.repo) for p in fresh])
                self.count("pulls", len(fresh))
            if len(fresh) < len(page.items):
                break  # reached the watermark
        if first_etag is not None or newest != watermark:
            with self.engine.begin() as conn:
                set_state(conn, SOURCE, self.repo, "pulls", cursor=newest,
                          etag=etag_key("", first_etag))
        self.sync_pull_details()

    def sync_pull_details(self) -> None:
        """Size, first commit and reviews — once per merged PR inside the look-back window.

        With a token, through GraphQL, many pull requests per query
        (:mod:`connectors.github.graphql`); each batch is written while the next one is
        fetched. GraphQL needs a token, so an anonymous sync asks REST, three requests per
        pull request (detail, commits, reviews)."""
        t = schema.pull_requests
        with self.engine.connect() as conn:
            todo = conn.execute(select(t.c.number).where(
                t.c.repo == self.repo, t.c.merged_at >= self.lookback_start,
                t.c.review_count.is_(None)).order_by(t.c.number)).scalars().all()
        if not todo:
            return
        batches = (self._graphql_details(todo) if self.client.auth_headers
                   else self._rest_details(todo))
        for details in fetch.prefetch(batches):
            with self.engine.begin() as conn:
                for number, detail in details.items():
                    conn.execute(update(t).where(t.c.id == nz.pr_id(self.repo, number))
                                 .values(**detail))
            self.count("pull_details", sum(1 for d in details.values() if "additions" in d))

    def _graphql_details(self, todo: list[int]) -> Iterable[dict[int, dict]]:
        """Batches of ``{number: pull_requests values}``; a batch GitHub times out on is asked
        again in halves, down to one pull request."""
        from .graphql import DEFAULT_BATCH, GraphQL, QueryTimedOut

        gql = self.graphql or GraphQL(self.client)
        self.graphql = gql
        size, i = DEFAULT_BATCH, 0
        while i < len(todo):
            batch = todo[i:i + size]
            self._where = f"GraphQL details of pull requests #{batch[0]}–#{batch[-1]}"
            try:
                nodes = gql.pull_details(self.repo, batch)
            except QueryTimedOut:
                if size == 1:
                    raise QueryTimedOut(f"github: GraphQL timed out on pull request "
                                        f"#{batch[0]} of {self.repo} alone — try again later; "
                                        "stored data is intact, a rerun resumes") from None
                size = max(1, size // 2)
                continue
            i += len(batch)
            # A pull request GitHub no longer has: nothing to fetch, as REST's 404 was.
            yield {n: (nz.graphql_pull_detail(node) if node is not None else {"review_count": 0})
                   for n, node in nodes.items()}

    def _rest_details(self, todo: list[int]) -> Iterable[dict[int, dict]]:
        for number in todo:
            base = f"/repos/{self.repo}/pulls/{number}"
            self._where = base
            pr, resp = self.client.get_json(base, allow=(404,))
            if resp.status_code == 404:  # deleted since it was listed: nothing to fetch
                yield {number: {"review_count": 0}}
                continue
            fetch.check_object(pr, base)
            commits = fetch.all_items(self.client, f"{base}/commits",
                                      params={"per_page": self.per_page})
            reviews = fetch.all_items(self.client, f"{base}/reviews",
                                      params={"per_page": self.per_page})
            yield {number: nz.pull_detail(pr, commits, reviews)}

    # --- started_at -----------------------------------------------------------------------
    def derive_started(self) -> None:
        """started_at = earliest of the configured signals; an open started item is in
        progress. Runs over the repo's stored items, so a mapping change applies on re-sync."""
        wi, ch, pr = schema.work_items, schema.work_item_changes, schema.pull_requests
        started_from = list(self.mapping.started_from)
        in_progress = {x.lower() for x in self.mapping.in_progress_labels}
        prefix = nz.issue_id(self.repo, 0)[:-1]
        cands: dict[str, dict[str, datetime]] = {}

        def offer(item: str, kind: str, at: datetime | None) -> None:
            if at is None:
                return
            slot = cands.setdefault(item, {})
            if kind not in slot or at < slot[kind]:
                slot[kind] = at

        with self.engine.begin() as conn:
            if "assigned" in started_from or "label" in started_from:
                for item, field_, value, at in conn.execute(
                        select(ch.c.item_id, ch.c.field, ch.c.to_value, ch.c.at).where(
                            _prefix_range(ch.c.item_id, prefix),
                            ch.c.field.in_(["assignee", "labels"]),
                            ch.c.to_value.is_not(None))):
                    if field_ == "assignee":
                        offer(item, "assigned", at)
                    elif value.lower() in in_progress:
                        offer(item, "label", at)
            if "linked_pr" in started_from:
                for created, linked in conn.execute(
                        select(pr.c.created_at, pr.c.linked_items).where(pr.c.repo == self.repo)):
                    for item in linked or []:
                        offer(item, "linked_pr", created)
            if not cands:
                return
            rows = conn.execute(select(wi.c.id, wi.c.started_at, wi.c.status_category).where(
                _prefix_range(wi.c.id, prefix))).all()
            changes = []
            for item, stored, category in rows:
                start = nz.started_at(cands.get(item, {}), started_from)
                if start is None:
                    continue
                # The issue upsert recomputes the category from the current state only, so an
                # open item started earlier (say, assigned then unassigned) is put back here.
                new_cat = "in_progress" if category == "todo" else category
                if start != stored or new_cat != category:
                    changes.append({"b_id": item, "b_started": start, "b_cat": new_cat})
            if changes:
                conn.execute(update(wi).where(wi.c.id == bindparam("b_id")).values(
                    started_at=bindparam("b_started"), status_category=bindparam("b_cat")),
                    changes)

    # --- GitHub releases ----------------------------------------------------------------------
    def sync_releases(self) -> None:
        st = self.state("releases")
        etag = None if self.full else etag_for(st.etag, "")
        for page in fetch.list_pages(self.client, fetch.RELEASES.url(repo=self.repo),
                                     params={"per_page": self.per_page}, etag=etag):
            if page.not_modified:
                break
            self._items(page, "id")
            with self.engine.begin() as conn:
                save_raw(conn, SOURCE, "releases", self.repo,
                         ((f"{self.repo}@{r['id']}", r) for r in page.items))
                if page.first and page.last and len(page.items) < self.per_page:
                    set_state(conn, SOURCE, self.repo, "releases",
                              etag=etag_key("", page.etag))
        self.apply_releases()

    def apply_releases(self) -> None:
        """Mark milestones shipped by the stored GitHub releases (drafts ignored); a release
        no milestone matches becomes a release of its own. Re-derived from raw every sync."""
        raw, rel = schema.raw_records, schema.releases
        with self.engine.begin() as conn:
            gh = [p for (p,) in conn.execute(select(raw.c.payload).where(
                raw.c.source == SOURCE, raw.c.resource == "releases", raw.c.scope == self.repo))
                  if not p.get("draft")]
            if not gh:
                return
            milestones = [dict(r._mapping) for r in conn.execute(select(rel.c.id, rel.c.name).where(
                _prefix_range(rel.c.id, nz.milestone_id(self.repo, 0)[:-1])))]
            n = 0
            for g in sorted(gh, key=lambda p: p.get("published_at") or ""):
                match = nz.match_github_release(g, milestones)
                if match:
                    conn.execute(update(rel).where(rel.c.id == match["id"])
                                 .values(**nz.github_release_fields(g)))
                else:
                    upsert(conn, rel, [nz.github_release_to_release(g, self.repo, self.project)])
                n += 1
        self.count("releases", n)

    # --- Actions runs ---------------------------------------------------------------------
    def sync_runs(self) -> None:
        st = self.state("runs")
        pending: list[int] = [] if self.full else list(st.pending or [])

        def fetch_run(rid: int) -> dict | None:
            path = self._where = f"/repos/{self.repo}/actions/runs/{rid}"
            body, resp = self.client.get_json(path, allow=(404,))
            if resp.status_code == 404:
                return None  # deleted run
            return fetch.check_object(body, path, "id")

        pending_set = set(refetch_pending(pending, fetch_run,
                                          lambda run: bool(self._write_runs([run]))))
        start = (nz.parse_time(st.cursor) if st.cursor and not self.full
                 else self.lookback_start)
        etag = None if self.full else etag_for(st.etag, fetch.iso(start))
        window_max: str | None = None
        for page in fetch.run_pages(self.client, self.repo, start, None, now=self.now,
                                    per_page=self.per_page, etag=etag):
            if page.not_modified:
                break
            self._items(page, "id", "created_at")
            window_max = _max_time((r.get("created_at") for r in page.items), window_max)
            pending_set.update(self._write_runs(page.items))
            if not page.last:
                continue
            # A window is complete: the cursor may move past it (closed window: its end;
            # the open one: the newest run seen, inclusive next time).
            w_start, w_end = page.window
            newest = nz.parse_time(window_max) if window_max else w_start
            cursor = fetch.iso(w_end if w_end else newest)
            single = page.first and w_end is None and len(page.items) < self.per_page
            with self.engine.begin() as conn:
                set_state(conn, SOURCE, self.repo, "runs", cursor=cursor,
                          pending=sorted(pending_set),
                          etag=etag_key(fetch.iso(w_start), page.etag) if single else None)
            window_max = None
        with self.engine.begin() as conn:
            set_state(conn, SOURCE, self.repo, "runs", pending=sorted(pending_set))

    def _write_runs(self, runs: list[dict]) -> list[int]:
        """Store runs (and deploy-workflow runs as deployments); return those not finished."""
        if not runs:
            return []
        rows = [nz.run_to_pipeline_run(r, self.repo, self.project) for r in runs]
        deploys = [nz.workflow_run_to_deployment(r, self.repo) for r in runs
                   if nz.is_deploy_workflow(r, self.github.deploy_workflows)]
        with self.engine.begin() as conn:
            save_raw(conn, SOURCE, "runs", self.repo, ((f"{self.repo}:{r['id']}", r) for r in runs))
            upsert(conn, schema.pipeline_runs, rows)
            if deploys:
                upsert(conn, schema.deployments, deploys)
        self.count("runs", len(rows))
        self.count("deployments", len(deploys))
        for run, row in zip(runs, rows):
            if row["status"] == "completed" and self.junit_importer is not None:
                self.junit_importer(self, run, row)
        return [r["id"] for r, row in zip(runs, rows) if row["status"] != "completed"]

    # --- deployments ---------------------------------------------------------------------
    def sync_deployments(self) -> None:
        """Deployments newest first down to the watermark (the frame's ``newest_first``
        walk); those still unfinished last time are read again from their stored payload,
        their statuses fetched anew (one request each)."""
        raw = schema.raw_records

        def pages(_since, etag):
            return fetch.list_pages(self.client, fetch.DEPLOYMENTS.url(repo=self.repo),
                                    params={"per_page": self.per_page}, etag=etag)

        def stored_deployment(dep_id: int) -> dict | None:
            with self.engine.connect() as conn:
                return conn.execute(select(raw.c.payload).where(
                    raw.c.source == SOURCE, raw.c.resource == "deployments",
                    raw.c.external_id == f"{self.repo}:{dep_id}")).scalar()

        self.stream(fetch.DEPLOYMENTS, key=lambda d: f"{self.repo}:{d['id']}",
                    require=("id", "created_at"), order="newest_first",
                    watermark_inclusive=True, expand=self._statuses,
                    counts={"deployments": "deployments"}, pending_key=lambda d: d["id"],
                    unfinished=lambda d, rows: rows[schema.deployments][0]["status"]
                    not in TERMINAL,
                    refetch=stored_deployment,
                    settled=self._terminal_deployments).sync(pages)

    def _terminal_deployments(self, ids: list[int]) -> set[int]:
        t = schema.deployments
        full_ids = {f"{SOURCE}:deployment:{self.repo}:{i}": i for i in ids}
        if not full_ids:
            return set()
        with self.engine.connect() as conn:
            done = conn.execute(select(t.c.id).where(t.c.id.in_(list(full_ids)),
                                                     t.c.status.in_(list(TERMINAL)))).scalars()
            return {full_ids[d] for d in done}

    def _statuses(self, dep: dict) -> list[dict]:
        """A deployment's statuses (every page); none when it was deleted since listed."""
        try:
            return fetch.all_items(
                self.client, f"/repos/{self.repo}/deployments/{dep['id']}/statuses",
                params={"per_page": self.per_page})
        except NotFound:
            return []

    def sync_deployment_commits(self) -> None:
        """For each successful production deployment from this repository without commits
        yet: the commits between the previous successful production deployment of the same
        service from this repository and its own sha (compare API). In a monorepo deployed by
        several services (several Jenkins deploy jobs, say), one service's deploy does not cut
        another's change set. Deployments go by finish (else creation) time; ties by the
        source's own numeric order (``…:3`` before ``…:15``), never by the ids' string order.
        The first of a service, a redeploy of the same sha, or a sha the compare cannot find
        ship their own sha only — nothing is guessed."""
        d = schema.deployments
        with self.engine.connect() as conn:
            deps = conn.execute(select(d.c.id, d.c.service, d.c.sha, d.c.finished_at,
                                       d.c.created_at).where(
                d.c.repo == self.repo, d.c.environment == "production",
                d.c.status == "success")).all()
        self.count("deployment_commits", store_shipped_commits(
            self.engine, deps, source=SOURCE, chain=lambda dep: dep.service or self.repo,
            compare=self._compare, to_rows=nz.commits_to_rows))

    def _compare(self, base: str, head: str) -> list[dict]:
        """The commits in ``head`` and not in ``base`` (every page of the compare API); none
        when GitHub cannot compare them (404: a sha it does not know)."""
        out: list[dict] = []
        path = f"/repos/{self.repo}/compare/{base}...{head}"
        try:
            for body, _resp in link_pages(self.client, path, params={"per_page": 100}):
                if not isinstance(body, dict):
                    return []
                out.extend(c for c in body.get("commits") or []
                           if isinstance(c, dict) and c.get("sha"))
        except NotFound:  # a sha GitHub no longer has (force-pushed away): nothing guessed
            return []
        return out

    # --- scope snapshots ------------------------------------------------------------------
    def take_scope_snapshots(self) -> None:
        """GitHub keeps no history of a milestone's scope, so record it: an open milestone, and
        a closed one whenever the milestones list changed — each only when its scope changed
        since its last snapshot."""
        rel, ri, wi = schema.releases, schema.release_items, schema.work_items
        taken = self.now
        with self.engine.begin() as conn:
            targets = [rid for rid, state in conn.execute(select(rel.c.id, rel.c.state).where(
                _prefix_range(rel.c.id, nz.milestone_id(self.repo, 0)[:-1])))
                if state == "unreleased" or rid in self.changed_milestones]
            targets = changed_release_scopes(conn, targets)  # unchanged scope: no new copy
            if not targets:
                return
            # One INSERT … SELECT: the rows never pass through Python (20,000 members of
            # open milestones cost 0.2 s as Python rows, most of a re-sync with nothing new).
            stamp = literal(taken.isoformat(), String)
            members = (
                select((ri.c.release_id + ":" + ri.c.item_id + ":" + stamp).label("id"),
                       literal(SOURCE, String).label("source"),
                       literal("release", String).label("scope_type"),
                       ri.c.release_id, ri.c.item_id, wi.c.story_points, wi.c.status_category,
                       literal(taken, schema.scope_snapshots.c.taken_at.type).label("taken_at"))
                .select_from(ri.join(wi, wi.c.id == ri.c.item_id))
                .where(ri.c.release_id.in_(targets)))
            stmt = insert_for(conn, schema.scope_snapshots).from_select(
                ["id", "source", "scope_type", "scope_id", "item_id", "estimate",
                 "status_category", "taken_at"], members)
            # Two syncs within one clock tick (a frozen test clock) overwrite, as upsert does.
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={
                "estimate": stmt.excluded.estimate,
                "status_category": stmt.excluded.status_category})
            written = conn.execute(stmt).rowcount
        self.count("scope_snapshots", written)
