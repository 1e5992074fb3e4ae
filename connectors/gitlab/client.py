"""The GitLab HTTP client: the token as ``PRIVATE-TOKEN``, GitLab's rate-limit signals.

Auth: a personal, project or group access token in ``GITLAB_TOKEN`` (``[gitlab] token_env``),
from the environment or ``.streamlit/secrets.toml``, sent as the ``PRIVATE-TOKEN`` header
(GitLab docs, "REST API authentication") — attached by :class:`net.http.HttpClient` only to
requests for the configured origin, registered for redaction. Without one, requests go
anonymously (public projects only).

Rate limits (GitLab docs, "Rate limits on GitLab.com" and "User and IP rate limits"): a 429,
whose body may be plain text (``Retry later``), with ``Retry-After`` seconds, else
``RateLimit-Reset`` (Unix time), else the shared backoff — waited up to ``--max-wait``.
5xx answers and dropped connections are retried by the client.

The API root is ``<url>/api/v4``: ``https://gitlab.example.com`` or, for an instance under a
relative URL root, ``https://example.com/gitlab`` (GitLab docs, "relative URL").
"""

from __future__ import annotations

from net.http import SYSTEM_CLOCK, Clock, HttpClient
from net.retry import RateLimitPolicy

DEFAULT_URL = "https://gitlab.com"
TOKEN_ENV = "GITLAB_TOKEN"


def reset_epoch(resp, now: float) -> float | None:
    """Seconds from ``now`` until ``RateLimit-Reset`` (Unix seconds), at least one."""
    value = (resp.headers.get("RateLimit-Reset") or "").strip()
    try:
        return max(float(value) - now, 1.0) if value else None
    except ValueError:
        return None


def gitlab_rate_limit_policy(clock: Clock) -> RateLimitPolicy:
    """A 429 is a rate limit: ``Retry-After``, else ``RateLimit-Reset``, else the backoff."""
    return RateLimitPolicy(statuses=frozenset({429}), reset=reset_epoch, now=clock.now)


def api_root(url: str) -> str:
    """``<url>/api/v4`` (a URL already ending in /api/v4 is kept)."""
    root = url.strip().rstrip("/")
    return root if root.endswith("/api/v4") else root + "/api/v4"


def web_root(url: str) -> str:
    root = url.strip().rstrip("/")
    return root[: -len("/api/v4")] if root.endswith("/api/v4") else root


def make_client(url: str, token: str | None, *, token_env: str = TOKEN_ENV,
                clock: Clock | None = None, max_wait: float = 900.0,
                retries: int = 4) -> HttpClient:
    """A session for the GitLab at ``url`` (its web root)."""
    clock = clock or SYSTEM_CLOCK
    client = HttpClient(base_url=api_root(url), source="gitlab",
                        auth_headers={"PRIVATE-TOKEN": token} if token else {},
                        token_hint=token_env, clock=clock, max_wait=max_wait, retries=retries,
                        rate_limit_policy=gitlab_rate_limit_policy(clock), notify=_stderr)
    client.session.headers["Accept"] = "application/json"
    return client


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)
