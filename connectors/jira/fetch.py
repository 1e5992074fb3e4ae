"""Jira I/O: one function per endpoint, generators over pages, nothing held beyond a page.

Cloud and Data Center differ (told apart by ``serverInfo.deploymentType``):
- Cloud searches ``/rest/api/3/search/jql`` page by page with ``nextPageToken`` (absent on
  the last page; there is no ``total``) and must name its ``fields``;
- Data Center has no v3 API and searches ``/rest/api/2/search`` with ``startAt``/``total``.
The Agile API (``/rest/agile/1.0``) is the same on both and pages with ``startAt``/``isLast``.

Every answer is checked for shape before it is used: a ``null``, a list where an object
belongs (or the reverse), or an issue without its key raises one :class:`BadResponse` line
naming the endpoint and page — and a search that did not reach its last page by Jira's own
paging is never marked complete (:class:`Listing`), so nothing is removed on its account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from net.http import AuthError, BadResponse, HttpClient, NotFound, SourceError
from connectors.frame import bad_shape
from connectors.frame.shape import list_of_objects
from connectors.frame.paging import Endpoint, Listing, offset_pages, token_pages

PAGE_SIZE = 100
KEY_PAGE_SIZE = 1000  # a key-only search
AGILE = "/rest/agile/1.0"

# The fields a sync reads; the story-point and sprint fields are added per instance.
BASE_FIELDS = ["summary", "status", "issuetype", "priority", "resolution", "resolutiondate",
               "created", "updated", "labels", "components", "fixVersions", "versions",
               "assignee", "project", "parent", "statuscategorychangedate", "closedSprints",
               "sprint"]


# Issue search: Cloud's v3 pages by token and names its fields; Data Center's v2 by startAt.
SEARCH_CLOUD = Endpoint(resource="issues", path="{api}/search/jql", paging="token",
                        items="issues", incremental="updated")
SEARCH_DC = Endpoint(resource="issues", path="{api}/search", paging="offset", items="issues",
                     incremental="updated")


@dataclass(frozen=True)
class Server:
    """What ``/rest/api/2/serverInfo`` says about the instance."""

    deployment: str  # Cloud, Server or DataCenter
    version: str

    @property
    def cloud(self) -> bool:
        return self.deployment.casefold() == "cloud"

    @property
    def api(self) -> str:
        """The platform REST API prefix: v3 on Cloud, v2 on Server/Data Center."""
        return "/rest/api/3" if self.cloud else "/rest/api/2"


def _object(body: Any, where: str, *lists: str) -> dict:
    """``body`` if it is an object whose ``lists`` fields are lists of objects; else one line."""
    if not isinstance(body, dict):
        raise bad_shape("jira", where, "an object", body)
    for name in lists:
        list_of_objects("jira", body.get(name), f"{where}, '{name}'")
    return body


def _issues(body: Any, where: str, field_list: list[str]) -> list[dict]:
    """The page's issues, each with its key — and, when the search asked for ``created``
    (every issue has one; a work item cannot be stored without it), its fields and that."""
    issues = _object(body, where, "issues")["issues"]
    for issue in issues:
        if not isinstance(issue.get("key"), str):
            raise bad_shape("jira", where, "issues with a 'key'", issue.get("key"))
        if "created" in field_list:
            fields = issue.get("fields")
            if not isinstance(fields, dict) or not isinstance(fields.get("created"), str):
                raise bad_shape("jira", where, f"issue {issue['key']} with fields.created",
                                fields.get("created") if isinstance(fields, dict) else fields)
    return issues


def server_info(client: HttpClient) -> Server:
    body, _ = client.get_json("/rest/api/2/serverInfo")
    if not isinstance(body, dict):
        raise BadResponse(f"jira: {client.base_url} did not answer like a Jira server "
                          "(serverInfo) — check --url")
    return Server(deployment=str(body.get("deploymentType") or "Server"),
                  version=str(body.get("version") or ""))


def project(client: HttpClient, server: Server, key: str) -> dict:
    """The project; a 404 says the key is wrong or hidden from this account."""
    try:
        body, _ = client.get_json(f"{server.api}/project/{key}")
    except NotFound:
        raise NotFound(f"jira: project {key} not found (404) — check --project, and that this "
                       "account may browse it") from None
    return body


def project_versions(client: HttpClient, server: Server, key: str) -> list[dict]:
    path = f"{server.api}/project/{key}/versions"
    body, _ = client.get_json(path)
    return list_of_objects("jira", body, path)


def fields(client: HttpClient, server: Server) -> list[dict]:
    path = f"{server.api}/field"
    body, _ = client.get_json(path)
    return list_of_objects("jira", body, path)


def statuses(client: HttpClient, server: Server) -> list[dict]:
    path = f"{server.api}/status"
    body, _ = client.get_json(path)
    return list_of_objects("jira", body, path)


def my_time_zone(client: HttpClient, server: Server) -> str | None:
    """The account's time zone, in which Jira reads the dates written in JQL."""
    body, resp = client.get_json(f"{server.api}/myself", allow=(401, 403, 404))
    if resp.status_code != 200 or not isinstance(body, dict):
        return None
    return body.get("timeZone")


