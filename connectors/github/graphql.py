"""Pull-request details through GitHub's GraphQL API: many pull requests per query (I/O only).

One query asks for up to :data:`DEFAULT_BATCH` pull requests by number (an alias each), with
their size, merge commit, author, commits (authored dates) and reviews (author, state,
submitted time) — what three REST requests per pull request gave before. GitHub's rules
(docs "Rate limits and query limits for the GraphQL API", see README "GitHub at
organisation scale"):

- node limit: ``first`` at most 100 on every connection and at most 500,000 nodes per query;
  a batch of 100 pull requests with 100 commits and 100 reviews each is about 20,100 nodes;
- points: a query costs the connections it may need, divided by 100 (at least 1) — 2 points
  per batch of 100 here; the answer's ``rateLimit { cost remaining resetAt }`` is kept, and
  when the points left would not pay for the next query, it waits until ``resetAt`` (within
  ``max_wait``) as the REST client does for its own limit;
- a used-up limit can also come as HTTP 200 with an error of type ``RATE_LIMITED``: waited
  out the same way (``x-ratelimit-reset``, else ``resetAt``, else a backoff from 60 s);
- secondary limits (403/429 with ``retry-after`` or a message naming the limit) are waited
  out by :class:`~net.http.HttpClient` with GitHub's policy, like REST;
- GitHub stops a query after 10 seconds: a 502/504 or an error naming a timeout raises
  :class:`QueryTimedOut`, and the caller asks again for half as many pull requests.

A pull request GitHub no longer has comes back ``null`` (error type ``NOT_FOUND``): reported
as ``None``, as REST's 404 was. A PR with more than 100 commits or reviews is completed with
follow-up queries on that pull request alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.frame.shape import bad_shape
from net.http import BadResponse, HttpClient, NotFound, RateLimited, _secs
from net.retry import RATE_LIMIT_BACKOFF

from .fetch import graphql_url

DEFAULT_BATCH = 100  # pull requests per query; halved on a timeout
MAX_RATE_LIMIT_WAITS = 8
RESET_MARGIN_S = 1.0

# The fields one pull request's details need (docs/data-model.md: pull_requests).
PULL_FIELDS = """
fragment PullDetail on PullRequest {
  number
  additions
  deletions
  changedFiles
  author { __typename login }
  mergeCommit { oid }
  commits(first: 100) {
    pageInfo { hasNextPage endCursor }
    nodes { commit { authoredDate } }
  }
  reviews(first: 100) {
    pageInfo { hasNextPage endCursor }
    nodes { author { __typename login } state submittedAt }
  }
}
"""

COMMITS_MORE = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      commits(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { commit { authoredDate } }
      }
    }
  }
}
"""

