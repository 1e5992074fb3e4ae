"""The Jira HTTP client: credentials from the environment, Jira's rate-limit policy.

Auth (DESIGN.md, "Secrets"): ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` give basic auth (Jira Cloud);
``JIRA_TOKEN`` gives a bearer personal access token (Data Center); each from the environment,
else ``.streamlit/secrets.toml`` (:func:`net.secrets.get_secret`). With neither, requests go
anonymously (public instances allow that; private ones answer 401 and the message says which
variables to set). The secret lives only in the session headers.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from datetime import datetime

import requests

from net.http import SYSTEM_CLOCK, Clock, HttpClient, register_secret
from net.secrets import get_secret

TOKEN_HINT = "JIRA_EMAIL and JIRA_API_TOKEN (Jira Cloud) or JIRA_TOKEN (Data Center)"


def auth_headers(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Authorization header (empty when no credentials are set). ``env`` replaces the
    environment and secrets file, for tests."""
    def lookup(name: str, secret: bool = True) -> str | None:
        if env is not None:
            return (env.get(name) or "").strip() or None
        return get_secret(name, secret=secret)

    email, api_token = lookup("JIRA_EMAIL", secret=False), lookup("JIRA_API_TOKEN")
    pat = lookup("JIRA_TOKEN")
    if email and api_token:
        register_secret(api_token)
        pair = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    if pat:
        register_secret(pat)
        return {"Authorization": f"Bearer {pat}"}
    return {}


def jira_rate_limit_policy(clock: Clock):
    """429 (and 503 that carries Retry-After) means wait: ``Retry-After`` seconds, else until
    ``X-RateLimit-Reset``, else exponential backoff with jitter (Atlassian's advice)."""

    def policy(response: requests.Response, attempt: int) -> float | None:
        code = response.status_code
        retry_after = (response.headers.get("Retry-After") or "").strip()
        if code == 503 and not retry_after.isdigit():
            return None  # a plain 503 is urllib3's to retry
        if code not in (429, 503):
            return None
        if retry_after.isdigit():
            return float(retry_after)
        reset = response.headers.get("X-RateLimit-Reset")
        if reset:
            try:
                when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
                return max(when.timestamp() - clock.now(), 1.0)
            except ValueError:
                pass
        return min(2.0 ** (attempt + 1), 60.0) + random.uniform(0, 1)

    return policy


def make_client(url: str, *, clock: Clock | None = None, max_wait: float = 900.0,
                env: Mapping[str, str] | None = None) -> HttpClient:
    """A :class:`HttpClient` for the Jira at ``url`` (site root, e.g. https://acme.atlassian.net)."""
    clock = clock or SYSTEM_CLOCK
    client = HttpClient(base_url=url.rstrip("/"), source="jira", auth_headers=auth_headers(env),
                        token_hint=TOKEN_HINT, clock=clock, max_wait=max_wait,
                        rate_limit_policy=jira_rate_limit_policy(clock))
    client.session.headers["Accept"] = "application/json"
    return client
