"""Jira I/O: one function per endpoint, generators over pages, nothing held beyond a page.

Cloud and Data Center differ (told apart by ``serverInfo.deploymentType``):
- Cloud searches ``/rest/api/3/search/jql`` page by page with ``nextPageToken`` (absent on
  the last page; there is no ``total``) and must name its ``fields``;
- Data Center has no v3 API and searches ``/rest/api/2/search`` with ``startAt``/``total``.
The Agile API (``/rest/agile/1.0``) is the same on both and pages with ``startAt``/``isLast``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from connectors.http import BadResponse, HttpClient, NotFound

PAGE_SIZE = 100
KEY_PAGE_SIZE = 1000  # a key-only search
AGILE = "/rest/agile/1.0"

# The fields a sync reads; the story-point and sprint fields are added per instance.
BASE_FIELDS = ["summary", "status", "issuetype", "priority", "resolution", "resolutiondate",
               "created", "updated", "labels", "components", "fixVersions", "versions",
               "assignee", "project", "parent", "statuscategorychangedate", "closedSprints",
               "sprint"]


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
    body, _ = client.get_json(f"{server.api}/project/{key}/versions")
    return body if isinstance(body, list) else []


def fields(client: HttpClient, server: Server) -> list[dict]:
    body, _ = client.get_json(f"{server.api}/field")
    return body if isinstance(body, list) else []


def statuses(client: HttpClient, server: Server) -> list[dict]:
    body, _ = client.get_json(f"{server.api}/status")
    return body if isinstance(body, list) else []


def my_time_zone(client: HttpClient, server: Server) -> str | None:
    """The account's time zone, in which Jira reads the dates written in JQL."""
    body, resp = client.get_json(f"{server.api}/myself", allow=(401, 403, 404))
    if resp.status_code != 200 or not isinstance(body, dict):
        return None
    return body.get("timeZone")


def search(client: HttpClient, server: Server, jql: str, field_list: list[str], *,
           page_size: int = PAGE_SIZE, changelog: bool = True) -> Iterator[list[dict]]:
    """Yield pages of issues (with their inline changelog, unless ``changelog`` is false)
    matching ``jql``. The server may cap the page size; pages are followed regardless."""
    params: dict[str, Any] = {"jql": jql, "fields": ",".join(field_list),
                              "maxResults": page_size}
    if changelog:
        params["expand"] = "changelog"
    if server.cloud:
        token = None
        while True:
            page_params = dict(params, **({"nextPageToken": token} if token else {}))
            body, _ = client.get_json(f"{server.api}/search/jql", params=page_params)
            issues = body.get("issues") or []
            yield issues
            token = body.get("nextPageToken")
            if not token or body.get("isLast") is True:
                return
    else:
        start = 0
        while True:
            body, _ = client.get_json(f"{server.api}/search", params=dict(params, startAt=start))
            issues = body.get("issues") or []
            yield issues
            start += len(issues)
            total = body.get("total")
            if not issues or (total is not None and start >= int(total)):
                return


def issue_keys(client: HttpClient, server: Server, project_key: str) -> set[str]:
    """Every issue key the project lists now. Asking for the key alone lets Jira serve large
    pages (Cloud: up to 1,000, per its change notice on search max results)."""
    keys: set[str] = set()
    for page in search(client, server, f'project = "{project_key}"', ["key"],
                       page_size=KEY_PAGE_SIZE, changelog=False):
        keys.update(i["key"] for i in page if i.get("key"))
    return keys


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
        body, _ = client.get_json(f"{server.api}/issue/{key}",
                                  params={"expand": "changelog", "fields": "updated"})
        return list(((body or {}).get("changelog") or {}).get("histories") or [])
    out: list[dict] = []
    start = 0
    while True:
        body, _ = client.get_json(f"{server.api}/issue/{key}/changelog",
                                  params={"startAt": start, "maxResults": PAGE_SIZE})
        values = body.get("values") or []
        out.extend(values)
        start += len(values)
        if not values or body.get("isLast") is True or (
                body.get("total") is not None and start >= int(body["total"])):
            return out


def agile_pages(client: HttpClient, path: str, params: dict | None = None,
                key: str = "values") -> Iterator[list[dict]]:
    """Pages of an Agile API list (``startAt``/``isLast``, else ``total``)."""
    start = 0
    while True:
        body, _ = client.get_json(f"{AGILE}{path}",
                                  params={**(params or {}), "startAt": start, "maxResults": 50})
        values = body.get(key) or []
        yield values
        start += len(values)
        if not values or body.get("isLast") is True:
            return
        if body.get("isLast") is None and body.get("total") is not None \
                and start >= int(body["total"]):
            return


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
    return body if isinstance(body, dict) else {}


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
        keys.extend(i["key"] for i in page if i.get("key"))
    return keys