REVIEWS_MORE = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviews(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { author { __typename login } state submittedAt }
      }
    }
  }
}
"""


def details_query(numbers: Iterable[int]) -> str:
    """The query for these pull requests of ``$owner/$name``: one alias ``pr<number>`` each."""
    aliases = "\n".join(f"    pr{int(n)}: pullRequest(number: {int(n)}) {{ ...PullDetail }}"
                        for n in numbers)
    return ("query($owner: String!, $name: String!) {\n"
            "  rateLimit { cost remaining resetAt }\n"
            "  repository(owner: $owner, name: $name) {\n"
            f"{aliases}\n  }}\n}}\n" + PULL_FIELDS)


def estimated_points(batch: int) -> int:
    """GitHub's cost of one details query of ``batch`` pull requests: two connections of up
    to 100 nodes each per pull request, divided by 100, at least 1."""
    return max(1, round(2 * batch / 100))


class QueryTimedOut(BadResponse):
    """GitHub gave up on the query in its time limit; a smaller one may pass."""


@dataclass
class GraphQL:
    """The GraphQL endpoint of one GitHub (``/graphql``, or ``/api/graphql`` on GHES), spoken
    through the REST client's session: same token, origin pinning and retries."""

    client: HttpClient
    queries: int = 0
    points: int = 0  # the sum of ``rateLimit.cost`` GitHub reported
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    _next_cost: int = 1
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = graphql_url(self.client.base_url)

    # --- one query ------------------------------------------------------------------------
    def query(self, query: str, variables: dict[str, Any], *, cost: int = 1) -> dict:
        """``data`` of one query; waits for the limit, raises one line on failure.
        ``cost`` is the expected cost, to wait before a query the points left cannot pay."""
        waits = 0
        self._next_cost = cost
        while True:
            self._wait_for_points()
            self.queries += 1
            body, resp = self.client.post_json(self.url, {"query": query,
                                                          "variables": variables},
                                               allow=(502, 504))
            if resp.status_code in (502, 504):
                raise QueryTimedOut(f"github: GraphQL answered {resp.status_code} (GitHub stops "
                                    "a query after 10 s)")
            if not isinstance(body, dict):
                raise bad_shape("github", "a GraphQL answer", "an object", body)
            self._note_rate_limit(body.get("data"))
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            if any(e.get("type") == "RATE_LIMITED" for e in errors):
                wait = self._reset_wait(resp)
                if wait > self.client.max_wait:
                    raise RateLimited(
                        f"github: GraphQL rate limit used up; it resets in {_secs(wait)} s, "
                        f"more than --max-wait {_secs(self.client.max_wait)} s — rerun later, "
                        "it resumes")
                if waits >= MAX_RATE_LIMIT_WAITS:
                    raise RateLimited("github: GraphQL still rate limited — rerun later, it "
                                      "resumes")
                if wait >= 5 and self.client.notify:
                    self.client.notify(f"github: GraphQL rate limit used up — waiting "
                                       f"{_secs(wait)} s for the reset")
                waits += 1
                self.client.clock.sleep(wait)
                continue
            if any(_timed_out(e) for e in errors):
                raise QueryTimedOut("github: GraphQL query timed out")
            data = body.get("data")
            if not isinstance(data, dict):
                message = next((str(e.get("message")) for e in errors if e.get("message")), "")
                raise BadResponse(f"github: GraphQL answered no data"
                                  f"{': ' + message[:200] if message else ''} — stored data is "
                                  "intact; rerun, and report it if it persists")
            return {"data": data, "errors": errors}

    def _note_rate_limit(self, data: Any) -> None:
        rl = data.get("rateLimit") if isinstance(data, dict) else None
        if not isinstance(rl, dict):
            return
        cost, remaining = rl.get("cost"), rl.get("remaining")
        if isinstance(cost, int) and not isinstance(cost, bool):
            self.points += cost
        if isinstance(remaining, int) and not isinstance(remaining, bool):
            self.remaining = remaining
        reset = _epoch(rl.get("resetAt"))
        if reset is not None:
            self.reset_at = reset

    def _wait_for_points(self) -> None:
        """Before a query: when the points left cannot pay for it, wait for ``resetAt``."""
        if self.remaining is None or self.reset_at is None or self.remaining >= self._next_cost:
            return
        wait = self.reset_at - self.client.clock.now() + RESET_MARGIN_S
        self.remaining = None  # the reset refills it; the next answer says by how much
        if wait <= 0:
            return
        if wait > self.client.max_wait:
            raise RateLimited(
                f"github: GraphQL points used up; they reset in {_secs(wait)} s, more than "
                f"--max-wait {_secs(self.client.max_wait)} s — rerun later, it resumes")
        if wait >= 5 and self.client.notify:
            self.client.notify(f"github: GraphQL points used up — waiting {_secs(wait)} s for "
                               "the reset")
        self.client.clock.sleep(wait)

    def _reset_wait(self, resp: Any) -> float:
        now = self.client.clock.now()
        header = (resp.headers.get("x-ratelimit-reset") or "").strip()
        if header.isdigit():
            return max(float(header) - now, 0.0) + RESET_MARGIN_S
        if self.reset_at is not None and self.reset_at > now:
            return self.reset_at - now + RESET_MARGIN_S
        return RATE_LIMIT_BACKOFF.seconds(0)

    # --- pull requests --------------------------------------------------------------------
    def pull_details(self, repo: str, numbers: list[int]) -> dict[int, dict | None]:
        """``{number: pull request node}`` for these pull requests (``None``: GitHub no longer
        has it), commits and reviews complete. Raises :class:`QueryTimedOut` for the caller
        to ask for fewer."""
        owner, name = repo.split("/", 1)
        out = self.query(details_query(numbers), {"owner": owner, "name": name},
                         cost=estimated_points(len(numbers)))
        repository = out["data"].get("repository")
        if repository is None:
            raise NotFound(f"github: repository {repo} not found by GraphQL (or not visible "
                           f"to this token) — check {self.client.token_hint}")
        if not isinstance(repository, dict):
            raise bad_shape("github", f"the GraphQL answer for {repo}", "an object",
                            repository)
        result: dict[int, dict | None] = {}
        for n in numbers:
            node = repository.get(f"pr{int(n)}")
            if node is not None and not isinstance(node, dict):
                raise bad_shape("github", f"the GraphQL details of {repo}#{int(n)}",
                                "an object", node)
            if node is not None:
                self._complete(owner, name, int(n), node)
            result[int(n)] = node
        return result

    def _complete(self, owner: str, name: str, number: int, node: dict) -> None:
        """Follow ``commits``/``reviews`` past their first 100 (one more query per 100)."""
        for key, query in (("commits", COMMITS_MORE), ("reviews", REVIEWS_MORE)):
            conn = node.get(key)
            if not isinstance(conn, dict):
                continue
            nodes = list(conn.get("nodes") or [])
            page = conn.get("pageInfo") or {}
            while page.get("hasNextPage") and page.get("endCursor"):
                more = self.query(query, {"owner": owner, "name": name, "number": number,
                                          "after": page["endCursor"]})
                pr = ((more["data"].get("repository") or {}).get("pullRequest") or {})
                nxt = pr.get(key) or {}
                nodes.extend(nxt.get("nodes") or [])
                page = nxt.get("pageInfo") or {}
            conn["nodes"] = nodes


def _timed_out(error: dict) -> bool:
    message = str(error.get("message") or "").lower()
    return ("timeout" in message or "timed out" in message
            or "in time" in message) and error.get("type") != "RATE_LIMITED"


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
