"""The frame's pagers and deletion guard, as a new connector would use them, against a real
local HTTP server: a listing is complete only when the source's own paging says so, and
nothing is removed on a listing that is not."""

from __future__ import annotations

import pytest
from werkzeug import Response

from connectors.frame import DeletePolicy, Listing, RemovalRefused, link_pages, remove_unlisted
from connectors.frame.paging import offset_pages, range_pages, token_pages
from net.http import BadResponse, HttpClient, OffHost
from tests.fake_clock import FakeClock


def _client(httpserver) -> HttpClient:
    return HttpClient(base_url=httpserver.url_for("/"), source="new", clock=FakeClock(),
                      auth_headers={"Authorization": "Bearer s3cret-value"})


def _items(body, where):
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise BadResponse(f"new: malformed answer in {where}")
    return body["items"]


def test_token_pages_complete_only_on_the_last_page(httpserver):
    httpserver.expect_ordered_request("/s").respond_with_json(
        {"items": [1, 2], "nextPageToken": "t2", "isLast": False})
    httpserver.expect_ordered_request("/s").respond_with_json({"items": [3], "isLast": True})
    listing = Listing()
    pages = token_pages(_client(httpserver), "/s", {}, source="new", listing=listing,
                        read=_items)
    assert next(pages) == [1, 2] and not listing.complete
    assert list(pages) == [[3]] and listing.complete and listing.pages == 2


def test_token_pages_more_to_come_without_a_token_is_one_line_and_incomplete(httpserver):
    httpserver.expect_request("/s").respond_with_json({"items": [1], "isLast": False})
    listing = Listing()
    with pytest.raises(BadResponse, match="nextPageToken with isLast false"):
        list(token_pages(_client(httpserver), "/s", {}, source="new", listing=listing,
                         read=_items))
    assert not listing.complete


def test_offset_pages_with_a_total_refuse_an_empty_page_before_it(httpserver):
    httpserver.expect_ordered_request("/o").respond_with_json({"items": [1, 2], "total": 5})
    httpserver.expect_ordered_request("/o").respond_with_json({"items": [], "total": 5})
    listing = Listing()
    with pytest.raises(BadResponse, match="answered no items, though its total is 5"):
        list(offset_pages(_client(httpserver), "/o", {}, source="new", listing=listing,
                          read=_items, where=lambda s: f"page at {s}", need_total=True))
    assert not listing.complete and listing.total is None


def test_range_pages_end_on_a_short_page(httpserver):
    for start, items in ((0, [1, 2]), (2, [3])):
        httpserver.expect_ordered_request("/j", query_string={"tree": f"b{{{start},"
                                                                      f"{start + 2}}}"}
                                          ).respond_with_json({"items": items})
    listing = Listing()
    assert list(range_pages(_client(httpserver), "/j", tree=lambda m, n: f"b{{{m},{n}}}",
                            page_size=2, listing=listing, read=_items,
                            where=lambda m, n: f"{m}-{n}")) == [[1, 2], [3]]
    assert listing.complete


def test_a_next_link_to_another_host_stops_and_leaves_the_listing_incomplete(httpserver):
    httpserver.expect_request("/l").respond_with_response(Response(
        "[1]", content_type="application/json",
        headers={"Link": '<http://127.0.0.1:9/l?page=2>; rel="next"'}))
    listing = Listing()
    with pytest.raises(OffHost):
        list(link_pages(_client(httpserver), "/l", listing=listing))
    assert not listing.complete and listing.pages == 1


def test_nothing_is_removed_on_an_incomplete_or_empty_listing():
    stored = {"new:item:1": "1", "new:item:2": "2"}
    kw = dict(source="new", scope="s", resource="items", stored=stored,
              policy=DeletePolicy(), empty_hint="check access")
    # incomplete: not even the database is touched (engine=None would fail if it were)
    assert remove_unlisted(None, listed={"1"}, listing=Listing(complete=False), **kw) == 0
    with pytest.raises(RemovalRefused, match="lists no items now, but 2 are stored"):
        remove_unlisted(None, listed=set(), listing=Listing(complete=True), **kw)
    with pytest.raises(RemovalRefused, match="listed 1 items but new reports 2"):
        remove_unlisted(None, listed={"1"}, listing=Listing(complete=True, total=2), **kw)


def test_net_imports_no_connector():
    """net/ sits below connectors (anything that calls out may use it): no module of it
    imports connectors, at any depth of its import statements."""
    import ast
    from pathlib import Path

    for path in Path(__file__).resolve().parents[1].joinpath("net").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "connectors" for n in names), (path, names)
