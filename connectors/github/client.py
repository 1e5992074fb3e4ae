"""The GitHub session: auth headers, GitHub's rate-limit rules, and a pre-emptive wait.

GitHub signals its limits in three ways (docs "Rate limits for the REST API"):
- primary: 403/429 with ``x-ratelimit-remaining: 0`` → wait until ``x-ratelimit-reset``;
- secondary: 403/429 with ``retry-after`` → wait that long; without it, back off from 60 s;
- a 403 with none of these is a permission problem, reported as such by ``HttpClient``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import requests

from net.http import SYSTEM_CLOCK, Clock, HttpClient, RateLimited, _secs
from net.retry import Backoff, RateLimitPolicy

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
SECONDARY_BACKOFF_S = 60.0
MAX_BACKOFF_S = 900.0
RESET_MARGIN_S = 1.0  # GitHub's reset is whole seconds; waking a second late avoids a retry


def _header(resp: requests.Response, name: str) -> str | None:
    value = resp.headers.get(name)  # requests' headers are case-insensitive
    return value.strip() if value else None


def _mentions_rate_limit(resp: requests.Response) -> bool:
    try:
        message = str(resp.json().get("message", "")).lower()
    except (ValueError, AttributeError):
        message = (resp.text or "")[:500].lower()
    return "rate limit" in message or "abuse" in message or "secondary" in message


def seconds_until_reset(resp: requests.Response, now: float) -> float | None:
    """Seconds from ``now`` until ``x-ratelimit-reset`` (epoch seconds), or None if absent."""
    reset = _header(resp, "x-ratelimit-reset")
    if reset is None:
        return None
    try:
        return max(float(reset) - now, 0.0) + RESET_MARGIN_S
    except ValueError:
        return None


def _reset_when_used_up(resp: requests.Response, now: float) -> float | None:
    """A used-up primary limit (``x-ratelimit-remaining: 0``): until ``x-ratelimit-reset``,
    else the secondary backoff's first wait; None while requests remain."""
    if _header(resp, "x-ratelimit-remaining") != "0":
        return None
    wait = seconds_until_reset(resp, now)
    return wait if wait is not None else SECONDARY_BACKOFF_S


def github_rate_limit_policy(clock: Clock) -> RateLimitPolicy:
    """``HttpClient`` rate-limit policy from GitHub's own signals (see the module's doc): a 403
    or 429 with ``retry-after``, a used-up primary limit, else a 429 or a 403 whose message
    names a (secondary) limit backs off from 60 s; any other 403 is not a limit."""
    return RateLimitPolicy(
        statuses=frozenset({403, 429}), reset=_reset_when_used_up,
        limited=lambda resp: resp.status_code == 429 or _mentions_rate_limit(resp),
        backoff=Backoff(first=SECONDARY_BACKOFF_S, cap=MAX_BACKOFF_S), now=clock.now)


@dataclass(repr=False)
class GitHubClient(HttpClient):
    """HttpClient that also waits *before* a request once a response said remaining = 0.

    Waiting on the 200 that used the last request saves the 403 round trip the next call
    would cost, and keeps the wait under ``--max-wait`` control like any other.
    """

    _not_before: float = 0.0

    def _before_request(self) -> None:
        if not self._not_before:
            return
        wait = self._not_before - self.clock.now()
        self._not_before = 0.0
        if wait <= 0:
            return
        if wait > self.max_wait:
            raise RateLimited(
                f"{self.source}: rate limit used up; it resets in {_secs(wait)} s, more "
                f"than --max-wait {_secs(self.max_wait)} s — rerun later, it resumes")
        if wait >= 5:
            _stderr(f"github: rate limit used up — waiting {_secs(wait)} s for the reset")
        self.clock.sleep(wait)

    def _after_response(self, resp: requests.Response) -> None:
        # GraphQL points are a budget of their own (connectors/github/graphql.py waits for
        # them): a used-up GraphQL budget must not hold up REST requests.
        if _header(resp, "x-ratelimit-resource") == "graphql":
            return
        if _header(resp, "x-ratelimit-remaining") == "0":
            wait = seconds_until_reset(resp, self.clock.now())
            if wait:
                self._not_before = self.clock.now() + wait

    def decode(self, resp: requests.Response) -> Any:
        return decode_json(resp)


def decode_json(resp: requests.Response) -> Any:
    """A GitHub answer as JSON, through orjson when it is UTF-8 (a full sync decodes tens of
    MB; bench/bench_github_sync.py: about -20 % sync time against requests' ``json()``).

    GitHub only: orjson reads integers beyond 64 bits as floats, and GitHub's OpenAPI
    description types every integer as int64. Another declared charset, or a body orjson
    refuses, goes through requests' decoder (which raises ``ValueError`` on bad JSON)."""
    charset = (resp.encoding or "utf-8").lower().replace("-", "").replace("_", "")
    if charset == "utf8":
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            pass
    return resp.json()


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def make_client(api_url: str | None = None, token: str | None = None, *,
                token_env: str = "GITHUB_TOKEN", clock: Clock | None = None,
                max_wait: float = 900.0, retries: int = 4) -> GitHubClient:
    """A session for github.com or a GitHub Enterprise Server (``https://HOST/api/v3``)."""
    clock = clock or SYSTEM_CLOCK
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    client = GitHubClient(base_url=(api_url or DEFAULT_API_URL).rstrip("/"), source="github",
                          auth_headers=auth, token_hint=token_env, clock=clock,
                          max_wait=max_wait, retries=retries,
                          rate_limit_policy=github_rate_limit_policy(clock),
                          notify=_stderr)
    client.session.headers.update(headers)
    return client
