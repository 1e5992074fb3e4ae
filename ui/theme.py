"""One look for every page: the palette, the plotly template and the status vocabulary.

Status is always icon + word (+ colour), never colour alone, so it survives a black-and-white
printout and colour-blind readers. The plotly template is registered once as ``shipready`` and
made the default, so figure builders never set colours of their own.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

# Okabe–Ito based: distinguishable for the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000"]
GOOD = "#009E73"
WARN = "#E69F00"
BAD = "#D55E00"
NEUTRAL = "#7F7F7F"
INFO = "#0072B2"

SEVERITY_COLOURS = {"critical": "#B2182B", "high": "#EF8A62", "medium": "#F4C542",
                    "low": "#67A9CF", "unset": NEUTRAL}
CATEGORY_COLOURS = {"todo": "#BABABA", "in_progress": "#56B4E9", "done": "#009E73"}

# status -> (icon, word, colour)
STATUS = {
    "PASS": ("✅", "PASS", GOOD),
    "WARN": ("⚠️", "WARN", WARN),
    "FAIL": ("❌", "FAIL", BAD),
    "NO_DATA": ("❔", "NO DATA", NEUTRAL),
    "WAIVED": ("🛡", "WAIVED", INFO),
}
VERDICT = {
    "GO": ("✅", "GO", GOOD),
    "AT_RISK": ("⚠️", "AT RISK", WARN),
    "NO_GO": ("❌", "NO-GO", BAD),
}
SYNC_OUTCOME = {
    "success": ("✅", "success", GOOD),
    "failed": ("❌", "failed", BAD),
    "running": ("⏳", "running", INFO),
    "abandoned": ("⚠️", "abandoned", WARN),
}

TIERS = {"elite": "🏆 elite", "high": "🟢 high", "medium": "🟡 medium", "low": "🔴 low"}

TEMPLATE_NAME = "shipready"


def tier_label(tier: str | None) -> str:
    """A DORA tier as icon + word ('🏆 elite'); '—' for none."""
    return TIERS.get((tier or "").lower(), tier or "—")


def _normal(key: str | None) -> str:
    return (key or "").strip().upper().replace("-", "_").replace(" ", "_")


def status_label(status: str | None) -> str:
    """'✅ PASS', '❔ NO DATA' … for a gate status (unknown → '❔ <status>')."""
    icon, word, _ = STATUS.get(_normal(status), ("❔", status or "NO DATA", NEUTRAL))
    return f"{icon} {word}"


def status_colour(status: str | None) -> str:
    return STATUS.get(_normal(status), ("", "", NEUTRAL))[2]


def verdict_label(verdict: str | None) -> str:
    """'✅ GO', '⚠️ AT RISK', '❌ NO-GO' (unknown → '❔ NO DATA')."""
    icon, word, _ = VERDICT.get(_normal(verdict), ("❔", "NO DATA", NEUTRAL))
    return f"{icon} {word}"


def verdict_colour(verdict: str | None) -> str:
    return VERDICT.get(_normal(verdict), ("", "", NEUTRAL))[2]


def outcome_label(outcome: str | None) -> str:
    icon, word, _ = SYNC_OUTCOME.get((outcome or "").lower(), ("❔", outcome or "unknown", ""))
    return f"{icon} {word}"


def _build_template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.colorway = PALETTE
    template.layout.font = {"family": "Source Sans Pro, sans-serif", "size": 14}
    template.layout.title = {"font": {"size": 16}, "x": 0, "xanchor": "left"}
    template.layout.margin = {"l": 10, "r": 10, "t": 60, "b": 10}
    # Title top left, legend top right: they never overlap.
    template.layout.legend = {"orientation": "h", "yanchor": "bottom", "y": 1.02,
                              "xanchor": "right", "x": 1}
    template.layout.hovermode = "closest"
    return template


def register() -> str:
    """Register the template and make it plotly's default; returns its name."""
    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = _build_template()
    pio.templates.default = TEMPLATE_NAME
    return TEMPLATE_NAME


register()
