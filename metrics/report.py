"""Readiness reports of an :class:`~metrics.readiness.Evaluation`: text, JSON, Markdown, HTML.

The HTML report is one self-contained file — inline CSS, plotly charts with plotly.js inlined,
no network — the thing a PM sends before the launch meeting. Text that comes from sources
(titles, test names, messages, reasons) is escaped everywhere by metrics/format.py: never
rendered as HTML or Markdown markup; links are kept only for http(s) URLs. The Markdown escapes
only what would change the markup, so it pastes cleanly into Slack, Jira, Confluence or GitHub.
"""

from __future__ import annotations

import json
from datetime import datetime

import plotly.graph_objects as go

from metrics import gates as G
from metrics.format import (format_value, html_link, html_text, md_cell, md_inline, md_link,
                            one_line)

VERDICT_WORDS = {G.GO: "GO", G.AT_RISK: "AT RISK", G.NO_GO: "NO-GO"}
STATUS_ICONS = {G.PASS: "✔", G.WARN: "▲", G.FAIL: "✖", G.NO_DATA: "?", G.WAIVED: "~"}
STATUS_COLORS = {G.PASS: "#1a7f37", G.WARN: "#b35900", G.FAIL: "#cf222e",
                 G.NO_DATA: "#6e7781", G.WAIVED: "#8250df"}
VERDICT_COLORS = {G.GO: "#1a7f37", G.AT_RISK: "#b35900", G.NO_GO: "#cf222e"}
EVIDENCE_SHOWN = 8
FORMATS = ("text", "json", "markdown", "html")


def status_word(status: str) -> str:
    """Icon and word, e.g. ``✖ FAIL`` (status is never shown by colour alone)."""
    return f"{STATUS_ICONS[status]} {status.replace('_', ' ')}"


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "—"


def _value(g) -> str:
    return format_value(g.value, g.gate.unit)


def _threshold(g) -> str:
    text = g.gate.describe_threshold()
    if g.gate.warn is not None:
        text += f" (warn {g.gate.comparator} {format_value(g.gate.warn, g.gate.unit)})"
    return text


def _headline(ev) -> str:
    return (f"Release {ev.project} {ev.release}: {VERDICT_WORDS[ev.verdict]} "
            f"(score {ev.score:g}/100)")


def _one_line(text: str | None, limit: int = 240) -> str:
    return one_line(text, limit)


def data_age_line(ev) -> str:
    """``Data age: <source> 6.0 h (last success 2026-03-10 06:00 UTC), …`` at the moment
    evaluated (data/freshness.py); ``never synced`` for a source without a success by then."""
    from data.freshness import format_age

    parts = []
    for a in ev.context.get("data_age", []):
        if a["last_success"]:
            when = datetime.fromisoformat(a["last_success"])
            parts.append(f"{a['source']} {format_age(a['age_hours'])} "
                         f"(last success {when:%Y-%m-%d %H:%M} UTC)")
        else:
            parts.append(f"{a['source']} never synced")
    return "Data age: " + (", ".join(parts) if parts else "no source")


# --- text ------------------------------------------------------------------------------------------
def render_text(ev, history: list[dict] | None = None) -> str:
    """A plain-text report for terminals and e-mail."""
    lines = [_headline(ev),
             f"as of {_when(ev.as_of)} · target {_when(ev.target_date)} · "
             f"branch {ev.context.get('branch', '—')}", _one_line(data_age_line(ev), 400), ""]
    reasons = ev.reasons()
    if reasons:
        lines.append("Why not GO:")
        lines += [f"  - {g.gate.label}: {status_word(g.status)} ({_value(g)}, needs "
                  f"{_threshold(g)})" for g in reasons]
        lines.append("")
    width = max(len(g.gate.label) for g in ev.gates) if ev.gates else 10
    for g in ev.gates:
        lines.append(f"{status_word(g.status):<10} {g.gate.label:<{width}}  {_value(g):>8}  "
                     f"{_threshold(g)}{'  [blocking]' if g.gate.blocking else ''}")
        if g.basis:
            lines.append(f"{'':<11}{_one_line(g.basis)}")
        if g.waiver:
            lines.append(f"{'':<11}waived by {_one_line(g.waiver['waived_by'])}: "
                         f"{_one_line(g.waiver['reason'])}")
        if g.status != G.PASS:
            for e in g.evidence[:EVIDENCE_SHOWN]:
                url = f" <{e['url']}>" if e.get("url") else ""
                lines.append(f"{'':<13}· {_one_line(e['label'], 80)}: "
                             f"{_one_line(e.get('detail'), 120)}{url}")
            if len(g.evidence) > EVIDENCE_SHOWN:
                lines.append(f"{'':<13}… and {len(g.evidence) - EVIDENCE_SHOWN} more")
    if history:
        lines += ["", "History: " + ", ".join(
            f"{h['evaluated_at']:%Y-%m-%d} {VERDICT_WORDS.get(h['verdict'], h['verdict'])} "
            f"{h['score']:g}" for h in history[-10:])]
    return "\n".join(lines) + "\n"


