"""The frame runs a declared endpoint: the loop every connector used to write for itself.

A connector declares an :class:`~connectors.frame.paging.Endpoint` (path, paging kind, items
key, incremental key, normaliser) and, for one scope, a :class:`Stream` saying how to read its
items (their external id, the fields each must hold, what is kept). :meth:`Stream.sync` then
walks the pages the connector's pager yields and gives it, without writing them:

- the stored state read first: the cursor (unless ``--full``), the ETag bound to its query,
  the list of items still unfinished last time;
- one transaction per page: the raw items, the normaliser's rows (upserted per domain table,
  each table once per page, last row per key winning), the stream's ``on_page`` extras, and
  the cursor moved in that same transaction — so it never passes rows not committed;
- an ETag kept only when the whole listing was one short page (a 304 then means nothing in
  the whole list changed); a 304 ends the walk with nothing written;
- ``newest_first`` listings read down to the stored watermark, the cursor moving once the
  walk is done (an item at or below the watermark is skipped unless it is still unfinished);
- items still unfinished (a running build, a deployment in progress) fetched again, one by
  one, until they finish (``refetch``);
- after a complete listing of everything (no cursor: a first or ``--full`` sync), the seen
  keys handed to :func:`connectors.frame.deletions.remove_unlisted` with its guards;
- counts into the run (``count``), and an answer of the wrong shape turned into one line
  naming the scope and the page or item (:func:`connectors.frame.shape.reading`).

Listings that do not fit (GitHub Actions runs walk date windows; GitHub issue events keep a
watermark on whole pages) still run their own loop on the same pieces (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Engine, Table, select

from connectors.frame.deletions import DeletePolicy, remove_unlisted
from connectors.frame.paging import Endpoint, Listing, link_pages, next_page_number
from connectors.frame.runs import SyncRun
from connectors.frame.shape import bad_shape, list_of_objects, reading
from connectors.frame.state import SyncState, etag_for, etag_key, get_state, set_state
from data import schema
from data.store import in_values, upsert
from net.http import HttpClient

Rows = dict[Table, list[dict]]
"""What a normaliser returns for one item: rows per domain table, written in this order."""

Writer = Callable[[Connection, Table, list[dict]], int]


class PageLike(Protocol):
    """One page as a pager hands it over (``connectors.github.fetch.Page`` is one)."""

    items: list[Any]
    etag: str | None
    not_modified: bool
    first: bool
    last: bool

    @property
    def where(self) -> str: ...


@dataclass
class Page:
    """A page for pagers that yield bare lists (Jenkins ranges, Jira searches)."""

    items: list[Any]
    etag: str | None = None
    not_modified: bool = False
    first: bool = True
    last: bool = False
    label: str = "a page"

    @property
    def where(self) -> str:
        return self.label


def link_listing(client: HttpClient, path: str, *, params: dict | None = None,
                 etag: str | None = None, items: str | None = None,
                 listing: Listing | None = None, page_header: str | None = None,
                 fallback: dict | None = None, refused: tuple[int, ...] = (400, 405)
                 ) -> Iterator[Page]:
    """Pages of a ``Link: rel="next"`` listing (GitHub, GitLab) as the executor reads them:
    each checked to be a list of objects (under ``items`` in an object answer), carrying its
    ETag; a 304 to ``etag`` yields one ``not_modified`` page. ``listing`` (optional) follows
    the walk (``where`` names the page being asked). ``page_header``: as
    :func:`~connectors.frame.paging.link_pages`. ``fallback``: the query to read the same
    listing with when the first request answers a status in ``refused`` — keyset paging
    (``params``) where the server or the ordering does not support it (GitLab before 18.3)."""
    listing = listing if listing is not None else Listing()
    headers = {"If-None-Match": etag} if etag else None
    allow = refused if fallback is not None else ()
    number = 0
    for body, resp in link_pages(client, path, params=params, headers=headers,
                                 listing=listing, allow=allow, page_header=page_header):
        if resp.status_code in allow and not resp.ok:
            listing.pages = 0
            yield from link_listing(client, path, params=fallback, etag=etag, items=items,
                                    listing=listing, page_header=page_header)
            return
        number += 1
        where = f"page {number} of {path}"
        if resp.status_code == 304:
            yield Page([], etag=etag, not_modified=True, label=where)
            return
        if items is not None:
            if not isinstance(body, dict):
                raise bad_shape(client.source, where, f"an object with an '{items}' list", body)
            body = body.get(items)
        list_of_objects(client.source, body, where)
        last = "next" not in resp.links and next_page_number(resp, body, page_header) is None
        yield Page(body, etag=resp.headers.get("ETag"), first=number == 1, last=last,
                   label=where)


def iso_time(value: Any) -> datetime | None:
    """The default cursor order: an ISO 8601 time (``Z`` or an offset); None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@dataclass
