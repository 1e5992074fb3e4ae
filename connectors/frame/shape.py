"""Answers of the wrong shape become one line naming the resource and page.

An answer that is valid JSON but not what the endpoint returns (``null``, a list for an
object, a missing id) stops the sync with one :class:`~net.http.BadResponse` line; nothing of
it is stored, and a listing it interrupts is never complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from net.http import BadResponse, SourceError, redact


_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@contextmanager
def reading(source: str, where: Callable[[], str]) -> Iterator[None]:
    """Turn an answer of the wrong shape met while reading it (a missing field, ``null`` or a
    list where an object belongs) into one :class:`BadResponse` line naming ``where()`` —
    the resource and page. Transactions inside roll back, so what was stored stays."""
    try:
        yield
    except SourceError:
        raise
    except _SHAPE_ERRORS as exc:
        detail = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:200]
        raise BadResponse(
            f"{source}: malformed answer in {where()} ({detail}) — stored data is intact; "
            "rerun, and report it if it persists") from None


def bad_shape(source: str, where: str, expected: str, got: Any) -> BadResponse:
    """The one-line error for an answer that is not what the endpoint returns."""
    return BadResponse(
        f"{source}: malformed answer in {where}: expected {expected}, got {_kind(got)} — "
        "stored data is intact; rerun, and report it if it persists")


def list_of_objects(source: str, value: Any, where: str) -> list[dict]:
    """``value`` if it is a list of objects (what every list endpoint answers); else the
    one-line error naming ``where``."""
    if not isinstance(value, list):
        raise bad_shape(source, where, "a list", value)
    for item in value:
        if not isinstance(item, dict):
            raise bad_shape(source, where, "a list of objects", item)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
