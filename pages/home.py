"""Home — the portfolio: every upcoming release across teams on one screen, beside the DORA
keys and how fresh the data is. Which rows each source wrote is on the Data sources page."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

import ui
from ui import db, figures, filters, loaders, theme, widgets

# The Data sources page says the same about an abandoned run.
ABANDONED_NOTE = ("The last sync stopped without finishing (its process no longer reports): "
                  "what it committed is kept; run the sync again to resume.")

ui.ensure_router()  # also the data age in the sidebar (ui/freshness.py)
st.title("🚦 ShipReady")
st.caption("Can this release ship? Bugs, tests, CI and deploys in one verdict — every upcoming "
           "release, the delivery keys, and how fresh the data behind them is.")

url = loaders.database_or_stop()
settings = loaders.settings_or_stop()
if not db.load_has_data(url):
    widgets.empty_guidance(what="data")
    st.caption(f"Database: `{db.database_label()}`")
    st.stop()

now = datetime.now(timezone.utc)
left, right = st.columns([2, 1], gap="large")

# --- the portfolio ------------------------------------------------------------------------
left.subheader("Portfolio: upcoming releases")
try:
    rows = loaders.call(loaders.portfolio_view)
except Exception as exc:  # a bad gate override in readiness.toml is a ConfigError: one line
    left.error(f"Cannot evaluate the releases: {exc}")
    rows = []


def _days(n: int | None) -> str:
    if n is None:
        return "no target date"
    if n > 0:
        return f"{n} day{'s' if n != 1 else ''} left"
    return "due today" if n == 0 else f"{-n} day{'s' if n != -1 else ''} overdue"


def _holding(h: dict | None) -> str:
    if h is None:
        return "Nothing holds it back: every gate passes or is waived."
    value = widgets.format_value(h["value"], h["unit"]) if h["value"] is not None else "no data"
    return (f"Holds it back most: {theme.status_label(h['status'])} "
            f"{widgets.md_escape(h['label'])} — {value}, needs "
            f"{widgets.md_escape(h['threshold'])} (costs {h['points']:.0f} points)")


SCORE_HELP = ("Readiness score now, 0–100: 100 × Σ weight × credit / Σ weight over the gates "
              "not waived (PASS 1, WARN ½, FAIL and NO DATA 0). The change compares the latest "
              "daily snapshot with the one 7 days before it.")

if not rows:
    widgets.no_data_note(left, "No upcoming release: every release has shipped, or none is "
                               "known yet (Jira fix versions and GitHub milestones become "
                               "releases on the next sync).")
else:
    for r in rows:
        box = left.container(border=True)
        text, chart = box.columns([3, 2], vertical_alignment="center")
        text.page_link("pages/readiness.py", label=f"**{r.project} {r.name}**", icon="🚦",
                       query_params=filters.release_query(r.project, r.name),
                       help="Open its Readiness page: gates, evidence, history")
        change = ("" if r.trend_change is None
                  else f" ({r.trend_change:+.0f} in 7 days)".replace("+-", "−").replace("-", "−"))
        when = _days(r.days_to_target)
        if r.target_date is not None:
            when += f" · target {r.target_date:%a %d %b}"
        text.markdown(f"**{theme.verdict_label(r.verdict)}** · score **{r.score:.0f}**/100"
                      f"{change}  \n{when} · {f'team {r.team}' if r.team else 'no team'}",
                      help=SCORE_HELP)
        text.caption(_holding(r.holding_back))
        if len(r.trend) >= 2:
            days, scores = zip(*r.trend)
            chart.plotly_chart(figures.sparkline(list(days), list(scores)), width="stretch",
                               config={"displayModeBar": False}, key=f"spark_{r.release_id}")
        else:
            widgets.no_data_note(chart, "No score history yet: the daily snapshots start it.")
    left.caption("Soonest target first. Verdict and score are evaluated now; the trend is the "
                 "score of each day's last stored snapshot over the last 4 weeks. Click a "
                 "release for its gates, evidence and history.")

# --- the DORA keys ------------------------------------------------------------------------
right.subheader("Delivery, last 30 days")
dora = loaders.kpis(loaders.DORA_IDS, loaders.ScopeKey())
since = now.date() - pd.Timedelta(days=filters.DEFAULT_DAYS)
period = f"{since:%d %b} – {now:%d %b %Y}, every team"
year = None
for metric_id in loaders.DORA_IDS:
    metric, value = dora[metric_id]
    tier = (value.detail or {}).get("tier")
    year = (value.detail or {}).get("tier_year") or year
    shown = widgets.format_value(value.value, value.unit or metric.unit)
    right.markdown(f"{metric.label}: **{shown}**"
                   + (f" · {theme.tier_label(tier)}" if tier else ""),
                   help=widgets.explain(metric.definition, value.basis or "",
                                        value.unit or metric.unit, period))
right.caption((f"Tiers: DORA {year} report thresholds. " if year else "")
              + "Trends and teams side by side: the Delivery page.")

# --- freshness ----------------------------------------------------------------------------
right.subheader("Data freshness")
fresh = db.load_freshness(url)
if fresh.empty:
    widgets.no_data_note(right, "No sync recorded yet: run `python -m connectors sync`.")
for row in fresh.itertuples():
    last = row.last_success if not pd.isna(row.last_success) else None
    if last is None:
        right.markdown(f"**{row.source}** · ❔ no successful sync yet")
    else:
        right.markdown(f"**{row.source}** · last success "
                       f"{widgets.age_text(now - last.to_pydatetime())} ago",
                       help=f"Finished {last:%Y-%m-%d %H:%M} UTC")
    right.caption(f"{theme.outcome_label(row.latest_outcome)} · latest run "
                  f"{row.latest_at:%Y-%m-%d %H:%M} UTC")
    if row.latest_outcome == "failed" and row.latest_error:
        right.caption(f"Last error: {widgets.md_escape(row.latest_error)}")
    if row.latest_outcome == "abandoned":
        right.caption(ABANDONED_NOTE)
right.page_link("pages/data_sources.py", label="Data sources: runs, rows, Sync now",
                icon="🔌")
