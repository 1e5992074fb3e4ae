"""HTTP for everything that calls out: one session per source, retries, rate limits, clear errors.

- ``urllib3.Retry`` retries 5xx answers and dropped connections with backoff, honouring
  ``Retry-After``; its sleeps go through the injectable :class:`Clock` so tests are instant.
  A body cut off mid-way (connection dropped, chunked encoding broken) is retried the same way.
- Rate limits differ by source only in their signals, so each source passes a
  :class:`net.retry.RateLimitPolicy` (its statuses and reset header): it looks at a response
  and returns how many seconds to wait before trying again, or None when the response is not
  a rate limit. Waits longer than ``max_wait`` stop the sync with a message. Every backoff —
  urllib3's between retries, a cut-off body, an answer not JSON, a limit naming no wait — is
  urllib3's formula (:class:`net.retry.Backoff`).
- Every failure becomes a :class:`SourceError` whose message is one line saying what is wrong and
  what to do.
- A client made with ``resend=False`` (webhooks: :meth:`HttpClient.post_once`) sends each
  request at most once: only a connection that failed before the request went out
  (:class:`NotSent`) is retried, and a 429 waited out; never a 5xx, a dropped connection or a
  cut-off answer, after which the server may have acted on it.

Credentials — the rules every connector gets from this module, present and future:

- The base URL must be http(s) and must not hold ``user:password@``: credentials come from the
  environment only (:func:`check_base_url`).
- Credential headers (``auth_headers``: Authorization, PRIVATE-TOKEN, …) and Basic auth
  (``basic_auth``, given to requests as ``auth=``) are attached per request, and only when
  the request goes to the base URL's origin (scheme, host and port).
  They are never in the session's headers, URLs, messages or ``repr``.
- Redirects are never followed by requests: a Location on the configured origin is followed
  (at most :data:`MAX_REDIRECTS` hops); one elsewhere stops the sync with one line naming the
  host — unless the caller asks for an anonymous follow (GitHub's artifact download, which
  redirects to signed storage), which then goes on *without any credential*.
- ``Link: rel="next"`` pages are followed only on the configured origin.
- :func:`redact` scrubs every registered secret — raw, backslash/JSON-escaped, URL-encoded and
  base64 at any alignment (so inside a Basic ``user:token`` pair too) — from any text that
  reaches the user or the database.

Limits: every round trip (connect, headers, whole body) has a total deadline,
:data:`REQUEST_DEADLINE_S` — the ``timeout`` of requests is per socket read, so a server
trickling bytes would otherwise never time out; a timer shuts the socket when it passes. A
streamed download (artifact archives) has :data:`DOWNLOAD_DEADLINE_S` for its body. An answer
read into memory is capped at :data:`MAX_ANSWER_BYTES` (counted after decompression).
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import requests
import requests.auth
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from data.config import ConfigError
from net.retry import RETRY_AFTER_POLICY, TRANSIENT_BACKOFF

DEFAULT_TIMEOUT = (10, 60)  # connect, per socket read — seconds
REQUEST_DEADLINE_S = 120.0  # total for one exchange: connect, headers and the whole body
DOWNLOAD_DEADLINE_S = 1800.0  # total for a streamed download (artifact archives)
MAX_ANSWER_BYTES = 64 << 20  # 64 MiB: the largest answer read into memory
MAX_REDIRECTS = 5
CHUNK = 64 << 10
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


class NotSent(ConnectionFailed):
    """The connection failed before the request was sent (refused, DNS, connect timeout):
    nothing reached the server, so trying again cannot deliver anything twice."""


class BadResponse(SourceError):
    kind = "bad_response"


class TooLarge(BadResponse):
    """An answer past its size cap; refused unread."""


class OffHost(SourceError):
    """A redirect or next-page link pointed away from the configured host; nothing was sent."""

    kind = "off_host"


# --- secrets and redaction -------------------------------------------------------------------

_SECRETS: set[str] = set()
_URLSAFE = str.maketrans("+/", "-_")


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on ``raw``, at each of the three alignments it
    can have inside a longer encoded string (e.g. the token in a Basic ``user:token`` pair).
    Character i covers bits [6i, 6i+6); ``raw`` covers [8k, 8(k+n)) after k leading bytes."""
    cores = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode("ascii")
        core = enc[-(-8 * k // 6):(8 * (k + len(raw))) // 6]
        if len(core) >= 6:
            cores.update({core, core.translate(_URLSAFE), core.replace("/", "\\/"),
                          quote(core, safe="")})
    return cores


def register_secret(value: str | None) -> None:
    """Remember a secret so :func:`redact` removes it, in any escaping, from any text."""
    if not value or len(value) < 4:
        return
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             repr(value)[1:-1], value.encode("unicode_escape").decode("ascii"),
             quote(value, safe=""), quote(value), quote_plus(value)}
    forms |= _base64_cores(value.encode("utf-8"))
    _SECRETS.update(f for f in forms if len(f) >= 4)


def redact(text: str) -> str:
    """``text`` with every registered secret and any bearer/basic credential replaced."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return re.sub(r"(?i)(authorization:?\s*(bearer|basic|token)\s+)\S+", r"\1***", text)


def _register_header(value: str) -> None:
    """Register a credential header's value, its credential part, and for Basic the password
    (a user name alone is not a secret: it is often a word like ``jenkins``)."""
    register_secret(value)
    scheme, _, cred = value.partition(" ")
    if not cred:
        return
    register_secret(cred)
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(cred, validate=True).decode("utf-8") \
                .partition(":")
        except (ValueError, UnicodeDecodeError):
            return
        register_secret(password)


# --- URLs ------------------------------------------------------------------------------------

def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _display(url: str) -> str:
    """``url`` safe to print: no userinfo, at most 100 characters."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else url.rpartition("@")[2]
    return shown if len(shown) <= 100 else shown[:99] + "…"


def check_base_url(url: str, source: str, credentials_hint: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is an http(s) URL naming a host, without
    ``user:password@`` (credentials go in the environment, named by ``credentials_hint``)."""
    parts = urlsplit(url.strip())
    if "@" in parts.netloc:
        raise ConfigError(
            f"{source}: the URL holds credentials (user:password@) — remove them from the "
            f"URL; credentials go in the environment: {credentials_hint}")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{source}: the URL must start with http:// or https:// and name a "
                          f"host (got {_display(url)!r})")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"{source}: the URL's port is not a number 1-65535 "
                          f"(got {_display(url)!r})") from None


# --- retries ---------------------------------------------------------------------------------

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
        watch = getattr(_CURRENT, "watch", None)
        if watch is not None:
            watch.pause()  # a backoff is not the server being slow
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        self.clock.sleep(wait)


RateLimitPolicy = Callable[[requests.Response, int], "float | None"]

# Jenkins and any source without its own signals: a 429 waits Retry-After, else backs off.
retry_after_policy: RateLimitPolicy = RETRY_AFTER_POLICY


class _DeadlinePassed(Exception):
    """Raised into urllib3 when a retry would start after the deadline; not one of the
    errors urllib3 retries, so it ends the exchange."""


class _Watch:
    """The deadline of one round trip. ``requests``' timeout bounds each socket read, so a
    server trickling its headers or body would never time out; when the deadline passes, a
    timer shuts the round trip's socket down, which ends any blocked read at once. Each
    attempt urllib3 makes (after a 5xx or a refused connection) gets the full deadline; its
    backoff sleeps are not counted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.conn: Any = None
        self.expired = False
        self.armed_at = time.monotonic()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        """A round trip starts on ``conn``: (re)start the full deadline."""
        with self._lock:
            if self.expired:
                raise _DeadlinePassed()
            self._cancel()
            self.conn = conn
            self.armed_at = time.monotonic()
            self._timer = threading.Timer(self.seconds, self.expire)
            self._timer.args = (self._timer,)
            self._timer.daemon = True
            self._timer.start()

    def pause(self) -> None:
        """Between round trips (a backoff sleep) and at the end: no deadline, no socket."""
        with self._lock:
            self._cancel()
            self.conn = None

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def expire(self, timer: threading.Timer | None = None) -> None:
        with self._lock:
            if timer is not self._timer:
                return  # paused, finished or re-armed meanwhile
            self.expired = True
            sock = getattr(self.conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_CURRENT = threading.local()  # the _Watch of the exchange running in this thread


class _WatchedPool:
    """Mixin for urllib3 pools: hands each connection to the current exchange's watch."""

    def _make_request(self, conn, *args: Any, **kwargs: Any):
        watch = getattr(_CURRENT, "watch", None)
        if watch is not None:
            watch.attach(conn)
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    pass


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool,
                                                   "https": _WatchedHTTPSPool}


class _CutOff(Exception):
    """The body stopped before its end (connection dropped, broken chunked encoding)."""


# Read errors that mean "the connection broke", worth another try like a 5xx.
_DROPPED = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError,
            requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)


@dataclass
class HttpClient:
    """A session for one source. Counts requests and 304s for ``sync_runs``.

    ``auth_headers`` hold the credentials; they are attached to each request that goes to the
    base URL's origin, and to no other. ``deadline`` (seconds) bounds one whole exchange and
    ``max_answer_bytes`` an answer read into memory. ``notify`` is told about rate-limit waits
    of 5 s or more (a long silent pause looks like a hang).
    """

    base_url: str
    source: str
    auth_headers: dict[str, str] = field(default_factory=dict, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)  # (user, token)
    token_hint: str = "the token"  # e.g. "GITHUB_TOKEN", used in the 401 message
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    retries: int = 4
    max_wait: float = 900.0
    clock: Clock = field(default_factory=lambda: SYSTEM_CLOCK)
    rate_limit_policy: RateLimitPolicy = retry_after_policy
    max_rate_limit_waits: int = 8
    deadline: float = field(default_factory=lambda: REQUEST_DEADLINE_S)
    download_deadline: float = field(default_factory=lambda: DOWNLOAD_DEADLINE_S)
    max_answer_bytes: int = field(default_factory=lambda: MAX_ANSWER_BYTES)
    notify: Callable[[str], None] | None = None
    # False: a request is sent at most once (webhooks). Retried only when the connection failed
    # before it was sent, or on a rate limit (the server refused it); never after a 5xx, a
    # dropped connection or a cut-off answer, when the server may have acted on it.
    resend: bool = True
    requests_made: int = 0
    not_modified: int = 0
    session: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_base_url(self.base_url, self.source, self.token_hint)
        if not (math.isfinite(self.max_wait) and self.max_wait >= 0):
            # from readiness.toml; --max-wait is checked by argparse already
            raise ConfigError(f"{self.source}: max_wait must be zero or more seconds "
                              f"(got {self.max_wait})")
        for name, value in self.auth_headers.items():
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise ConfigError(f"{self.source}: the credential for the {name} header holds "
                                  f"a control character — set {self.token_hint} again")
            _register_header(value)
        self._auth: requests.auth.HTTPBasicAuth | None = None
        if self.basic_auth:
            user, token = self.basic_auth
            if any(ord(c) < 32 or ord(c) == 127 for c in user + token):
                raise ConfigError(f"{self.source}: the user name or token holds a control "
                                  f"character — set {self.token_hint} again")
            pair = base64.b64encode(f"{user}:{token}".encode("utf-8")).decode("ascii")
            _register_header(f"Basic {pair}")
            self._auth = requests.auth.HTTPBasicAuth(user.encode("utf-8"), token.encode("utf-8"))
        self.session = requests.Session()
        if self.resend:
            retry = ClockRetry(
                total=self.retries, connect=self.retries, read=self.retries,
                status=self.retries, backoff_factor=1.0, backoff_max=60,
                status_forcelist=(500, 502, 503, 504),
                # POST is only used for read-only queries (GraphQL counts), so it retries too.
                allowed_methods=frozenset({"GET", "HEAD", "POST"}),
                respect_retry_after_header=True, raise_on_status=False, clock=self.clock,
            )
        else:  # connection errors before sending only: no method is retried after sending
            retry = ClockRetry(
                total=self.retries, connect=self.retries, read=0, status=0, other=0,
                # POST is not among these (an empty set would mean "every method")
                backoff_factor=1.0, backoff_max=60, allowed_methods=frozenset({"GET", "HEAD"}),
                raise_on_status=False, clock=self.clock,
            )
        adapter = _WatchedAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT

    def __repr__(self) -> str:  # never the headers
        return f"HttpClient(source={self.source!r}, base_url={self.base_url!r})"

    # --- URLs -----------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        if urlsplit(path_or_url).scheme and "://" in path_or_url:
            return path_or_url
        return urljoin(self.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    def on_host(self, url: str) -> bool:
        """True when ``url`` is on the base URL's origin (scheme, host and port)."""
        return _origin(url) == _origin(self.base_url)

    def off_host(self, what: str, url: str) -> OffHost:
        return OffHost(f"{self.source}: {what} points at {_host(url)}, not the configured "
                       f"{_host(self.base_url)} — stopped; nothing was sent there (check the "
                       "server's configured URL)")

    # --- requests -------------------------------------------------------------------------
    def get(self, path_or_url: str, *, params: dict | None = None,
            headers: dict | None = None, stream: bool = False, allow: tuple[int, ...] = (),
            anonymous_redirects: bool = False) -> requests.Response:
        """GET with retries and rate-limit waits; raise :class:`SourceError` on failure.

        A 304 is returned as-is (callers asked for it with an ETag). Status codes in ``allow``
        (e.g. 404 for "no test report") are returned instead of raised. The body is read
        (within the deadline and size cap) unless ``stream``; then read it with
        :meth:`iter_body`. ``anonymous_redirects`` follows a redirect to another host without
        any credential (signed download URLs); otherwise such a redirect raises
        :class:`OffHost`.
        """
        return self._request("GET", path_or_url, params=params, headers=headers,
                             stream=stream, allow=allow, anonymous_redirects=anonymous_redirects)

    def post_json(self, path_or_url: str, body: Any, *, headers: dict | None = None,
                  allow: tuple[int, ...] = ()) -> tuple[Any, requests.Response]:
        """POST ``body`` as JSON and decode the JSON answer: ``(json, response)``, like
        :meth:`get_json`. Same host pinning, retries (5xx, dropped connections), rate-limit
        waits and one-line errors as GET. For read-only queries (GraphQL, counts): a 5xx is
        retried, so the request must be safe to repeat."""
        resp = self._request("POST", path_or_url, json_body=body, headers=headers, allow=allow)
        try:
            return self.decode(resp), resp
        except ValueError:
            raise BadResponse(f"{self.source}: the answer from {_path(resp.url)} was not JSON; "
                              "stored data is intact, a rerun resumes") from None

    def post_once(self, path_or_url: str, body: Any, *, headers: dict | None = None,
                  allow: tuple[int, ...] = ()) -> requests.Response:
        """POST ``body`` as JSON for a client made with ``resend=False``: the request goes at
        most once (a 429 is waited out and sent again: the server refused it). Raises
        :class:`NotSent` when the connection failed before sending, another
        :class:`SourceError` otherwise; returns the 2xx answer (or one in ``allow``), its body
        read."""
        if self.resend:
            raise ValueError("post_once needs an HttpClient made with resend=False")
        return self._request("POST", path_or_url, json_body=body, headers=headers, allow=allow)

    def _before_request(self) -> None:
        """Hook: called before each request (GitHub waits out a used-up limit here)."""

    def _after_response(self, resp: requests.Response) -> None:
        """Hook: called with each successful answer."""

    def _request(self, method: str, path_or_url: str, *, params: dict | None = None,
                 headers: dict | None = None, json_body: Any = None, stream: bool = False,
                 allow: tuple[int, ...] = (), anonymous_redirects: bool = False
                 ) -> requests.Response:
        url = self.url(path_or_url)
        if not self.on_host(url):
            raise self.off_host(f"the link to {_path(url)}", url)
        credentials = True  # dropped for good once a redirect leaves the configured host
        waits, waited, hops = 0, 0.0, 0
        while True:
            self._before_request()
            resp = self._exchange(method, url, params, headers, json_body, stream, credentials)
            if resp.is_redirect:
                resp.close()
                hops += 1
                target = urljoin(resp.url, resp.headers["Location"])
                if hops > MAX_REDIRECTS:
                    raise BadResponse(f"{self.source}: more than {MAX_REDIRECTS} redirects from "
                                      f"{_path(url)} — check the server's URL")
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise self.off_host(f"a redirect from {_path(url)}", target)
                if not (credentials and self.on_host(target)):
                    if not anonymous_redirects:
                        raise self.off_host(f"a redirect from {_path(url)}", target)
                    credentials = False
                if method == "POST" and resp.status_code not in (307, 308):
                    raise BadResponse(f"{self.source}: {_path(url)} answered a query with a "
                                      f"redirect ({resp.status_code}) — check the server's URL")
                url, params = target, None  # the Location carries its own query
                continue
            if resp.status_code == 304:
                self.not_modified += 1
                return resp
            wait = self.rate_limit_policy(resp, waits)
            if wait is not None:
                self._check_wait(wait, waits, waited)
                if wait >= 5 and self.notify:
                    self.notify(f"{self.source}: rate limited — waiting {_secs(wait)} s, "
                                "then resuming")
                resp.close()
                waits += 1
                waited += max(wait, 0.0)
                self.clock.sleep(max(wait, 0.0))
                continue
            if resp.ok or resp.status_code in allow:
                self._after_response(resp)
                return resp
            raise self.error_for(resp)

    def _check_wait(self, wait: float, waits: int, waited: float) -> None:
        """Raise :class:`RateLimited` when ``wait`` is past ``max_wait`` or the waits are used
        up; the message states this wait, the limit, and what was waited already."""
        before = f" (after {waits} waits, {_secs(waited)} s in all)" if waits else ""
        if wait > self.max_wait:
            raise RateLimited(
                f"{self.source}: rate limited; the next wait would be {_secs(wait)} s, more "
                f"than --max-wait {_secs(self.max_wait)} s{before} — rerun later, it resumes")
        if waits >= self.max_rate_limit_waits:
            raise RateLimited(
                f"{self.source}: still rate limited{before} — rerun later, it resumes")

    def _exchange(self, method: str, url: str, params: dict | None, headers: dict | None,
                  json_body: Any, stream: bool, credentials: bool) -> requests.Response:
        """One request (urllib3 retries 5xx and failed connections inside it); the body read
        within the deadline, a body cut off mid-way retried like a 5xx."""
        send_headers = dict(headers or {})
        auth = None
        if credentials and self.on_host(url):
            # per request, never on the session: nothing can carry them to another origin
            send_headers.update(self.auth_headers)
            auth = self._auth
        for attempt in range(self.retries + 1 if self.resend else 1):
            self.requests_made += 1
            watch = _CURRENT.watch = _Watch(self.deadline)
            try:
                try:
                    resp = self._send(method, url, params, send_headers, json_body, auth)
                except (SourceError, _DeadlinePassed):
                    if watch.expired:
                        raise self._too_slow(url, self.deadline) from None
                    raise
                resp._shipready_started = watch.armed_at  # type: ignore[attr-defined]
                if stream:
                    return resp  # iter_body keeps its own deadline
                try:
                    resp._content = b"".join(self._chunks(resp, watch.armed_at + self.deadline,
                                                          self.max_answer_bytes, url))
                except _CutOff:
                    resp.close()
                    if watch.expired:
                        raise self._too_slow(url, self.deadline) from None
                    if attempt == self.retries or not self.resend:
                        raise ConnectionFailed(
                            f"{self.source}: the answer from {_host(url)} was cut off "
                            f"{attempt + 1} times — try again later (stored data is intact, a "
                            "rerun resumes)") from None
                except ConnectionFailed:
                    if watch.expired:
                        raise self._too_slow(url, self.deadline) from None
                    raise
                else:
                    if watch.expired:  # a socket shut at a chunk boundary looks like the end
                        raise self._too_slow(url, self.deadline)
                    return resp
            finally:
                watch.pause()
                _CURRENT.watch = None
            self.clock.sleep(TRANSIENT_BACKOFF.seconds(attempt))  # cut off: try again
        raise AssertionError("unreachable")

    def _too_slow(self, url: str, seconds: float) -> ConnectionFailed:
        return ConnectionFailed(
            f"{self.source}: {_host(url)} sent {_path(url)} too slowly (over {_secs(seconds)} s) "
            "— try again later; stored data is intact, a rerun resumes")

    def _send(self, method: str, url: str, params: dict | None, headers: dict,
              json_body: Any, auth: requests.auth.AuthBase | None = None) -> requests.Response:
        timeout = (self.timeout[0], min(self.timeout[1], self.deadline))
        try:
            return self.session.request(method, url, params=params, headers=headers,
                                        json=json_body, auth=auth, stream=True,
                                        timeout=timeout, allow_redirects=False)
        except requests.exceptions.SSLError:
            # Not NotSent: urllib3 reports TLS errors while reading the answer this way too.
            raise ConnectionFailed(
                f"{self.source}: TLS failed for {_host(url)} — check the URL and certificates"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise NotSent(
                f"{self.source}: {_host(url)} did not answer in time; try again later"
            ) from None
        except requests.exceptions.RetryError:
            raise BadResponse(
                f"{self.source}: {_host(url)} kept answering with server errors; "
                "try again later (stored data is intact, a rerun resumes)"
            ) from None
        except requests.exceptions.Timeout:
            raise ConnectionFailed(
                f"{self.source}: {_host(url)} did not answer in time; try again later"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            kind = NotSent if _before_sending(exc) else ConnectionFailed
            raise kind(
                f"{self.source}: cannot reach {_host(url)} ({_reason(exc)}) — check the URL "
                "and the network; stored data is intact, a rerun resumes"
            ) from None
        except (requests.exceptions.RequestException, ValueError, UnicodeError) as exc:
            # e.g. a header value requests refuses: its message would quote the header
            raise BadResponse(f"{self.source}: the request to {_host(url)} could not be sent "
                              f"({type(exc).__name__}) — check the URL and credentials") from None

    def _chunks(self, resp: requests.Response, deadline: float, limit: int,
                url: str) -> Iterator[bytes]:
        """The body in chunks as they arrive; each socket read returns what has come, so the
        monotonic ``deadline`` is checked however slowly the server sends."""
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            resp.close()
            raise self._too_big(url, limit)
        total = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    resp.close()
                    raise self._too_slow(url, deadline - resp._shipready_started)
                try:
                    data = resp.raw.read1(CHUNK, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError:
                    resp.close()  # a silent server: not worth another full wait
                    raise ConnectionFailed(f"{self.source}: {_host(url)} stopped sending "
                                           f"{_path(url)}; try again later") from None
                except _DROPPED:
                    raise _CutOff() from None
                if not data:
                    break
                total += len(data)
                if total > limit:
                    resp.close()
                    raise self._too_big(url, limit)
                yield data
        finally:
            resp._content_consumed = True

    def _too_big(self, url: str, limit: int) -> TooLarge:
        return TooLarge(f"{self.source}: the answer for {_path(url)} is larger than "
                           f"{limit >> 20} MB, the most ShipReady reads — refused; check the "
                           "server (stored data is intact)")

    def iter_body(self, resp: requests.Response, limit: int) -> Iterator[bytes]:
        """A streamed answer's body in chunks, within ``download_deadline`` of its request;
        :class:`TooLarge` past ``limit`` bytes, :class:`ConnectionFailed` if cut off."""
        url = resp.url
        try:
            yield from self._chunks(resp, resp._shipready_started + self.download_deadline,
                                    limit, url)
        except _CutOff:
            raise ConnectionFailed(f"{self.source}: the download from {_host(url)} was cut "
                                   "off — try again later") from None
        finally:
            resp.close()

    def get_json(self, path_or_url: str, **kwargs: Any) -> tuple[Any, requests.Response]:
        """GET and decode JSON; a non-JSON body is fetched again, then reported."""
        last = None
        for attempt in range(3):
            resp = self.get(path_or_url, **kwargs)
            if resp.status_code == 304:
                return None, resp
            try:
                return self.decode(resp), resp
            except ValueError as exc:
                last = exc
                if attempt < 2:
                    self.clock.sleep(TRANSIENT_BACKOFF.seconds(attempt))
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


def _secs(value: float) -> str:
    """Seconds for a message: whole when whole, else one decimal (never rounded to a value
    that misstates a limit by a whole second)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}".removesuffix(".0") if value < 1e6 else str(int(math.ceil(value)))


def _host(url: str) -> str:
    """``host[:port]`` of ``url``, never its userinfo."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return netloc or _display(url)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path or _display(url)


def _before_sending(exc: BaseException) -> bool:
    """Whether a connection error happened before the request was sent: urllib3 says so with
    a connect error (refused, DNS, connect timeout) as the reason of its last retry."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError carries the last error
    return isinstance(reason, (urllib3.exceptions.ConnectTimeoutError,
                               urllib3.exceptions.NewConnectionError))


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
