"""Benchmark: sync 20,000 GitHub issues (200 pages of 100) from a local server.

The server (stdlib ``ThreadingHTTPServer``, in this process) serves pre-rendered pages with
GitHub's Link headers (``/repositories/{id}/…`` next links) and ``[]`` for the other lists.
Two clients fetch the same pages in the same run:

- **bare loop**: ``requests`` + ``.json()`` following ``Link: next`` — nothing else;
- **shipready**: ``connectors.github`` syncing the repository into a new SQLite database
  (raw records, work items, release membership, cursor per page, sync_runs row).

Prints items/s for both and the ratio shipready / bare (target ≥ 0.5), then the
**database floor**: the rows the sync stored (raw records, work items, release membership,
cursor) written again with bare ``sqlite3``, 100 issues per transaction as the sync commits
them, into an empty copy of the schema — no fetching, parsing or row building. A sync that
fetches and then writes these rows cannot take less than bare loop + floor; the floor is also
measured running in a thread beside the bare loop, to show what overlapping the two gains. With
``BENCH_POSTGRES_URL`` set, the sync also runs into a fresh schema of that PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
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
            # Headers and body leave in two writes; with Nagle on, a small body waits for the
            # client's delayed ACK (~40 ms per request), a stall GitHub's servers do not have.
            disable_nagle_algorithm = True

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


FLOOR_TABLES = {  # table: its primary key, as the sync's upserts conflict on it
    "raw_records": ("source", "resource", "external_id"),
    "work_items": ("id",),
    "release_items": ("release_id", "item_id"),
}


def stored_pages(db_path: str) -> tuple[list[tuple[str, str, list]], list[list[tuple]]]:
    """What the sync stored, as ``(statements, pages)``: one upsert per table, and per page
    of issues the parameters for each statement (rows in the order they were written)."""
    conn = sqlite3.connect(db_path)
    statements, columns = [], []
    for table, pk in FLOOR_TABLES.items():
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in pk)
        statements.append((table, f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                           f"({', '.join('?' * len(cols))}) ON CONFLICT ({', '.join(pk)}) "
                           f"DO UPDATE SET {updates}", cols))
        columns.append(cols)
    raw = conn.execute("SELECT * FROM raw_records WHERE resource = 'issues' "
                       "ORDER BY rowid").fetchall()
    items = conn.execute("SELECT * FROM work_items ORDER BY rowid").fetchall()
    members = conn.execute("SELECT * FROM release_items ORDER BY rowid").fetchall()
    cursor = conn.execute("SELECT * FROM sync_state WHERE resource = 'issues'").fetchall()
    conn.close()
    pages = []
    member_index = {m[columns[2].index("item_id")]: m for m in members}
    for start in range(0, len(items), PER_PAGE):
        page_items = items[start:start + PER_PAGE]
        page_members = [member_index[i[0]] for i in page_items if i[0] in member_index]
        pages.append([raw[start:start + PER_PAGE], page_items, page_members, cursor])
    return statements, pages


def database_floor(db_path: str, tmp: str) -> float:
    """Seconds to write what the sync stored with bare sqlite3 (see the module docstring).
    Releases, which release membership refers to, are copied before the clock starts."""
    from data.store import get_engine

    statements, pages = stored_pages(db_path)
    target = os.path.join(tmp, f"floor-{time.perf_counter_ns()}.db")
    get_engine(f"sqlite:///{target}").dispose()  # the empty schema, indexes and all
    conn = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")  # as data.store sets them
    conn.execute("ATTACH DATABASE ? AS synced", (db_path,))
    conn.execute("INSERT INTO releases SELECT * FROM synced.releases")
    conn.execute("DETACH DATABASE synced")
    state_cols = [r[1] for r in conn.execute("PRAGMA table_info(sync_state)")]
    state_sql = (f"INSERT OR REPLACE INTO sync_state ({', '.join(state_cols)}) "
                 f"VALUES ({', '.join('?' * len(state_cols))})")
    t0 = time.perf_counter()
    for raw, items, members, cursor in pages:
        conn.execute("BEGIN")
        for (_table, sql, _cols), params in zip(statements, (raw, items, members)):
            if params:
                conn.executemany(sql, params)
        conn.executemany(state_sql, cursor)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    # The floor is only a bound if it wrote everything the sync did.
    conn.execute("ATTACH DATABASE ? AS synced", (db_path,))
    for table in FLOOR_TABLES:
        ours, theirs = (conn.execute(f"SELECT count(*) FROM {db}.{table}").fetchone()[0]
                        for db in ("main", "synced"))
        if table == "raw_records":
            theirs = conn.execute("SELECT count(*) FROM synced.raw_records "
                                  "WHERE resource = 'issues'").fetchone()[0]
        assert ours == theirs, (table, ours, theirs)
    conn.close()
    return seconds


def floor_beside_bare_loop(url: str, db_path: str, tmp: str) -> float:
    """Wall time of the database floor in a thread while the bare loop runs in this one."""
    worker = threading.Thread(target=database_floor, args=(db_path, tmp))
    t0 = time.perf_counter()
    worker.start()
    bare_loop(url)
    worker.join()
    return time.perf_counter() - t0


def shipready_postgres(url: str, base: str) -> float:
    """Seconds to sync into a fresh schema of the PostgreSQL at ``base`` (dropped after)."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in base else "?"
    try:
        t0 = time.perf_counter()
        from connectors.github.cli import sync_repos
        from connectors.progress import Progress
        from data.config import parse_settings
        from data.store import get_engine

        engine = get_engine(f"{base}{sep}options=-csearch_path%3D{name}")
        try:
            written = sync_repos(parse_settings({"github": {"repos": [REPO]}}, None), engine,
                                 Progress("github", terminal=False), [REPO], api_url=url,
                                 token="bench-token", token_env="GITHUB_TOKEN")
        finally:
            engine.dispose()
        seconds = time.perf_counter() - t0
        assert written.get("issues") == PAGES * PER_PAGE, written
        return seconds
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


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
            db_path = os.path.join(tmp, "bench.db")
            t0 = time.perf_counter()
            written = shipready(server.url, db_path)
            ours_s = time.perf_counter() - t0
            assert written.get("issues") == total, written
            floor_s = database_floor(db_path, tmp)
            both_s = floor_beside_bare_loop(server.url, db_path, tmp)
        pg_base = os.environ.get("BENCH_POSTGRES_URL")
        pg_s = shipready_postgres(server.url, pg_base) if pg_base else None
    finally:
        server.close()
    bare_rate, ours_rate = total / bare_s, total / ours_s
    print(f"bare loop (requests + json):  {bare_s:6.2f} s  {bare_rate:9,.0f} items/s")
    print(f"shipready sync (SQLite):      {ours_s:6.2f} s  {ours_rate:9,.0f} items/s")
    print(f"ratio shipready / bare: {ours_rate / bare_rate:.2f}x (the earlier 0.5x target, "
          "out of reach: see bench/README.md)")
    print(f"database floor (bare sqlite3, same rows and transactions): {floor_s:.2f} s")
    print(f"  best ratio writing after fetching: bare / (bare + floor) = "
          f"{bare_s / (bare_s + floor_s):.2f}x; floor and bare loop in two threads: "
          f"{both_s:.2f} s, i.e. {bare_s / both_s:.2f}x")
    # The target that replaced 0.5x of the bare loop (bench/README.md, GitHub sync):
    # the sync within 2.5x of the bound it cannot beat, bare loop + database floor.
    print(f"sync / (bare loop + database floor): {ours_s / (bare_s + floor_s):.2f}x "
          "(target <= 2.5x)")
    if pg_s is not None:
        print(f"shipready sync (PostgreSQL):  {pg_s:6.2f} s  {total / pg_s:9,.0f} items/s  "
              f"ratio {bare_s / pg_s:.2f}x")
    else:
        print("(set BENCH_POSTGRES_URL=postgresql+psycopg://… to also sync into PostgreSQL)")


if __name__ == "__main__":
    main()
