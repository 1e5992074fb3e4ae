"""Shared widgets: metric tiles that explain themselves, status badges, evidence, guidance.

Text from sources (issue titles, test names, failure messages) is shown as text: it goes
through :func:`md_escape` before any markdown call and never through ``unsafe_allow_html``.
Formatting, escaping and links are metrics/format.py's (the same as the reports and the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from metrics.format import format_value, md_inline, md_link, safe_url
from ui import theme

__all__ = ["format_value", "md_escape", "safe_url"]


def md_escape(text: object) -> str:
    """Source text made inert for st.markdown (metrics.format.md_inline, with ``$`` too)."""
    return md_inline(text, streamlit=True)


def explain(definition: str, basis: str = "", unit: str = "", period: str = "") -> str:
    """The hover text of a number: definition, unit, period, what it was computed from."""
    parts = [definition.strip()]
    if unit:
        parts.append(f"Unit: {unit.replace('_', ' ')}.")
    if period:
        parts.append(f"Period: {period}.")
    parts.append(f"Computed {basis}." if basis else "No data to compute it from.")
    return "  \n".join(p for p in parts if p)


def metric_tile(container, metric, value, *, period: str = "", delta: str | None = None,
                label: str | None = None) -> None:
    """One KPI as st.metric with its definition, unit, period and basis in ``help``.

    ``metric`` is a registry Metric (label, unit, definition); ``value`` a MetricValue.
    """
    unit = getattr(value, "unit", None) or metric.unit
    shown = format_value(getattr(value, "value", None), unit)
    basis = getattr(value, "basis", "") or ""
    container.metric(label or metric.label, shown, delta=delta,
                     delta_color=_delta_colour(metric.better),
                     help=explain(metric.definition, basis, unit, period))


def _delta_colour(better: str) -> str:
    return {"higher": "normal", "lower": "inverse"}.get(better, "off")


def status_badge(container, status: str) -> None:
    container.markdown(f"**{theme.status_label(status)}**")


def verdict_banner(container, verdict: str, text: str) -> None:
    """The verdict as a coloured box with icon and word (st.success/warning/error)."""
    label = theme.verdict_label(verdict)
    body = f"### {label}\n{text}"
    key = (verdict or "").upper().replace("-", "_")
    if key == "GO":
        container.success(body)
    elif key == "AT_RISK":
        container.warning(body)
    elif key == "NO_GO":
        container.error(body)
    else:
        container.info(body)


def evidence_markdown(evidence: Iterable[dict], limit: int = 5) -> str:
    """'[PAY-812 Checkout 500…](url), …' with escaped labels; '—' when there is none."""
    items = list(evidence or [])
    parts = []
    for ev in items[:limit]:
        parts.append(md_link(ev.get("label") or ev.get("detail") or "item", ev.get("url"),
                             limit=60, streamlit=True))
    if len(items) > limit:
        parts.append(f"… {len(items) - limit} more")
    return ", ".join(parts) if parts else "—"


def evidence_text(evidence: Iterable[dict], limit: int = 4) -> str:
    """Plain-text summary of evidence for a table cell: 'PAY-812, PAY-820 … +3 more'."""
    items = list(evidence or [])
    text = ", ".join(_shorten(str(e.get("label") or ""), 40) for e in items[:limit])
    return text + (f" … +{len(items) - limit} more" if len(items) > limit else "")


def evidence_frame(evidence: Iterable[dict]) -> pd.DataFrame:
    """Evidence as a table (label, detail, url) for st.dataframe with a link column."""
    rows = [{"label": str(e.get("label") or ""), "detail": str(e.get("detail") or ""),
             "url": safe_url(e.get("url"))} for e in (evidence or [])]
    return pd.DataFrame(rows, columns=["label", "detail", "url"])


def link_column(label: str = "Link") -> st.column_config.LinkColumn:
    return st.column_config.LinkColumn(label, display_text="open ↗")


def _shorten(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def empty_guidance(container=None, what: str = "data") -> None:
    """What to do when there is nothing to show: one command each, never a blank page."""
    (container or st).info(
        f"**No {what} yet.** Load the demo organisation with `python -m connectors demo` "
        "(or the *Reload demo* button on the Data sources page), or connect a source: copy "
        "`readiness.toml.example` to `readiness.toml`, set `GITHUB_TOKEN` (or the Jira / "
        "Jenkins variables) and run `python -m connectors sync`. JUnit reports: "
        "`python -m connectors import-junit PATH --pipeline NAME`."
    )


def no_data_note(container, why: str) -> None:
    """A chart or table that has nothing to show says why (never a silent blank)."""
    container.caption(f"❔ {why}")


def age_text(delta) -> str:
    """A timedelta as a reader says it: '45 min', '5 h', '3 days' (rounded down)."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
