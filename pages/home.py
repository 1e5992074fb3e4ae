"""Home: what is loaded — rows per source and table, the last load or sync, what to do next."""

import streamlit as st

import pandas as pd

import ui
from ui import db, loaders, theme

# The Data sources page says the same about an abandoned run.
ABANDONED_NOTE = ("The last sync stopped without finishing (its process no longer reports): "
                  "what it committed is kept; run the sync again to resume.")


def _stamp(value):
    return None if value is None or pd.isna(value) else value


ui.ensure_router()  # also the data age in the sidebar (ui/freshness.py)
st.title("🚦 ShipReady")
st.caption("Can this release ship? Bugs, tests, CI and deploys in one verdict.")

database = loaders.database_or_stop()
url = db.database_label()
counts = db.load_table_counts(database)
syncs = db.load_last_syncs(database)

if counts.empty:
    st.info(
        "**The database is empty.** Load the demo organisation with "
        "`python -m connectors demo`, or connect a source: copy `readiness.toml.example` to "
        "`readiness.toml`, set `GITHUB_TOKEN` (or the Jira / Jenkins variables) and run "
        "`python -m connectors sync`. JUnit files: `python -m connectors import-junit "
        "PATH --pipeline NAME`."
    )
    st.caption(f"Database: `{url}`")
    st.stop()

sources = sorted(counts["source"].unique())
cols = st.columns(len(sources))
for col, source in zip(cols, sources):
    total = int(counts.loc[counts["source"] == source, "rows"].sum())
    last = syncs.loc[syncs["source"] == source]
    if last.empty:
        when = "no sync recorded"
    else:
        row = last.iloc[0]
        stamp = _stamp(row["finished_at"]) or _stamp(row["started_at"])
        when = f"{theme.outcome_label(row['outcome'])} · {stamp:%Y-%m-%d %H:%M} UTC"
    col.metric(source, f"{total:,} rows", help="All rows this source wrote, every table.")
    col.caption(when)
    if not last.empty and last.iloc[0]["outcome"] == "failed" and last.iloc[0]["error"]:
        col.caption(f"Last error: {last.iloc[0]['error']}")
    if not last.empty and last.iloc[0]["outcome"] == "abandoned":
        col.caption(ABANDONED_NOTE)

st.subheader("Rows per source and table")
pivot = counts.pivot_table(index="table", columns="source", values="rows", fill_value=0,
                           aggfunc="sum")
st.dataframe(pivot, width="stretch")
if "demo" in sources:
    st.caption("Demo data is loaded. When real data arrives: `python -m connectors demo "
               "--remove` deletes the demo rows and nothing else.")
st.caption(f"Database: `{url}`")
