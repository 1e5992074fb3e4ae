"""Benchmark: first sync of a GitHub organisation from a local server that adds latency.

The organisation ``bench`` has ``BENCH_ORG_REPOS`` repositories (default 10), each with 2,000
issues (and an issue event each), 500 merged pull requests (listed in the issues list too, as
GitHub does), 1,000 Actions runs and 5 milestones, all × ``BENCH_ORG_SCALE`` (default 1). The
server (stdlib ``ThreadingHTTPServer`` in this process, pages rendered beforehand) sleeps
``BENCH_ORG_LATENCY_MS`` (default 100) before every answer, like a distant API. Runs are 91 to
179 days old: inside the look-back window, past GitHub's artifact retention, so no artifact
listing per run (which would add 1,000 requests per repository and say nothing about the
connector's own cost).

Printed, for a script to read:

- ``requests per 1000 merged pull requests: N`` — the requests the first sync spent on pull
  requests (the REST ``/pulls`` listing and the GraphQL detail queries) per 1,000 merged pull
  requests; before GraphQL it was about 3,000 (three REST requests per merged pull request,
  shown as "before" from the REST path, which an anonymous sync still takes, on one
  repository without latency);
- ``graphql points per 1000 merged pull requests: N`` — the ``rateLimit.cost`` the server
  charged (GitHub's formula: connections that may be needed / 100, at least 1);
- ``latency-bound ratio (sync / bare loop): X`` — wall time of ``python -m connectors sync``'s
  code path (``sync_configured``: discovery, every repository into a new SQLite database)
  against a bare loop replaying exactly the requests the sync made (same methods, URLs and
  bodies, in order, same latency, ``.json()`` on each answer and nothing more). Target ≤ 1.3:
  everything but the network costs at most 30 %.

The in-process 20,000-issue ratio (sync against bare loop + database floor) is
``python -m bench github_sync``.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

ORG = "bench"
REPOS = int(os.environ.get("BENCH_ORG_REPOS", "10"))
SCALE = float(os.environ.get("BENCH_ORG_SCALE", "1"))
LATENCY_S = float(os.environ.get("BENCH_ORG_LATENCY_MS", "100")) / 1000
ISSUES = max(1, int(2000 * SCALE))
MERGED = max(1, int(500 * SCALE))
RUNS = max(1, int(1000 * SCALE))
MILESTONES = 5
PER_PAGE = 100
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def user(n: int) -> dict:
    return {"login": f"user{n % 37}", "id": 1000 + n % 37, "type": "User",
            "html_url": f"https://github.com/user{n % 37}", "site_admin": False}


def make_issue(repo: str, n: int, pr: bool) -> dict:
    t = NOW - timedelta(days=60, minutes=n)
    ms = 1 + n % MILESTONES
    out = {"url": f"https://api.github.com/repos/{repo}/issues/{n}", "id": 90_000_000 + n,
           "number": n, "title": f"Issue number {n} about checkout", "user": user(n),
           "labels": [{"id": 7, "name": "bug"}] if n % 5 == 0 else [],
           "state": "closed" if n % 3 == 0 else "open", "locked": False,
           "assignee": user(n + 1) if n % 2 else None, "assignees": [],
           "milestone": {"number": ms, "title": f"v1.{ms}", "state": "open",
                         "due_on": stamp(NOW + timedelta(days=30)), "description": None,
                         "html_url": f"https://github.com/{repo}/milestone/{ms}"},
           "comments": n % 9, "created_at": stamp(t - timedelta(days=1)),
           "updated_at": stamp(t), "closed_at": stamp(t) if n % 3 == 0 else None,
           "author_association": "MEMBER", "body": "Steps to reproduce:\n1. open the cart\n" * 3,
           "state_reason": "completed" if n % 3 == 0 else None,
           "html_url": f"https://github.com/{repo}/issues/{n}"}
    if pr:
        out["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{n}",
                               "merged_at": stamp(t)}
    return out


def make_pull(repo: str, n: int) -> dict:
    t = NOW - timedelta(days=30, minutes=n)
    return {"url": f"https://api.github.com/repos/{repo}/pulls/{n}", "id": 70_000_000 + n,
            "number": n, "state": "closed", "title": f"Fix checkout #{n - MERGED}",
            "user": user(n), "body": f"Fixes #{max(1, n - ISSUES)}", "labels": [],
            "created_at": stamp(t - timedelta(days=2)), "updated_at": stamp(t),
            "closed_at": stamp(t), "merged_at": stamp(t), "merge_commit_sha": f"{n:040x}",
            "head": {"ref": f"fix-{n}", "sha": f"{n + 1:040x}"},
            "base": {"ref": "main", "sha": f"{n + 2:040x}"},
            "html_url": f"https://github.com/{repo}/pull/{n}"}


def make_node(n: int) -> dict:
    t = NOW - timedelta(days=30, minutes=n)
    return {"number": n, "additions": 10 + n % 50, "deletions": n % 7, "changedFiles": 1 + n % 5,
            "author": {"__typename": "User", "login": f"user{n % 37}"},
            "mergeCommit": {"oid": f"{n:040x}"},
            "commits": {"pageInfo": {"hasNextPage": False, "endCursor": "c3"},
                        "nodes": [{"commit": {"authoredDate": stamp(t - timedelta(days=3,
                                                                                  hours=h))}}
                                  for h in range(3)]},
            "reviews": {"pageInfo": {"hasNextPage": False, "endCursor": "r2"},
                        "nodes": [{"author": {"__typename": "User",
                                              "login": f"user{(n + 1) % 37}"},
                                   "state": "APPROVED",
                                   "submittedAt": stamp(t - timedelta(hours=5))},
                                  {"author": {"__typename": "Bot", "login": "ci"},
                                   "state": "COMMENTED",
                                   "submittedAt": stamp(t - timedelta(hours=6))}]}}


def make_event(repo: str, n: int) -> dict:
    t = NOW - timedelta(days=59, minutes=n)
    return {"id": 5_000_000 + n, "event": "labeled", "created_at": stamp(t),
            "actor": user(n), "label": {"name": "in progress"},
            "issue": {"number": n, "title": f"Issue number {n}"}}


def make_run(repo: str, n: int) -> dict:
    t = NOW - timedelta(days=91) - timedelta(minutes=n * 100 * 1000 // RUNS)
    return {"id": 3_000_000 + n, "name": "CI", "run_number": n, "head_branch": "main",
            "head_sha": f"{n:040x}", "event": "push", "status": "completed",
            "conclusion": "success" if n % 10 else "failure", "run_attempt": 1,
            "created_at": stamp(t), "run_started_at": stamp(t),
            "updated_at": stamp(t + timedelta(minutes=7)), "path": ".github/workflows/ci.yml",
            "html_url": f"https://github.com/{repo}/actions/runs/{3_000_000 + n}"}


class OrgServer:
    """Pre-rendered pages for every repository; GraphQL detail answers built from pre-rendered
    nodes. Every request is logged (method, path with query, body) for the bare loop."""

    def __init__(self, latency: float, repos: int = REPOS) -> None:
        self.latency = latency
        self.log: list[tuple[str, str, bytes | None]] = []
        self.points = 0
        self.lock = threading.Lock()
        self.names = [f"{ORG}/repo{i:02d}" for i in range(repos)]
        self.ids = {name: 5000 + i for i, name in enumerate(self.names)}
        self.pages: dict[tuple[str, str], list[bytes]] = {}
        self.nodes: dict[int, str] = {n: json.dumps(make_node(n))
                                      for n in range(ISSUES + 1, ISSUES + MERGED + 1)}
        for name in self.names:
            items = ([make_issue(name, n, False) for n in range(1, ISSUES + 1)]
                     + [make_issue(name, n, True) for n in range(ISSUES + 1, ISSUES + MERGED + 1)])
            items.sort(key=lambda i: (i["updated_at"], i["number"]))
            self._paged(name, "issues", items)
            self._paged(name, "issues/events", sorted(
                (make_event(name, n) for n in range(1, ISSUES + 1)),
                key=lambda e: e["created_at"], reverse=True))
            self._paged(name, "pulls", sorted(
                (make_pull(name, n) for n in range(ISSUES + 1, ISSUES + MERGED + 1)),
                key=lambda p: p["updated_at"], reverse=True))
            runs = sorted((make_run(name, n) for n in range(1, RUNS + 1)),
                          key=lambda r: r["created_at"], reverse=True)
            self.pages[(name, "actions/runs")] = [
                json.dumps({"total_count": len(runs),
                            "workflow_runs": runs[i:i + PER_PAGE]}).encode()
                for i in range(0, max(len(runs), 1), PER_PAGE)]
            self.pages[(name, "milestones")] = [json.dumps([
                {"number": m, "title": f"v1.{m}", "state": "open", "description": None,
                 "due_on": stamp(NOW + timedelta(days=30)),
                 "html_url": f"https://github.com/{name}/milestone/{m}"}
                for m in range(1, MILESTONES + 1)]).encode()]
        self.listing = json.dumps([{"id": self.ids[n], "full_name": n, "name": n.split("/")[1],
                                    "fork": False, "archived": False, "private": False,
                                    "owner": {"login": ORG}} for n in self.names]).encode()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _paged(self, name: str, kind: str, items: list) -> None:
        self.pages[(name, kind)] = [json.dumps(items[i:i + PER_PAGE]).encode()
                                    for i in range(0, max(len(items), 1), PER_PAGE)]

    def graphql(self, body: bytes) -> bytes:
        request = json.loads(body)
        numbers = [int(n) for n in re.findall(r"pr(\d+): pullRequest", request["query"])]
        cost = max(1, round(2 * len(numbers) / 100))  # 2 connections of ≤100 per alias
        with self.lock:
            self.points += cost
        repo = (f'"rateLimit":{{"cost":{cost},"remaining":4000,'
                f'"resetAt":"{stamp(NOW + timedelta(hours=1))}"}},"repository":{{'
                + ",".join(f'"pr{n}":{self.nodes.get(n, "null")}' for n in numbers) + "}")
        return ('{"data":{' + repo + "}}").encode()

    def rest_detail(self, repo: str, n: int, part: str | None) -> bytes:
        node = make_node(n)
        if part == "/commits":
            return json.dumps([{"sha": f"{i}", "commit": {"author": {
                "date": c["commit"]["authoredDate"]}}}
                for i, c in enumerate(node["commits"]["nodes"])]).encode()
        if part == "/reviews":
            return json.dumps([{"user": {"login": r["author"]["login"],
                                         "type": r["author"]["__typename"]},
                                "state": r["state"], "submitted_at": r["submittedAt"]}
                               for r in node["reviews"]["nodes"]]).encode()
        return json.dumps({**make_pull(repo, n), "additions": node["additions"],
                           "deletions": node["deletions"],
                           "changed_files": node["changedFiles"]}).encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # see bench_github_sync.py

            def log_message(self, *args):
                pass

            def _send(self, body: bytes, headers: dict | None = None) -> None:
                time.sleep(server.latency)
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("X-RateLimit-Remaining", "4999")
                self.send_header("X-RateLimit-Reset", "2000000000")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.lock:
                    server.log.append(("POST", self.path, body))
                self._send(server.graphql(body))

            def do_GET(self):
                with server.lock:
                    server.log.append(("GET", self.path, None))
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                page = int(query.get("page", ["1"])[0])
                if parts.path == f"/orgs/{ORG}/repos":
                    return self._send(server.listing)
                m = re.match(r"^/(?:repos/([^/]+/[^/]+)|repositories/(\d+))/(.+)$", parts.path)
                if not m:
                    return self._send(b"[]")
                name = m.group(1) or next(n for n, i in server.ids.items()
                                          if i == int(m.group(2)))
                detail = re.match(r"^pulls/(\d+)(/commits|/reviews)?$", m.group(3))
                if detail:  # the REST path (before GraphQL; an anonymous sync still)
                    return self._send(server.rest_detail(name, int(detail.group(1)),
                                                         detail.group(2)))
                pages = server.pages.get((name, m.group(3)))
                if pages is None:
                    return self._send(b"[]")
                headers = {}
                if page < len(pages):
                    rest = {k: v[0] for k, v in query.items() if k != "page"}
                    rest["page"] = str(page + 1)
                    link = "&".join(f"{k}={requests.utils.quote(v, safe='')}"
                                    for k, v in rest.items())
                    headers["Link"] = (f"<{server.url}/repositories/{server.ids[name]}/"
                                       f"{m.group(3)}?{link}>; rel=\"next\"")
                self._send(pages[page - 1], headers)

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def settings_for(url: str):
    from data.config import parse_settings

    return parse_settings({"github": {"api_url": url, "orgs": [ORG], "lookback_days": 180}},
                          None)


def sync(server: OrgServer, db_url: str, token: str | None) -> float:
    from connectors.github.cli import sync_configured
    from connectors.progress import Progress
    from data.store import get_engine

    engine = get_engine(db_url)  # the schema is created before the clock starts
    t0 = time.perf_counter()
    sync_configured(settings_for(server.url), engine, Progress("github", terminal=False),
                    token=token, token_env="BENCH_GITHUB_TOKEN")
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def bare_loop(url: str, log: list[tuple[str, str, bytes | None]]) -> float:
    session = requests.Session()
    t0 = time.perf_counter()
    for method, path, body in log:
        headers = {"Content-Type": "application/json"} if body is not None else None
        session.request(method, url + path, data=body, headers=headers).json()
    return time.perf_counter() - t0


def pull_requests_spent(log) -> int:
    return sum(1 for method, path, body in log
               if (method == "GET" and "/pulls" in path)
               or (method == "POST" and body and b"pullRequest" in body))


def before_rest(tmp: str) -> int:
    """The REST path (what every sync took before GraphQL; an anonymous sync still does): the
    pull-request requests of one repository, without latency, per 1,000 merged."""
    server = OrgServer(0.0, repos=1)
    try:
        sync(server, f"sqlite:///{os.path.join(tmp, 'before.db')}", token=None)
        return round(pull_requests_spent(server.log) * 1000 / MERGED)
    finally:
        server.close()


def main() -> None:
    print(f"organisation: {REPOS} repositories × ({ISSUES:,} issues, {MERGED:,} merged pull "
          f"requests, {RUNS:,} runs); latency {LATENCY_S * 1000:.0f} ms per answer; "
          f"scale {SCALE:g} (BENCH_ORG_SCALE)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        before = before_rest(tmp)
        server = OrgServer(LATENCY_S)
        try:
            sync_s = sync(server, f"sqlite:///{os.path.join(tmp, 'org.db')}",
                          token="bench-token")
            log, points = list(server.log), server.points  # before the replay adds its own
            bare_s = bare_loop(server.url, log)
        finally:
            server.close()
    merged = REPOS * MERGED
    spent = pull_requests_spent(log)
    print(f"requests made by the sync: {len(log):,} ({spent:,} on pull requests: the /pulls "
          f"listing and GraphQL details)")
    print(f"before (REST details, 3 per merged pull request): {before:,} requests per 1,000 "
          "merged pull requests")
    print(f"sync {sync_s:.2f} s, bare loop {bare_s:.2f} s "
          f"(floor: {len(log)} × {LATENCY_S * 1000:.0f} ms = {len(log) * LATENCY_S:.1f} s)")
    print(f"requests per 1000 merged pull requests: {math.ceil(spent * 1000 / merged)}")
    print(f"graphql points per 1000 merged pull requests: "
          f"{math.ceil(points * 1000 / merged)}")
    print(f"latency-bound ratio (sync / bare loop): {sync_s / bare_s:.2f}")


if __name__ == "__main__":
    sys.exit(main())
