"""Organisations of several repositories behind one local server, for discovery tests.

Each repository is a :class:`tests.github_server.FakeGitHub` (its REST routes, and GraphQL
over all of them). On top: ``GET /orgs/{org}/repos`` (Link-paged, with ``fork`` and
``archived`` as GitHub lists them), a renamed or transferred repository answering its old
name with GitHub's 301 to ``/repositories/{id}`` (docs "Best practices for using the REST
API": follow redirects), ``/repositories/{id}/…`` routed by id, and ``GET /rate_limit``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from tests.github_server import FakeGitHub


class FakeOrg(FakeGitHub):
    def __init__(self, prefix: str = "") -> None:
        super().__init__(repo="-/-", prefix=prefix)
        self.repos: dict[str, FakeGitHub] = {}
        self.listing: dict[str, list[dict]] = {}
        self.moved: dict[str, str] = {}  # old OWNER/NAME → new: the old name answers 301

    def add(self, full: str, *, fork: bool = False, archived: bool = False) -> FakeGitHub:
        fake = FakeGitHub(repo=full, repo_id=2000 + len(self.repos), prefix=self.prefix)
        self.repos[full] = fake
        owner, name = full.split("/")
        self.listing.setdefault(owner, []).append(
            {"id": fake.repo_id, "name": name, "full_name": full, "fork": fork,
             "archived": archived, "owner": {"login": owner}, "private": False})
        return fake

    def rename(self, old: str, new: str) -> FakeGitHub:
        """``old`` becomes ``new`` (same id, same data); the old name answers 301."""
        fake = self.repos.pop(old)
        fake.repo = new
        self.repos[new] = fake
        self.moved[old] = new
        for items in self.listing.values():
            for item in list(items):
                if item["full_name"] == old:
                    items.remove(item)
        owner, name = new.split("/")
        self.listing.setdefault(owner, []).append(
            {"id": fake.repo_id, "name": name, "full_name": new, "fork": False,
             "archived": False, "owner": {"login": owner}, "private": False})
        return fake

    def remove(self, full: str) -> None:
        """Deleted: gone from the listing, 404 on its own name."""
        self.repos.pop(full)
        for items in self.listing.values():
            items[:] = [i for i in items if i["full_name"] != full]

    def graphql_repos(self) -> dict[str, FakeGitHub]:
        return dict(self.repos)

    def handle(self, path: str, query: dict, headers: dict, host: str
               ) -> tuple[int, dict, bytes]:
        self.log.append((path, query, headers))
        for fault in self.faults:
            if fault.match in path:
                self.faults.remove(fault)
                return fault.status, {"Content-Type": "application/json", **fault.headers}, \
                    fault.body or b""
        rel = path[len(self.prefix):] if self.prefix and path.startswith(self.prefix) else path
        if rel == "/rate_limit":
            core = {"limit": 5000, "remaining": self.remaining, "reset": self.reset_epoch,
                    "used": 5000 - self.remaining}
            graph = {"limit": 5000, "remaining": self.graphql_remaining,
                     "reset": self.reset_epoch, "used": 5000 - self.graphql_remaining}
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"resources": {"core": core, "graphql": graph}}).encode()
        m = re.match(r"^/orgs/([^/]+)/repos$", rel)
        if m:
            items = self.listing.get(m.group(1))
            if items is None:
                return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
            return self._org_page(rel, items, query, host)
        m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", rel)
        if m and m.group(1) in self.moved:
            target = self.repos[self.moved[m.group(1)]]
            location = f"{host}{self.prefix}/repositories/{target.repo_id}{m.group(2) or ''}"
            if query:
                location += "?" + urlencode(query)
            return 301, {"Location": location, "Content-Type": "application/json"}, \
                json.dumps({"message": "Moved Permanently", "url": location}).encode()
        if m and m.group(1) in self.repos:
            return self.repos[m.group(1)].handle(path, query, headers, host)
        m = re.match(r"^/repositories/(\d+)(/.*)?$", rel)
        if m:
            for fake in self.repos.values():
                if fake.repo_id == int(m.group(1)):
                    return fake.handle(path, query, headers, host)
        return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'

    def _org_page(self, rel: str, items: list, q: dict, host: str
                  ) -> tuple[int, dict, bytes]:
        per_page = int(q.get("per_page", 30))
        page = int(q.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {"Content-Type": "application/json", **self.rate_headers()}
        if page < last:
            params = {**{k: v for k, v in q.items() if k != "page"}, "page": str(page + 1)}
            headers["Link"] = f'<{host}{self.prefix}{rel}?{urlencode(params)}>; rel="next"'
        return 200, headers, json.dumps(chunk).encode()
