"""metrics/format.py: one formatter for values, Markdown escaping by context, safe links.

Expectations are written by hand from the rules in the module's docstrings.
"""

from __future__ import annotations

import pytest

from metrics.format import (format_value, html_link, html_text, md_cell, md_inline, md_link,
                            safe_url)


@pytest.mark.parametrize("value,unit,shown", [
    (0.985, "fraction", "98.5%"),
    (1.0, "fraction", "100%"),           # a trailing .0 is dropped
    (0.0, "fraction", "0%"),             # zero is a value, not no data
    (12.25, "hours", "12.2 h"),          # banker's rounding of .25
    (71.9, "hours", "71.9 h"),
    (72.0, "hours", "3.0 d"),            # from 72 h on in days: 72 / 24
    (36.0, "days", "36.0 d"),
    (1.4, "per_day", "1.40/day"),
    (12.34, "per_day", "12.3/day"),      # one decimal from 10 a day on
    (5 / 9, "ratio", "0.56"),
    (21.0, "points", "21 pts"),
    (2.5, "points", "2.5 pts"),
    (12.0, "items", "12 items"),
    (1204.0, "count", "1,204"),
    (None, "count", "—"),
    (float("nan"), "hours", "—"),
])
def test_format_value(value, unit, shown):
    assert format_value(value, unit) == shown


@pytest.mark.parametrize("text", [
    "Release PAY 2.4: NO-GO (score 57.9/100)",
    "Fix 3.5% drop in checkout (iOS) - urgent!",
    "a > b, x <= 2, 50/50 + tax = 1.2; {json}",
    "snake_case_name and under_scored",
    "C:\\temp\\new folder",       # a backslash before a letter is literal in Markdown
    "#123 crashes on 2024.5 release",  # no heading without a space, no list without one
    "test_login[chrome-1.2] [slow] fails",  # brackets that close no link: as typed
])
def test_ordinary_punctuation_is_left_as_typed(text):
    assert md_inline(text) == text
    assert md_cell(text) == text


@pytest.mark.parametrize("title,inline", [
    ("# Drop the table", "\\# Drop the table"),
    ("## h2", "\\## h2"),
    ("> quoted", "\\> quoted"),
    ("- bullet", "\\- bullet"),
    ("+ bullet", "\\+ bullet"),
    ("1. first", "1\\. first"),
    ("12) twelfth", "12\\) twelfth"),
    ("[click](https://evil.example)", "[click\\](https://evil.example)"),
    ("![img](https://evil.example/x.png)", "![img\\](https://evil.example/x.png)"),
    ("[ref][evil] and [x]: https://evil.example", "[ref\\][evil] and [x\\]: https://evil.example"),
    ("[x] done", "\\[x] done"),       # a task-list box at the start of a list item
    ("`rm -rf`", "\\`rm -rf\\`"),
    ("**bold** and *it*", "\\*\\*bold\\*\\* and \\*it\\*"),
    ("__bold__ _it_", "\\_\\_bold\\_\\_ \\_it\\_"),
    ("~~struck~~", "\\~\\~struck\\~\\~"),
    ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)>"),
    ("</div><!-- x -->", "\\</div>\\<!-- x -->"),
    ("<https://evil.example>", "\\<https://evil.example>"),
    ("a \\*not bold\\*", "a \\\\\\*not bold\\\\\\*"),   # the backslash cannot undo our escape
    ("line one\n# line two\n\n- three", "line one # line two - three"),
])
def test_hostile_titles_cannot_make_markup(title, inline):
    assert md_inline(title) == inline


def test_table_cell_escapes_pipes_and_not_line_starts():
    assert md_cell("a | b") == "a \\| b"
    assert md_cell("# not a heading in a cell") == "# not a heading in a cell"
    assert md_cell("x\n| --- |\n| forged | row |") == "x \\| --- \\| \\| forged \\| row \\|"
    assert md_cell("[x](https://e)") == "[x\\](https://e)"
    assert md_inline("a | b") == "a | b"  # outside a table a pipe is harmless


def test_streamlit_escapes_dollars_too():
    assert md_inline("costs $5 and $6") == "costs $5 and $6"
    assert md_inline("costs $5 and $6", streamlit=True) == "costs \\$5 and \\$6"


def test_limit_shortens_before_escaping():
    assert md_inline("abcdef*", limit=4) == "abc…"
    assert md_inline("*abcdef", limit=4) == "\\*ab…"


@pytest.mark.parametrize("url,safe", [
    ("https://jira.example/browse/PAY-1", "https://jira.example/browse/PAY-1"),
    ("HTTP://ci.example/job/1", "HTTP://ci.example/job/1"),
    ("javascript:alert(1)", None),
    ("data:text/html,<b>x</b>", None),
    ("//evil.example/x", None),
    ("https://", None),
    ("https://a.example/x y", None),
    ('https://a.example/"onmouseover=x', None),
    ("https://a.example/<script>", None),
    (None, None),
    (42, None),
])
def test_safe_url(url, safe):
    assert safe_url(url) == safe


def test_links_keep_only_http_and_escape_their_text():
    assert md_link("PAY-1", "https://j.example/PAY-1") == "[PAY-1](https://j.example/PAY-1)"
    assert md_link("PAY-2 [x]", "javascript:alert(1)") == "PAY-2 [x]"
    # inside a link's label every bracket is escaped, or an unbalanced one ends the label
    assert md_link("t[a] b]", "https://e.example") == "[t\\[a\\] b\\]](https://e.example)"
    # a ")" in the URL cannot end the destination early
    assert md_link("w", "https://w.example/a_(b)") == "[w](https://w.example/a_%28b%29)"
    assert md_link("# x", "https://e.example") == "[\\# x](https://e.example)"
    assert html_link("a<b", "https://e.example/?q=1&r=2") == \
        '<a href="https://e.example/?q=1&amp;r=2" rel="noopener noreferrer">a&lt;b</a>'
    assert html_link("x", "javascript:alert(1)") == "x"
    assert html_text('"<b>" & \'x\'') == "&quot;&lt;b&gt;&quot; &amp; &#x27;x&#x27;"
