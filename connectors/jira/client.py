"""The Jira HTTP client: credentials from the environment, Jira's rate-limit policy.

Auth (README, "Security"): ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` give basic auth (Jira Cloud);
``JIRA_TOKEN`` gives a bearer personal access token (Data Center); each from the environment,
else ``.streamlit/secrets.toml`` (:func:`net.secrets.get_secret`). With neither, requests go
anonymously (public instances allow that; private ones answer 401 and the message says which
variables to set). ``net.http.HttpClient`` attaches the credentials to each request for
the configured origin, and to no other.
"""

from __future__ import annotations

from collections.abc import Mapping

from net.http import SYSTEM_CLOCK, Clock, HttpClient
from net.retry import Backoff, RateLimitPolicy, iso_reset
from net.secrets import get_secret

# Atlassian: exponential from 2 s, capped at a minute, with jitter
JIRA_BACKOFF = Backoff(first=2.0, cap=60.0, jitter=1.0)
TOKEN_HINT = "JIRA_EMAIL and JIRA_API_TOKEN (Jira Cloud) or JIRA_TOKEN (Data Center)"


def credentials(env: Mapping[str, str] | None = None
                ) -> tuple[dict[str, str], tuple[str, str] | None]:
    """``(headers, basic)``: a bearer Authorization header for a personal access token, or the
    ``(email, api token)`` pair for basic auth; neither when no credentials are set. ``env``
    replaces the environment and secrets file, for tests."""
    def lookup(name: str, secret: bool = True) -> str | None:
        if env is not None:
            return (env.get(name) or "").strip() or None
        return get_secret(name, secret=secret)

    email, api_token = lookup("JIRA_EMAIL", secret=False), lookup("JIRA_API_TOKEN")
    pat = lookup("JIRA_TOKEN")
    if email and api_token:
        return {}, (email, api_token)
    if pat:
        return {"Authorization": f"Bearer {pat}"}, None
    return {}, None


def jira_rate_limit_policy(clock: Clock) -> RateLimitPolicy:
    """429 (and a 503 that carries Retry-After) means wait: ``Retry-After`` seconds, else
    until ``X-RateLimit-Reset``, else the shared backoff with jitter (Atlassian's advice)."""
    return RateLimitPolicy(statuses=frozenset({429, 503}), needs_retry_after=frozenset({503}),
                           reset=iso_reset("X-RateLimit-Reset"), backoff=JIRA_BACKOFF,
                           now=clock.now)


def make_client(url: str, *, clock: Clock | None = None, max_wait: float = 900.0,
                env: Mapping[str, str] | None = None) -> HttpClient:
    """A :class:`HttpClient` for the Jira at ``url`` (site root, e.g.
    https://acme.atlassian.net)."""
    clock = clock or SYSTEM_CLOCK
    headers, basic = credentials(env)
    client = HttpClient(base_url=url.rstrip("/"), source="jira", auth_headers=headers,
                        basic_auth=basic,
                        token_hint=TOKEN_HINT, clock=clock, max_wait=max_wait,
                        rate_limit_policy=jira_rate_limit_policy(clock))
    client.session.headers["Accept"] = "application/json"
    return client
