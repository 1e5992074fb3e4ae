"""The frame's executor (connectors/frame/stream.py) as a new connector uses it: declare an
endpoint and a normaliser, hand over the pager, and get cursors, ETags, re-fetching of
unfinished items, deletions on complete listings, ``sync_runs`` counts and one-line errors
without writing them — against a real local HTTP server and a real database."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from werkzeug import Response

from connectors.frame import DeletePolicy, RemovalRefused, SyncRun
from connectors.frame.paging import Endpoint, Listing
from connectors.frame.stream import Deletions, Page, Stream, link_listing
from data import schema
from net.http import BadResponse, HttpClient
from tests.fake_clock import FakeClock

SOURCE = "new"


def ticket_rows(scope, t, _extra=None):
    """The new source's normaliser: a ticket → its work item."""
    return {schema.work_items: [{
        "id": f"new:ticket:{t['id']}", "source": SOURCE, "project": scope, "key": str(t["id"]),
        "title": t["title"], "type": "task", "status_category": "todo",
        "created_at": datetime(2024, 1, 1, tzinfo=timezone.utc)}]}


TICKETS = Endpoint("tickets", "/api/tickets", "link", incremental="updated_at",
                   normalise=ticket_rows)


def job_rows(scope, b, extra=None):
    return {schema.pipeline_runs: [{
        "id": f"new:job:{b['number']}", "source": SOURCE, "pipeline": "job",
        "number": b["number"], "status": "in_progress" if b["running"] else "completed"}]}


JOBS = Endpoint("jobs", "/api/jobs", "range", incremental="number", normalise=job_rows)


class FakeSource:
    """Serves ``pages`` (lists of tickets) with Link headers and an ETag per page; answers
    304 when the client sends the ETag of the page it would serve."""

    def __init__(self, httpserver):
        self.server = httpserver
        self.pages: list[list[dict]] = []
        self.odd: dict[int, Response] = {}
        self.requests: list[dict] = []
        httpserver.expect_request("/api/tickets").respond_with_handler(self.handle)

    def handle(self, request):
        self.requests.append(dict(request.args))
        n = int(request.args.get("page", 1))
        if n in self.odd:
            return self.odd[n]
        items = self.pages[n - 1] if self.pages else []
        etag = '"' + hashlib.sha1(json.dumps(items, sort_keys=True).encode()).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304)
        headers = {"ETag": etag}
        if n < len(self.pages):
            headers["Link"] = f'<{self.server.url_for("/api/tickets")}?page={n + 1}>; rel="next"'
        return Response(json.dumps(items), headers=headers, content_type="application/json")


def ticket(n: int, updated: str, title: str = "t") -> dict:
    return {"id": n, "updated_at": updated, "title": title}


@pytest.fixture
def source(httpserver):
    return FakeSource(httpserver)


def client(httpserver) -> HttpClient:
    return HttpClient(base_url=httpserver.url_for("/"), source=SOURCE, clock=FakeClock())


def sync_tickets(engine, httpserver, *, full=False, policy=None):
    http = client(httpserver)

    def pages(since, etag):
        return link_listing(http, TICKETS.path, params={"since": since} if since else {},
                            etag=etag)

    def stored(conn):
        wi = schema.work_items
        return dict(conn.execute(select(wi.c.id, wi.c.key).where(wi.c.source == SOURCE)).all())

    with SyncRun(engine, SOURCE, "acme", http) as run:
        Stream(engine=engine, source=SOURCE, scope="acme", endpoint=TICKETS,
               key=lambda t: str(t["id"]), context="acme", run=run, full=full,
               require=("id", "updated_at"), counts={"work_items": "tickets"}, page_size=2,
               deletions=Deletions(stored=stored, policy=policy or DeletePolicy(),
                                   resource="tickets")).sync(pages)
        return dict(run.items)


def state(engine, resource="tickets"):
    with engine.connect() as conn:
        return conn.execute(select(schema.sync_state.c.cursor, schema.sync_state.c.etag,
                                   schema.sync_state.c.pending)
                            .where(schema.sync_state.c.resource == resource)).first()


