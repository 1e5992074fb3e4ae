"""``python -m connectors sync --plan``: what a GitHub sync of the configured scope would fetch
and what it would cost, before it is spent; nothing is written (README "GitHub at organisation
scale").

It asks only for what it needs to count: the organisations' listings (discovery, without
re-keying), each repository's sizes by GraphQL (``totalCount`` of issues, pull requests,
milestones, releases, deployments, and a search count of the pull requests merged inside the
look-back window — 25 repositories per query), the runs created inside the window (REST
``total_count``, one request per repository) and ``GET /rate_limit`` (free of charge).

Estimate per repository, first sync (no stored cursor), in requests of 100 items:
issues listing = (issues + pull requests) / 100 (GitHub's issues list holds both); issue
events = 2 per issue (an assumption: GitHub gives no count); pull requests / 100; runs / 100,
plus 2 window probes per 1,000 runs (the 1,000-result cap); deployments / 100 plus one
statuses request each; milestones and releases / 100; each at least 1 request. Pull-request
details: one GraphQL query per 100 merged pull requests in the window, 2 points each
(connectors/github/graphql.py). A repository synced before: one request per list (most
answer 304) and no details. Hours at the current limit: nothing when what is left covers it,
else the time to the reset plus what exceeds it at the hourly limit; REST and GraphQL have
separate budgets and the longer wait counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from sqlalchemy import Engine, select

from data import schema
from data.config import Settings
from net.http import HttpClient, SourceError

from .discovery import discover
from .fetch import iso
from .graphql import GraphQL, estimated_points

LISTS_PER_REPO = 7  # milestones, issues, events, pulls, releases, runs, deployments
EVENTS_PER_ISSUE = 2  # assumed: GitHub gives no count of a repository's issue events
COUNT_BATCH = 25  # repositories per counting query

COUNTS = """
  r{i}: repository(owner: $o{i}, name: $n{i}) {{
    issues {{ totalCount }}
    pullRequests {{ totalCount }}
    milestones {{ totalCount }}
    releases {{ totalCount }}
    deployments {{ totalCount }}
  }}
  m{i}: search(query: $q{i}, type: ISSUE, first: 1) {{ issueCount }}"""


def counts_query(n: int) -> str:
    """The counting query for ``n`` repositories (variables ``$o<i>``, ``$n<i>``, ``$q<i>``)."""
    params = ", ".join(f"$o{i}: String!, $n{i}: String!, $q{i}: String!" for i in range(n))
    body = "".join(COUNTS.format(i=i) for i in range(n))
    return f"query({params}) {{\n  rateLimit {{ cost remaining resetAt }}{body}\n}}\n"


@dataclass
class RepoCost:
    repo: str
    first: bool
    issues: int | None = None
    pulls: int | None = None
    merged: int | None = None
    runs: int | None = None
    deployments: int | None = None
    requests: int = LISTS_PER_REPO
    queries: int = 0
    points: int = 0


def _pages(n: int | None) -> int:
    return max(1, math.ceil((n or 0) / 100))


def estimate(cost: RepoCost, milestones: int = 0, releases: int = 0) -> RepoCost:
    """Fill ``requests``, ``queries`` and ``points`` by the rules in the module's doc."""
    if not cost.first:
        cost.requests, cost.queries, cost.points = LISTS_PER_REPO, 0, 0
        return cost
    issues, pulls, runs = cost.issues or 0, cost.pulls or 0, cost.runs or 0
    deps, merged = cost.deployments or 0, cost.merged or 0
    cost.requests = (_pages(milestones) + _pages(issues + pulls)
                     + _pages(EVENTS_PER_ISSUE * issues) + _pages(pulls) + _pages(releases)
                     + _pages(runs) + 2 * (runs // 1000) + _pages(deps) + deps)
    full, rest = divmod(merged, 100)
    cost.queries = full + (1 if rest else 0)
    cost.points = full * estimated_points(100) + (estimated_points(rest) if rest else 0)
    return cost


def hours_needed(need: int, limit: int | None, remaining: int | None,
                 reset_in_s: float) -> float:
    """Hours until ``need`` requests (or points) are served at this limit."""
    if not limit or remaining is None or need <= remaining:
        return 0.0
    return max(reset_in_s, 0.0) / 3600 + (need - remaining) / limit


def _synced_before(engine: Engine | None, repos: list[str]) -> set[str]:
    if engine is None or not repos:
        return set()
    st = schema.sync_state
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(st.c.scope).where(
                st.c.source == "github", st.c.resource == "issues",
                st.c.scope.in_(repos))).scalars())
    except Exception:  # no schema yet: nothing synced before
        return set()


