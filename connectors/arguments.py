"""Command-line argument types and options every connector shares."""

from __future__ import annotations

import argparse
import math


def seconds(text: str) -> float:
    """A number of seconds, zero or more (argparse ``type=``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected zero or more seconds, got {text!r}")
    return value


def add_max_wait(parser: argparse.ArgumentParser, section: str) -> None:
    """``--max-wait SECONDS``: the longest rate-limit wait before a sync stops (it resumes on
    the next run); the default comes from ``[section] max_wait`` in readiness.toml."""
    parser.add_argument("--max-wait", type=seconds, default=None, metavar="SECONDS",
                        help="longest rate-limit wait in seconds before stopping "
                             f"(default: {section}.max_wait, 900)")


def bounded_text(what: str, limit: int, *, allow_empty: bool = False):
    """argparse ``type=`` for a name or identifier stored as given (a run id, a pipeline, a
    branch): at most ``limit`` characters, no control characters. Past the limit it could
    not be stored (the columns it lands in are bounded) or shown."""
    def parse(text: str) -> str:
        if not text and not allow_empty:
            raise argparse.ArgumentTypeError(f"expected a {what}, got an empty value")
        if len(text) > limit:
            raise argparse.ArgumentTypeError(
                f"the {what} is {len(text):,} characters long; at most {limit} are accepted")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise argparse.ArgumentTypeError(f"the {what} contains a control character "
                                             "(a newline or tab?); pass it on one line")
        return text
    return parse
