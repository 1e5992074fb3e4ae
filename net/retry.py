"""One backoff and one rate-limit policy for every source.

Backoff is urllib3's own formula (:meth:`urllib3.util.retry.Retry.get_backoff_time`: doubling
from a first wait, jitter added, capped), the same urllib3 applies between its retries of 5xx
answers and failed connections inside :class:`net.http.HttpClient`; so a cut-off body, an
answer that is not JSON and a rate limit without a stated wait all back off alike.

A rate limit is a response the source marks as one. What each source says differs only in its
headers, so a source's policy is a :class:`RateLimitPolicy` with its statuses and, where it
has one, a reader for its reset header; the order of the signals is the same for all:
``Retry-After`` (seconds), else the source's reset header, else the backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import requests
from urllib3.util.retry import RequestHistory, Retry

_ERROR = RequestHistory("GET", None, None, None, None)


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before retry number ``attempt`` (0 for the first): ``first`` ×
    2^attempt, plus up to ``jitter`` seconds at random, at most ``cap``."""

    first: float
    cap: float
    jitter: float = 0.0

    def seconds(self, attempt: int) -> float:
        # urllib3 waits factor × 2^(n-1) after n consecutive errors (none after the first),
        # so attempt a is n = a + 2 errors with factor = first / 2.
        retry = Retry(total=None, backoff_factor=self.first / 2, backoff_max=self.cap,
                      backoff_jitter=self.jitter)
        return retry.new(history=(_ERROR,) * (attempt + 2)).get_backoff_time()


TRANSIENT_BACKOFF = Backoff(first=1.0, cap=60.0)  # a body cut off, an answer not JSON
RATE_LIMIT_BACKOFF = Backoff(first=60.0, cap=900.0)  # a limit that names no wait


def retry_after(resp: requests.Response) -> float | None:
    """``Retry-After`` in whole seconds, or None (absent, or an HTTP date)."""
    value = (resp.headers.get("Retry-After") or "").strip()
    return float(value) if value.isdigit() else None


ResetReader = Callable[[requests.Response, float], "float | None"]


@dataclass(frozen=True)
class RateLimitPolicy:
    """:class:`~net.http.HttpClient`'s rate-limit policy: called with a response and the
    number of waits so far, it returns the seconds to wait before trying again, or None when
    the response is not a rate limit.

    ``statuses``: the codes that may be a rate limit. ``needs_retry_after``: codes that are a
    rate limit only when they carry ``Retry-After`` (Jira's 503; otherwise urllib3 retries
    them as server errors). ``reset``: the source's reset header, read as seconds from now
    (``now`` is the clock's epoch seconds). ``limited``: whether a response in ``statuses``
    with no stated wait is a limit at all (GitHub's 403 may just be a permission problem).
    """

    statuses: frozenset[int] = frozenset({429})
    needs_retry_after: frozenset[int] = frozenset()
    reset: ResetReader | None = None
    limited: Callable[[requests.Response], bool] = field(default=lambda resp: True)
    backoff: Backoff = RATE_LIMIT_BACKOFF
    now: Callable[[], float] | None = None

    def __call__(self, resp: requests.Response, attempt: int) -> float | None:
        code = resp.status_code
        if code not in self.statuses:
            return None
        stated = retry_after(resp)
        if stated is not None:
            return stated
        if code in self.needs_retry_after:
            return None
        if self.reset is not None:
            wait = self.reset(resp, self.now() if self.now else time.time())
            if wait is not None:
                return wait
        if not self.limited(resp):
            return None
        return self.backoff.seconds(attempt)


def iso_reset(header: str, floor: float = 1.0) -> ResetReader:
    """A reset header holding an ISO 8601 moment (Jira's ``X-RateLimit-Reset``): seconds from
    now until then, at least ``floor``."""

    def read(resp: requests.Response, now: float) -> float | None:
        value = resp.headers.get(header)
        if not value:
            return None
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(when.timestamp() - now, floor)

    return read


# Jenkins (and the default): a 429 is a rate limit; Retry-After, else the backoff.
RETRY_AFTER_POLICY = RateLimitPolicy()
