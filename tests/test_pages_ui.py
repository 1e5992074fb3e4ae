"""Pure pieces of the pages: value formatting, status words, escaping of source text."""

from __future__ import annotations

import re

import pytest

from ui import theme, widgets


@pytest.mark.parametrize("value,unit,shown", [
    (0.961, "fraction", "96.1%"),       # 0.961 × 100 = 96.1 (one formatter: metrics.format)
    (12.25, "hours", "12.2 h"),          # under 72 h stays in hours (banker's rounding of .25)
    (96.0, "hours", "4.0 d"),            # 96 h / 24 = 4 days
    (1.4, "per_day", "1.40/day"),
    (21.0, "points", "21 pts"),
    (3.0, "count", "3"),
    (0.85, "ratio", "0.85"),
    (None, "fraction", "—"),             # no data is a dash, never 0 %
])
def test_format_value(value, unit, shown):
    assert widgets.format_value(value, unit) == shown


@pytest.mark.parametrize("status,label", [
    ("PASS", "✅ PASS"), ("WARN", "⚠️ WARN"), ("FAIL", "❌ FAIL"), ("NO_DATA", "❔ NO DATA"),
    ("no data", "❔ NO DATA"), ("WAIVED", "🛡 WAIVED"),
])
def test_status_is_icon_and_word(status, label):
    assert theme.status_label(status) == label


@pytest.mark.parametrize("verdict,label", [
    ("GO", "✅ GO"), ("AT_RISK", "⚠️ AT RISK"), ("NO_GO", "❌ NO-GO"), ("NO-GO", "❌ NO-GO"),
    (None, "❔ NO DATA"),
])
def test_verdict_is_icon_and_word(verdict, label):
    assert theme.verdict_label(verdict) == label


def test_source_text_is_inert_markdown():
    title = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold**"
    escaped = widgets.md_escape(title)
    assert re.search(r"(?<!\\)<", escaped) is None  # no tag can open
    assert "[click\\](javascript:alert(1))" in escaped  # no link: its ] is escaped
    assert "\\*\\*bold\\*\\*" in escaped


def test_only_http_links_are_kept():
    assert widgets.safe_url("https://jira.example/browse/PAY-1") == "https://jira.example/browse/PAY-1"
    assert widgets.safe_url("javascript:alert(1)") is None
    assert widgets.safe_url(None) is None
    md = widgets.evidence_markdown([{"label": "PAY-1 [x]", "url": "javascript:x"},
                                    {"label": "PAY-2", "url": "https://j/PAY-2"}])
    assert md == "PAY-1 [x], [PAY-2](https://j/PAY-2)"  # [x] closes no link: as typed


def test_one_template_is_the_default():
    import plotly.io as pio

    assert theme.register() == "shipready"
    assert pio.templates.default == "shipready"
    assert list(pio.templates["shipready"].layout.colorway) == theme.PALETTE


def test_burndown_marks_scope_changes_with_the_items_named():
    from datetime import date

    import pandas as pd

    from ui import figures

    df = pd.DataFrame({"day": [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)],
                       "remaining": [10.0, 12.0, 7.0], "guideline": [10.0, 5.0, 0.0],
                       "scope_change": [0.0, 2.0, -1.0],
                       "changes": ["", "+PAY-3 (2)", "−PAY-4 (1)"]})
    fig = figures.burndown(df, "points")
    names = [t.name for t in fig.data]
    assert names == ["Guideline", "Remaining", "Scope change"]
    markers = fig.data[2]
    assert list(markers.customdata) == ["+PAY-3 (2)", "−PAY-4 (1)"]  # only the days that changed
    assert list(markers.marker.symbol) == ["triangle-up", "triangle-down"]
    assert fig.layout.template.layout.colorway == tuple(theme.PALETTE)


def test_forecast_colours_trials_after_the_target_as_late():
    from datetime import date

    from ui import figures

    fig = figures.forecast([date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 8)],
                           [0.5, 0.3, 0.2], target=date(2026, 12, 7),
                           marks={"P85": date(2026, 12, 8)})
    assert list(fig.data[0].marker.color) == [theme.PALETTE[0], theme.PALETTE[0], theme.BAD]
    assert {s.line.color for s in fig.layout.shapes} >= {theme.BAD}  # the target line
