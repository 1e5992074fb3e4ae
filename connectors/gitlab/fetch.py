"""Generators over GitLab list endpoints: I/O only, pages as the server sends them.

Paging (GitLab docs, "REST API: Pagination"): keyset (``pagination=keyset``) where the
endpoint supports it — project issues since GitLab 18.3 — and offset everywhere else. Either
way the next page is the ``Link: rel="next"`` URL the server sends; when a proxy dropped the
``Link`` header, ``X-Next-Page`` names the next page number. ``X-Total`` and ``X-Total-Pages``
are never read: GitLab leaves them out above 10,000 results. A listing is complete when the
last page had neither (:class:`connectors.frame.Listing`); every page must be a list of
objects, else one line naming it.

Project paths are URL-encoded whole (``group%2Fsub%2Fproject``); everything after the lookup
uses the numeric project id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin

import requests

from connectors.frame import Listing, bad_shape
from connectors.frame.paging import Endpoint
from connectors.frame.shape import list_of_objects
from net.http import HttpClient, NotFound, PermissionDenied

SOURCE = "gitlab"

# Each list endpoint, declared once: path, paging, incremental key.
PROJECT_ISSUES = Endpoint("issues", "/projects/{id}/issues", "link", incremental="updated_at")
MERGE_REQUESTS = Endpoint("merge_requests", "/projects/{id}/merge_requests", "link",
                          incremental="updated_at")
PIPELINES = Endpoint("pipelines", "/projects/{id}/pipelines", "link", incremental="updated_at")
DEPLOYMENTS = Endpoint("deployments", "/projects/{id}/deployments", "link",
                       incremental="updated_at")
MILESTONES = Endpoint("milestones", "/projects/{id}/milestones", "link")
ITERATIONS = Endpoint("iterations", "/projects/{id}/iterations", "link")
RELEASES = Endpoint("releases", "/projects/{id}/releases", "link")
ENVIRONMENTS = Endpoint("environments", "/projects/{id}/environments", "link")
GROUP_PROJECTS = Endpoint("projects", "/groups/{id}/projects", "link")

# Keyset answers 400 or 405 where the server (before 18.3) or the ordering does not support it.
KEYSET_REFUSED = (400, 405)


def encode_path(path: str) -> str:
    """A project or group path as one URL segment: ``group/sub/project`` →
    ``group%2Fsub%2Fproject``."""
    return quote(path.strip("/"), safe="")


def pages(client: HttpClient, path: str, params: dict[str, Any], listing: Listing,
          *, allow: tuple[int, ...] = ()) -> Iterator[tuple[list[dict], requests.Response]]:
    """``(items, response)`` per page of a list endpoint, following ``Link: rel="next"``, else
    ``X-Next-Page``. A status in ``allow`` on the first page is yielded once with no items
    (the caller decides); ``listing.complete`` turns true after the last page."""
    url: str | None = path
    query: dict[str, Any] | None = dict(params)
    while url:
        listing.pages += 1
        listing.where = f"page {listing.pages} of {path}"
        body, resp = client.get_json(url, params=query, allow=allow if listing.pages == 1
                                     else ())
        if resp.status_code in allow and not resp.ok:
            yield [], resp
            return
        items = list_of_objects(SOURCE, body, listing.where)
        yield items, resp
        nxt = resp.links.get("next", {}).get("url")
        if nxt:
            url, query = urljoin(resp.url, nxt), None
            if not client.on_host(url):
                raise client.off_host(f"the next page of {path}", url)
            continue
        number = (resp.headers.get("X-Next-Page") or "").strip()
        if number.isdigit() and "next" not in resp.links and items:
            url, query = path, dict(params, page=int(number))
            continue
        listing.complete = True
        url = None


def all_items(client: HttpClient, path: str, params: dict[str, Any] | None = None
              ) -> list[dict]:
    """Every item of a short list (one issue's events, one MR's notes)."""
    out: list[dict] = []
    for items, _resp in pages(client, path, dict(params or {}, per_page=100), Listing()):
        out.extend(items)
    return out


def optional_items(client: HttpClient, path: str, params: dict[str, Any] | None = None
                   ) -> list[dict] | None:
    """Like :func:`all_items`, but None when the endpoint is not there for this project or
    tier (404, 403: a Premium feature on the Free tier, a disabled feature) — no data, which
    is not the same as an empty list."""
    try:
        return all_items(client, path, params)
    except (NotFound, PermissionDenied):
        return None


def get_object(client: HttpClient, path: str, *, params: dict | None = None,
               allow: tuple[int, ...] = ()) -> tuple[dict | None, int]:
    """``(object, status)``; None for a status in ``allow``."""
    body, resp = client.get_json(path, params=params, allow=allow)
    if resp.status_code in allow and not resp.ok:
        return None, resp.status_code
    if not isinstance(body, dict):
        raise bad_shape(SOURCE, path, "an object", body)
    return body, resp.status_code


def keyset_pages(client: HttpClient, path: str, params: dict[str, Any], listing: Listing,
                 *, order_by: str) -> Iterator[tuple[list[dict], requests.Response]]:
    """Pages in keyset order where the server supports it (``pagination=keyset`` with
    ``order_by``/``sort``; project issues since GitLab 18.3), else — the first request
    answered 400 or 405 — the same query with offset pages."""
    keyset = dict(params, pagination="keyset", order_by=order_by)
    for items, resp in pages(client, path, keyset, listing, allow=KEYSET_REFUSED):
        if not resp.ok:
            break
        yield items, resp
    else:
        return
    listing.pages, listing.complete = 0, False
    yield from pages(client, path, dict(params, order_by=order_by), listing)
