"""Posting a notification to a webhook — the one module under metrics/ that calls out
(docs/architecture.md, Dependency direction).

The webhook URL is a secret (whoever has it can post to the channel): it is read only from
the environment or ``.streamlit/secrets.toml`` (net/secrets.py), registered for redaction
with its path and query parts (a Slack URL's secret is its path, a Teams workflow's its
``sig`` parameter), and never printed, logged or stored. The post goes through
:class:`net.http.HttpClient` with ``resend=False``: sent at most once, retried only when the
connection failed before the request went out or on a 429; credentials, redirects (never off
the webhook's host), deadlines and redaction are the shared client's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from data.config import ConfigError
from net.http import (SYSTEM_CLOCK, Clock, HttpClient, NotSent, RateLimited, SourceError,
                      redact, register_secret)
from net.secrets import get_secret

SOURCE = "notify"
DEADLINE_S = 30.0  # one post: connect, send, answer
MAX_WAIT_S = 60.0  # the longest 429 wait before the message is left for the next run
RETRIES = 3  # connection attempts that failed before sending
SECRET_PART_CHARS = 16  # path segments and query values this long are treated as secret
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[A-Za-z0-9_.~%+-]{" + str(SECRET_PART_CHARS) + ",}")


class _Redacting(logging.Filter):
    """urllib3 logs request lines (``POST /services/… HTTP/1.1``) at DEBUG: scrub them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_Redacting())


@dataclass(frozen=True)
class Delivery:
    """How a post went. ``status``: ``sent`` (a 2xx answer), ``unsent`` (nothing reached the
    server, or it answered 429 every time: safe to try again), ``failed`` (the server may
    have acted on it, or refused it: never sent again). ``error`` is one redacted line."""

    status: str
    http_status: int | None = None
    error: str | None = None


def _register_parts(url: str) -> None:
    parts = urlsplit(url)
    register_secret(url)
    register_secret(parts.path)
    register_secret(parts.query)
    # Long runs of token characters: the secret pieces of a path or query, one by one.
    for piece in _TOKEN.findall(f"{parts.path}?{parts.query}"):
        register_secret(piece)
    for _key, value in parse_qsl(parts.query):
        if len(value) >= SECRET_PART_CHARS:
            register_secret(value)


def webhook_url(variable: str) -> str:
    """The webhook URL held by ``variable`` (environment, else .streamlit/secrets.toml).
    :class:`ConfigError` when unset or not an http(s) URL; the message never shows it."""
    if not _VARIABLE.fullmatch(variable or ""):
        # Not echoed: what was given may be the webhook URL itself.
        raise ConfigError("notify: the webhook variable must be the name of an environment "
                          "variable (letters, digits and _), not the URL itself — put the URL "
                          "in a variable and name that")
    url = get_secret(variable)
    if not url:
        raise ConfigError(f"notify: {variable} is not set — put the webhook URL in that "
                          "environment variable or in .streamlit/secrets.toml")
    _register_parts(url)
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or "@" in parts.netloc:
        raise ConfigError(f"notify: {variable} does not hold an http(s) webhook URL naming a "
                          "host (its value is not shown: it is a secret)")
    return url


class WebhookSender:
    """Posts JSON bodies to one webhook URL, each at most once."""

    def __init__(self, url: str, *, variable: str = "the webhook variable",
                 clock: Clock | None = None, max_wait: float = MAX_WAIT_S) -> None:
        _register_parts(url)
        parts = urlsplit(url)
        self._url = url
        self.host = parts.netloc.rpartition("@")[2]
        # The client's base URL is the origin alone: its repr and messages never show the path.
        self.client = HttpClient(base_url=f"{parts.scheme}://{self.host}/", source=SOURCE,
                                 token_hint=variable, resend=False, retries=RETRIES,
                                 max_wait=max_wait, max_rate_limit_waits=3,
                                 deadline=DEADLINE_S, clock=clock or SYSTEM_CLOCK)

    def __repr__(self) -> str:
        return f"WebhookSender(host={self.host!r})"

    def post(self, body: dict) -> Delivery:
        """Post ``body``; never raises for a failed delivery (see :class:`Delivery`)."""
        try:
            resp = self.client.post_once(self._url, body, allow=_NOT_OK)
        except NotSent as exc:
            return Delivery("unsent", None, redact(str(exc)))
        except RateLimited as exc:
            return Delivery("unsent", 429, redact(str(exc)))
        except SourceError as exc:
            return Delivery("failed", None, redact(str(exc)))
        code = resp.status_code
        if 200 <= code < 300:
            return Delivery("sent", code)
        answer = " ".join(resp.text.split())[:120]
        said = f" ({redact(answer)})" if answer else ""
        return Delivery("failed", code,
                        f"notify: {self.host} answered HTTP {code}{said} — the message was "
                        "not delivered and is not sent again; check the webhook and its "
                        "channel")

    def close(self) -> None:
        self.client.close()


# Answers handled here rather than as the client's SourceError (whose 404 text names the
# path, which for a webhook is secret); 429 never gets here: the client waits it out.
_NOT_OK = tuple(range(300, 600))
