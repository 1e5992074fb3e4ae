"""Caps on stored text, and identities taken from text before it is capped.

A source can send a title, a name or a message of any length (a 16 MB test name, a 100 MB
failure trace). What is stored is capped at a documented number of characters, per kind:

========  =======  ==============================================================
kind      limit    used for
========  =======  ==============================================================
title     1,000    work item, pull request and incident titles
label       255    short names stored in 255-character columns: sprint, release and
                   milestone names, pipeline (workflow/job) names, environment names
name      2,000    test suite, class and case names
message   4,096    failure messages and traces, release and milestone descriptions
========  =======  ==============================================================

A capped text ends with :data:`ELLIPSIS`, so a reader sees it was cut (:func:`cap_unique`, for
text compared in SQL, puts a hash of the full text after it). Limits are in characters
(Python ``str`` length), not bytes.

A cap must never merge two things it truncates: wherever text is part of an identity (a test
is its class name + name), the identity is a hash of the *full* text, computed before the cap
(:func:`test_key`), and that hash, not the text, is what is indexed and compared.
"""

from __future__ import annotations

import hashlib

TITLE = 1000
LABEL = 255
NAME = 2000
MESSAGE = 4096
LIMITS = {"title": TITLE, "label": LABEL, "name": NAME, "message": MESSAGE}
ELLIPSIS = "…"
KEY_LENGTH = 32  # hex characters of a :func:`test_key` (128 bits)


def cap(text: str | None, limit: int) -> str | None:
    """``text`` cut to at most ``limit`` characters, the last one :data:`ELLIPSIS` when cut.
    None stays None; anything else that is not a string is returned unchanged."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[:limit - 1] + ELLIPSIS


def cap_unique(text: str | None, limit: int) -> str | None:
    """Like :func:`cap`, but two different texts stay different after it: past the limit the
    text is cut to make room for :data:`ELLIPSIS` and a hash of the full text (32 hex digits).
    For text compared as part of an identity in SQL (a JUnit suite name)."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[:limit - KEY_LENGTH - 1] + ELLIPSIS + _digest(text)


def _digest(*parts: str) -> str:
    # Each part but the last is length-prefixed, so ("ab", "c") and ("a", "bc") never meet.
    # One string, one hash call: this runs once per test case of every import.
    text = "".join(f"{len(p)}:{p}" for p in parts[:-1]) + parts[-1]
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                           digest_size=KEY_LENGTH // 2).hexdigest()


def test_key(classname: str | None, name: str | None) -> str:
    """The identity of a test across runs: a hash of its full class name and name (a missing
    class name is the empty one). Computed before any cap; ``test_results.test_key``."""
    classname = classname or ""
    return hashlib.blake2b(f"{len(classname)}:{classname}{name or ''}".encode(
        "utf-8", "surrogatepass"), digest_size=KEY_LENGTH // 2).hexdigest()


test_key.__test__ = False  # not a pytest test, whatever its name says