def keys(engine):
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.key)).scalars())


def runs(engine):
    with engine.connect() as conn:
        return conn.execute(select(schema.sync_runs.c.outcome, schema.sync_runs.c["items"],
                                   schema.sync_runs.c.requests, schema.sync_runs.c.error)
                            .order_by(schema.sync_runs.c.id)).all()


def test_cursor_moves_page_by_page_and_an_etag_is_kept_only_for_one_short_page(
        engine, httpserver, source):
    source.pages = [[ticket(1, "2024-01-02T00:00:00Z"), ticket(2, "2024-01-01T00:00:00Z")],
                    [ticket(3, "2024-01-03T00:00:00Z")]]
    assert sync_tickets(engine, httpserver) == {"tickets": 3}
    assert keys(engine) == ["1", "2", "3"]
    # the newest updated_at of both pages; two pages: no ETag (a 304 would cover page 1 only)
    assert tuple(state(engine)) == ("2024-01-03T00:00:00Z", None, None)
    with engine.connect() as conn:
        raw = conn.execute(select(schema.raw_records.c.external_id)
                           .where(schema.raw_records.c.resource == "tickets")).scalars().all()
    assert sorted(raw) == ["1", "2", "3"]

    # incremental: asked since the cursor; one short page → its ETag is kept for that query
    source.pages = [[ticket(3, "2024-01-03T00:00:00Z", title="renamed")]]
    assert sync_tickets(engine, httpserver) == {"tickets": 1}
    assert source.requests[-1] == {"since": "2024-01-03T00:00:00Z"}
    cursor, etag, _ = state(engine)
    assert cursor == "2024-01-03T00:00:00Z" and etag.startswith("2024-01-03T00:00:00Z|")

    # the same query again: 304, nothing written, one request counted as not modified
    assert sync_tickets(engine, httpserver) == {}
    assert [r[:3] for r in runs(engine)] == [("success", {"tickets": 3}, 2),
                                             ("success", {"tickets": 1}, 1),
                                             ("success", {}, 1)]


def test_a_complete_listing_removes_what_the_source_no_longer_lists(engine, httpserver,
                                                                     source):
    source.pages = [[ticket(1, "2024-01-01T00:00:00Z"), ticket(2, "2024-01-01T00:00:00Z")],
                    [ticket(3, "2024-01-01T00:00:00Z")]]
    sync_tickets(engine, httpserver)
    # 3 was deleted at the source: 1 of 3 stored is over the default share (0.1)
    source.pages = [[ticket(1, "2024-01-01T00:00:00Z"), ticket(2, "2024-01-01T00:00:00Z")]]
    with pytest.raises(RemovalRefused, match="1 of 3 stored tickets would be removed"):
        sync_tickets(engine, httpserver, full=True)
    assert keys(engine) == ["1", "2", "3"]
    assert sync_tickets(engine, httpserver, full=True,
                        policy=DeletePolicy(max_share=0.5)) == {"tickets": 2, "removed": 1}
    assert keys(engine) == ["1", "2"]
    # an incremental listing (a cursor) is not a listing of everything: nothing removed
    source.pages = [[ticket(2, "2024-01-01T00:00:00Z")]]
    assert sync_tickets(engine, httpserver, policy=DeletePolicy(max_share=1)) == {
        "tickets": 1}
    assert keys(engine) == ["1", "2"]
    # an empty full listing while items are stored: refused
    source.pages = []
    with pytest.raises(RemovalRefused, match="lists no tickets now, but 2 are stored"):
        sync_tickets(engine, httpserver, full=True, policy=DeletePolicy(max_share=1))
    assert keys(engine) == ["1", "2"]