def search(client: HttpClient, server: Server, jql: str, field_list: list[str], *,
           page_size: int = PAGE_SIZE, changelog: bool = True,
           listing: Listing | None = None) -> Iterator[list[dict]]:
    """Yield pages of issues (with their inline changelog, unless ``changelog`` is false)
    matching ``jql``. The server may cap the page size; pages are followed regardless.
    ``listing`` (optional) is told where the search is and whether it ended complete:
    Cloud pages by ``nextPageToken``/``isLast``, Data Center by ``startAt`` up to ``total``."""
    listing = listing if listing is not None else Listing()
    params: dict[str, Any] = {"jql": jql, "fields": ",".join(field_list),
                              "maxResults": page_size}
    if changelog:
        params["expand"] = "changelog"
    endpoint = SEARCH_CLOUD if server.cloud else SEARCH_DC
    path = endpoint.url(api=server.api)

    def read(body: Any, where: str) -> list[dict]:
        return _issues(body, where, field_list)

    if endpoint.paging == "token":
        return token_pages(client, path, params, source="jira", listing=listing, read=read)
    pages = iter(offset_pages(
        client, path, params, source="jira", listing=listing, read=read, need_total=True,
        noun="issues", where=lambda start: f"search page {listing.pages} ({path}, startAt "
                                           f"{start})"))
    return pages


def issue_keys(client: HttpClient, server: Server, project_key: str,
               listing: Listing | None = None) -> set[str]:
    """Every issue key the project lists now. Asking for the key alone lets Jira serve large
    pages (Cloud: up to 1,000, per its change notice on search max results)."""
    keys: set[str] = set()
    for page in search(client, server, key_jql(project_key), ["key"],
                       page_size=KEY_PAGE_SIZE, changelog=False, listing=listing):
        keys.update(i["key"] for i in page)
    return keys


def key_jql(project_key: str) -> str:
    """Every issue of the project (bounded by the project, as the count endpoint requires)."""
    return f'project = "{project_key}"'


def approximate_count(client: HttpClient, server: Server, jql: str) -> tuple[int | None, str]:
    """Jira Cloud's count of the issues matching ``jql`` (``POST search/approximate-count``),
    or ``(None, why not)``. Approximate: the search index is eventually consistent."""
    path = f"{server.api}/search/approximate-count"
    try:
        body, _ = client.post_json(path, {"jql": jql})
    except AuthError:
        return None, "approximate-count answered 401"
    except SourceError as exc:
        return None, "approximate-count failed: " + str(exc).removeprefix("jira: ")
    count = body.get("count") if isinstance(body, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return None, "approximate-count answered without a count"
    return count, ""


def full_changelog(client: HttpClient, server: Server, issue: dict) -> list[dict]:
    """Every history of an issue: the inline list when complete, else the paged endpoint.

    The inline changelog stops at 100 histories (newest first); ``changelog.total`` says how
    many there are.
    """
    inline = issue.get("changelog") or {}
    histories = list(inline.get("histories") or [])
    total = inline.get("total")
    if total is None or int(total) <= len(histories):
        return histories
    key = issue["key"]
    if not server.cloud:
        # Data Center has no paged changelog endpoint; the single-issue view carries it all.
        path = f"{server.api}/issue/{key}"
        body, _ = client.get_json(path, params={"expand": "changelog", "fields": "updated"})
        log = _object(body, path).get("changelog")
        return list(_object(log, f"{path}, 'changelog'", "histories")["histories"])
    out: list[dict] = []
    start = 0
    path = f"{server.api}/issue/{key}/changelog"
    while True:
        body, _ = client.get_json(path, params={"startAt": start, "maxResults": PAGE_SIZE})
        values = _object(body, f"{path} (startAt {start})", "values")["values"]
        out.extend(values)
        start += len(values)
        if not values or body.get("isLast") is True or (
                body.get("total") is not None and start >= int(body["total"])):
            return out


def agile_pages(client: HttpClient, path: str, params: dict | None = None,
                key: str = "values") -> Iterator[list[dict]]:
    """Pages of an Agile API list (``startAt``/``isLast``, else ``total``)."""
    return offset_pages(
        client, f"{AGILE}{path}", {**(params or {}), "maxResults": 50}, source="jira",
        listing=Listing(), read=lambda body, where: _object(body, where, key)[key],
        where=lambda start: f"{AGILE}{path} (startAt {start})")


def boards(client: HttpClient, project_key: str) -> list[dict]:
    """The project's boards; empty when the instance has no Jira Software (Agile API 404)."""
    try:
        return [b for page in agile_pages(client, "/board", {"projectKeyOrId": project_key})
                for b in page]
    except NotFound:
        return []


def board_configuration(client: HttpClient, board_id: int | str) -> dict:
    try:
        body, _ = client.get_json(f"{AGILE}/board/{board_id}/configuration")
    except NotFound:
        raise NotFound(f"jira: board {board_id} not found (404) — check --board or jira.boards, "
                       "and that this account may see the board") from None
    return _object(body, f"{AGILE}/board/{board_id}/configuration")


def board_sprints(client: HttpClient, board_id: int | str) -> Iterator[list[dict]]:
    """Every sprint of a board, future, active and closed. Kanban boards have none (400)."""
    try:
        yield from agile_pages(client, f"/board/{board_id}/sprint",
                               {"state": "future,active,closed"})
    except BadResponse as exc:
        if "HTTP 400" not in str(exc):
            raise


def sprint_issue_keys(client: HttpClient, sprint_id: int | str, project_key: str) -> list[str]:
    """Keys of the project's issues in a sprint (the Agile API's view of membership)."""
    keys: list[str] = []
    for page in agile_pages(client, f"/sprint/{sprint_id}/issue",
                            {"jql": f'project = "{project_key}"', "fields": "updated"},
                            key="issues"):
        keys.extend(i["key"] for i in page if isinstance(i.get("key"), str))
    return keys
