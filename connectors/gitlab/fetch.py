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
from urllib.parse import quote

from connectors.frame import Listing, bad_shape
from connectors.frame.paging import Endpoint
from connectors.frame.stream import Page, link_listing
from net.http import HttpClient, NotFound, PermissionDenied

from . import normalize as nz

SOURCE = "gitlab"

# Each list endpoint, declared once: path, paging, incremental key, normaliser.
PROJECT_ISSUES = Endpoint("issues", "/projects/{id}/issues", "link", incremental="updated_at",
                          normalise=nz.issue_rows)
MERGE_REQUESTS = Endpoint("merge_requests", "/projects/{id}/merge_requests", "link",
                          incremental="updated_at", normalise=nz.mr_rows)
PIPELINES = Endpoint("pipelines", "/projects/{id}/pipelines", "link", incremental="updated_at",
                     normalise=nz.pipeline_rows)
# Child pipelines are left out of the default list: the same path with
# ``source=parent_pipeline``, a cursor of their own.
CHILD_PIPELINES = Endpoint("child_pipelines", "/projects/{id}/pipelines", "link",
                           incremental="updated_at", normalise=nz.pipeline_rows)
DEPLOYMENTS = Endpoint("deployments", "/projects/{id}/deployments", "link",
                       incremental="updated_at", normalise=nz.deployment_rows)
MILESTONES = Endpoint("milestones", "/projects/{id}/milestones", "link",
                      normalise=nz.milestone_rows)
ITERATIONS = Endpoint("iterations", "/projects/{id}/iterations", "link",
                      normalise=nz.iteration_rows)
RELEASES = Endpoint("releases", "/projects/{id}/releases", "link")
ENVIRONMENTS = Endpoint("environments", "/projects/{id}/environments", "link")
GROUP_PROJECTS = Endpoint("projects", "/groups/{id}/projects", "link")

# When a proxy dropped the ``Link`` header, this one names the next page number.
NEXT_PAGE = "X-Next-Page"


def encode_path(path: str) -> str:
    """A project or group path as one URL segment: ``group/sub/project`` →
    ``group%2Fsub%2Fproject``."""
    return quote(path.strip("/"), safe="")


def pages(client: HttpClient, path: str, params: dict[str, Any],
          listing: Listing | None = None, *, fallback: dict[str, Any] | None = None
          ) -> Iterator[Page]:
    """Pages of a list endpoint (the frame's ``Link`` pager with ``X-Next-Page``), each
    checked to be a list of objects; ``listing`` follows the walk. ``fallback``: the query
    to use instead when the first request is refused (400 or 405) — ``params`` asked for
    keyset paging (:func:`keyset_query`) where the server or the ordering lacks it."""
    return link_listing(client, path, params=params, listing=listing, page_header=NEXT_PAGE,
                        fallback=fallback)


def keyset_query(params: dict[str, Any], *, order_by: str) -> tuple[dict, dict]:
    """``(keyset, offset)`` queries for :func:`pages`: keyset where the server supports it
    (``pagination=keyset`` with ``order_by``/``sort``; project issues since GitLab 18.3),
    else the same query with offset pages."""
    return dict(params, pagination="keyset", order_by=order_by), dict(params, order_by=order_by)


def all_items(client: HttpClient, path: str, params: dict[str, Any] | None = None
              ) -> list[dict]:
    """Every item of a short list (one issue's events, one MR's notes)."""
    out: list[dict] = []
    for page in pages(client, path, dict(params or {}, per_page=100)):
        out.extend(page.items)
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
