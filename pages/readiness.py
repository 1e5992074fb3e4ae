"""Readiness: can this release ship? Verdict first, the gates that decide it, then evidence."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pandas as pd
import streamlit as st

import ui
from metrics.report import render
from ui import db, figures, filters, gate, loaders, theme, widgets
from ui import notes as release_notes

ui.ensure_router()
st.title("🚦 Readiness")
ctx = loaders.prelude("releases")
f = ctx.filters

releases = ctx.releases
if f.project:
    releases = releases[releases["project"] == f.project]
elif f.team and f.team in ctx.settings.teams:
    releases = releases[releases["project"].isin(ctx.settings.teams[f.team].projects)]
if releases.empty:
    widgets.empty_guidance(what="releases in this scope")
    st.caption("Releases come from Jira fix versions and GitHub milestones.")
    st.stop()


def _default_release(frame: pd.DataFrame) -> str:
    """The next release due (unreleased, earliest target), else the latest shipped."""
    open_ = frame[frame["released_at"].isna()]
    if not open_.empty:
        with_target = open_.sort_values("target_date", na_position="last")
        return str(with_target.iloc[0]["id"])
    return str(frame.sort_values("released_at").iloc[-1]["id"])


top = st.columns([3, 1, 1])
release_id = filters.release_picker(top[0], releases, default_id=_default_release(releases))
rel = releases[releases["id"] == release_id].iloc[0]

# A shipped release is judged as it stood when it shipped (only data that existed then);
# what happened afterwards is the post-launch view at the bottom.
shipped_at = rel["released_at"] if pd.notna(rel["released_at"]) else None
try:
    view = loaders.call(loaders.readiness_view, release_id,
                        as_of=shipped_at.to_pydatetime() if shipped_at is not None else None)
except Exception as exc:  # a bad gate override in readiness.toml is a ConfigError: one line
    st.error(f"Cannot evaluate {rel['project']} {rel['name']}: {exc}")
    st.stop()
ev, fc = view["evaluation"], view["forecast"]

# --- headline: target and verdict ---------------------------------------------------------
today = datetime.now(timezone.utc).date()
if ev.released_at is not None:
    when = f"shipped {ev.released_at:%a %d %b %Y}"
elif ev.target_date is not None:
    days = (ev.target_date.date() - today).days
    left = f"{days} days left" if days >= 0 else f"{-days} days overdue"
    when = f"target {ev.target_date:%a %d %b %Y} · {left}"
else:
    when = "no target date"
top[0].caption(f"{ev.project} {ev.release} · {when} · branch `{ev.context.get('branch', '?')}`")

reasons = ev.reasons()
blocking_fail = [g for g in reasons if g.status == "FAIL"]
parts = []
if blocking_fail:
    parts.append(f"{len(blocking_fail)} gate(s) fail: " + "; ".join(
        f"{g.gate.label} {widgets.format_value(g.value, g.gate.unit)} (needs {g.gate.describe_threshold()})"
        for g in blocking_fail))
warns = [g for g in reasons if g.status != "FAIL"]
if warns:
    parts.append("at risk: " + "; ".join(
        f"{g.gate.label} {theme.status_label(g.status)}" for g in warns))
if not parts:
    parts.append("every gate passes or is waived")
if ev.released_at is not None:
    parts.append(f"as it stood when it shipped ({ev.as_of:%d %b %Y %H:%M} UTC)")
elif fc.probability_on_time is not None and fc.p85 is not None:
    parts.append(f"Forecast: {widgets.format_value(fc.probability_on_time, 'fraction')} chance "
                 "of finishing by the target; "
                 f"85% of trials done by {fc.p85:%a %d %b}")
elif fc.remaining == 0:
    parts.append("Forecast: no work left in the release")
elif fc.basis:
    parts.append(f"Forecast: {fc.basis}")
banner = st.container()
widgets.verdict_banner(banner, ev.verdict,
                       f"**score {ev.score:.0f}/100** — " + widgets.md_escape(" · ".join(parts)))
banner.caption(f"Evaluated {ev.evaluated_at:%Y-%m-%d %H:%M} UTC. Score = 100 × Σ weight × credit "
               "/ Σ weight over gates not waived (PASS 1, WARN ½, FAIL and NO DATA 0).")

# --- the gates ----------------------------------------------------------------------------
st.subheader("Gates")
gate_rows = []
for g in ev.gates:
    why = g.basis or ("no data" if g.value is None else "")
    if g.waiver:
        why = f"waived by {g.waiver['waived_by']}: {g.waiver['reason']}"
    gate_rows.append({
        "Gate": g.gate.label,
        "Status": theme.status_label(g.status),
        "Value": widgets.format_value(g.value, g.gate.unit),
        "Threshold": g.gate.describe_threshold()
        + (f" (warn {widgets.format_value(g.gate.warn, g.gate.unit)})" if g.gate.warn is not None else ""),
        "Basis": why,
        "Evidence": widgets.evidence_text(g.evidence),
        "Blocking": "yes" if g.gate.blocking else "no",
        "Definition": g.gate.definition,
    })
# Tall enough for every gate: the table is the answer, it must not scroll.
st.dataframe(pd.DataFrame(gate_rows), hide_index=True, width="stretch",
             height=36 * (len(gate_rows) + 1) + 4, column_config={
    "Gate": st.column_config.TextColumn(pinned=True),
    "Basis": st.column_config.TextColumn(help="What the value was computed from, or why there "
                                              "is no data"),
    "Definition": st.column_config.TextColumn(help="How the gate's measure is defined"),
})
for g in ev.gates:
    if not g.evidence:
        continue
    with st.expander(f"{theme.status_label(g.status)} · {g.gate.label} — evidence "
                     f"({len(g.evidence)})", expanded=g.status == "FAIL"):
        st.caption(widgets.md_escape(g.gate.definition))
        st.markdown("\n".join(f"- {widgets.evidence_markdown([e], limit=1)}"
                              + (f" — {widgets.md_escape(e.get('detail'))}" if e.get("detail")
                                 else "") for e in g.evidence[:25]))
        if len(g.evidence) > 25:
            st.caption(f"… and {len(g.evidence) - 25} more in the CSV download.")

# --- downloads ----------------------------------------------------------------------------
evidence = pd.DataFrame([{"release": ev.release, "project": ev.project, "gate": g.gate.id,
                          "gate_label": g.gate.label, "status": g.status,
                          "value": g.value, "threshold": g.gate.threshold,
                          "blocking": g.gate.blocking, "item": e.get("label"),
                          "detail": e.get("detail"), "url": e.get("url")}
                         for g in ev.gates for e in (g.evidence or [{}])])
slug = f"{ev.project}-{ev.release}".replace("/", "_").replace(" ", "_")
top[2].download_button("CSV ⤓", evidence.to_csv(index=False).encode(), f"{slug}-evidence.csv",
                       mime="text/csv", help="Every gate with each piece of evidence, one row "
                                             "each", width="stretch")
history = view["snapshots"]
top[1].download_button("Report ⤓", render(ev, "markdown", history).encode(),
                       f"{slug}-readiness.md", mime="text/markdown", width="stretch",
                       help="The readiness report as Markdown (paste it into a ticket or "
                            "chat); the HTML version is at the bottom of the page")

# --- score history and forecast -----------------------------------------------------------
left, right = st.columns(2)
snaps = pd.DataFrame(view["snapshots"])
if snaps.empty:
    widgets.no_data_note(left, "No snapshot recorded yet: press *Record snapshot* (or run "
                               f"`python -m metrics readiness --release {ev.release} --project "
                               f"{ev.project}`) to start the history.")
else:
    left.plotly_chart(figures.score_history(snaps, x="as_of"), width="stretch")
if left.button("Record snapshot", help="Store this evaluation in the audit trail "
                                       "(readiness_snapshots)"):
    from metrics.readiness import evaluate_release
    from metrics.snapshots import save_snapshot

    with db.engine().begin() as conn:
        save_snapshot(conn, evaluate_release(conn, db.settings(), release_id))
    db.clear_caches()
    st.rerun()

dist = (fc.samples or {}).get("distribution") or []
if dist:
    dd = pd.DataFrame(dist)
    marks = {"P50": fc.p50, "P85": fc.p85, "P95": fc.p95}
    right.plotly_chart(figures.forecast(pd.to_datetime(dd["date"]), dd["share"],
                                        target=fc.target_date, marks=marks,
                                        title=f"Forecast: {fc.remaining} items left"),
                       width="stretch")
    right.caption(widgets.md_escape(fc.basis))
else:
    if ev.released_at is not None:
        note = "Shipped: no forecast needed."
    elif fc.remaining == 0:
        note = "Nothing left to do in the release: no forecast needed."
    else:
        note = f"No forecast: {fc.basis or 'no throughput history'}."
    widgets.no_data_note(right, note)

# --- readiness over time: every gate across the release's life, and what changed --------
st.subheader("Readiness over time")
history = view["history"]
if not history:
    st.caption("❔ No evaluation stored yet, so there is no history to show: the daily job (or "
               "*Record snapshot* above) starts it.")
else:
    from metrics.snapshots import gate_changes

    points = view["timeline"]
    cells = pd.DataFrame([{"as_of": p.as_of, "gate": p.labels.get(gid, gid), "status": status}
                          for p in points for gid, status in p.statuses.items()])
    if not cells.empty:
        st.plotly_chart(figures.gate_timeline(
            cells, title=f"Gate status per evaluation: {len(points)} evaluations, "
                         f"{points[0].as_of:%d %b} – {points[-1].as_of:%d %b %Y}"),
            width="stretch")
        st.caption("Each column is one stored evaluation, by the moment its data is from; each "
                   "cell the gate's status then: ✅ PASS, ⚠️ WARN, ❌ FAIL, ❔ NO DATA, 🛡 WAIVED.")

    # Compare two evaluations: by default the one a day or more before the latest moment
    # against the evaluation shown above (README "Readiness over time").
    NOW = "now"
    moments = {str(p.snapshot_id): p for p in points}
    labels = {NOW: f"this evaluation ({ev.as_of:%d %b %Y %H:%M} UTC) · "
                   f"{theme.verdict_label(ev.verdict)} {ev.score:.0f}"}
    labels.update({sid: f"{p.as_of:%d %b %Y %H:%M} UTC · {theme.verdict_label(p.verdict)} "
                        f"{p.score:.0f}" for sid, p in reversed(list(moments.items()))})
    day_before = [sid for sid, p in moments.items()
                  if p.as_of <= ev.as_of - pd.Timedelta(days=1)]
    default_from = day_before[-1] if day_before else next(iter(moments))
    pick = st.columns(2)
    a = pick[0].selectbox("What changed from", list(labels), format_func=labels.get,
                          index=list(labels).index(default_from), key="changed_from")
    b = pick[1].selectbox("to", list(labels), format_func=labels.get, index=0,
                          key="changed_to")
    payloads = {str(s["id"]): s["payload"] or {} for s in history}
    payloads[NOW] = ev.to_dict()
    head = {NOW: (ev.verdict, ev.score)}
    head.update({sid: (p.verdict, p.score) for sid, p in moments.items()})
    changes = gate_changes(payloads[a], payloads[b])
    st.markdown(f"**{theme.verdict_label(head[a][0])} {head[a][1]:.0f} → "
                f"{theme.verdict_label(head[b][0])} {head[b][1]:.0f}**")

    def _why(change) -> str:
        parts = []
        if change.added:
            parts.append("new: " + widgets.evidence_markdown(change.added, limit=4))
        if change.removed:
            parts.append("gone: " + widgets.evidence_markdown(change.removed, limit=4))
        return " · ".join(parts)

    def _value(v, unit) -> str:
        return "no data" if v is None else widgets.format_value(v, unit)

    flipped = [c for c in changes if c.flipped]
    moved = [c for c in changes if not c.flipped]
    if flipped:
        st.markdown("\n".join(
            f"- **{widgets.md_escape(c.label)}**: {theme.status_label(c.before)} → "
            f"{theme.status_label(c.after)} ({_value(c.value_before, c.unit)} → "
            f"{_value(c.value_after, c.unit)})" + (f" — {_why(c)}" if _why(c) else "")
            for c in flipped))
    else:
        st.caption("No gate changed status between these two evaluations.")
    if moved:
        st.caption("Values that moved without changing status: " + "; ".join(
            f"{widgets.md_escape(c.label)} {_value(c.value_before, c.unit)} → "
            f"{_value(c.value_after, c.unit)}" for c in moved))

    every = view["flips"]
    with st.expander(f"Every status change across its life ({len(every)})"):
        if not every:
            st.caption("No gate changed status between consecutive evaluations.")
        else:
            st.dataframe(pd.DataFrame([{
                "Data as of (UTC)": f.as_of, "Gate": f.change.label,
                "Change": f"{theme.status_label(f.change.before)} → "
                          f"{theme.status_label(f.change.after)}",
                "Value": f"{_value(f.change.value_before, f.change.unit)} → "
                         f"{_value(f.change.value_after, f.change.unit)}",
                "New evidence": widgets.evidence_text(f.change.added),
                "Gone": widgets.evidence_text(f.change.removed),
            } for f in reversed(every)]), hide_index=True, width="stretch", column_config={
                "Data as of (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                "New evidence": st.column_config.TextColumn(
                    help="Bugs, runs, tests or deployments that appeared in the evidence"),
                "Gone": st.column_config.TextColumn(
                    help="Evidence that left: a bug closed, a newer run or deployment"),
            })

# --- waive a gate -------------------------------------------------------------------------
# Admins only; signed in, the waiver records who is signed in (README "Sign-in"). Without
# sign-in (the laptop) the one user is the admin and says who decides.
viewer = gate.viewer()
with st.expander("Waive a gate…", expanded=False):
    waivable = [g for g in ev.gates if g.status in ("FAIL", "WARN", "NO_DATA")]
    if not viewer.is_admin:
        st.caption("Only an admin can waive a gate.")
    elif not waivable:
        st.caption("Nothing to waive: every gate passes or is already waived.")
    else:
        labels = {g.gate.id: f"{theme.status_label(g.status)} · {g.gate.label}" for g in waivable}
        with st.form("waive", clear_on_submit=True):
            gate_id = st.selectbox("Gate", list(labels), format_func=labels.get, key="waive_gate")
            reason = st.text_input("Reason", key="waive_reason",
                                   help="Why shipping with this gate open is acceptable")
            if viewer.email:
                by = viewer.email
                st.caption(f"Waived by {widgets.md_escape(by)} (signed in)")
            else:
                by = st.text_input("Waived by", key="waive_by", help="Who takes the decision")
            expires = st.date_input("Expires", value=None, min_value=today, key="waive_expires",
                                    help="Optional; the waiver stops counting after this day")
            submitted = st.form_submit_button("Waive")
        if submitted:
            from metrics.waivers import WaiverError, add_waiver

            expires_at = (datetime.combine(expires, time(23, 59), tzinfo=timezone.utc)
                          if isinstance(expires, date) else None)
            try:
                with db.engine().begin() as conn:
                    add_waiver(conn, release_id, gate_id, reason=reason, by=by,
                               expires_at=expires_at, known_gates=[g.gate.id for g in ev.gates])
            except WaiverError as exc:
                st.error(str(exc))
            else:
                db.clear_caches()
                st.session_state["_waived"] = labels[gate_id]
                st.rerun()
if st.session_state.pop("_waived", None):
    st.toast("Waiver recorded; the verdict is re-evaluated.", icon="🛡")
if view["waivers"]:
    st.caption("Waivers on record")
    st.dataframe(pd.DataFrame([{"Gate": w["gate"], "Reason": w["reason"], "By": w["waived_by"],
                                "Created": w["created_at"], "Expires": w["expires_at"]}
                               for w in view["waivers"]]), hide_index=True, width="stretch")

# --- after the launch ---------------------------------------------------------------------
if ev.released_at is not None:
    st.subheader("After the launch")
    post = loaders.call(loaders.post_launch, release_id)
    left, right = st.columns(2)
    approved = post["approved"]
    if approved:
        left.markdown(f"**Approved with** {theme.verdict_label(approved['verdict'])} · score "
                      f"{approved['score']:.0f} on {approved['evaluated_at']:%Y-%m-%d %H:%M} UTC")
        gates = approved["payload"].get("gates", [])
        left.dataframe(pd.DataFrame([{"Gate": g.get("label"),
                                      "Status then": theme.status_label(g.get("status"))}
                                     for g in gates]), hide_index=True, width="stretch")
    else:
        left.caption("No snapshot was recorded before the release shipped, so what was green at "
                     "approval is unknown.")
    escaped = post["escaped"]
    right.markdown(f"**Bugs found in production after shipping:** {len(escaped)}")
    if escaped:
        right.dataframe(pd.DataFrame([{"Bug": b["key"], "Severity": b["severity"] or "—",
                                       "Found": f"{b['created_at']:%Y-%m-%d %H:%M}",
                                       "Title": b["title"] or "",
                                       "Link": widgets.safe_url(b["url"])} for b in escaped]),
                        hide_index=True, width="stretch",
                        column_config={"Link": widgets.link_column()})
    failed = [o for o in post["outcomes"] if o.failed]
    st.markdown(f"**Production deployments in the {post['weeks']} weeks after:** "
                f"{len(post['outcomes'])}, of which {len(failed)} failed changes "
                "(incident, rollback or failed deploy)")
    if failed:
        st.dataframe(pd.DataFrame([{
            "Deployment": o.deployment.get("id"), "Service": o.deployment.get("service"),
            "Why": ", ".join(o.reasons), "Incidents": ", ".join(str(i.get("title") or i["id"])
                                                             for i in o.incidents),
            "Recovered (h)": round(o.recovery_hours, 1) if o.recovery_hours is not None
            else None, "Link": widgets.safe_url(o.deployment.get("url"))}
            for o in failed]), hide_index=True, width="stretch",
            column_config={"Link": widgets.link_column()})

# --- the HTML report ----------------------------------------------------------------------
# Built on request: it inlines plotly.js (a few MB), too heavy to resend on every rerun.
if st.button("Build the HTML report", help="One self-contained page with the verdict, "
                                           "gates, evidence and charts, to send out"):
    st.download_button("Download the HTML report ⤓",
                       render(ev, "html", view["snapshots"]).encode(),
                       f"{slug}-readiness.html", mime="text/html")

# --- release notes: a draft from the done items and merged pull requests (ui/notes.py) ----
release_notes.downloads(release_id, slug=slug, as_of=shipped_at.to_pydatetime()
                        if shipped_at is not None else None)