# --- json -------------------------------------------------------------------------------------------
def render_json(ev, history: list[dict] | None = None) -> str:
    """The JSON object of the command-line contract (docs/cli.md)."""
    return json.dumps(ev.to_dict(), indent=2, ensure_ascii=False) + "\n"


# --- markdown ---------------------------------------------------------------------------------------
LIMIT = 240  # characters of one piece of source text in the Markdown report


def render_markdown(ev, history: list[dict] | None = None) -> str:
    """A Markdown report (a table of gates, then the evidence of every gate not passing)."""
    out = [f"# {md_inline(_headline(ev))}", "",
           f"As of {_when(ev.as_of)} · target {_when(ev.target_date)} · "
           f"evaluated {_when(ev.evaluated_at)}", "", md_inline(data_age_line(ev), limit=LIMIT * 4),
           ""]
    reasons = ev.reasons()
    if reasons:
        out += ["**Why not GO:** " + "; ".join(
            f"{md_inline(g.gate.label)} ({status_word(g.status)}, {md_inline(_value(g))})"
            for g in reasons), ""]
    out += ["| Status | Gate | Value | Threshold | Blocking |", "|---|---|---|---|---|"]
    for g in ev.gates:
        out.append(f"| {status_word(g.status)} | {md_cell(g.gate.label)} | "
                   f"{md_cell(_value(g))} | {md_cell(_threshold(g))} | "
                   f"{'yes' if g.gate.blocking else 'no'} |")
    out.append("")
    for g in ev.gates:
        if g.status == G.PASS and not g.waiver:
            continue
        out += [f"## {status_word(g.status)} {md_inline(g.gate.label)}", "",
                f"{md_inline(g.gate.definition)}. {md_inline(g.basis, limit=LIMIT)}", ""]
        if g.waiver:
            out += [f"Waived by {md_inline(g.waiver['waived_by'], limit=LIMIT)}: "
                    f"{md_inline(g.waiver['reason'], limit=LIMIT)}", ""]
        for e in g.evidence[:EVIDENCE_SHOWN * 2]:
            out.append(f"- {md_link(e['label'], e.get('url'), limit=LIMIT)}: "
                       f"{md_inline(e.get('detail'), limit=LIMIT)}")
        if len(g.evidence) > EVIDENCE_SHOWN * 2:
            out.append(f"- … and {len(g.evidence) - EVIDENCE_SHOWN * 2} more")
        out.append("")
    if history:
        out += ["## History", "", "| Evaluated | As of | Verdict | Score |", "|---|---|---|---|"]
        out += [f"| {_when(h['evaluated_at'])} | {_when(h['as_of'])} | "
                f"{VERDICT_WORDS.get(h['verdict'], h['verdict'])} | {h['score']:g} |"
                for h in history[-20:]]
        out.append("")
    return "\n".join(out)


