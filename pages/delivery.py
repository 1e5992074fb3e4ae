"""Delivery: are we getting faster and safer, which teams need help, what launches are coming?"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

import ui
from metrics import derived, views
from ui import figures, loaders, theme, widgets

ui.ensure_router()
st.title("🚀 Delivery")
ctx = loaders.prelude("deployments or pull requests")
f = ctx.filters
key, sc = loaders.scope_or_stop(ctx)
period = f"{sc.since:%d %b %Y} – {sc.until:%d %b %Y}"
window = sc.until - sc.since
st.caption(f"{', '.join(sc.projects) or 'all projects'} · {period} · trend arrows compare with "
           f"the {window.days} days before")

# --- DORA keys ----------------------------------------------------------------------------
ids = loaders.DORA_IDS
previous = derived.scope_args(team=key.team, project=key.project,
                              **views.previous_window(sc))
# KPIs now and before, monthly trends and teams on one connection, sharing one read of the
# merged PRs and their deployments (metrics.views.delivery_view), stored once per data
# version (metrics/derived.py).
now, before, monthly, teams = loaders.derived_view("delivery", key, previous=previous)
year = None
for col, metric_id in zip(st.columns(len(ids)), ids):
    metric, value = now[metric_id]
    _, old = before[metric_id]
    delta = None
    if value.value is not None and old.value is not None and value.value != old.value:
        diff = value.value - old.value
        # ASCII "-": st.metric reads the sign to pick the arrow and colour.
        delta = ("+" if diff > 0 else "-") + widgets.format_value(abs(diff), value.unit)
    widgets.metric_tile(col, metric, value, period=period, delta=delta)
    tier = (value.detail or {}).get("tier")
    year = (value.detail or {}).get("tier_year") or year
    if tier:
        col.markdown(f"**{theme.tier_label(tier)}**")
    elif value.value is not None:
        col.caption("no DORA tier" if metric_id != "deployment_rework_rate"
                    else "the report defines no tiers")
if year:
    st.caption(f"Tiers: DORA {year} State of DevOps report thresholds (elite / high / medium / "
               "low). Hover a figure for its definition and what it was computed from.")

# --- monthly trends -----------------------------------------------------------------------
st.subheader("Monthly trends")
if monthly.empty or monthly["value"].isna().all():
    widgets.no_data_note(st, "No production deployments or merged PRs in the last months.")
else:
    cols = st.columns(len(ids))
    for col, metric_id in zip(cols, ids):
        metric = now[metric_id][0]
        part = monthly[monthly["metric"] == metric.label].dropna(subset=["value"])
        if part.empty:
            widgets.no_data_note(col, f"{metric.label}: no data")
            continue
        fig = figures.lines(part.assign(series=metric.label), "month", "value", "series",
                            metric.label, ytitle=metric.unit.replace("_", " "),
                            percent=metric.unit == "fraction")
        # Five charts side by side: the unit goes on a second title line so it is not cut.
        fig.update_layout(height=280, showlegend=False, title={
            "text": "<br>".join(textwrap.wrap(fig.layout.title.text.split(" (")[0], 24))
            + "<br>(" + fig.layout.title.text.split(" (", 1)[1], "font": {"size": 14}})
        col.plotly_chart(fig, width="stretch")

# --- teams side by side -------------------------------------------------------------------
st.subheader("Teams side by side")
if not teams:
    widgets.no_data_note(st, "No teams configured: add [teams.NAME] sections to readiness.toml.")
else:
    table = []
    for t in teams:
        row = {"Team": t["team"]}
        for metric_id in ids:
            v = t[metric_id]
            row[now[metric_id][0].label] = v.value
            tier = (v.detail or {}).get("tier")
            if metric_id != "deployment_rework_rate":
                row[f"{now[metric_id][0].label} tier"] = theme.tier_label(tier) if tier else "—"
        table.append(row)
    frame = pd.DataFrame(table)
    config = {}
    for metric_id in ids:
        metric = now[metric_id][0]
        fmt = {"fraction": "percent", "hours": "%.1f h", "per_day": "%.2f /day"}.get(metric.unit)
        config[metric.label] = st.column_config.NumberColumn(metric.label, help=metric.definition,
                                                             format=fmt)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)
    st.caption("Click a column header to sort.")

    stages = pd.DataFrame([{"team": t["team"], **{k: (t["stages"].get(k) or 0.0)
                                                  for k in ("coding", "pickup", "review",
                                                            "deploy")},
                            "prs": t["stages"].get("prs", 0)} for t in teams])
    if stages["prs"].sum() == 0:
        widgets.no_data_note(st, "No merged pull requests in the window: no PR cycle time.")
    else:
        st.plotly_chart(figures.stacked_bars(
            stages.assign(team=stages["team"] + " (" + stages["prs"].astype(str) + " PRs)"),
            "team", ["coding", "pickup", "review", "deploy"],
            "PR cycle time: median per stage", y="hours"), width="stretch")
        st.caption("Coding = first commit → PR opened; pickup = opened → first review; review = "
                   "first review → merged; deploy = merged → first production deployment "
                   "shipping it. Each stage is a median over the PRs where it is known.")

# --- upcoming releases --------------------------------------------------------------------
st.subheader("Upcoming releases")
upcoming = loaders.scoped(loaders.upcoming_releases, key)
if not upcoming:
    widgets.no_data_note(st, "No unreleased release in scope.")
else:
    today = datetime.now(timezone.utc).date()
    st.dataframe(pd.DataFrame([{
        "Release": f"{u['release']['project']} {u['release']['name']}",
        "Verdict": theme.verdict_label(u["verdict"]),
        "Score": u["score"],
        "Target": u["release"]["target_date"].date() if u["release"]["target_date"] else None,
        "Days left": (u["release"]["target_date"].date() - today).days
        if u["release"]["target_date"] else None,
        "Chance on time": u["on_time"],
        "P85 done by": u["p85"],
        "Left": u["remaining"],
        "What stands in the way": ", ".join(u["reasons"]) or "—",
        "Link": widgets.safe_url(u["release"].get("url")),
    } for u in upcoming]), hide_index=True, width="stretch", column_config={
        "Score": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f"),
        "Chance on time": st.column_config.NumberColumn(format="percent"),
        "Link": widgets.link_column(),
    })
    st.caption("Open a release on the Readiness page for its gates and evidence.")