def test_a_listing_cut_short_removes_nothing_and_the_error_is_one_line(engine, httpserver,
                                                                       source):
    source.pages = [[ticket(1, "2024-01-01T00:00:00Z"), ticket(2, "2024-01-01T00:00:00Z")],
                    [ticket(3, "2024-01-05T00:00:00Z")]]
    sync_tickets(engine, httpserver)
    # page 2 now holds an item without its updated_at: one line naming the page; page 1 is
    # stored with its cursor; the listing is not complete, so 3 is not removed
    source.pages = [[ticket(1, "2024-01-06T00:00:00Z"), ticket(2, "2024-01-01T00:00:00Z")],
                    [{"id": 4, "title": "t"}]]
    with pytest.raises(BadResponse) as caught:
        sync_tickets(engine, httpserver, full=True, policy=DeletePolicy(max_share=1))
    said = ("new: malformed answer in page 2 of /api/tickets: expected an object with "
            "'updated_at', got null — stored data is intact; rerun, and report it if it "
            "persists")
    assert str(caught.value) == said
    assert keys(engine) == ["1", "2", "3"]
    assert state(engine).cursor == "2024-01-06T00:00:00Z"
    assert runs(engine)[-1][0] == "failed" and runs(engine)[-1][3] == said
    # a field the normaliser needs is missing: one line naming the scope and page
    source.pages = [[{"id": 5, "updated_at": "2024-01-07T00:00:00Z"}]]
    with pytest.raises(BadResponse, match=r"^new: malformed answer in acme, page 1 of "
                                          r"/api/tickets \(KeyError: 'title'\)"):
        sync_tickets(engine, httpserver)
    assert keys(engine) == ["1", "2", "3"]


def test_newest_first_reads_down_to_the_watermark_and_fetches_unfinished_items_again(engine):
    listed: list[list[dict]] = []
    alone: dict[int, dict] = {}
    asked: list[int] = []

    def job(n, running=False):
        return {"number": n, "running": running}

    def sync(full=False):
        def refetch(n):
            asked.append(n)
            return alone.get(n)

        def pages(_since, _etag):
            return (Page(p) for p in listed)

        with SyncRun(engine, SOURCE, "job") as run:
            Stream(engine=engine, source=SOURCE, scope="job", endpoint=JOBS,
                   key=lambda b: f"new:job:{b['number']}", run=run, full=full,
                   order="newest_first", position=lambda n: None if n is None else int(n),
                   counts={"pipeline_runs": "jobs"}, pending_key=lambda b: b["number"],
                   unfinished=lambda b, rows: b["running"], refetch=refetch).sync(pages)
            return dict(run.items)

    def statuses():
        with engine.connect() as conn:
            return conn.execute(select(schema.pipeline_runs.c.number,
                                       schema.pipeline_runs.c.status)
                                .order_by(schema.pipeline_runs.c.number)).all()

    listed[:] = [[job(3, running=True), job(2)], [job(1)]]
    assert sync() == {"jobs": 3}
    assert tuple(state(engine, "jobs")) == ("3", None, [3])
    # 5 and 4 are new; 3 (at the watermark) is still listed and unfinished last time, so it
    # is stored again from the page; 2 is below the watermark: the walk stops on that page
    listed[:] = [[job(5), job(4, running=True)], [job(3), job(2)], [job(1)]]
    assert sync() == {"jobs": 3}
    assert statuses() == [(1, "completed"), (2, "completed"), (3, "completed"),
                          (4, "in_progress"), (5, "completed")]
    assert tuple(state(engine, "jobs")) == ("5", None, [4]) and asked == []
    # 6 is new, 5 is the watermark; 4, unfinished, is not on the pages read: fetched alone
    listed[:] = [[job(6), job(5)]]
    alone[4] = job(4)
    assert sync() == {"jobs": 2}
    assert asked == [4] and statuses()[3] == (4, "completed")
    assert tuple(state(engine, "jobs")) == ("6", None, [])


