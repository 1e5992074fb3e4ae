"""A scripted Jira on a real local HTTP server (pytest-httpserver), for the connector tests.

It serves the endpoints the connector reads, with the paging each really uses: Cloud
``search/jql`` pages by ``nextPageToken`` (absent on the last page, no ``total``), Data Center
``/rest/api/2/search`` by ``startAt``/``total``, the Agile API by ``startAt``/``isLast``, and the
changelog endpoint by ``startAt``/``isLast``. Search responses embed the changelog as Jira does:
newest first, capped at 100, with the real ``total``. ``fail_next`` queues error answers
(429 with Retry-After, 503, 401…) in front of a path; ``answer_next`` queues a verbatim 200
answer (a ``null``, a list for an object…). Cloud also answers ``POST search/approximate-count``
with the number of issues the JQL matches (or ``approximate_count`` when set). Every request
is in ``httpserver.log``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from werkzeug import Request, Response

INLINE_CHANGELOG_CAP = 100

STATUSES = {
    "1": ("Open", "new"),
    "3": ("In Progress", "indeterminate"),
    "10001": ("In Review", "indeterminate"),
    "10002": ("Done", "done"),
}


def status(status_id: str) -> dict:
    name, key = STATUSES[status_id]
    return {"id": status_id, "name": name, "statusCategory": {"key": key, "id": 2}}


def history(hid: int | str, created: str, *items: dict, author: str = "Ann") -> dict:
    return {"id": str(hid), "created": created, "author": {"displayName": author},
            "items": list(items)}


def status_item(from_id: str, to_id: str) -> dict:
    return {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": from_id,
            "fromString": STATUSES[from_id][0], "to": to_id, "toString": STATUSES[to_id][0]}


def issue(key: str, *, summary: str = "", status_id: str = "1", issuetype: str = "Story",
          created: str = "2024-03-01T09:00:00.000+0000",
          updated: str = "2024-03-02T09:00:00.000+0000", resolution: str | None = None,
          resolutiondate: str | None = None, priority: str = "Medium",
          extra: dict | None = None, histories: list[dict] | None = None) -> dict:
    """An issue as the search returns it (``histories`` are served as its changelog)."""
    fields = {
        "summary": summary or f"Issue {key}",
        "status": status(status_id),
        "issuetype": {"name": issuetype, "subtask": False},
        "priority": {"name": priority},
        "resolution": {"name": resolution} if resolution else None,
        "resolutiondate": resolutiondate,
        "created": created,
        "updated": updated,
        "labels": [],
        "components": [],
        "fixVersions": [],
        "versions": [],
        "assignee": None,
        "project": {"key": key.rsplit("-", 1)[0]},
    }
    fields.update(extra or {})
    return {"id": str(10000 + int(key.rsplit("-", 1)[1])), "key": key, "fields": fields,
            "_histories": list(histories or [])}


@dataclass
class FakeJira:
    httpserver: Any
    deployment: str = "Cloud"
    project: str = "PAY"
    issues: list[dict] = field(default_factory=list)
    versions: list[dict] = field(default_factory=list)
    boards: list[dict] = field(default_factory=list)
    board_configs: dict[str, dict] = field(default_factory=dict)
    sprints: dict[str, list[dict]] = field(default_factory=dict)
    sprint_issues: dict[str, list[str]] = field(default_factory=dict)
    fields: list[dict] = field(default_factory=lambda: [
        {"id": "customfield_10020", "name": "Sprint", "custom": True,
         "schema": {"custom": "com.pyxis.greenhopper.jira:gh-sprint"}},
        {"id": "customfield_10016", "name": "Story point estimate", "custom": True}])
    time_zone: str = "UTC"
    search_page_size: int | None = None  # the server's own cap on maxResults
    require_auth: str | None = None  # the exact Authorization header to accept
    failures: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    fail_on_call: dict[tuple[str, int], int] = field(default_factory=dict)
    search_pages: list[list[dict]] | None = None  # served verbatim instead of ``issues``
    statuses: list[dict] | None = None  # /status; default: STATUSES
    changelogs: dict[str, list[dict]] = field(default_factory=dict)  # verbatim endpoint values
    calls: dict[str, int] = field(default_factory=dict)
    answers: dict[str, list[Any]] = field(default_factory=dict)  # verbatim 200 answers
    answer_on_call: dict[tuple[str, int], Any] = field(default_factory=dict)  # (path, n-th)
    approximate_count: int | None = None  # None: the matching issues, counted
    search_cut: int | None = None  # searches end after this many issues (a cut-short listing)

    def __post_init__(self) -> None:
        self.httpserver.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.deployment == "Cloud" else "/rest/api/2"

    @property
    def url(self) -> str:
        return self.httpserver.url_for("/").rstrip("/")

    def fail_next(self, path: str, status_code: int, headers: dict | None = None,
                  times: int = 1) -> None:
        self.failures.setdefault(path, []).extend([(status_code, headers or {})] * times)

    def answer_next(self, path: str, body: Any, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with ``body`` (200, as JSON)."""
        self.answers.setdefault(path, []).extend([body] * times)

    def requests(self, path_prefix: str = "") -> list[Request]:
        return [req for req, _ in self.httpserver.log if req.path.startswith(path_prefix)]

    # --- routing ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        self.calls[path] = self.calls.get(path, 0) + 1
        if (path, self.calls[path]) in self.fail_on_call:
            code = self.fail_on_call[(path, self.calls[path])]
            return _json({"errorMessages": [f"HTTP {code}"]}, code)
        queued = self.failures.get(path)
        if queued:
            code, headers = queued.pop(0)
            return _json({"errorMessages": [f"HTTP {code}"]}, code, headers)
        if self.require_auth and request.headers.get("Authorization") != self.require_auth:
            return _json({"errorMessages": ["You are not authenticated"]}, 401)
        if self.answers.get(path):
            return _json(self.answers[path].pop(0))
        if (path, self.calls[path]) in self.answer_on_call:
            return _json(self.answer_on_call[(path, self.calls[path])])
        args = request.args
        api = self.api
        if path == f"{api}/search/approximate-count" and self.deployment == "Cloud" \
                and request.method == "POST":
            jql = (json.loads(request.get_data() or b"{}") or {}).get("jql", "")
            count = (self.approximate_count if self.approximate_count is not None
                     else len(self._matching(jql)))
            return _json({"count": count})
        if path == "/rest/api/2/serverInfo":
            return _json({"deploymentType": self.deployment, "version": "9.12.0"})
        if path == f"{api}/project/{self.project}":
            return _json({"key": self.project, "id": "10000", "name": self.project})
        if path.startswith(f"{api}/project/") and path.endswith("/versions"):
            if path != f"{api}/project/{self.project}/versions":
                return _json({"errorMessages": ["No project could be found"]}, 404)
            return _json(self.versions)
        if path.startswith(f"{api}/project/"):
            return _json({"errorMessages": ["No project could be found with key"]}, 404)
        if path == f"{api}/field":
            return _json(self.fields)
        if path == f"{api}/status":
            return _json(self.statuses if self.statuses is not None
                         else [status(s) for s in STATUSES])
        if path == f"{api}/myself":
            return _json({"displayName": "Bot", "timeZone": self.time_zone})
        if path == f"{api}/search/jql" and self.deployment == "Cloud":
            return self._search_cloud(args)
        if path == f"{api}/search" and self.deployment != "Cloud":
            return self._search_dc(args)
        m = re.fullmatch(rf"{api}/issue/([A-Z0-9]+-\d+)/changelog", path)
        if m and self.deployment == "Cloud":
            return self._changelog(m.group(1), args)
        m = re.fullmatch(rf"{api}/issue/([A-Z0-9]+-\d+)", path)
        if m:
            found = self._issue(m.group(1))
            hist = list(reversed(found["_histories"]))
            return _json({"key": found["key"], "fields": {"updated": found["fields"]["updated"]},
                          "changelog": {"startAt": 0, "maxResults": len(hist),
                                        "total": len(hist), "histories": hist}})
        if path == "/rest/agile/1.0/board":
            return _agile_page(self.boards, args)
        m = re.fullmatch(r"/rest/agile/1\.0/board/(\d+)/configuration", path)
        if m:
            return _json(self.board_configs.get(m.group(1), {"estimation": {"type": "issueCount"}}))
        m = re.fullmatch(r"/rest/agile/1\.0/board/(\d+)/sprint", path)
        if m:
            return _agile_page(self.sprints.get(m.group(1), []), args)
        m = re.fullmatch(r"/rest/agile/1\.0/sprint/(\d+)/issue", path)
        if m:
            keys = self.sprint_issues.get(m.group(1), [])
            start = int(args.get("startAt", 0))
            size = int(args.get("maxResults", 50))
            return _json({"startAt": start, "maxResults": size, "total": len(keys),
                          "issues": [{"key": k, "fields": {}} for k in keys[start:start + size]]})
        return _json({"errorMessages": [f"no route {path}"]}, 404)

    # --- search -------------------------------------------------------------------------------
    def _matching(self, jql: str) -> list[dict]:
        found = [i for i in self.issues if i["fields"]["project"]["key"] == self.project]
        m = re.search(r'updated >= "(\d{4}/\d\d/\d\d \d\d:\d\d)"', jql)
        if m:
            since = datetime.strptime(m.group(1), "%Y/%m/%d %H:%M").replace(tzinfo=timezone.utc)
            found = [i for i in found if _time(i["fields"]["updated"]) >= since]
        return sorted(found, key=lambda i: _time(i["fields"]["updated"]))

    def _render(self, found: dict, field_list: list[str], expand: str) -> dict:
        out = {"id": found["id"], "key": found["key"],
               "fields": {k: v for k, v in found["fields"].items() if k in field_list}}
        if "changelog" in expand:
            newest_first = list(reversed(found["_histories"]))
            inline = newest_first[:INLINE_CHANGELOG_CAP]
            out["changelog"] = {"startAt": 0, "maxResults": len(inline),
                                "total": len(newest_first), "histories": inline}
        return out

    def _page_size(self, args) -> int:
        size = int(args.get("maxResults", 50))
        return min(size, self.search_page_size) if self.search_page_size else size

    def _search_cloud(self, args) -> Response:
        if self.search_pages is not None:
            token = args.get("nextPageToken")
            n = int(token.removeprefix("page-")) if token else 0
            body: dict[str, Any] = {"issues": self.search_pages[n]}
            if n + 1 < len(self.search_pages):
                body["nextPageToken"] = f"page-{n + 1}"
            return _json(body)
        found = self._matching(args.get("jql", ""))
        if self.search_cut is not None:  # ends early, saying it is the last page
            found = found[:self.search_cut]
        token = args.get("nextPageToken")
        start = int(token.removeprefix("tok-")) if token else 0
        size = self._page_size(args)
        page = found[start:start + size]
        field_list = args.get("fields", "id").split(",")
        body: dict[str, Any] = {"issues": [self._render(i, field_list, args.get("expand", ""))
                                           for i in page]}
        if start + size < len(found):
            body["nextPageToken"] = f"tok-{start + size}"
            body["isLast"] = False
        else:
            body["isLast"] = True
        return _json(body)

    def _search_dc(self, args) -> Response:
        found = self._matching(args.get("jql", ""))
        start = int(args.get("startAt", 0))
        size = self._page_size(args)
        field_list = args.get("fields", "*navigable").split(",")
        listed = found if self.search_cut is None else found[:self.search_cut]
        return _json({"startAt": start, "maxResults": size, "total": len(found),
                      "issues": [self._render(i, field_list, args.get("expand", ""))
                                 for i in listed[start:start + size]]})

    def _issue(self, key: str) -> dict:
        for i in self.issues:
            if i["key"] == key:
                return i
        raise KeyError(key)

    def _changelog(self, key: str, args) -> Response:
        values = self.changelogs.get(key) or self._issue(key)["_histories"]  # oldest first, as the endpoint sorts
        start = int(args.get("startAt", 0))
        size = min(int(args.get("maxResults", 100)), 100)
        page = values[start:start + size]
        return _json({"startAt": start, "maxResults": size, "total": len(values),
                      "isLast": start + size >= len(values), "values": page})


def _agile_page(values: list, args) -> Response:
    start = int(args.get("startAt", 0))
    size = int(args.get("maxResults", 50))
    page = values[start:start + size]
    return _json({"startAt": start, "maxResults": size, "total": len(values),
                  "isLast": start + size >= len(values), "values": page})


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(timezone.utc)


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers or {},
                    content_type="application/json")
