"""Benchmark: sync 20,000 GitLab issues and 5,000 merge requests from a local server.

The server (stdlib ``ThreadingHTTPServer`` with keep-alive, in this process) serves one
project under a relative URL root (``/gitlab/api/v4``): issues in keyset pages of 100 with
``Link: rel="next"``, merge requests in offset pages of 100 with ``Link`` and ``X-Next-Page``,
every resource-event list of every issue (``[]`` or one label event), and for each merged MR
(one in five) its own answer, commits, approvals and notes; every other list is ``[]``.

Two clients fetch the same pages in the same run:

- **shipready**: ``connectors.gitlab`` syncing the project into a new SQLite database (raw
  records, work items, changes and their derived history, pull requests, cursors per page,
  a sync_runs row);
- **bare loop**: ``requests`` + ``.json()`` over exactly the URLs the sync asked for, in the
  same order, on one keep-alive session — nothing else.

Prints items/s for both, the requests made, and the ratio shipready / bare. Sizes:
``BENCH_GITLAB_ISSUES`` (default 20000) and ``BENCH_GITLAB_MRS`` (default 5000).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

PATH = "bench/app"
PID = 4242
ISSUES = int(os.environ.get("BENCH_GITLAB_ISSUES", "20000"))
MRS = int(os.environ.get("BENCH_GITLAB_MRS", "5000"))
PER_PAGE = 100
ROOT = "/gitlab/api/v4"


def user(n: int) -> dict:
    return {"id": 1000 + n % 37, "username": f"user{n % 37}", "name": f"User {n % 37}",
            "state": "active", "avatar_url": f"https://gitlab.example.com/u/{n % 37}.png",
            "web_url": f"https://gitlab.example.com/user{n % 37}"}


def make_issue(n: int) -> dict:
    """An issue shaped like the real list payload (~1.5 KB of JSON)."""
    closed = n % 3 == 0
    labels = (["bug"] if n % 5 == 0 else []) + (["severity::high"] if n % 7 == 0 else [])
    at = _sorted_stamp(n)
    return {"id": 50_000_000 + n, "iid": n, "project_id": PID, "title": f"Issue {n} about checkout",
            "description": "Steps to reproduce:\n1. open the cart\n2. press pay\n" * 3,
            "state": "closed" if closed else "opened", "created_at": at, "updated_at": at,
            "closed_at": at if closed else None, "closed_by": user(n) if closed else None,
            "labels": labels, "milestone": {"id": 900 + n % 4, "iid": 1 + n % 4,
                                            "project_id": PID, "title": f"v1.{n % 4}",
                                            "state": "active", "due_date": "2024-12-31"},
            "assignees": [user(n)] if n % 2 else [], "assignee": user(n) if n % 2 else None,
            "author": user(n + 1), "type": "ISSUE", "issue_type": "issue",
            "user_notes_count": n % 9, "upvotes": 0, "downvotes": 0, "confidential": False,
            "moved_to_id": None, "severity": "UNKNOWN",
            "web_url": f"https://gitlab.example.com/{PATH}/-/issues/{n}",
            "time_stats": {"time_estimate": 0, "total_time_spent": 0}}


def _sorted_stamp(n: int) -> str:
    """Strictly increasing with n, so the updated_at order is the iid order."""
    seconds = n * 37
    day, rest = divmod(seconds, 86400)
    return f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}T{rest // 3600:02d}:" \
           f"{rest % 3600 // 60:02d}:{rest % 60:02d}Z"


def make_mr(n: int) -> dict:
    merged = n % 5 == 0
    at = _sorted_stamp(n)
    return {"id": 70_000_000 + n, "iid": n, "project_id": PID, "title": f"MR {n}",
            "description": f"Closes #{n}", "state": "merged" if merged else "opened",
            "created_at": at, "updated_at": at, "merged_at": at if merged else None,
            "closed_at": None, "target_branch": "main", "source_branch": f"feat-{n}",
            "author": user(n), "merge_user": user(n + 1) if merged else None,
            "merge_commit_sha": f"{n:040x}" if merged else None, "labels": [],
            "draft": False, "web_url": f"https://gitlab.example.com/{PATH}/-/merge_requests/{n}",
            "changes_count": str(1 + n % 30)}


class Server:
    """Pre-rendered answers; the request log is what the bare loop replays."""

    def __init__(self) -> None:
        def page(make, start: int, total: int) -> bytes:
            return json.dumps([make(n) for n in range(start + 1,
                                                      min(start + PER_PAGE, total) + 1)]).encode()

        self.issue_pages = [page(make_issue, s, ISSUES) for s in range(0, ISSUES, PER_PAGE)]
        self.mr_pages = [page(make_mr, s, MRS) for s in range(0, MRS, PER_PAGE)]
        self.label_event = json.dumps([{"id": 1, "user": user(1),
                                        "created_at": "2024-01-01T00:00:00Z",
                                        "resource_type": "Issue", "action": "add",
                                        "label": {"id": 1, "name": "bug"}}]).encode()
        self.commits = json.dumps([{"id": "b" * 40, "authored_date": "2024-01-02T00:00:00Z"},
                                   {"id": "a" * 40, "authored_date": "2024-01-01T00:00:00Z"}]
                                  ).encode()
        self.approvals = json.dumps({"approved_by": [{"user": user(3),
                                                      "approved_at": "2024-01-03T00:00:00Z"}]}
                                    ).encode()
        self.notes = json.dumps([{"id": 1, "system": False, "author": user(4), "body": "LGTM",
                                  "created_at": "2024-01-02T12:00:00Z"}]).encode()
        self.project = json.dumps({"id": PID, "path_with_namespace": PATH,
                                   "name_with_namespace": "bench / app", "archived": False}
                                  ).encode()
        self.mrs = {n: json.dumps(make_mr(n)).encode() for n in range(5, MRS + 1, 5)}
        self.log: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # head and body in one segment: no Nagle / delayed-ACK stall on keep-alive
            disable_nagle_algorithm = True
            wbufsize = 1 << 16

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.log.append(self.path)
                status, headers, body = outer.answer(self.path, self.headers.get("Host"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gitlab"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, raw: str, host: str) -> tuple[int, dict, bytes]:
        parts = urlsplit(raw)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path.removeprefix(ROOT)
        if path == "/projects/bench%2Fapp":
            return 200, {}, self.project
        base = f"/projects/{PID}"
        if path == f"{base}/issues":
            page = int(q.get("cursor", "0"))
            headers = {}
            if page + 1 < len(self.issue_pages):
                nxt = dict(q, cursor=str(page + 1))
                query = "&".join(f"{k}={v}" for k, v in nxt.items())
                headers["Link"] = f'<http://{host}{ROOT}{path}?{query}>; rel="next"'
            return 200, headers, self.issue_pages[page] if self.issue_pages else b"[]"
        if path == f"{base}/merge_requests":
            page = int(q.get("page", "1"))
            headers = {"X-Page": str(page), "X-Next-Page": ""}
            if page < len(self.mr_pages):
                nxt = dict(q, page=str(page + 1))
                query = "&".join(f"{k}={v}" for k, v in nxt.items())
                headers["Link"] = f'<http://{host}{ROOT}{path}?{query}>; rel="next"'
                headers["X-Next-Page"] = str(page + 1)
            return 200, headers, self.mr_pages[page - 1] if self.mr_pages else b"[]"
        m = re.match(rf"^{base}/issues/(\d+)/resource_(\w+)_events$", path)
        if m:
            if m.group(2) == "label" and int(m.group(1)) % 5 == 0:
                return 200, {}, self.label_event
            return 200, {}, b"[]"
        m = re.match(rf"^{base}/merge_requests/(\d+)(/\w+)?$", path)
        if m:
            tail = m.group(2)
            body = {None: self.mrs.get(int(m.group(1)), b"{}"), "/commits": self.commits,
                    "/approvals": self.approvals, "/notes": self.notes}.get(tail, b"[]")
            return 200, {}, body
        if path == f"{base}/iterations":
            return 404, {}, b'{"message":"404 Not Found"}'
        return 200, {}, b"[]"

    def close(self) -> None:
        self.httpd.shutdown()


def run_sync(server: Server) -> tuple[float, dict, int]:
    from connectors.gitlab.cli import sync_gitlab
    from connectors.progress import NULL_PROGRESS
    from data.config import parse_settings
    from data.store import get_engine

    folder = tempfile.mkdtemp(prefix="bench-gitlab-")
    engine = get_engine(f"sqlite:///{folder}/bench.db")
    settings = parse_settings({"gitlab": {"url": server.url, "projects": [PATH]}}, None)
    t0 = time.perf_counter()
    written = sync_gitlab(settings, engine, NULL_PROGRESS, url=server.url, projects=[PATH],
                          groups=[], include_archived=False, token="bench-token-0000")
    seconds = time.perf_counter() - t0
    engine.dispose()
    return seconds, written, len(server.log)


def bare_loop(server: Server, urls: list[str]) -> float:
    host = server.url.split("/gitlab")[0]
    session = requests.Session()
    t0 = time.perf_counter()
    for path in urls:
        resp = session.get(host + path, headers={"PRIVATE-TOKEN": "bench-token-0000"})
        resp.json()
    seconds = time.perf_counter() - t0
    session.close()
    return seconds


def main() -> None:
    server = Server()
    try:
        sync_s, written, requests_made = run_sync(server)
        urls = list(server.log)
        bare_s = bare_loop(server, urls)
    finally:
        server.close()
    items = written.get("issues", 0) + written.get("merge_requests", 0)
    print(f"items: {written.get('issues', 0):,} issues + {written.get('merge_requests', 0):,} "
          f"merge requests ({written.get('mr_details', 0):,} with details); "
          f"requests: {requests_made:,}")
    print(f"bare loop:  {bare_s:7.2f} s  {items / bare_s:8.0f} items/s  "
          f"{requests_made / bare_s:6.0f} requests/s")
    print(f"shipready:  {sync_s:7.2f} s  {items / sync_s:8.0f} items/s  "
          f"{requests_made / sync_s:6.0f} requests/s")
    print(f"ratio shipready / bare: {bare_s / sync_s:.2f}")


if __name__ == "__main__":
    main()