def test_gitlab_style_paging_keyset_refused_then_offset_pages_by_x_next_page(httpserver):
    """Keyset asked first; a 405 reads the same listing with the fallback query; no Link
    header, so X-Next-Page names the next page; an empty X-Next-Page ends the listing."""
    asked: list[dict] = []
    pages = [[{"id": 1}, {"id": 2}], [{"id": 3}]]

    def handle(request):
        asked.append(dict(request.args))
        if request.args.get("pagination") == "keyset":
            return Response(json.dumps({"message": "405 Method Not Allowed"}), status=405,
                            content_type="application/json")
        n = int(request.args.get("page", 1))
        return Response(json.dumps(pages[n - 1]), content_type="application/json",
                        headers={"X-Next-Page": str(n + 1) if n < len(pages) else ""})

    httpserver.expect_request("/api/list").respond_with_handler(handle)
    listing = Listing()
    got = list(link_listing(client(httpserver), "/api/list",
                            params={"pagination": "keyset", "per_page": "2"},
                            fallback={"per_page": "2"}, page_header="X-Next-Page",
                            listing=listing))
    assert [([i["id"] for i in p.items], p.first, p.last, p.where) for p in got] == [
        ([1, 2], True, False, "page 1 of /api/list"), ([3], False, True, "page 2 of /api/list")]
    assert asked == [{"pagination": "keyset", "per_page": "2"}, {"per_page": "2"},
                     {"per_page": "2", "page": "2"}]
    assert listing.complete and listing.pages == 2
    # without page_header the same answers end after page 1: a Link-less page is the last
    got = list(link_listing(client(httpserver), "/api/list", params={"per_page": "2"}))
    assert [(len(p.items), p.last) for p in got] == [(2, True)]


def test_an_inclusive_since_writes_nothing_for_the_item_at_the_cursor_if_unchanged(
        engine, httpserver, source):
    expanded: list = []

    def sync(label=None):
        http = client(httpserver)

        def pages(since, _etag):  # no ETags: the item at the cursor comes back each time
            return link_listing(http, TICKETS.path, params={"since": since} if since else {})

        def extras(_conn, _items, found, _rows):
            expanded.extend(found)

        expanded.clear()
        with SyncRun(engine, SOURCE, "acme", http) as run:
            Stream(engine=engine, source=SOURCE, scope="acme", label=label, endpoint=TICKETS,
                   key=lambda t: str(t["id"]), context="acme", run=run, require=("id",),
                   since_inclusive=True, value=lambda t: t.get("updated_at") or t["created_at"],
                   expand=lambda t: t["id"] * 10, raw=lambda t, e: dict(t, expanded=e),
                   expand_map=lambda fn, items: [fn(i) for i in reversed(items)][::-1],
                   on_page=extras, counts={"work_items": "tickets"}).sync(pages)
            return dict(run.items)

    created_only = {"id": 2, "created_at": "2024-01-02T00:00:00Z", "title": "t"}
    source.pages = [[ticket(1, "2024-01-01T00:00:00Z"), created_only]]
    assert sync() == {"tickets": 2} and expanded == [10, 20]
    assert state(engine).cursor == "2024-01-02T00:00:00Z"  # by created_at: no updated_at
    with engine.connect() as conn:  # raw: the item completed by its expansion
        assert conn.execute(select(schema.raw_records.c.payload).where(
            schema.raw_records.c.external_id == "2")).scalar() == dict(created_only, expanded=20)
    # nothing new: the one page holds 2, at the cursor and stored with that same time
    source.pages = [[created_only]]
    assert sync() == {} and expanded == []
    assert source.requests[-1] == {"since": "2024-01-02T00:00:00Z"}
    # both changed later, in the same second: both written, the cursor on that second
    source.pages = [[dict(created_only, updated_at="2024-01-03T00:00:00Z", title="renamed"),
                     ticket(1, "2024-01-03T00:00:00Z")]]
    assert sync() == {"tickets": 2} and expanded == [20, 10]
    # 3 was changed in that second too, after the last sync read it: only 3 is written
    source.pages = [[ticket(1, "2024-01-03T00:00:00Z"),
                     dict(created_only, updated_at="2024-01-03T00:00:00Z")],
                    [ticket(3, "2024-01-03T00:00:00Z")]]
    assert sync() == {"tickets": 1} and expanded == [30]
    assert keys(engine) == ["1", "2", "3"]
    # a message names the scope as the connector labels it
    source.pages = [[{"id": 4, "updated_at": "2024-01-04T00:00:00Z"}]]
    with pytest.raises(BadResponse, match=r"^new: malformed answer in project acme, page 1 "
                                          r"of /api/tickets \(KeyError: 'title'\)"):
        sync(label="project acme")
