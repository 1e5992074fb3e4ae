"""Endpoints and the ways sources page them, declared once.

An :class:`Endpoint` names a list endpoint: its path, its pagination kind, where the items sit
in an answer, its incremental key (the field a cursor follows), and the normaliser that turns
an item into rows. The pagers below walk one kind each and keep a :class:`Listing` up to date:
``complete`` turns true only when the source's own paging says the last page was reached and
every page had the right shape — the one thing :mod:`connectors.frame.deletions` trusts.

Kinds:

- ``link``: ``Link: rel="next"`` headers (GitHub, GitLab); next links only on the configured
  origin; optionally a page-number header when a proxy dropped ``Link`` (GitLab's
  ``X-Next-Page``) and keyset paging with an offset fallback (:func:`~connectors.frame.stream.
  link_listing`);
- ``token``: ``nextPageToken`` / ``isLast`` (Jira Cloud search);
- ``offset``: ``startAt`` with ``total`` or ``isLast`` (Jira Data Center search, Agile API);
- ``range``: ``tree=field[…]{m,n}`` ranges until a short page (Jenkins);
- ``keyset``: the caller's own key (a date window, a build number), walked by the connector
  with the cursor helpers of :mod:`connectors.frame.state`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests

from connectors.frame.shape import bad_shape
from net.http import BadResponse, HttpClient

PagingKind = Literal["link", "token", "offset", "range", "keyset"]


@dataclass
class Listing:
    """How a walk over a list went. ``complete``: the source's own paging reached the last
    page and every page parsed. ``total``: the count the source stated on it, if any.
    ``where``: the page being read, for messages. ``pages``: pages read so far."""

    complete: bool = False
    total: int | None = None
    where: str = ""
    pages: int = 0


@dataclass(frozen=True)
class Endpoint:
    """One list endpoint, declared once.

    ``path``: relative to the source's base URL (``{name}`` fields filled by the connector);
    ``paging``: its kind (module doc); ``items``: the key holding the list in an object answer
    (None for an answer that is the list itself); ``incremental``: the item field a cursor
    follows (None: read whole each time); ``normalise``: item → rows (pure)."""

    resource: str
    path: str
    paging: PagingKind
    items: str | None = None
    incremental: str | None = None
    normalise: Callable[..., Any] | None = field(default=None, compare=False)

    def url(self, **names: str) -> str:
        return self.path.format(**names)


def _path(url: str) -> str:
    return urlsplit(url).path or url


def link_pages(client: HttpClient, path_or_url: str, *, params: dict | None = None,
               headers: dict | None = None, listing: Listing | None = None,
               allow: tuple[int, ...] = (), page_header: str | None = None
               ) -> Iterator[tuple[Any, requests.Response]]:
    """Yield ``(json, response)`` per page, following ``Link: rel="next"`` as the server
    sends it (page URLs are never built by hand: GitHub switches to ``/repositories/{id}/…``
    links). A next link to another origin raises :class:`~net.http.OffHost` (the listing is
    then incomplete). A 304 on the first page, or a status in ``allow`` there, yields
    ``(None, response)`` once and stops. ``page_header``: a header naming the next page
    number, followed when a proxy dropped the ``Link`` header (GitLab's ``X-Next-Page``).
    ``listing.where`` names the page before it is asked, so a failed request can say which."""
    listing = listing if listing is not None else Listing()
    url: str | None = path_or_url
    query = params
    first = True
    while url:
        listing.where = f"page {listing.pages + 1} of {_path(path_or_url)}"
        body, resp = client.get_json(url, params=query, headers=headers if first else None,
                                     allow=allow if first else ())
        listing.pages += 1
        if first and resp.status_code in allow and not resp.ok:
            yield None, resp
            return
        yield body, resp
        if resp.status_code == 304:
            return
        url, query = resp.links.get("next", {}).get("url"), None
        if url:
            url = urljoin(resp.url, url)
            if not client.on_host(url):
                raise client.off_host(f"the next page of {_path(resp.url)}", url)
        elif next_page_number(resp, body, page_header) is not None:
            url, query = path_or_url, dict(params or {},
                                           page=next_page_number(resp, body, page_header))
        else:
            listing.complete = True
        first = False


def next_page_number(resp: requests.Response, body: Any, page_header: str | None
                     ) -> int | None:
    """The next page's number from ``page_header`` when the answer has no ``Link`` next and
    was not empty; None when there is none."""
    if page_header is None or "next" in resp.links or not body:
        return None
    number = (resp.headers.get(page_header) or "").strip()
    return int(number) if number.isdigit() else None


def token_pages(client: HttpClient, path: str, params: dict, *, source: str,
                listing: Listing, read: Callable[[Any, str], list]) -> Iterator[list]:
    """Pages by ``nextPageToken`` until ``isLast`` or no token. ``read(body, where)`` returns
    the page's items or raises the one-line shape error."""
    token = None
    while True:
        listing.pages += 1
        listing.where = f"search page {listing.pages} ({path})"
        body, _ = client.get_json(path, params=dict(params, **({"nextPageToken": token}
                                                              if token else {})))
        items = read(body, listing.where)
        token, is_last = body.get("nextPageToken"), body.get("isLast")
        if token is not None and not isinstance(token, str) or \
                is_last is not None and not isinstance(is_last, bool):
            raise bad_shape(source, listing.where, "a nextPageToken text and isLast flag",
                            token if is_last is None else is_last)
        if is_last is False and not token:  # "more to come" with no way to ask for it
            raise bad_shape(source, listing.where, "a nextPageToken with isLast false", token)
        yield items
        if is_last is True or not token:
            listing.complete = True
            return


def offset_pages(client: HttpClient, path: str, params: dict, *, source: str,
                 listing: Listing, read: Callable[[Any, str], list],
                 where: Callable[[int], str], start_key: str = "startAt",
                 need_total: bool = False, noun: str = "items") -> Iterator[list]:
    """Pages by ``startAt``: the last is the one that reaches ``total``, or says
    ``isLast``, or (with neither) comes back empty. ``need_total``: the answer must state a
    whole-number ``total`` (Jira's search), and an empty page before it is a cut-short
    listing, not its end."""
    start = 0
    while True:
        listing.pages += 1
        listing.where = where(start)
        body, _ = client.get_json(path, params=dict(params, **{start_key: start}))
        items = read(body, listing.where)
        total = body.get("total")
        if need_total and (not isinstance(total, int) or isinstance(total, bool)):
            raise bad_shape(source, listing.where, "a whole-number 'total'", total)
        yield items
        start += len(items)
        if need_total:
            if start >= total:
                listing.complete, listing.total = True, total
                return
            if not items:
                raise BadResponse(
                    f"{source}: {listing.where} answered no {noun}, though its total is "
                    f"{total} — the listing was cut short; stored data is intact, rerun the "
                    "sync")
            continue
        is_last = body.get("isLast")
        if not items or is_last is True or \
                is_last is None and total is not None and start >= int(total):
            listing.complete = True
            return


def range_pages(client: HttpClient, path: str, *, tree: Callable[[int, int], str],
                page_size: int, listing: Listing,
                read: Callable[[Any, str], list], where: Callable[[int, int], str]
                ) -> Iterator[list]:
    """Jenkins ``tree=field[…]{m,n}`` ranges, until a page shorter than ``page_size``."""
    start = 0
    while True:
        listing.pages += 1
        listing.where = where(start, start + page_size)
        body, _ = client.get_json(path, params={"tree": tree(start, start + page_size)})
        items = read(body, listing.where)
        yield items
        if len(items) < page_size:
            listing.complete = True
            return
        start += page_size