class Deletions:
    """How to reconcile a complete listing: ``stored(conn)`` maps the scope's stored work item
    ids to the external ids the listing names; the rest as :func:`remove_unlisted` takes."""

    stored: Callable[[Connection], Mapping[str, str]]
    policy: DeletePolicy
    resource: str = "issues"
    count: Callable[[], tuple[int | None, str]] | None = None
    tolerance: Callable[[int], int] = lambda reported: 0
    empty_hint: str = ""
    scope_label: str | None = None


@dataclass
class Stream:
    """One declared endpoint read for one scope.

    ``key(item)``: the item's external id (raw record id, the key deletions compare);
    ``require``: fields every item must hold (else one line naming the page);
    ``keep(item)``: whether an item is stored (those left out still move the cursor — GitHub
    lists pull requests among issues); ``expand(item)``: per-item I/O before the page's
    transaction (a test report, a deployment's statuses), its answer handed to the
    normaliser; ``on_page(conn, items, extras, rows)``: extra writes in the page's
    transaction, returning counts to add; ``counts``: the tables whose rows are counted, and
    under which resource name; ``skip_unchanged``: tables whose rows repeat across pages
    (a milestone embedded in each issue), written again only when they changed.

    Pending (``refetch`` given): ``pending_key(item)`` is what is remembered of an item
    ``unfinished(item, rows)``; ``refetch(key)`` fetches one again (None: gone).

    Newest first (``order``): items at the watermark count as already read, unless
    ``watermark_inclusive`` (several may share a creation second); ``settled(keys)`` names
    those already stored finished, which are not written again.

    Oldest first with ``since_inclusive`` (the source lists items changed *at or after* the
    cursor, GitLab's ``updated_after``): an item at the cursor itself whose stored raw record
    holds the same incremental value is unchanged and not written again (nor expanded), so a
    sync with nothing new reads one page and writes nothing. ``value(item)``: the item's
    incremental value when it is not simply ``item[endpoint.incremental]`` (a fallback
    field). ``expand_map``: how ``expand`` is applied to a page's items (default one by one;
    a thread pool's ``map`` keeps several per-item requests in flight). ``label``: the scope
    as messages name it (default ``scope``, which keys the stored state). ``raw(item,
    extra)``: what ``raw_records`` keeps of an item when its expansion completes it (a
    pipeline's own fuller answer, an issue's changelog fetched apart); default the item."""

    engine: Engine
    source: str
    scope: str
    endpoint: Endpoint
    key: Callable[[dict], str]
    context: Any = None
    run: SyncRun | None = None
    count: Callable[[str, int], None] | None = None
    full: bool = False
    require: tuple[str, ...] = ()
    keep: Callable[[dict], bool] = lambda item: True
    expand: Callable[[dict], Any] | None = None
    on_page: Callable[[Connection, list[dict], list[Any], Rows], Mapping[str, int] | None] \
        | None = None
    counts: Mapping[str, str] = field(default_factory=dict)
    write: Writer = upsert
    skip_unchanged: frozenset[str] = frozenset()
    order: Literal["oldest_first", "newest_first"] = "oldest_first"
    position: Callable[[Any], Any] = iso_time
    etag_query: Callable[[str | None], str | None] = lambda since: since
    page_size: int | None = None
    pending_key: Callable[[dict], Any] = lambda item: item
    unfinished: Callable[[dict, Rows], bool] | None = None
    refetch: Callable[[Any], dict | None] | None = None
    settled: Callable[[list[Any]], set[Any]] | None = None
    watermark_inclusive: bool = False
    since_inclusive: bool = False
    value: Callable[[dict], Any] | None = None
    expand_map: Callable[[Callable[[dict], Any], list[dict]], Iterable[Any]] | None = None
    label: str | None = None
    raw: Callable[[dict, Any], Any] | None = None
    item_where: Callable[[dict], str] | None = None
    pending_where: Callable[[Any], str] | None = None
    deletions: Deletions | None = None
    where: str = "the first page"
    _memo: dict = field(default_factory=dict, repr=False)

    # --- what the frame keeps ---------------------------------------------------------------
    def state(self) -> SyncState:
        with self.engine.connect() as conn:
            return get_state(conn, self.source, self.scope, self.endpoint.resource)

    def _add(self, resource: str, n: int) -> None:
        if not n:
            return
        if self.count is not None:
            self.count(resource, n)
        elif self.run is not None:
            self.run.add(resource, n)

    def _reading(self):
        return reading(self.source, lambda: f"{self.label or self.scope}, {self.where}")

    def _value(self, item: dict) -> Any:
        if self.value is not None:
            return self.value(item)
        return item.get(self.endpoint.incremental) if self.endpoint.incremental else None

    def _unchanged(self, items: list[dict], since: str) -> list[dict]:
        """``items`` without those at the cursor ``since`` stored with that same value."""
        at = self.position(since)
        same = {self.key(i) for i in items if self.position(self._value(i)) == at}
        if at is None or not same:
            return items
        raw = schema.raw_records
        with self.engine.connect() as conn:
            stored = conn.execute(select(raw.c.external_id, raw.c.payload).where(
                raw.c.source == self.source, raw.c.resource == self.endpoint.resource,
                in_values(raw.c.external_id, list(same)))).all()
        skip = {k for k, p in stored if isinstance(p, dict) and self.position(self._value(p)) == at}
        return [i for i in items if self.key(i) not in skip] if skip else items

    # --- one page ---------------------------------------------------------------------------
    def _check(self, page: PageLike) -> None:
        self.where = page.where
        for item in page.items:
            for name in self.require:
                if item.get(name) is None:
                    raise bad_shape(self.source, page.where, f"an object with '{name}'",
                                    item.get(name))

    def _normalise(self, items: list[dict]) -> tuple[list[Any], Rows, list[Rows]]:
        """Expand and normalise each item; return the extras, the page's rows merged per
        table (last row per primary key wins) and each item's own rows."""
        normalise = self.endpoint.normalise
        if normalise is None:
            raise TypeError(f"endpoint {self.endpoint.resource} declares no normaliser")
        extras: list[Any] = []
        if self.expand is not None and self.expand_map is not None:
            extras = list(self.expand_map(self.expand, items))
        else:
            for item in items:
                if self.item_where is not None:
                    self.where = self.item_where(item)
                extras.append(self.expand(item) if self.expand is not None else None)
        merged: Rows = {}
        per_item: list[Rows] = []
        for item, extra in zip(items, extras):
            if self.item_where is not None:
                self.where = self.item_where(item)
            rows = normalise(self.context, item, extra)
            per_item.append(rows)
            for table, table_rows in rows.items():
                merged.setdefault(table, []).extend(table_rows)
        for table, table_rows in merged.items():
            pk = [c.name for c in table.primary_key.columns]
            unique = {tuple(r[c] for c in pk): r for r in table_rows}
            if table.name in self.skip_unchanged:
                seen = self._memo.setdefault(table.name, {})
                unique = {k: r for k, r in unique.items() if seen.get(k) != r}
                seen.update(unique)
            merged[table] = list(unique.values())
        return extras, merged, per_item

    def _store(self, conn: Connection, items: list[dict], extras: list[Any],
               rows: Rows) -> dict[str, int]:
        """Write one page in ``conn``: raw items, rows, extras. Returns counts."""
        now = datetime.now(timezone.utc)
        if items:
            self.write(conn, schema.raw_records, [
                {"source": self.source, "resource": self.endpoint.resource,
                 "external_id": self.key(i), "scope": self.scope, "fetched_at": now,
                 "payload": self.raw(i, e) if self.raw is not None else i}
                for i, e in zip(items, extras)])
        written: dict[str, int] = {}
        for table, table_rows in rows.items():
            if table_rows:
                self.write(conn, table, table_rows)
            if table.name in self.counts:
                name = self.counts[table.name]
                written[name] = written.get(name, 0) + len(table_rows)
        if self.on_page is not None:
            for name, n in (self.on_page(conn, items, extras, rows) or {}).items():
                written[name] = written.get(name, 0) + n
        return written

    def _write(self, items: list[dict], *, cursor: str | None = None,
               etag: str | None = None, track_cursor: bool = False) -> list[Any]:
        """One transaction: the page and, when given, the cursor and ETag. Returns the
        pending keys of the items still unfinished."""
        extras, rows, per_item = self._normalise(items)
        with self.engine.begin() as conn:
            written = self._store(conn, items, extras, rows)
            if track_cursor or etag is not None:
                set_state(conn, self.source, self.scope, self.endpoint.resource,
                          cursor=cursor, etag=etag)
        for name, n in written.items():
            self._add(name, n)
        if self.unfinished is None:
            return []
        return [self.pending_key(i) for i, r in zip(items, per_item) if self.unfinished(i, r)]

    def _newer(self, value: Any, current: str | None) -> str | None:
        """The later of ``value`` and ``current`` by the stream's order, as text."""
        pos = self.position(value)
        if pos is None:
            return current
        if current is None or self.position(current) is None or pos > self.position(current):
            return str(value)
        return current

    # --- the walks --------------------------------------------------------------------------
    def sync(self, pages: Callable[[str | None, str | None], Iterable[PageLike]]) -> Listing:
        """Walk ``pages(since, etag)`` — the connector's pager, opened with the stored cursor
        and ETag (None on a full sync) — and store what it yields (module doc). Returns the
        listing: complete when its last page was reached by the source's paging. Raises
        :class:`~connectors.frame.deletions.RemovalRefused` after storing everything when a
        complete listing's removal is refused."""
        with self._reading():
            if self.order == "newest_first":
                return self._newest_first(pages)
            return self._oldest_first(pages)

    def _oldest_first(self, pages: Callable[[str | None, str | None], Iterable[PageLike]]
                      ) -> Listing:
        st = SyncState() if self.full else self.state()
        since = st.cursor
        query = self.etag_query(since)
        listing = Listing()
        seen: set[str] = set()
        incremental = self.endpoint.incremental
        cursor = since
        for page in pages(since, etag_for(st.etag, query)):
            if page.not_modified:
                return listing
            self._check(page)
            listing.pages += 1
            listing.complete = page.last
            if incremental is not None:
                for item in page.items:
                    cursor = self._newer(self._value(item), cursor)
            kept = [i for i in page.items if self.keep(i)]
            if since is None:
                seen.update(self.key(i) for i in kept)
            elif self.since_inclusive:
                kept = self._unchanged(kept, since)
            single = page.first and page.last and (self.page_size is None
                                                    or len(page.items) < self.page_size)
            self._write(kept, cursor=cursor, etag=etag_key(query, page.etag) if single else None,
                        track_cursor=incremental is not None)
            self.where = page.where
        if since is None and listing.complete and self.deletions is not None:
            self._remove_unlisted(seen, listing)
        return listing

    def _newest_first(self, pages: Callable[[str | None, str | None], Iterable[PageLike]]
                      ) -> Listing:
        st = SyncState() if self.full else self.state()
        incremental = self.endpoint.incremental
        if incremental is None:
            raise TypeError(f"endpoint {self.endpoint.resource}: newest first needs a key")
        watermark = self.position(st.cursor) if st.cursor else None
        pending = list(st.pending or [])
        query = self.etag_query(None)
        newest: str | None = st.cursor
        seen: set[Any] = set()
        still: list[Any] = []
        listing = Listing()
        first_etag: str | None = None
        for page in pages(st.cursor, etag_for(st.etag, query)):
            if page.not_modified:  # nothing new at the top: the pending items still count
                break
            if page.first:
                first_etag = page.etag
            self._check(page)
            listing.pages += 1
            kept = [i for i in page.items if self.keep(i)]
            settled = self.settled([self.pending_key(i) for i in kept]) \
                if self.settled is not None else set()
            reached, chosen = False, []
            for item in kept:
                value = item.get(incremental)
                newest = self._newer(value, newest)
                key = self.pending_key(item)
                seen.add(key)
                pos = self.position(value)
                if watermark is not None and (pos < watermark or pos == watermark
                                              and not self.watermark_inclusive):
                    reached = True
                    if key not in pending:
                        continue
                elif key in settled and key not in pending:
                    continue
                chosen.append(item)
            if chosen:
                still += self._write(chosen)
            self.where = page.where
            if reached:
                break
            listing.complete = page.last
        if self.refetch is not None:
            for key in sorted(k for k in pending if k not in seen):
                if self.pending_where is not None:
                    self.where = self.pending_where(key)
                item = self.refetch(key)
                if item is not None:
                    still += self._write([item])
        with self.engine.begin() as conn:
            set_state(conn, self.source, self.scope, self.endpoint.resource, cursor=newest,
                      etag=etag_key(query, first_etag),
                      pending=sorted(still) if self.refetch is not None else None)
        return listing

    def _remove_unlisted(self, seen: set[str], listing: Listing) -> None:
        d = self.deletions
        assert d is not None
        with self.engine.connect() as conn:
            stored = dict(d.stored(conn))
        removed = remove_unlisted(
            self.engine, source=self.source, scope=self.label or self.scope, resource=d.resource,
            stored=stored, listed=seen, listing=listing, policy=d.policy, run=self.run,
            count=d.count, tolerance=d.tolerance, scope_label=d.scope_label,
            empty_hint=d.empty_hint)
        self._add("removed", removed)
