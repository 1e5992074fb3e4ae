"""A small fake of the GitHub REST API for connector tests, served by pytest-httpserver.

It behaves like the real API where our connector depends on it: Link pagination that switches
to ``/repositories/{id}/…`` URLs, ``since``/``sort``/``direction`` on issues, ``created``
filters and the ``{total_count, workflow_runs}`` wrapper on runs, weak ETags with 304 answers,
and ``x-ratelimit-*`` headers. Faults are queued with :meth:`FakeGitHub.fail_next`. Every
request is logged (path, query, headers) so tests can assert exactly what was asked.

GraphQL (``POST /graphql``; ``/api/graphql`` beside a GHES ``/api/v3``) answers
``repository.issues.totalCount`` — issues without pull requests, as GitHub counts them — and
pull-request details, checked against GitHub's public schema when the corpus has it and
executed with the subset of it kept in tests/ (tests/github_graphql.py), from the same pull
requests, commits and reviews the REST routes serve; like GitHub, 401 to a
request without a token. Faults queued for "graphql" apply to it too.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def issue(number: int, updated: str, *, state: str = "open", created: str | None = None,
          closed: str | None = None, labels: tuple[str, ...] = (), milestone: dict | None = None,
          assignee: str | None = None, state_reason: str | None = None, pr: bool = False,
          title: str | None = None) -> dict:
    """An issue as the list endpoint returns it, trimmed to the fields we read."""
    out = {"number": number, "id": 10_000 + number, "title": title or f"Issue {number}",
           "state": state, "state_reason": state_reason,
           "labels": [{"name": n} for n in labels], "milestone": milestone,
           "assignee": {"login": assignee} if assignee else None,
           "created_at": created or updated, "updated_at": updated,
           "closed_at": closed if state == "closed" else None,
           "html_url": f"https://github.com/acme/web/issues/{number}"}
    if pr:
        out["pull_request"] = {"url": f"https://api.github.com/repos/acme/web/pulls/{number}"}
    return out


def milestone(number: int, title: str, *, state: str = "open", due: str | None = None) -> dict:
    return {"number": number, "title": title, "state": state, "due_on": due,
            "description": None, "html_url": f"https://github.com/acme/web/milestone/{number}"}


def run(run_id: int, created: str, *, name: str = "CI", status: str = "completed",
        conclusion: str | None = "success", updated: str | None = None, attempt: int = 1,
        branch: str = "main", sha: str = "abc", started: str | None = None,
        event: str = "push", path: str | None = None) -> dict:
    return {"id": run_id, "name": name, "run_number": run_id, "head_branch": branch,
            "head_sha": sha, "event": event, "status": status, "conclusion": conclusion,
            "run_attempt": attempt, "created_at": created, "run_started_at": started or created,
            "updated_at": updated or created, "path": path or f".github/workflows/{name}.yml",
            "html_url": f"https://github.com/acme/web/actions/runs/{run_id}"}


@dataclass
class Fault:
    match: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = b""


class FakeGitHub:
    def __init__(self, repo: str = "acme/web", repo_id: int = 1000, prefix: str = "") -> None:
        self.repo, self.repo_id = repo, repo_id
        self.prefix = prefix  # "/api/v3" to act as a GitHub Enterprise Server
        self.issues: list[dict] = []
        self.pulls: list[dict] = []
        self.pull_details: dict[int, dict] = {}
        self.pull_commits: dict[int, list[dict]] = {}
        self.pull_reviews: dict[int, list[dict]] = {}
        self.milestones: list[dict] = []
        self.releases: list[dict] = []
        self.events: list[dict] = []
        self.runs: list[dict] = []
        self.artifacts: dict[int, list[dict]] = {}
        self.artifact_zips: dict[int, bytes] = {}
        self.deployments: list[dict] = []
        self.statuses: dict[int, list[dict]] = {}
        self.compares: dict[tuple[str, str], list[dict]] = {}
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict, dict]] = []
        self.remaining = 4999
        self.reset_epoch = 2_000_000_000
        self.issue_count: int | None = None  # GraphQL's count; None: counted from ``issues``
        self.graphql_answer: Any = None  # served verbatim instead, when set
        self.graphql: list[dict] = []  # the GraphQL request bodies received
        self.graphql_remaining = 5000  # GraphQL points left, spent by each query's cost
        self.graphql_reset_at = "2033-05-18T03:33:20Z"  # reset_epoch, as rateLimit.resetAt
        self.graphql_max_batch: int | None = None  # more pull requests per query time out
        self.graphql_pulls_answer: Any = None  # served verbatim to pull-request queries
        # A cut-short issues listing: no next link from this page on / [] from this page on.
        self.issues_last_page: int | None = None
        self.issues_empty_from: int | None = None

    # --- setup -------------------------------------------------------------------------
    def install(self, httpserver) -> "FakeGitHub":
        httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self._werkzeug)
        self.base_url = httpserver.url_for("/").rstrip("/") + self.prefix
        return self

    def fail_next(self, match: str, status: int, headers: dict | None = None,
                  body: Any = b"") -> None:
        """Answer the next request whose path contains ``match`` with this fault."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.faults.append(Fault(match, status, headers or {}, body))

    def paths(self) -> list[str]:
        return [p for p, _q, _h in self.log]

    def clear_log(self) -> None:
        self.log.clear()

    # --- serving -----------------------------------------------------------------------
    def _werkzeug(self, request: Request) -> Response:
        graphql_path = (self.prefix[: -len("/v3")] if self.prefix else "") + "/graphql"
        if request.method == "POST" and request.path == graphql_path:
            return self._graphql(request)
        query = {k: v for k, v in request.args.items()}
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, out_headers, body = self.handle(request.path, query, headers,
                                                request.host_url.rstrip("/"))
        return Response(body, status=status, headers=out_headers)

    def _graphql(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        self.graphql.append(body)
        self.log.append((request.path, {}, {k.lower(): v for k, v in request.headers.items()}))
        if not request.headers.get("Authorization"):
            return Response(json.dumps({"message": "This endpoint requires you to be "
                                                   "authenticated."}), status=401,
                            content_type="application/json")
        for fault in self.faults:
            if fault.match in request.path:
                self.faults.remove(fault)
                return Response(fault.body or b"", status=fault.status,
                                headers={"Content-Type": "application/json", **fault.headers})
        if self.graphql_answer is not None:
            return Response(json.dumps(self.graphql_answer), content_type="application/json")
        if "pullRequest" in body.get("query", "") or "search(" in body.get("query", ""):
            return self._graphql_pulls(body)
        wanted = body.get("variables") or {}
        fake = self.graphql_repos().get(f"{wanted.get('owner')}/{wanted.get('name')}")
        if fake is None or "issues { totalCount }" not in body.get("query", ""):
            answer: dict = {"data": {"repository": None}, "errors": [
                {"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}]}
        else:
            count = fake.issue_count if fake.issue_count is not None else sum(
                1 for i in fake.issues if "pull_request" not in i)
            answer = {"data": {"repository": {"issues": {"totalCount": count}}}}
        return Response(json.dumps(answer), content_type="application/json")

    def _graphql_pulls(self, body: dict) -> Response:
        """Pull-request details, executed as GitHub would (tests/github_graphql.py).
        A query asking for more than ``graphql_max_batch`` pull requests times out, as GitHub
        stops a query after 10 seconds."""
        from tests.github_graphql import execute

        query = body.get("query", "")
        if self.graphql_pulls_answer is not None:
            return Response(json.dumps(self.graphql_pulls_answer),
                            content_type="application/json")
        if self.graphql_max_batch is not None and \
                query.count("pullRequest(number:") > self.graphql_max_batch:
            answer: dict = {"data": None, "errors": [{"message": (
                "We couldn't respond to your request in time. Sorry about that. Please try "
                "resubmitting your request and contact us if the problem persists.")}]}
            return Response(json.dumps(answer), content_type="application/json",
                            headers=self.rate_headers("graphql"))
        answer = execute(query, body.get("variables") or {}, self.graphql_repos(),
                         remaining=self.graphql_remaining, reset_at=self.graphql_reset_at)
        cost = (answer.get("data") or {}).get("rateLimit", {}).get("cost", 0) \
            if isinstance(answer.get("data"), dict) else 0
        self.graphql_remaining -= cost
        return Response(json.dumps(answer), content_type="application/json",
                        headers=self.rate_headers("graphql"))

    def graphql_repos(self) -> dict[str, "FakeGitHub"]:
        """The repositories GraphQL answers for (an organisation's fake serves several)."""
        return {self.repo: self}

    def pull_node(self, number: int) -> dict | None:
        from tests.github_graphql import pull_node

        base = next((p for p in self.pulls if p["number"] == number), None)
        if base is None:
            return None
        return pull_node({**base, **self.pull_details.get(number, {})},
                         self.pull_commits.get(number, []), self.pull_reviews.get(number, []))

    def rate_headers(self, resource: str = "core") -> dict[str, str]:
        if resource == "graphql":
            return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining":
                    str(self.graphql_remaining), "X-RateLimit-Reset": str(self.reset_epoch),
                    "X-RateLimit-Resource": "graphql"}
        return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset_epoch), "X-RateLimit-Resource": "core"}

    def handle(self, path: str, query: dict, headers: dict, host: str
               ) -> tuple[int, dict, bytes]:
        self.log.append((path, query, headers))
        for fault in self.faults:
            if fault.match in path:
                self.faults.remove(fault)
                return fault.status, {"Content-Type": "application/json", **fault.headers}, \
                    fault.body or b""
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return self._json(404, {"message": "Not Found"}, headers)
            path = path[len(self.prefix):]
        m = re.match(r"^/(?:repos/([^/]+/[^/]+)|repositories/(\d+))(/.*)?$", path)
        if not m or (m.group(1) and m.group(1) != self.repo) or \
                (m.group(2) and int(m.group(2)) != self.repo_id):
            return self._json(404, {"message": "Not Found"}, headers)
        rest = m.group(3) or ""
        routed = self.route(rest, query)
        if routed is None:
            return self._json(404, {"message": "Not Found"}, headers)
        kind, payload = routed
        if kind == "list":
            return self._page(rest, payload, query, headers, host)
        if kind == "runs":
            return self._page(rest, payload, query, headers, host, key="workflow_runs")
        if kind == "artifacts":
            return self._page(rest, payload, query, headers, host, key="artifacts")
        if kind == "zip":
            return 200, {"Content-Type": "application/zip", **self.rate_headers()}, payload
        return self._json(200, payload, headers)

    def route(self, rest: str, q: dict) -> tuple[str, Any] | None:
        if rest == "":
            return "one", {"id": self.repo_id, "full_name": self.repo}
        if rest == "/issues":
            items = list(self.issues)
            if q.get("state", "open") != "all":
                items = [i for i in items if i["state"] == q.get("state", "open")]
            if "since" in q:
                items = [i for i in items if ts(i["updated_at"]) >= ts(q["since"])]
            key = "updated_at" if q.get("sort") == "updated" else "created_at"
            items.sort(key=lambda i: (ts(i[key]), i["number"]),
                       reverse=q.get("direction", "desc") == "desc")
            return "list", items
        if rest == "/issues/events":
            return "list", sorted(self.events, key=lambda e: ts(e["created_at"]), reverse=True)
        if rest == "/milestones":
            return "list", list(self.milestones)
        if rest == "/releases":
            return "list", sorted(self.releases, key=lambda r: r.get("published_at") or "",
                                  reverse=True)
        if rest == "/pulls":
            return "list", sorted(self.pulls, key=lambda p: ts(p["updated_at"]), reverse=True)
        m = re.match(r"^/pulls/(\d+)(/commits|/reviews)?$", rest)
        if m:
            n = int(m.group(1))
            if m.group(2) == "/commits":
                return "list", self.pull_commits.get(n, [])
            if m.group(2) == "/reviews":
                return "list", self.pull_reviews.get(n, [])
            base = next((p for p in self.pulls if p["number"] == n), None)
            return None if base is None else ("one", {**base, **self.pull_details.get(n, {})})
        if rest == "/actions/runs":
            items = list(self.runs)
            created = q.get("created")
            if created and created.startswith(">="):
                items = [r for r in items if ts(r["created_at"]) >= ts(created[2:])]
            elif created and ".." in created:
                a, b = created.split("..")
                items = [r for r in items if ts(a) <= ts(r["created_at"]) <= ts(b)]
            items.sort(key=lambda r: (ts(r["created_at"]), r["id"]), reverse=True)
            return "runs", items
        m = re.match(r"^/actions/runs/(\d+)(/artifacts)?$", rest)
        if m:
            rid = int(m.group(1))
            if m.group(2):
                return "artifacts", self.artifacts.get(rid, [])
            found = next((r for r in self.runs if r["id"] == rid), None)
            return None if found is None else ("one", found)
        m = re.match(r"^/actions/artifacts/(\d+)/zip$", rest)
        if m and int(m.group(1)) in self.artifact_zips:
            return "zip", self.artifact_zips[int(m.group(1))]
        if rest == "/deployments":
            return "list", sorted(self.deployments, key=lambda d: ts(d["created_at"]),
                                  reverse=True)
        m = re.match(r"^/deployments/(\d+)/statuses$", rest)
        if m:
            return "list", sorted(self.statuses.get(int(m.group(1)), []),
                                  key=lambda s: s["created_at"], reverse=True)
        m = re.match(r"^/compare/([0-9a-zA-Z]+)\.\.\.([0-9a-zA-Z]+)$", rest)
        if m and (m.group(1), m.group(2)) in self.compares:
            return "one", {"commits": self.compares[(m.group(1), m.group(2))]}
        return None

    def _json(self, status: int, payload: Any, headers: dict,
              extra: dict | None = None) -> tuple[int, dict, bytes]:
        body = json.dumps(payload).encode()
        etag = 'W/"' + hashlib.sha1(body).hexdigest() + '"'
        out = {"Content-Type": "application/json; charset=utf-8", "ETag": etag,
               **self.rate_headers(), **(extra or {})}
        if status == 200 and headers.get("if-none-match") == etag:
            return 304, {"ETag": etag, **self.rate_headers()}, b""
        return status, out, body

    def _page(self, rest: str, items: list, q: dict, headers: dict, host: str,
              key: str | None = None) -> tuple[int, dict, bytes]:
        per_page = int(q.get("per_page", 30))
        page = int(q.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        if rest == "/issues":
            if self.issues_last_page is not None:
                last = min(last, self.issues_last_page)
            if self.issues_empty_from is not None and page >= self.issues_empty_from:
                chunk, last = [], page
        links = []

        def url(p: int) -> str:
            params = {k: v for k, v in q.items() if k != "page"}
            params["page"] = str(p)
            return f"{host}{self.prefix}/repositories/{self.repo_id}{rest}?{urlencode(params)}"

        if page > 1:
            links.append(f'<{url(page - 1)}>; rel="prev"')
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
            links.append(f'<{url(last)}>; rel="last"')
        if page > 1:
            links.append(f'<{url(1)}>; rel="first"')
        payload: Any = {"total_count": len(items), key: chunk} if key else chunk
        return self._json(200, payload, headers, {"Link": ", ".join(links)} if links else None)