# --- html -------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1000px;color:#1f2328;line-height:1.45;padding:0 1rem}
h1{margin:.2rem 0}.verdict{display:inline-block;padding:.3rem .8rem;border-radius:6px;
color:#fff;font-weight:700;font-size:1.4rem}.meta{color:#57606a}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;padding:.4rem .5rem;
border-bottom:1px solid #d0d7de;vertical-align:top}th{background:#f6f8fa}
.status{font-weight:700;white-space:nowrap}.ev{margin:.2rem 0 0 1rem;padding:0;font-size:.9rem}
.ev li{margin:.1rem 0}.basis{color:#57606a;font-size:.9rem}.reasons{background:#fff8c5;
padding:.6rem 1rem;border-radius:6px}
"""


def gate_chart(ev) -> go.Figure:
    """One bar per gate: the credit it earns (PASS 1, WARN ½, else 0) × weight, coloured by
    status, with the status word on the bar."""
    gates = list(reversed(ev.gates))
    fig = go.Figure(go.Bar(
        x=[g.gate.weight * G.CREDIT.get(g.status, 0) for g in gates],
        y=[g.gate.label for g in gates], orientation="h",
        marker_color=[STATUS_COLORS[g.status] for g in gates],
        text=[status_word(g.status) for g in gates], textposition="auto",
        hovertext=[f"{_value(g)} (needs {_threshold(g)})" for g in gates],
        hoverinfo="text+y"))
    fig.add_trace(go.Bar(x=[g.gate.weight - g.gate.weight * G.CREDIT.get(g.status, 0)
                            for g in gates], y=[g.gate.label for g in gates],
                         orientation="h", marker_color="#eaeef2", hoverinfo="skip",
                         # a gate earning nothing has no bar of its own to carry its status
                         text=[status_word(g.status) if not G.CREDIT.get(g.status, 0) else ""
                               for g in gates], textposition="inside",
                         textfont=dict(color=[STATUS_COLORS[g.status] for g in gates]),
                         showlegend=False))
    fig.update_layout(barmode="stack", title="Gates: weight earned", showlegend=False,
                      height=60 + 32 * len(gates), margin=dict(l=10, r=10, t=40, b=30),
                      xaxis_title="weight (earned / possible)", template="plotly_white")
    return fig


def history_chart(history: list[dict]) -> go.Figure:
    """Score over the stored evaluations, markers coloured by verdict."""
    fig = go.Figure(go.Scatter(
        x=[h["evaluated_at"] for h in history], y=[h["score"] for h in history],
        mode="lines+markers", marker=dict(size=10, color=[VERDICT_COLORS.get(h["verdict"],
                                                                              "#6e7781")
                                                           for h in history]),
        text=[VERDICT_WORDS.get(h["verdict"], h["verdict"]) for h in history],
        hovertemplate="%{x}<br>score %{y}<br>%{text}<extra></extra>"))
    fig.update_layout(title="Readiness score over time", yaxis=dict(range=[0, 105]),
                      height=300, margin=dict(l=10, r=10, t=40, b=30), template="plotly_white")
    return fig


def forecast_chart(ev) -> go.Figure | None:
    """The forecast's completion-date distribution with the target marked (None without)."""
    g = next((g for g in ev.gates if g.gate.metric == "forecast_on_time"), None)
    dist = (g.detail or {}).get("distribution") if g else None
    if not dist:
        return None
    fig = go.Figure(go.Bar(x=[d["date"] for d in dist], y=[d["share"] for d in dist],
                           marker_color="#0969da", name="share of trials"))
    target = g.detail.get("target")
    if target is not None:
        fig.add_vline(x=str(target), line_dash="dash", line_color="#cf222e")
        fig.add_annotation(x=str(target), y=1, yref="paper", text="target", showarrow=False,
                           font=dict(color="#cf222e"))
    fig.update_layout(title="Forecast: completion date (share of 10,000 trials)", height=300,
                      yaxis_tickformat=".0%", margin=dict(l=10, r=10, t=40, b=30),
                      template="plotly_white")
    return fig


def render_html(ev, history: list[dict] | None = None) -> str:
    """One self-contained HTML page: verdict, reasons, gates with evidence, charts."""
    figs = [gate_chart(ev)]
    fc = forecast_chart(ev)
    if fc is not None:
        figs.append(fc)
    if history and len(history) > 1:
        figs.append(history_chart(history))
    charts = "".join(
        f.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False,
                                                                      "responsive": True})
        for i, f in enumerate(figs))
    reasons = ev.reasons()
    rows = []
    for g in ev.gates:
        ev_items = "".join(
            f"<li>{html_link(e['label'], e.get('url'))}: {html_text(_one_line(e.get('detail')))}</li>"
            for e in g.evidence[:EVIDENCE_SHOWN * 2])
        more = (f"<li>… and {len(g.evidence) - EVIDENCE_SHOWN * 2} more</li>"
                if len(g.evidence) > EVIDENCE_SHOWN * 2 else "")
        waiver = (f"<div class='basis'>Waived by {html_text(g.waiver['waived_by'])}: "
                  f"{html_text(g.waiver['reason'])}</div>" if g.waiver else "")
        rows.append(
            f"<tr><td class='status' style='color:{STATUS_COLORS[g.status]}'>"
            f"{html_text(status_word(g.status))}</td><td><strong>{html_text(g.gate.label)}</strong>"
            f"{' (blocking)' if g.gate.blocking else ''}<div class='basis'>"
            f"{html_text(g.gate.definition)}. {html_text(g.basis)}</div>{waiver}"
            f"{f'<ul class=ev>{ev_items}{more}</ul>' if ev_items else ''}</td>"
            f"<td>{html_text(_value(g))}</td><td>{html_text(_threshold(g))}</td></tr>")
    reason_html = ""
    if reasons:
        reason_html = ("<div class='reasons'><strong>Why not GO:</strong><ul>" + "".join(
            f"<li>{html_text(g.gate.label)}: {html_text(status_word(g.status))} ({html_text(_value(g))}, needs "
            f"{html_text(_threshold(g))})</li>" for g in reasons) + "</ul></div>")
    title = html_text(_headline(ev))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_CSS}</style></head>
<body>
<p class="meta">ShipReady readiness report</p>
<h1>Release {html_text(ev.project)} {html_text(ev.release)}</h1>
<p><span class="verdict" style="background:{VERDICT_COLORS[ev.verdict]}">
{html_text(VERDICT_WORDS[ev.verdict])}</span> &nbsp; score <strong>{ev.score:g}</strong>/100</p>
<p class="meta">As of {html_text(_when(ev.as_of))} · target {html_text(_when(ev.target_date))} · branch
{html_text(ev.context.get('branch', '—'))} · evaluated {html_text(_when(ev.evaluated_at))}</p>
<p class="meta">{html_text(data_age_line(ev))}</p>
{reason_html}
<table><thead><tr><th>Status</th><th>Gate and evidence</th><th>Value</th><th>Threshold</th>
</tr></thead><tbody>{''.join(rows)}</tbody></table>
{charts}
</body></html>
"""


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown,
             "html": render_html}


def render(ev, fmt: str = "text", history: list[dict] | None = None) -> str:
    """The report of ``ev`` in ``fmt`` (text, json, markdown or html)."""
    return RENDERERS[fmt](ev, history)
