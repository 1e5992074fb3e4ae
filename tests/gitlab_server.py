"""A small fake of the GitLab REST API v4 for connector tests, served by pytest-httpserver.

It behaves like GitLab where the connector depends on it: the API under ``<prefix>/api/v4``
(a relative URL root such as ``/gitlab``), projects by numeric id or URL-encoded path,
``PRIVATE-TOKEN`` checked (401 ``{"message": "401 Unauthorized"}``), offset pages with
``Link`` and ``X-Next-Page``/``X-Page``/``X-Total`` headers, keyset pages for issues
(``pagination=keyset``, 405 when ``keyset`` is off, as on GitLab before 18.3),
``updated_after`` ("on or after"), ``order_by=updated_at&sort=asc``, child pipelines only with
``source=parent_pipeline``, and Premium endpoints (iterations, iteration events) answering 404
on a Free project. Faults are queued with :meth:`FakeGitLab.fail_next`; every request is
logged (path, query, headers) so tests can assert what was asked.

:func:`corpus_project` fills a project from the real recordings in the corpus
(``gitlab/devlake/raw_tables`` — DevLake's stored gitlab.com answers — and the gitea
recordings of gitlab.com), read in place.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from werkzeug import Request, Response

csv.field_size_limit(1 << 30)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _updated_at(item: dict) -> str:
    # One recorded deployment (an edited DevLake row) has no updated_at.
    return item.get("updated_at") or item["created_at"]


@dataclass
class Project:
    id: int
    path: str
    archived: bool = False
    issues: list[dict] = field(default_factory=list)
    state_events: dict[int, list[dict]] = field(default_factory=dict)
    label_events: dict[int, list[dict]] = field(default_factory=dict)
    milestone_events: dict[int, list[dict]] = field(default_factory=dict)
    iteration_events: dict[int, list[dict]] = field(default_factory=dict)
    milestones: list[dict] = field(default_factory=list)
    iterations: list[dict] | None = None  # None: a Free project (404)
    releases: list[dict] = field(default_factory=list)
    mrs: list[dict] = field(default_factory=list)
    mr_commits: dict[int, list[dict]] = field(default_factory=dict)
    mr_notes: dict[int, list[dict]] = field(default_factory=dict)
    mr_approvals: dict[int, dict] = field(default_factory=dict)
    pipelines: list[dict] = field(default_factory=list)  # detail objects
    test_reports: dict[int, dict] = field(default_factory=dict)
    environments: list[dict] = field(default_factory=list)
    deployments: list[dict] = field(default_factory=list)
    compares: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    issue_count: int | None = None  # issues_statistics; None: counted


@dataclass
class Fault:
    match: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


_SLIM_PIPELINE = ("id", "iid", "project_id", "sha", "ref", "status", "source", "created_at",
                  "updated_at", "web_url", "name")


class FakeGitLab:
    def __init__(self, prefix: str = "", token: str | None = "glpat-test-token-0123456789",
                 keyset: bool = True) -> None:
        self.prefix = prefix  # a relative URL root, e.g. "/gitlab"
        self.token = token
        self.keyset = keyset
        self.projects: dict[int, Project] = {}
        self.groups: dict[str, list[int]] = {}
        self.redirects: dict[str, str] = {}  # old encoded path → new numeric id
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict, dict]] = []

    def add(self, project: Project) -> Project:
        self.projects[project.id] = project
        return project

    def install(self, httpserver) -> "FakeGitLab":
        httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self._werkzeug)
        self.url = httpserver.url_for("/").rstrip("/") + self.prefix
        return self

    def fail_next(self, match: str, status: int, headers: dict | None = None,
                  body: Any = b"") -> None:
        """Answer the next request whose path contains ``match`` with this fault; ``body``
        bytes are sent as they are (a 429's body need not be JSON)."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.faults.append(Fault(match, status, headers or {}, body))

    def paths(self) -> list[str]:
        return [p for p, _q, _h in self.log]

    # --- serving -----------------------------------------------------------------------
    def _werkzeug(self, request: Request) -> Response:
        raw_path = request.environ.get("RAW_URI", request.full_path).split("?")[0]
        query = {k: v for k, v in request.args.items()}
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, out, body = self.handle(raw_path, query, headers, request.host_url.rstrip("/"))
        return Response(body, status=status, headers=out)

    def handle(self, raw_path: str, query: dict, headers: dict, host: str
               ) -> tuple[int, dict, bytes]:
        path = unquote(raw_path)
        self.log.append((raw_path, query, headers))
        for fault in self.faults:
            if fault.match in raw_path or fault.match in path:
                self.faults.remove(fault)
                return fault.status, {"Content-Type": "text/plain", **fault.headers}, fault.body
        root = self.prefix + "/api/v4"
        if not raw_path.startswith(root + "/"):
            return self._json(404, {"message": "404 Not Found"})
        if self.token and headers.get("private-token") != self.token:
            return self._json(401, {"message": "401 Unauthorized"})
        rest = raw_path[len(root):]
        m = re.match(r"^/groups/([^/]+)/projects$", rest)
        if m:
            group = unquote(m.group(1))
            ids = [pid for g, pids in self.groups.items()
                   if g == group or (query.get("include_subgroups") == "true"
                                     and g.startswith(group + "/")) for pid in pids]
            items = [self._project_json(self.projects[i], host) for i in ids]
            if query.get("archived") == "false":
                items = [p for p in items if not p["archived"]]
            return self._page(rest, items, query, host)
        m = re.match(r"^/projects/([^/]+)(/.*)?$", rest)
        if not m:
            return self._json(404, {"message": "404 Not Found"})
        key = m.group(1)
        if key in self.redirects:
            return 301, {"Location": f"{host}{root}/projects/{self.redirects[key]}"
                         f"{m.group(2) or ''}"}, b""
        project = self._find(key)
        if project is None:
            return self._json(404, {"message": "404 Project Not Found"})
        sub = m.group(2) or ""
        if sub == "":
            return self._json(200, self._project_json(project, host))
        return self.route(project, sub, query, host, rest)

    def _find(self, key: str) -> Project | None:
        if key.isdigit():
            return self.projects.get(int(key))
        if "/" in key:  # not encoded: GitLab's router sees several segments
            return None
        path = unquote(key)
        return next((p for p in self.projects.values() if p.path == path), None)

    def _project_json(self, p: Project, host: str) -> dict:
        return {"id": p.id, "path_with_namespace": p.path, "name_with_namespace":
                p.path.replace("/", " / "), "archived": p.archived,
                "web_url": f"{host}{self.prefix}/{p.path}"}

    def route(self, p: Project, sub: str, q: dict, host: str, rest: str
              ) -> tuple[int, dict, bytes]:
        if sub == "/issues":
            items = self._updated(p.issues, q)
            if q.get("pagination") == "keyset":
                if not self.keyset:
                    return self._json(405, {"message": "405 Method Not Allowed"})
                return self._keyset(rest, items, q, host)
            return self._page(rest, items, q, host)
        if sub == "/issues_statistics":
            n = p.issue_count if p.issue_count is not None else len(p.issues)
            return self._json(200, {"statistics": {"counts": {"all": n}}})
        m = re.match(r"^/issues/(\d+)/resource_(state|label|milestone|iteration)_events$", sub)
        if m:
            iid, kind = int(m.group(1)), m.group(2)
            if kind == "iteration" and p.iterations is None:
                return self._json(404, {"message": "404 Not Found"})
            table = getattr(p, f"{kind}_events")
            return self._page(rest, table.get(iid, []), q, host)
        if sub == "/milestones":
            return self._page(rest, p.milestones, q, host)
        if sub == "/iterations":
            if p.iterations is None:
                return self._json(404, {"message": "404 Not Found"})
            return self._page(rest, p.iterations, q, host)
        if sub == "/releases":
            return self._page(rest, p.releases, q, host)
        if sub == "/merge_requests":
            return self._page(rest, self._updated(p.mrs, q), q, host)
        m = re.match(r"^/merge_requests/(\d+)(/commits|/notes|/approvals)?$", sub)
        if m:
            iid = int(m.group(1))
            mr = next((x for x in p.mrs if x["iid"] == iid), None)
            if mr is None:
                return self._json(404, {"message": "404 Not found"})
            if m.group(2) == "/commits":
                return self._page(rest, p.mr_commits.get(iid, []), q, host)
            if m.group(2) == "/notes":
                return self._page(rest, p.mr_notes.get(iid, []), q, host)
            if m.group(2) == "/approvals":
                return self._json(200, p.mr_approvals.get(iid, {"approved_by": []}))
            return self._json(200, mr)
        if sub == "/pipelines":
            items = [x for x in p.pipelines
                     if (x.get("source") == "parent_pipeline") ==
                     (q.get("source") == "parent_pipeline")]
            items = self._updated(items, q)
            slim = [{k: x.get(k) for k in _SLIM_PIPELINE} for x in items]
            return self._page(rest, slim, q, host)
        m = re.match(r"^/pipelines/(\d+)(/test_report)?$", sub)
        if m:
            pipe = next((x for x in p.pipelines if x["id"] == int(m.group(1))), None)
            if pipe is None:
                return self._json(404, {"message": "404 Not found"})
            if m.group(2):
                return self._json(200, p.test_reports.get(pipe["id"], {
                    "total_time": 0, "total_count": 0, "success_count": 0, "failed_count": 0,
                    "skipped_count": 0, "error_count": 0, "test_suites": []}))
            return self._json(200, pipe)
        if sub == "/environments":
            return self._page(rest, p.environments, q, host)
        if sub == "/deployments":
            return self._page(rest, self._updated(p.deployments, q), q, host)
        if sub == "/repository/compare":
            commits = p.compares.get((q.get("from"), q.get("to")))
            if commits is None:
                return self._json(404, {"message": "404 Ref Not Found"})
            return self._json(200, {"commits": commits, "diffs": []})
        return self._json(404, {"message": "404 Not Found"})

    @staticmethod
    def _updated(items: list[dict], q: dict) -> list[dict]:
        out = list(items)
        if "updated_after" in q:
            out = [x for x in out if ts(_updated_at(x)) >= ts(q["updated_after"])]
        if q.get("order_by") == "updated_at":
            out.sort(key=lambda x: (ts(_updated_at(x)), x["id"]),
                     reverse=q.get("sort", "desc") == "desc")
        return out

    def _json(self, status: int, payload: Any, extra: dict | None = None
              ) -> tuple[int, dict, bytes]:
        return status, {"Content-Type": "application/json", "RateLimit-Limit": "2000",
                        "RateLimit-Remaining": "1990", "RateLimit-Reset": "1776937500",
                        **(extra or {})}, json.dumps(payload).encode()

    def _page(self, rest: str, items: list, q: dict, host: str) -> tuple[int, dict, bytes]:
        per_page = int(q.get("per_page", 20))
        page = int(q.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]

        def url(n: int) -> str:
            params = {k: v for k, v in q.items() if k != "page"}
            params["page"] = str(n)
            return f"{host}{self.prefix}/api/v4{rest}?{urlencode(params)}"

        links = []
        if page > 1:
            links.append(f'<{url(page - 1)}>; rel="prev"')
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
        links += [f'<{url(1)}>; rel="first"', f'<{url(last)}>; rel="last"']
        headers = {"Link": ", ".join(links), "X-Page": str(page), "X-Per-Page": str(per_page),
                   "X-Next-Page": str(page + 1) if page < last else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else "",
                   "X-Total": str(len(items)), "X-Total-Pages": str(last)}
        return self._json(200, chunk, headers)

    def _keyset(self, rest: str, items: list, q: dict, host: str) -> tuple[int, dict, bytes]:
        per_page = int(q.get("per_page", 20))
        after = int(q.get("cursor", 0))
        chunk = items[after: after + per_page]
        headers = {}
        if after + per_page < len(items):
            params = {k: v for k, v in q.items() if k != "cursor"}
            params["cursor"] = str(after + per_page)
            headers["Link"] = f'<{host}{self.prefix}/api/v4{rest}?{urlencode(params)}>; rel="next"'
        return self._json(200, chunk, headers)


# --- the corpus ---------------------------------------------------------------------------------
def _rows(corpus: Path, name: str) -> list[dict]:
    path = corpus / "gitlab" / "devlake" / "raw_tables" / name
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def corpus_project(corpus: Path) -> Project:
    """gitlab.com ``gitlab-data/snowflake_spend`` (id 12345678) as DevLake recorded it:
    16 issues, 18 merge requests with their commits and notes, 16 pipeline details, 8
    deployments. Pipelines are served as recorded, each as its own detail answer."""
    p = Project(id=12345678, path="gitlab-data/snowflake_spend")
    p.issues = [json.loads(r["data"]) for r in _rows(corpus, "_raw_gitlab_api_issues.csv")]
    p.mrs = [json.loads(r["data"]) for r in _rows(corpus, "_raw_gitlab_api_merge_requests.csv")]
    for name, table in (("_raw_gitlab_api_merge_request_commits.csv", p.mr_commits),
                        ("_raw_gitlab_api_merge_request_notes.csv", p.mr_notes)):
        for r in _rows(corpus, name):
            table.setdefault(json.loads(r["input"])["Iid"], []).append(json.loads(r["data"]))
    p.pipelines = [json.loads(r["data"])
                   for r in _rows(corpus, "_raw_gitlab_api_pipeline_details.csv")]
    p.deployments = [json.loads(r["data"])
                     for r in _rows(corpus, "_raw_gitlab_api_deployments.csv")]
    return p


def gitea_body(corpus: Path, number: str) -> Any:
    """The body of gitea's gitlab.com recording ``number`` (e.g. ``"06"``)."""
    folder = corpus / "gitlab" / "gitea_gitlab_com_recordings" / "bodies"
    path = next(folder.glob(f"{number}_*.json"))
    return json.loads(path.read_text(encoding="utf-8"))