def _counts(gql: GraphQL, repos: list[str], since: datetime) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    day = since.strftime("%Y-%m-%d")
    for start in range(0, len(repos), COUNT_BATCH):
        batch = repos[start:start + COUNT_BATCH]
        variables: dict[str, Any] = {}
        for i, repo in enumerate(batch):
            owner, name = repo.split("/", 1)
            variables.update({f"o{i}": owner, f"n{i}": name,
                              f"q{i}": f"repo:{repo} is:pr is:merged merged:>={day}"})
        data = gql.query(counts_query(len(batch)), variables)["data"]
        for i, repo in enumerate(batch):
            r = data.get(f"r{i}") or {}
            m = data.get(f"m{i}") or {}
            out[repo] = {k: int((r.get(k) or {}).get("totalCount") or 0)
                         for k in ("issues", "pullRequests", "milestones", "releases",
                                   "deployments")}
            out[repo]["merged"] = int(m.get("issueCount") or 0)
    return out


def _runs(client: HttpClient, repo: str, since: datetime) -> int:
    body, _ = client.get_json(f"/repos/{repo}/actions/runs",
                              params={"per_page": 1, "created": f">={iso(since)}"})
    total = body.get("total_count") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else 0


def _limits(client: HttpClient) -> dict[str, dict[str, Any]]:
    """``GET /rate_limit`` (not charged): core and graphql limits, or {} where a server has
    none (GitHub Enterprise Server with rate limits off answers 404)."""
    try:
        body, resp = client.get_json("/rate_limit", allow=(404,))
    except SourceError:
        return {}
    if resp.status_code == 404 or not isinstance(body, dict):
        return {}
    resources = body.get("resources") or {}
    return {k: v for k, v in resources.items() if isinstance(v, dict)}


def make_plan(settings: Settings, engine: Engine | None, client: HttpClient,
              out: IO[str]) -> dict[str, Any]:
    gh = settings.github
    now = datetime.fromtimestamp(client.clock.now(), timezone.utc)
    since = now - timedelta(days=gh.lookback_days)
    found = discover(engine, client, gh, write=False)
    before = _synced_before(engine, found.repos)
    fresh = [r for r in found.repos if r not in before]
    gql = GraphQL(client)
    counts: dict[str, dict[str, int]] = {}
    if client.auth_headers and fresh:
        counts = _counts(gql, fresh, since)
    print(f"github plan: {len(found.repos)} repositories to sync — nothing is written",
          file=out)
    for repo, why in sorted(found.left_out.items()):
        print(f"  left out: {repo} ({why})", file=out)
    for old, new in found.renamed.items():
        print(f"  renamed: {old} → {new} (a sync re-keys its stored rows)", file=out)
    for repo in found.gone:
        print(f"  gone: {repo} (404: reported, its rows kept)", file=out)
    costs: list[RepoCost] = []
    for repo in found.repos:
        c = counts.get(repo)
        cost = RepoCost(repo=repo, first=repo not in before)
        if cost.first and c is not None:
            cost.issues, cost.pulls, cost.merged = c["issues"], c["pullRequests"], c["merged"]
            cost.deployments = c["deployments"]
            cost.runs = _runs(client, repo, since)
            estimate(cost, c["milestones"], c["releases"])
            print(f"  {repo}: first sync — {cost.issues:,} issues, {cost.pulls:,} pull "
                  f"requests ({cost.merged:,} merged since {since:%Y-%m-%d}), {cost.runs:,} "
                  f"runs, {cost.deployments:,} deployments → {cost.requests:,} requests, "
                  f"{cost.queries:,} GraphQL queries ({cost.points:,} points)", file=out)
        elif cost.first:
            estimate(cost)
            print(f"  {repo}: first sync — sizes unknown without a token (GraphQL counts "
                  f"them); at least {cost.requests} requests", file=out)
        else:
            estimate(cost)
            print(f"  {repo}: synced before — about {cost.requests} requests (most answer "
                  "304), details of new merged pull requests only", file=out)
        costs.append(cost)
    requests = sum(c.requests for c in costs) + found.requests
    queries = sum(c.queries for c in costs)
    points = sum(c.points for c in costs)
    limits = _limits(client)
    t = client.clock.now()
    core, graph = limits.get("core", {}), limits.get("graphql", {})
    hours = max(
        hours_needed(requests, core.get("limit"), core.get("remaining"),
                     float(core.get("reset") or t) - t),
        hours_needed(points, graph.get("limit"), graph.get("remaining"),
                     float(graph.get("reset") or t) - t))
    print(f"estimated requests: {requests + queries:,} ({requests:,} REST, {queries:,} "
          "GraphQL)", file=out)
    print(f"estimated graphql points: {points:,}", file=out)
    if limits:
        print(f"hours at the current limit: {hours:.1f} (REST {core.get('remaining', '?')} "
              f"of {core.get('limit', '?')} left; GraphQL {graph.get('remaining', '?')} of "
              f"{graph.get('limit', '?')} points left)", file=out)
    else:
        print("hours at the current limit: 0.0 (this server states no rate limit)", file=out)
    return {"repositories": len(found.repos), "requests": requests + queries,
            "rest": requests, "graphql_queries": queries, "points": points, "hours": hours}
