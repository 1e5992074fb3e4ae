"""Calling out: the HTTP client and the secrets it carries, below every connector.

``net.http`` — :class:`~net.http.HttpClient` (one session per source: retries, rate-limit
waits, deadlines, size caps, credentials only to the configured origin, one-line errors) and
:func:`~net.http.redact`; ``net.secrets`` — :func:`~net.secrets.get_secret`. Anything that
calls out (connectors today, webhooks later) imports these; nothing here imports connectors.
"""
