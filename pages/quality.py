"""Quality: are bugs under control and can the tests be trusted?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from metrics import quality
from metrics.quality import bug_trend_converging
from ui import figures, loaders, theme, widgets

ui.ensure_router()
st.title("🐞 Quality")
ctx = loaders.prelude("bugs or test results")
f = ctx.filters
key, sc = loaders.scope_or_stop(ctx)
period = f"{sc.since:%d %b %Y} – {sc.until:%d %b %Y}"
st.caption(f"{', '.join(sc.projects) or 'all projects'} · {period}")

# --- headline -----------------------------------------------------------------------------
ids = loaders.QUALITY_IDS
# The headline and the test lists below on one connection: the test KPIs and the lists share
# their scans of the test results (metrics.views.quality_tests_view), stored once per data
# version (metrics/derived.py).
values, latest, flaky, slow = loaders.derived_view("quality_tests", key, ids=ids)
# Two rows (bugs, then tests) so labels stay readable on a shared screen.
for row_ids in (ids[:4], ids[4:]):
    for col, metric_id in zip(st.columns(4), row_ids):
        metric, value = values[metric_id]
        widgets.metric_tile(col, metric, value, period=period)

# --- bugs ---------------------------------------------------------------------------------
st.subheader("Bugs")
left, right = st.columns(2)
over_time = loaders.scoped(loaders.open_bugs_over_time, key)
sev_cols = [c for c in ("critical", "high", "medium", "low", "unset") if c in over_time]
if over_time.empty or over_time[sev_cols].to_numpy().sum() == 0:
    widgets.no_data_note(left, "No open bugs in this window (or no bugs synced): nothing to "
                               "stack.")
else:
    left.plotly_chart(figures.stacked_area(over_time, "at", sev_cols, theme.SEVERITY_COLOURS,
                                           "Open bugs by severity", y="bugs"), width="stretch")
flow = loaders.call(quality.bug_flow_weekly, tuple(sc.projects), sc.since, sc.until,
                    tz=sc.timezone)
if flow.empty or (flow["inflow"].sum() == 0 and flow["outflow"].sum() == 0):
    widgets.no_data_note(right, "No bug created or resolved in this window.")
else:
    right.plotly_chart(figures.inflow_outflow(flow), width="stretch")
    converging = bug_trend_converging(flow)
    if converging is True:
        right.caption("✅ Converging: over the last 3 weeks bugs were resolved at least as fast "
                      "as they came in.")
    elif converging is False:
        right.caption("⚠️ Not converging: over the last 3 weeks more bugs came in than were "
                      "resolved.")

ages = loaders.scoped(quality.open_bug_ages, key, as_of=sc.until)
left, right = st.columns(2)
if ages.empty:
    widgets.no_data_note(left, "No bug open at the end of the window.")
else:
    left.plotly_chart(figures.histogram(ages["age_days"], f"Age of the {len(ages)} open bugs",
                                        "age (days)"), width="stretch")
    oldest = ages.sort_values("age_days", ascending=False).head(10)
    right.markdown("**Oldest open bugs**")
    right.dataframe(pd.DataFrame({"Bug": oldest["key"], "Severity": oldest["severity"].fillna("—"),
                                  "Age (days)": oldest["age_days"].round(1),
                                  "Link": oldest["url"].map(widgets.safe_url)}),
                    hide_index=True, width="stretch",
                    column_config={"Link": widgets.link_column()})

# --- tests and CI -------------------------------------------------------------------------
st.subheader("Tests and CI")
runs = loaders.scoped(loaders.pass_rate_runs, key)
if runs.empty:
    widgets.no_data_note(st, "No test results in this window. Import JUnit reports with "
                             "`python -m connectors import-junit PATH --pipeline NAME` or sync "
                             "GitHub Actions / Jenkins.")
else:
    # One line per repo, pipeline and branch: "ci" on main of two repos are different series.
    runs = runs.assign(series=runs["repo"].fillna("").map(lambda r: f"{r} · " if r else "")
                       + runs["pipeline"] + " · " + runs["branch"].fillna("?"),
                       hover=runs["failed"].astype(str) + " failing of "
                       + runs["executed"].astype(str))
    st.plotly_chart(figures.lines(runs.sort_values("finished_at"), "finished_at", "pass_rate",
                                  "series", "Pass rate per repository, pipeline and branch",
                                  percent=True, hover="hover"), width="stretch")

if latest:
    st.markdown("**New failures since the previous run** (latest run of each pipeline on the "
                "default branch)")
    for entry in latest:
        run = entry["run"]
        rate = widgets.format_value(entry["pass_rate"], "fraction")
        link = widgets.safe_url(run.get("url"))
        where = f"{run['repo']} · " if run.get("repo") else ""
        head = (f"{widgets.md_escape(where + run['pipeline'])} on "
                f"{widgets.md_escape(run['branch'])} — "
                f"pass rate {rate} of {entry['executed']} tests, "
                f"{len(entry['new'])} new failure(s)")
        with st.expander(head, expanded=bool(entry["new"])):
            if link:
                st.markdown(f"[Open the run ↗]({link})")
            if not entry["new"]:
                st.caption("No new failures: every failing test was already failing before."
                           if entry["previous"] else "No failures.")
            else:
                st.dataframe(pd.DataFrame([{"Test": n["test"], "Before": n["previous"],
                                            "Message": n["message"]} for n in entry["new"]]),
                             hide_index=True, width="stretch")

left, right = st.columns(2)
left.markdown("**Flaky tests**")
if not flaky:
    left.caption("No flaky test in this window (rules: both outcomes on one commit, a flaky "
                 "marker, or 2+ flips in the last 20 runs).")
else:
    table = pd.DataFrame([{"Test": t.test, "Flips": (t.detail.get("flips") or {}).get("flips", 0),
                           "Rules": ", ".join(t.rules)} for t in flaky])
    left.dataframe(table.sort_values(["Flips", "Test"], ascending=[False, True]),
                   hide_index=True, width="stretch",
                   column_config={"Test": st.column_config.TextColumn(width="medium"),
                                  "Flips": st.column_config.NumberColumn(
                                      help="Pass↔fail changes in the last 20 runs")})
if not slow:
    right.caption("No test durations recorded in this window.")
else:
    # Module paths make labels too long to read; class::test names the test well enough.
    right.plotly_chart(figures.bars([s["test"].split(".")[-1] for s in slow],
                                    [s["mean_s"] for s in slow],
                                    "Slowest tests, mean duration", x="seconds"),
                       width="stretch")
