"""Generators over GitHub list endpoints: I/O only, flat memory, pages as the server sends them.

Pagination follows ``Link: rel="next"`` (GitHub switches to ``/repositories/{id}/…`` URLs);
nothing here builds a page URL. A page carries its ETag so callers can store it for the next
conditional request, and ``not_modified`` when the server answered 304 to that ETag.

Every page is checked for shape before it is handed on — a list of objects (or the object
wrapping one) — so a ``null`` or an object where the list belongs stops the listing with one
line naming the page, instead of ending it quietly as if it were complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.frame import bad_shape
from connectors.frame.shape import list_of_objects
from connectors.frame.paging import Endpoint, link_pages
from net.http import AuthError, HttpClient, SourceError

from . import normalize as nz

RUNS_RESULT_CAP = 1000  # the runs API returns at most 1,000 results per filtered search
MIN_WINDOW = timedelta(minutes=1)


# Each list endpoint, declared once: path, paging, incremental key. Issues carry a `since`
# cursor on `updated_at`; events, pulls and deployments are read newest first down to a
# watermark on `created_at`/`updated_at`; runs by `created` windows (a keyset of our own,
# under the 1,000-result cap); milestones and releases whole (an ETag makes that cheap).
MILESTONES = Endpoint("milestones", "/repos/{repo}/milestones", "link",
                      normalise=nz.milestone_rows)
ISSUES = Endpoint("issues", "/repos/{repo}/issues", "link", incremental="updated_at",
                  normalise=nz.issue_rows)
ISSUE_EVENTS = Endpoint("issue_events", "/repos/{repo}/issues/events", "link",
                        incremental="created_at")
PULLS = Endpoint("pulls", "/repos/{repo}/pulls", "link", incremental="updated_at")
RELEASES = Endpoint("releases", "/repos/{repo}/releases", "link")
RUNS = Endpoint("runs", "/repos/{repo}/actions/runs", "keyset", items="workflow_runs",
                incremental="created_at")
DEPLOYMENTS = Endpoint("deployments", "/repos/{repo}/deployments", "link",
                       incremental="created_at", normalise=nz.deployment_rows)


@dataclass
class Page:
    items: list[Any] = field(default_factory=list)
    etag: str | None = None
    not_modified: bool = False
    first: bool = True
    last: bool = True
    total_count: int | None = None
    window: tuple[datetime, datetime | None] | None = None  # runs only
    number: int = 1  # 1 for the first page of a listing
    path: str = ""  # the listing's path, for messages

    @property
    def where(self) -> str:
        return f"page {self.number} of {self.path}"


def list_pages(client: HttpClient, path: str, *, params: dict | None = None,
               etag: str | None = None, key: str | None = None) -> Iterator[Page]:
    """Pages of a list endpoint. ``key`` unwraps ``{total_count, <key>: [...]}`` answers.
    A page that is not a list of objects raises :class:`BadResponse` naming it."""
    headers = {"If-None-Match": etag} if etag else None
    number = 0
    for body, resp in link_pages(client, path, params=params, headers=headers):
        number += 1
        if resp.status_code == 304:
            yield Page(etag=etag, not_modified=True, path=path)
            return
        where = f"page {number} of {path}"
        total = None
        if key is not None:
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                raise bad_shape("github", where, f"an object with a '{key}' list",
                                body if not isinstance(body, dict) else body.get(key))
            total = body.get("total_count")
            body = body[key]
        list_of_objects("github", body, where)
        yield Page(items=body, etag=resp.headers.get("ETag"), first=number == 1,
                   last="next" not in resp.links, total_count=total, number=number, path=path)


def check_object(body: Any, where: str, *fields: str) -> dict:
    """``body`` if it is an object holding every one of ``fields``; else one line."""
    if not isinstance(body, dict):
        raise bad_shape("github", where, "an object", body)
    for name in fields:
        if body.get(name) is None:
            raise bad_shape("github", where, f"an object with '{name}'", body.get(name))
    return body


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint for a REST root: ``https://api.github.com/graphql``, or on a
    GitHub Enterprise Server (REST at ``https://HOST/api/v3``) ``https://HOST/api/graphql``."""
    root = api_url.rstrip("/")
    if root.endswith("/api/v3"):
        return root[: -len("/v3")] + "/graphql"
    return root + "/graphql"


ISSUE_COUNT_QUERY = ("query($owner: String!, $name: String!) "
                     "{ repository(owner: $owner, name: $name) { issues { totalCount } } }")


def issue_count(client: HttpClient, repo: str) -> tuple[int | None, str]:
    """How many issues (pull requests excluded; every state) the repository has, from the
    GraphQL ``repository.issues.totalCount`` — or ``(None, why not)``: GraphQL needs a token
    (an anonymous sync gets 401), and a token may lack the scope."""
    owner, name = repo.split("/", 1)
    try:
        body, _ = client.post_json(graphql_url(client.base_url),
                                   {"query": ISSUE_COUNT_QUERY,
                                    "variables": {"owner": owner, "name": name}})
    except AuthError:
        return None, "GraphQL answered 401: it needs a token, an anonymous sync cannot use it"
    except SourceError as exc:
        return None, "GraphQL failed: " + str(exc).removeprefix("github: ")
    try:
        count = body["data"]["repository"]["issues"]["totalCount"]
    except (KeyError, TypeError):
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        message = first.get("message") if isinstance(first, dict) else None
        return None, f"GraphQL answered without a count{': ' + str(message) if message else ''}"
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return None, "GraphQL answered a count that is not a number"
    return count, ""


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_pages(client: HttpClient, repo: str, start: datetime, end: datetime | None, *,
              now: datetime, per_page: int = 100, etag: str | None = None) -> Iterator[Page]:
    """Workflow-run pages created in ``[start, end]`` (``end`` None = open-ended), in windows
    each holding at most 1,000 runs: a window over the cap is halved, oldest half first,
    so a caller can advance its cursor as each window completes."""
    created = f">={iso(start)}" if end is None else f"{iso(start)}..{iso(end)}"
    pages = list_pages(client, RUNS.url(repo=repo),
                       params={"per_page": per_page, "created": created},
                       etag=etag, key="workflow_runs")
    first = next(pages, None)
    if first is None:
        return
    stop = end or now
    if (not first.not_modified and (first.total_count or 0) > RUNS_RESULT_CAP
            and stop - start > MIN_WINDOW):
        pages.close()
        mid = start + (stop - start) / 2
        yield from run_pages(client, repo, start, mid, now=now, per_page=per_page)
        yield from run_pages(client, repo, mid, end, now=now, per_page=per_page)
        return
    for page in _chain(first, pages):
        page.window = (start, end)
        yield page


def _chain(first: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield first
    yield from rest


class _Done:
    pass


def prefetch(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """Fetch the next pages in a background thread while the caller stores this one.

    Socket reads and SQLite writes both release the GIL, so a sync's fetching and writing
    overlap on two cores. Order is kept, so cursors still move page by page; an error in
    the fetching thread is raised here, after the pages before it were handed over; closing
    this generator (a ``break``) stops the fetching thread after its current request.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        q.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            q.put(_Done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)
        finally:
            close = getattr(pages, "close", None)
            if close is not None and stop.is_set():
                close()

    worker = threading.Thread(target=produce, name="github-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _Done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def all_items(client: HttpClient, path: str, *, params: dict | None = None,
              key: str | None = None) -> list[Any]:
    """Every item of a (short) list, e.g. one PR's reviews or one deployment's statuses."""
    out: list[Any] = []
    for page in list_pages(client, path, params=params, key=key):
        out.extend(page.items)
    return out

