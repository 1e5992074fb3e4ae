"""Sprint: the retro screen — what was committed, what changed, where time went."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from metrics import flow
from metrics.flow import percentiles
from ui import figures, filters, loaders, widgets

ui.ensure_router()
st.title("🏃 Sprint")
ctx = loaders.prelude("sprints")
f = ctx.filters
_, base = loaders.scope_or_stop(ctx)

in_scope = ctx.sprints[ctx.sprints["project"].isin(base.projects) | ctx.sprints["project"].isna()]
started = in_scope[in_scope["start_at"].notna()]
if started.empty:
    widgets.empty_guidance(what="sprints in this scope")
    st.stop()

sprint_id = filters.sprint_picker(st, started, default_id=base.sprint_id)
row = started[started["id"] == sprint_id].iloc[0]
# The sprint's own project gives the team's time zone and working days for the burndown.
key = loaders.ScopeKey(
    team=f.team, project=f.project or (row["project"] if pd.notna(row["project"]) else None),
    sprint=row["name"], since=f.since, until=f.until)
sc = loaders.scope(key)

ids = ("sprint_committed", "sprint_completed", "sprint_added", "sprint_removed",
       "sprint_not_completed", "say_do_ratio")
# Report, headline KPIs and burndown on one connection: they share what the report read.
report, values, bd = loaders.scoped(loaders.sprint_view, key, sprint_id=sprint_id,
                                    ids=ids)
unit = report.unit
when = ""
if report.start is not None:
    end = report.end
    when = f"{report.start:%d %b} – {end:%d %b %Y}" if end is not None else f"from {report.start:%d %b}"
st.caption(f"{row['name']} · {row['state']} · {when} · sizes in {unit} · "
           f"team days in {sc.timezone}")
if pd.notna(row.get("url")) and widgets.safe_url(row.get("url")):
    st.caption(f"[Open the sprint in its source ↗]({widgets.safe_url(row['url'])})")

# --- headline figures ---------------------------------------------------------------------
cols = st.columns(len(ids))
period = f"sprint {row['name']}"
for col, metric_id in zip(cols, ids):
    metric, value = values[metric_id]
    widgets.metric_tile(col, metric, value, period=period)

# --- burndown and burnup ------------------------------------------------------------------
left, right = st.columns(2)
if bd.empty:
    widgets.no_data_note(left, "No burndown: the sprint has not started.")
else:
    left.plotly_chart(figures.burndown(bd, unit), width="stretch")
    right.plotly_chart(figures.burnup(bd, unit), width="stretch")
    changes = bd[bd["scope_change"] != 0]
    if not changes.empty:
        left.caption("Scope changes: " + "; ".join(
            f"{d:%d %b}: {widgets.md_escape(c)}" for d, c in zip(changes["day"], changes["changes"])))

# --- velocity -----------------------------------------------------------------------------
# Velocity depends on the projects and the moment only (not the sprint picked), so its key
# leaves the sprint and the start date out: one stored view serves every sprint of a project.
vel, (v_metric, v_value) = loaders.derived_view(
    "velocity", loaders.ScopeKey(team=key.team, project=key.project, until=key.until),
    n=loaders.VELOCITY_SPRINTS)
left, right = st.columns(2)
if vel.empty:
    widgets.no_data_note(left, "No closed sprints yet: committed vs completed appears after "
                               "the first sprint closes.")
else:
    left.plotly_chart(figures.committed_vs_completed(vel), width="stretch")
    widgets.metric_tile(right, v_metric, v_value, period="last 6 closed sprints")

# --- flow: cycle time and cumulative flow over the sprint ---------------------------------
if report.start is not None:
    flow_since, flow_until = report.start, report.end
    left, right = st.columns(2)
    done = loaders.call(flow.delivered_items, list(sc.projects), flow_since, flow_until)
    timed = done[done["cycle_time_h"].notna()] if not done.empty else done
    if timed.empty:
        widgets.no_data_note(left, "No item went from in progress to done during the sprint: "
                                   "no cycle times to plot.")
    else:
        pct = percentiles(timed["cycle_time_h"])
        frame = timed.assign(days=timed["cycle_time_h"] / 24)
        left.plotly_chart(figures.cycle_scatter(
            frame, {k.upper(): (v / 24 if v is not None else None) for k, v in pct.items()},
            title=f"Cycle time of the {len(frame)} items finished in the sprint"),
            width="stretch")
    cfd = loaders.call(flow.cumulative_flow, list(sc.projects), flow_since,
                       flow_until, tz=sc.timezone)
    if cfd.empty:
        widgets.no_data_note(right, "No items in scope: no cumulative flow.")
    else:
        right.plotly_chart(figures.cumulative_flow(cfd, title="Cumulative flow of the project"),
                           width="stretch")

# --- the sprint report lists --------------------------------------------------------------
st.subheader("Sprint report")
labels = {"completed": "Completed", "not_completed": "Not completed (carry-over)",
          "added": "Added after start", "removed": "Removed after start",
          "committed": "Committed at start"}
tabs = st.tabs([f"{labels[k]} ({len(report.items.get(k, []))})" for k in labels])
for tab, kind in zip(tabs, labels):
    items = report.items.get(kind, [])
    if not items:
        tab.caption("None.")
        continue
    tab.dataframe(pd.DataFrame([{"Key": i.key, "Title": i.title or "",
                                 unit.capitalize(): i.points, "Link": widgets.safe_url(i.url)}
                                for i in items]),
                  hide_index=True, width="stretch",
                  column_config={"Link": widgets.link_column()})
