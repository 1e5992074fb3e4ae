"""How values and source text are shown: the one place for number formatting, Markdown
escaping, HTML escaping and safe links. The readiness report, the CLI's text output and the
pages all call these, so a KPI reads the same everywhere.

Markdown escaping is by context, and only what would change the markup: ordinary punctuation
(``2.4``, ``NO-GO``, ``(score 57.9/100)``) stays as typed, because Slack, Jira, Confluence and
GitHub comments show needless backslashes literally. Text from sources (titles, test names,
messages) can still not make links, headings, lists, emphasis, code, HTML or table breaks.
"""

from __future__ import annotations

import html
import math
import re
from urllib.parse import quote

NO_DATA = "—"


# --- values -----------------------------------------------------------------------------------
def format_value(value: float | None, unit: str) -> str:
    """A value in ``unit`` for people.

    fraction → percent with one decimal, a trailing ``.0`` dropped (``96.1%``, ``100%``);
    hours → ``12.2 h``, from 72 h on in days (``4.0 d``); days → ``4.0 d``; per_day →
    ``1.40/day`` (one decimal from 10 on); ratio → ``0.56``; points → ``21 pts``; items →
    ``12 items``; counts → whole numbers with thousands separators (``1,204``); None or NaN
    → ``—`` (never 0).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_DATA
    value = float(value)
    if unit == "fraction":
        return f"{value * 100:.1f}%".replace(".0%", "%")
    if unit == "hours":
        return f"{value / 24:.1f} d" if abs(value) >= 72 else f"{value:.1f} h"
    if unit == "days":
        return f"{value:.1f} d"
    if unit == "per_day":
        return f"{value:.2f}/day" if abs(value) < 10 else f"{value:.1f}/day"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "points":
        return f"{value:g} pts" if value.is_integer() else f"{value:.1f} pts"
    text = f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    return f"{text} items" if unit == "items" else text


# --- links ------------------------------------------------------------------------------------
_SAFE_URL = re.compile(r"^https?://[^\s/?#<>\"'\\]+[^\s<>\"'\\]*$", re.IGNORECASE)


def safe_url(url: object) -> str | None:
    """``url`` when it is an http(s) URL with a host and no spaces, quotes, angle brackets or
    backslashes; None otherwise (javascript:, data:, relative paths are never linked)."""
    return url if isinstance(url, str) and _SAFE_URL.match(url) else None


# --- markdown ---------------------------------------------------------------------------------
def one_line(text: object, limit: int | None = None) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space),
    shortened to ``limit`` characters with an ellipsis."""
    out = " ".join(str(text if text is not None else "").split())
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out


# Anywhere in a line: code spans, emphasis (*), HTML tags, comments and autolinks (< before a
# letter, /, ! or ?), strikethrough (~), a backslash before punctuation (elsewhere a backslash
# is literal), and a ] that would close a link, an image or a reference — one followed by
# ( [ or : — so ``[chrome]`` in a parametrised test's name stays as typed.
_ALWAYS = re.compile(r"(\\(?=[!-/:-@\[-`{-~]|$)|<(?=[A-Za-z/!?])|[`*~]|\](?=[(\[:]))")
# Inside a link's label every bracket is escaped: an unbalanced one would end the label.
# (a bracket after an even run of backslashes is unescaped: each pair is one literal backslash)
_BRACKET = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]])")
# Underscores make emphasis only at a word edge (snake_case names are left alone).
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# At the start of a line: headings, block quotes, list items, ordered list items, and (in a
# list item) a task-list box ``[ ]`` / ``[x]``.
_LEADING = re.compile(r"^(#{1,6}(?=\s|$)|>|[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|\[(?=[ xX]\]))")


def _escape(text: object, limit: int | None, streamlit: bool, leading: bool) -> str:
    out = one_line(text, limit)
    out = _ALWAYS.sub(r"\\\1", out)
    out = _UNDERSCORE.sub(r"\\_", out)
    m = _LEADING.match(out) if leading else None
    if m:
        lead = m.group(1)
        if lead[0].isdigit():  # "1. x" would start a list: escape the dot or parenthesis
            out = lead + "\\" + out[len(lead):]
        else:
            out = "\\" + out
    if streamlit:
        out = out.replace("$", "\\$")
    return out


def md_inline(text: object, *, limit: int | None = None, streamlit: bool = False) -> str:
    """Source text as inert inline Markdown on one line (safe at the start of a line, in a
    heading or a list item too).

    Escaped: a backslash before punctuation, backtick, ``*``, ``~``, a ``]`` followed by
    ``(``, ``[`` or ``:`` (it would close a link, image or reference) and a ``<`` that could
    open a tag or autolink, anywhere; ``_`` at a word edge; a leading ``#``, ``>``, ``-``/``+``
    list marker, ``1.`` number or ``[x]`` task box. ``streamlit`` also escapes ``$`` (st.markdown renders
    ``$…$`` as LaTeX). Everything else is left as typed.
    """
    return _escape(text, limit, streamlit, leading=True)


def md_cell(text: object, *, limit: int | None = None, streamlit: bool = False) -> str:
    """Source text for a Markdown table cell: as :func:`md_inline`, plus ``|`` escaped (a bare
    pipe splits the cell); line-start markers need no escape inside a cell."""
    return _escape(text, limit, streamlit, leading=False).replace("|", "\\|")


def md_link(label: object, url: object, *, limit: int | None = None,
            streamlit: bool = False) -> str:
    """``[label](url)`` for a safe http(s) URL (parentheses in it percent-encoded), else the
    label alone; the label is escaped with :func:`md_inline`, and inside a link every bracket
    too."""
    text = md_inline(label, limit=limit, streamlit=streamlit)
    safe = safe_url(url)
    if not safe or not text:
        return text
    label_text = _BRACKET.sub(r"\1\\\2", text)
    return f"[{label_text}]({quote(safe, safe=':/?#@!$&*+,;=%~._-[]')})"


# --- html -------------------------------------------------------------------------------------
def html_text(text: object) -> str:
    """Text made inert in HTML (``<``, ``>``, ``&`` and both quotes escaped)."""
    return html.escape(str(text if text is not None else ""), quote=True)


def html_link(label: object, url: object) -> str:
    """``<a>`` for a safe http(s) URL, else the escaped label alone."""
    safe = safe_url(url)
    if safe:
        return f'<a href="{html_text(safe)}" rel="noopener noreferrer">{html_text(label)}</a>'
    return html_text(label)
