"""Data sources: what was synced when, with what outcome; sync now; the mapping in force."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui

from ui import commands, db, gate, loaders, theme, widgets

ui.ensure_router()
st.title("🔌 Data sources")
st.caption("Where the numbers come from: each source's last sync, the rules that map its data, "
           "and the commands to run the same sync from cron or CI.")

url = loaders.database_or_stop()
settings = loaders.settings_or_stop()
viewer = gate.viewer()  # syncing and the demo buttons are for admins (README "Sign-in")

runs = db.load_sync_runs(url)
configured = settings.configured_sources()

# --- one row per source -------------------------------------------------------------------
st.subheader("Last sync per source")
if runs.empty:
    st.info("No sync has run yet. " + ("Press **Sync now** below, or run "
            "`python -m connectors sync`." if configured else
            "Load the demo (button below) or configure a source (see *Connect a source*)."))
else:
    last = (runs.sort_values("id", ascending=False).groupby("source").head(1)
            .sort_values("source"))
    table = pd.DataFrame({
        "Source": last["source"],
        "Scope": last["scope"].fillna(""),
        "Last sync (UTC)": last["finished_at"].fillna(last["started_at"]),
        "Outcome": last["outcome"].map(theme.outcome_label),
        "Rows": last["rows"],
        "Requests": last["requests"],
        "Not modified (304)": last["not_modified"],
        "Duration (s)": pd.to_numeric(last["duration_s"], errors="coerce").round(1),
        "Error": last["error"].fillna(""),
    })
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Last sync (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "Rows": st.column_config.NumberColumn(help="Rows written, summed over resources"),
        "Error": st.column_config.TextColumn(help="The one-line reason of a failed sync",
                                             width="large"),
    })
    failed = last[last["outcome"] == "failed"]
    for row in failed.itertuples():
        st.error(f"{row.source}: {row.error or 'failed without a message'}", icon="❌")
    for row in last[last["outcome"] == "abandoned"].itertuples():
        beat = row.heartbeat_at if not pd.isna(row.heartbeat_at) else row.started_at
        st.warning(f"{row.source}: the sync started {row.started_at:%Y-%m-%d %H:%M} UTC stopped "
                   f"without finishing — no sign of life since {beat:%Y-%m-%d %H:%M} UTC (the "
                   "process was probably killed). What it committed is kept; run the sync "
                   "again to resume.", icon="⚠️")
    with st.expander(f"Recent runs ({len(runs)})"):
        recent = runs.assign(outcome=runs["outcome"].map(theme.outcome_label),
                             items=runs["items"].map(lambda d: ", ".join(
                                 f"{k} {v}" for k, v in (d or {}).items())))
        st.dataframe(recent.drop(columns=["id", "heartbeat_at"]), hide_index=True,
                     width="stretch")

# --- sync now -----------------------------------------------------------------------------
st.subheader("Sync now")


def _run(label: str, args: list[str]) -> None:
    if not viewer.is_admin:  # the buttons are not drawn for others; this is the lock
        st.error("Only an admin may run this.")
        return
    lines: list[str] = []
    with st.status(f"{label}: `{commands.shown(args)}`", expanded=True) as status:
        box = st.empty()

        def show(line: str) -> None:
            lines.append(line)
            box.code("\n".join(lines[-15:]), language=None)

        try:
            code = commands.run_streaming(args, show)
        except OSError as exc:
            status.update(label=f"{label}: could not start ({exc})", state="error")
            return
        if code == 0:
            status.update(label=f"{label}: done", state="complete", expanded=False)
        else:
            reason = lines[-1] if lines else f"exit code {code}"
            status.update(label=f"{label}: failed — {reason}", state="error")
    db.clear_caches()


if not viewer.is_admin:
    st.caption("Only an admin can sync or reload the demo here"
               + (f" ({widgets.md_escape(viewer.email)} is not one)." if viewer.email else
                  " — nobody is signed in.")
               + " The commands below do the same from a shell.")
elif configured:
    full = st.toggle("Full re-read", key="sync_full",
                     help="Ignore the cursors and read everything again; issues deleted or moved "
                          "at the source are then removed here too (Jira also checks daily)")
    # The command runs from the project root: an absolute path finds the same file.
    config = settings.path.resolve() if settings.path else None
    cols = st.columns(len(configured) + 1)
    for col, source in zip(cols, configured):
        if col.button(f"Sync {source}", key=f"sync_{source}", width="stretch"):
            _run(f"Sync {source}", commands.sync_args(source, config, full=full))
    if cols[-1].button("Sync all", key="sync_all", width="stretch"):
        for source in configured:
            _run(f"Sync {source}", commands.sync_args(source, config, full=full))
else:
    st.caption("No source is configured, so there is nothing to sync — see *Connect a source* "
               "below. The demo organisation can be (re)loaded at any time.")

if viewer.is_admin:
    demo_cols = st.columns([1, 1, 2])
    scale = demo_cols[2].select_slider("Demo size", options=[0.1, 0.5, 1.0, 2.0, 5.0],
                                       value=1.0,
                                       help="1 ≈ 2,000 work items and 50,000 test results")
    if demo_cols[0].button("Reload demo", key="reload_demo", width="stretch",
                           help="Replace the demo rows with a freshly generated organisation; "
                                "rows from real sources are untouched"):
        _run("Reload demo", commands.demo_args(scale))
    if demo_cols[1].button("Remove demo", key="remove_demo", width="stretch",
                           help="Delete every demo row and nothing else"):
        _run("Remove demo", commands.demo_args(remove=True))

# --- the commands -------------------------------------------------------------------------
st.subheader("Run the same from cron or CI")
lines = ["# every configured source", "python -m connectors sync"
         + (f" --config {settings.path}" if settings.path else "")]
for source in configured:
    lines.append(commands.shown(commands.sync_args(source, settings.path)))
lines += [
    "# one source named on the command line",
    "python -m connectors sync github --repo OWNER/NAME",
    "python -m connectors sync jira --url https://ORG.atlassian.net --project KEY",
    "python -m connectors sync jenkins --url https://CI --job FOLDER/JOB",
    "python -m connectors sync gitlab --url https://GITLAB --project GROUP/SUB/PROJECT",
    "python -m connectors import-junit 'reports/**/*.xml' --pipeline ci --sha SHA --branch main",
    "# a full re-read, ignoring cursors; also removes issues deleted at the source (weekly)",
    "python -m connectors sync --full",
]
st.code("\n".join(lines), language="bash")
st.caption(f"Database: `{db.database_label()}` (set `DATABASE_URL` to use another). "
           "Example crontab line: `*/30 * * * * cd /srv/shipready && .venv/bin/python -m "
           "connectors sync >> sync.log 2>&1`")

# --- connect a source ---------------------------------------------------------------------
with st.expander("Connect a source", expanded=not configured):
    st.markdown(
        "1. Copy `readiness.toml.example` to `readiness.toml` and list your GitHub repos, "
        "GitLab projects or groups, Jira projects or boards, Jenkins jobs.\n"
        "2. Put the tokens in the environment (or `.streamlit/secrets.toml`), never in the "
        "file: `GITHUB_TOKEN`; `GITLAB_TOKEN`; `JIRA_EMAIL` + `JIRA_API_TOKEN` (Cloud) or "
        "`JIRA_TOKEN` "
        "(Data Center); `JENKINS_USER` + `JENKINS_TOKEN`.\n"
        "3. Run `python -m connectors sync` (or press **Sync now** here).\n"
        "4. When real data arrives, `python -m connectors demo --remove` deletes the demo rows "
        "and nothing else."
    )
    source = "the demo organisation's defaults (no readiness.toml)" if settings.is_demo \
        else f"`{settings.path}`"
    st.caption(f"Configuration in force: {source}. Configured sources: "
               f"{', '.join(configured) or 'none'}.")

# --- the mapping --------------------------------------------------------------------------
st.subheader("Mapping in force")
st.caption("The rules that turn source data into bugs, severities, story points and "
           "production deployments — when a number looks wrong, check its rule here.")
mapping_rows = []
for key, value in settings.mapping.model_dump().items():
    if isinstance(value, dict):
        text = ", ".join(f"{k} → {v}" for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    mapping_rows.append({"Rule": key.replace("_", " "), "Value": text})
st.dataframe(pd.DataFrame(mapping_rows), hide_index=True, width="stretch")

if settings.teams or settings.projects:
    with st.expander("Teams and projects"):
        st.dataframe(pd.DataFrame([
            {"Team": t.name, "Projects": ", ".join(t.projects), "Repos": ", ".join(t.repos),
             "Time zone": t.timezone, "Working days": ", ".join(t.working_days)}
            for t in settings.teams.values()]), hide_index=True, width="stretch")
        st.dataframe(pd.DataFrame([
            {"Project": p.key, "Repos": ", ".join(p.repos), "Release branch": p.release_branch,
             "Services": ", ".join(p.services), "Pipelines": ", ".join(p.pipelines)}
            for p in settings.projects.values()]), hide_index=True, width="stretch")

counts = db.load_table_counts(url)
if counts.empty:
    widgets.empty_guidance(what="data")
else:
    # --- rows per source and table (for whoever runs the tool; Home is the portfolio) ----
    st.subheader("Rows per source and table")
    totals = counts.groupby("source")["rows"].sum()
    for col, (source, total) in zip(st.columns(len(totals)), totals.items()):
        col.metric(source, f"{int(total):,} rows", help="All rows this source wrote, every "
                                                         "table.")
    pivot = counts.pivot_table(index="table", columns="source", values="rows", fill_value=0,
                               aggfunc="sum")
    st.dataframe(pivot, width="stretch")
    if "demo" in totals.index:
        st.caption("Demo data is loaded. When real data arrives: `python -m connectors demo "
                   "--remove` deletes the demo rows and nothing else.")
