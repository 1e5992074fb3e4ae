"""Generators over GitHub list endpoints: I/O only, flat memory, pages as the server sends them.

Pagination follows ``Link: rel="next"`` (GitHub switches to ``/repositories/{id}/…`` URLs);
nothing here builds a page URL. A page carries its ETag so callers can store it for the next
conditional request, and ``not_modified`` when the server answered 304 to that ETag.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.http import HttpClient, iter_link_pages

RUNS_RESULT_CAP = 1000  # the runs API returns at most 1,000 results per filtered search
MIN_WINDOW = timedelta(minutes=1)


@dataclass
class Page:
    items: list[Any] = field(default_factory=list)
    etag: str | None = None
    not_modified: bool = False
    first: bool = True
    last: bool = True
    total_count: int | None = None
    window: tuple[datetime, datetime | None] | None = None  # runs only


def list_pages(client: HttpClient, path: str, *, params: dict | None = None,
               etag: str | None = None, key: str | None = None) -> Iterator[Page]:
    """Pages of a list endpoint. ``key`` unwraps ``{total_count, <key>: [...]}`` answers;
    a 204 (no content) is an empty page."""
    headers = {"If-None-Match": etag} if etag else None
    first = True
    for body, resp in iter_link_pages(client, path, params=params, headers=headers):
        if resp.status_code == 304:
            yield Page(etag=etag, not_modified=True)
            return
        total = None
        if key is not None and isinstance(body, dict):
            total = body.get("total_count")
            body = body.get(key) or []
        yield Page(items=body or [], etag=resp.headers.get("ETag"), first=first,
                   last="next" not in resp.links, total_count=total)
        first = False


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_pages(client: HttpClient, repo: str, start: datetime, end: datetime | None, *,
              now: datetime, per_page: int = 100, etag: str | None = None) -> Iterator[Page]:
    """Workflow-run pages created in ``[start, end]`` (``end`` None = open-ended), in windows
    each holding at most 1,000 runs: a window over the cap is halved, oldest half first,
    so a caller can advance its cursor as each window completes."""
    created = f">={iso(start)}" if end is None else f"{iso(start)}..{iso(end)}"
    pages = list_pages(client, f"/repos/{repo}/actions/runs",
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
