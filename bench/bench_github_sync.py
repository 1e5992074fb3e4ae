"""Benchmark: sync 20,000 GitHub issues (200 pages of 100) from a local server.

The server (stdlib ``ThreadingHTTPServer``, in this process) serves pre-rendered pages with
GitHub's Link headers (``/repositories/{id}/…`` next links) and ``[]`` for the other lists.
Two clients fetch the same pages in the same run:

- **bare loop**: ``requests`` + ``.json()`` following ``Link: next`` — nothing else;
- **shipready**: ``connectors.github`` syncing the repository into a new SQLite database
  (raw records, work items, release membership, cursor per page, sync_runs row).

Prints items/s for both and the ratio shipready / bare (target ≥ 0.5).
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

REPO = "bench/app"
REPO_ID = 4242
PAGES = int(os.environ.get("BENCH_GITHUB_PAGES", "200"))
PER_PAGE = 100


def make_issue(n: int) -> dict:
    """An issue shaped like the real list payload (user, labels, milestone: ~2 KB of JSON)."""
    user = {"login": f"user{n % 37}", "id": 1000 + n % 37, "type": "User",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{1000 + n % 37}?v=4",
            "html_url": f"https://github.com/user{n % 37}", "site_admin": False}
    labels = [{"id": 7, "name": "bug", "color": "d73a4a", "default": True}] if n % 5 == 0 else []
    if n % 7 == 0:
        labels.append({"id": 8, "name": "sev2", "color": "fbca04", "default": False})
    closed = n % 3 == 0
    day = 1 + n % 28
    stamp = f"2024-{1 + (n // 2000) % 12:02d}-{day:02d}T{n % 24:02d}:{n % 60:02d}:00Z"
    return {
        "url": f"https://api.github.com/repos/{REPO}/issues/{n}",
        "repository_url": f"https://api.github.com/repos/{REPO}",
        "html_url": f"https://github.com/{REPO}/issues/{n}", "id": 90_000_000 + n,
        "node_id": f"I_kwDO{n:010d}", "number": n, "title": f"Issue number {n} about checkout",
        "user": user, "labels": labels, "state": "closed" if closed else "open",
        "locked": False, "assignee": user if n % 2 else None,
        "assignees": [user] if n % 2 else [],
        "milestone": {"number": 1 + n % 4, "title": f"v1.{n % 4}", "state": "open",
                      "due_on": "2024-12-31T08:00:00Z", "description": None,
                      "html_url": f"https://github.com/{REPO}/milestone/{1 + n % 4}"},
        "comments": n % 9, "created_at": stamp, "updated_at": stamp,
        "closed_at": stamp if closed else None, "author_association": "MEMBER",
        "body": "Steps to reproduce:\n1. open the cart\n2. press pay\n" * 3,
        "state_reason": "completed" if closed else None,
        "reactions": {"total_count": 0, "+1": 0, "-1": 0},
    }


def render_pages(host: str) -> list[bytes]:
    pages = []
    for p in range(1, PAGES + 1):
        items = [make_issue(n) for n in range((p - 1) * PER_PAGE + 1, p * PER_PAGE + 1)]
        pages.append(json.dumps(items).encode())
    return pages


class Server:
    def __init__(self) -> None:
        pages: list[bytes] = []
        empty = b"[]"
        runs = json.dumps({"total_count": 0, "workflow_runs": []}).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {"Content-Type": "application/json; charset=utf-8",
                           "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "2000000000"}
                if re.search(r"/issues$", parts.path):
                    page = int(query.get("page", ["1"])[0])
                    body = pages[page - 1]
                    if page < PAGES:
                        base = f"http://{self.headers['Host']}/repositories/{REPO_ID}/issues"
                        headers["Link"] = (
                            f'<{base}?per_page={PER_PAGE}&page={page + 1}>; rel="next", '
                            f'<{base}?per_page={PER_PAGE}&page={PAGES}>; rel="last"')
                elif parts.path.endswith("/actions/runs"):
                    body = runs
                else:
                    body = empty
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        pages.extend(render_pages(self.url))
        self.bytes = sum(len(p) for p in pages)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def bare_loop(url: str) -> int:
    """requests + json over the same pages, following Link: next — nothing else."""
    session = requests.Session()
    n = 0
    next_url: str | None = (f"{url}/repos/{REPO}/issues?state=all&sort=updated&direction=asc"
                            f"&per_page={PER_PAGE}")
    while next_url:
        resp = session.get(next_url, timeout=60)
        n += len(resp.json())
        next_url = resp.links.get("next", {}).get("url")
    session.close()
    return n


def shipready(url: str, db_path: str) -> dict:
    from connectors.github.cli import sync_repos
    from connectors.progress import Progress
    from data.config import parse_settings
    from data.store import get_engine

    engine = get_engine(f"sqlite:///{db_path}")
    settings = parse_settings({"github": {"repos": [REPO]}}, None)
    try:
        return sync_repos(settings, engine, Progress("github", terminal=False), [REPO],
                          api_url=url, token="bench-token", token_env="GITHUB_TOKEN")
    finally:
        engine.dispose()


def main() -> None:
    server = Server()
    total = PAGES * PER_PAGE
    print(f"dataset: {total:,} issues in {PAGES} pages, {server.bytes / 1e6:.1f} MB of JSON")
    try:
        bare_loop(server.url)  # warm-up: connections, caches
        # Import the connector before the clock starts, as requests is for the bare loop:
        # start-up (SQLAlchemy, pandas-free but ~0.4 s) is not per-item throughput.
        import connectors.github.cli  # noqa: F401
        import data.store  # noqa: F401

        t0 = time.perf_counter()
        n = bare_loop(server.url)
        bare_s = time.perf_counter() - t0
        assert n == total, n
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            written = shipready(server.url, os.path.join(tmp, "bench.db"))
            ours_s = time.perf_counter() - t0
        assert written.get("issues") == total, written
    finally:
        server.close()
    bare_rate, ours_rate = total / bare_s, total / ours_s
    print(f"bare loop (requests + json):  {bare_s:6.2f} s  {bare_rate:9,.0f} items/s")
    print(f"shipready sync (SQLite):      {ours_s:6.2f} s  {ours_rate:9,.0f} items/s")
    print(f"ratio shipready / bare: {ours_rate / bare_rate:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
