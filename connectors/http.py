"""HTTP for every connector: one session per source, retries, rate limits, clear errors.

- ``urllib3.Retry`` retries 5xx answers and dropped connections with backoff, honouring
  ``Retry-After``; its sleeps go through the injectable :class:`Clock` so tests are instant.
- Rate limits are source-specific, so each connector passes a *policy*: a function that looks at
  a response and returns how many seconds to wait before trying again, or None when the
  response is not a rate limit. Waits longer than ``max_wait`` stop the sync with a message.
- Every failure becomes a :class:`SourceError` whose message is one line saying what is wrong and
  what to do. Secrets live only in the session's headers: they are never put in URLs, messages
  or ``repr``, and :func:`redact` scrubs any text that reaches a log or the database.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = (10, 60)  # connect, read — seconds
USER_AGENT = "ShipReady/1.0 (+release readiness dashboard)"


class Clock(Protocol):
    def now(self) -> float: ...  # epoch seconds
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class SourceError(RuntimeError):
    """A sync cannot go on. ``str()`` is one line for the user; it never holds a secret."""

    kind = "error"


class AuthError(SourceError):
    kind = "auth"


class PermissionDenied(SourceError):
    kind = "permission"


class NotFound(SourceError):
    kind = "not_found"


class RateLimited(SourceError):
    kind = "rate_limit"


class ConnectionFailed(SourceError):
    kind = "connection"


class BadResponse(SourceError):
    kind = "bad_response"


_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so :func:`redact` removes it from any text."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and any bearer/basic credential replaced."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return re.sub(r"(?i)(authorization:?\s*(bearer|basic|token)\s+)\S+", r"\1***", text)


class ClockRetry(Retry):
    """urllib3 Retry whose waits go through our clock (instant in tests)."""

    def __init__(self, *args: Any, clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock or SYSTEM_CLOCK

    def new(self, **kw: Any) -> "ClockRetry":
        retry = super().new(**kw)
        retry.clock = self.clock
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # 429 is a rate limit: the connector's policy waits for it, bounded by max_wait.
        # urllib3 would otherwise sleep out any Retry-After itself, however long.
        if status_code == 429:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def sleep(self, response=None) -> None:  # noqa: D401 - urllib3 hook
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        self.clock.sleep(wait)


RateLimitPolicy = Callable[[requests.Response, int], "float | None"]


def retry_after_policy(response: requests.Response, attempt: int) -> float | None:
    """Jira/Jenkins style: 429 is a rate limit; wait Retry-After, else back off exponentially."""
    if response.status_code != 429:
        return None
    header = response.headers.get("Retry-After")
    if header and header.strip().isdigit():
        return float(header)
    return min(60.0 * (2 ** attempt), 900.0)


@dataclass
class HttpClient:
    """A session for one source. Counts requests and 304s for ``sync_runs``.

    ``auth_headers`` hold the secret; they go into the session and nowhere else.
    """

    base_url: str
    source: str
    auth_headers: dict[str, str] = field(default_factory=dict, repr=False)
    token_hint: str = "the token"  # e.g. "GITHUB_TOKEN", used in the 401 message
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    retries: int = 4
    max_wait: float = 900.0
    clock: Clock = field(default_factory=lambda: SYSTEM_CLOCK)
    rate_limit_policy: RateLimitPolicy = retry_after_policy
    max_rate_limit_waits: int = 8
    requests_made: int = 0
    not_modified: int = 0
    session: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for value in self.auth_headers.values():
            register_secret(value)
            register_secret(value.split(" ", 1)[-1])
        self.session = requests.Session()
        retry = ClockRetry(
            total=self.retries, connect=self.retries, read=self.retries, status=self.retries,
            backoff_factor=1.0, backoff_max=60, status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}), respect_retry_after_header=True,
            raise_on_status=False, clock=self.clock,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, **self.auth_headers})

    def __repr__(self) -> str:  # never the headers
        return f"HttpClient(source={self.source!r}, base_url={self.base_url!r})"

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    def get(self, path_or_url: str, *, params: dict | None = None,
            headers: dict | None = None, stream: bool = False,
            allow: tuple[int, ...] = ()) -> requests.Response:
        """GET with retries and rate-limit waits; raise :class:`SourceError` on failure.

        A 304 is returned as-is (callers asked for it with an ETag). Status codes in ``allow``
        (e.g. 404 for "no test report") are returned instead of raised.
        """
        url = self.url(path_or_url)
        waits = 0
        while True:
            try:
                self.requests_made += 1
                resp = self.session.get(url, params=params, headers=headers, stream=stream,
                                        timeout=self.timeout)
            except requests.exceptions.SSLError:
                raise ConnectionFailed(
                    f"{self.source}: TLS failed for {_host(url)} — check the URL and certificates"
                ) from None
            except requests.exceptions.RetryError:
                raise BadResponse(
                    f"{self.source}: {_host(url)} kept answering with server errors; "
                    "try again later (stored data is intact, a rerun resumes)"
                ) from None
            except requests.exceptions.ConnectionError as exc:
                raise ConnectionFailed(
                    f"{self.source}: cannot reach {_host(url)} ({_reason(exc)}) — check the URL "
                    "and the network; stored data is intact, a rerun resumes"
                ) from None
            except requests.exceptions.Timeout:
                raise ConnectionFailed(
                    f"{self.source}: {_host(url)} did not answer in time; try again later"
                ) from None
            if resp.status_code == 304:
                self.not_modified += 1
                return resp
            wait = self.rate_limit_policy(resp, waits)
            if wait is not None:
                if wait > self.max_wait or waits >= self.max_rate_limit_waits:
                    raise RateLimited(
                        f"{self.source}: rate limited; the limit resets in {int(wait)} s, more "
                        f"than --max-wait {int(self.max_wait)} s — rerun later, it resumes"
                    )
                waits += 1
                self.clock.sleep(max(wait, 0.0))
                continue
            if resp.ok or resp.status_code in allow:
                return resp
            raise self.error_for(resp)

    def get_json(self, path_or_url: str, **kwargs: Any) -> tuple[Any, requests.Response]:
        """GET and decode JSON; a truncated or non-JSON body is retried, then reported."""
        last = None
        for attempt in range(3):
            resp = self.get(path_or_url, **kwargs)
            if resp.status_code == 304:
                return None, resp
            try:
                return self.decode(resp), resp
            except (ValueError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ConnectionError) as exc:
                last = exc
                self.clock.sleep(2.0 * (attempt + 1))
        raise BadResponse(
            f"{self.source}: the answer from {_host(self.url(path_or_url))} was cut off or not "
            f"JSON ({type(last).__name__}); stored data is intact, a rerun resumes"
        )

    def decode(self, resp: requests.Response) -> Any:
        """The body as JSON (``ValueError`` if it is not); sources may use a faster decoder."""
        return resp.json()

    def error_for(self, resp: requests.Response) -> SourceError:
        """Map an HTTP failure to a one-line :class:`SourceError`."""
        url = resp.url
        code = resp.status_code
        if code == 401:
            return AuthError(f"{self.source}: the server rejected the credentials (401) — set "
                             f"{self.token_hint} to a valid token")
        if code == 403:
            return PermissionDenied(f"{self.source}: permission denied (403) for "
                                    f"{_path(url)} — the token lacks access or a scope")
        if code == 404:
            return NotFound(f"{self.source}: not found (404): {_path(url)} — check the name, "
                            "or that this token can see it")
        if code == 410:
            return NotFound(f"{self.source}: {_path(url)} is gone (410) on this server")
        return BadResponse(f"{self.source}: HTTP {code} from {_path(url)}; try again later")

    def close(self) -> None:
        self.session.close()

    def post_json(self, path_or_url: str, body: Any) -> tuple[Any, requests.Response]:
        """POST ``body`` as JSON and decode the JSON answer (a query, not a write: GitHub
        GraphQL, Jira's approximate count). Failures map to one line as for :meth:`get`."""
        url = self.url(path_or_url)
        waits = 0
        while True:
            try:
                self.requests_made += 1
                resp = self.session.post(url, json=body, timeout=self.timeout)
            except requests.exceptions.RequestException as exc:
                raise ConnectionFailed(
                    f"{self.source}: cannot reach {_host(url)} ({_reason(exc)}) — check the URL "
                    "and the network; stored data is intact, a rerun resumes") from None
            wait = self.rate_limit_policy(resp, waits)
            if wait is not None:
                if wait > self.max_wait or waits >= self.max_rate_limit_waits:
                    raise RateLimited(
                        f"{self.source}: rate limited; the limit resets in {int(wait)} s, more "
                        f"than --max-wait {int(self.max_wait)} s — rerun later, it resumes")
                waits += 1
                self.clock.sleep(max(wait, 0.0))
                continue
            if not resp.ok:
                raise self.error_for(resp)
            try:
                return self.decode(resp), resp
            except (ValueError, requests.exceptions.RequestException):
                raise BadResponse(
                    f"{self.source}: the answer from {_host(url)} was cut off or not JSON; "
                    "stored data is intact, a rerun resumes") from None


def iter_link_pages(client: HttpClient, path_or_url: str, *, params: dict | None = None,
                    headers: dict | None = None) -> Iterator[tuple[Any, requests.Response]]:
    """Yield ``(json, response)`` per page, following ``Link: rel="next"`` as the server sends it.

    Page URLs are never built by hand: GitHub switches to ``/repositories/{id}/…`` links.
    A 304 on the first page yields ``(None, response)`` once and stops.
    """
    url: str | None = path_or_url
    first = True
    while url:
        body, resp = client.get_json(url, params=params if first else None,
                                     headers=headers if first else None)
        yield body, resp
        if resp.status_code == 304:
            return
        url = resp.links.get("next", {}).get("url")
        first = False


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path or url


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (("Name or service not known", "DNS lookup failed"),
                           ("nodename nor servname", "DNS lookup failed"),
                           ("Temporary failure in name resolution", "DNS lookup failed"),
                           ("Connection refused", "connection refused"),
                           ("Connection reset", "connection reset"),
                           ("RemoteDisconnected", "connection dropped"),
                           ("Max retries exceeded", "connection failed after retries")):
        if needle in text:
            return reason
    return "connection failed"


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
