"""Plotly figure builders: data in, ``go.Figure`` out — no Streamlit, no database.

Every figure uses the one ``shipready`` template (ui.theme), so pages look alike and plotly's
toolbar lets anyone save a chart as PNG. Hover texts name the items behind a point.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from ui import theme

theme.register()


def with_unit(title: str, unit: str | None) -> str:
    """``title`` ending with its unit in parentheses ("Burndown (points)"): every chart says
    what its numbers count (README "Look and feel"); kept as it is when it already does."""
    unit = (unit or "").replace("_", " ").strip()
    if not unit or title.rstrip().endswith(f"({unit})"):
        return title
    return f"{title} ({unit})"


def _fig(title: str, *, y: str = "", x: str = "", unit: str | None = None) -> go.Figure:
    """A figure in the house template, its title ending with its unit (``unit``, else the
    y axis title)."""
    fig = go.Figure()
    fig.update_layout(template=theme.TEMPLATE_NAME, title=with_unit(title, unit or y),
                      xaxis_title=x, yaxis_title=y, height=360)
    return fig


def burndown(df: pd.DataFrame, unit: str, title: str = "Burndown") -> go.Figure:
    """Remaining (line), the linear guideline (dashed) and scope changes (markers).

    ``df`` columns: day, remaining, guideline, scope_change, changes (metrics.sprint.burndown).
    """
    fig = _fig(title, y=unit)
    fig.add_trace(go.Scatter(x=df["day"], y=df["guideline"], name="Guideline",
                             mode="lines", line={"dash": "dash", "color": theme.NEUTRAL}))
    fig.add_trace(go.Scatter(x=df["day"], y=df["remaining"], name="Remaining", mode="lines+markers",
                             line={"shape": "hv", "color": theme.PALETTE[0], "width": 3}))
    changed = df[df["scope_change"] != 0]
    if not changed.empty:
        fig.add_trace(go.Scatter(
            x=changed["day"], y=changed["remaining"], name="Scope change", mode="markers",
            marker={"symbol": ["triangle-up" if c > 0 else "triangle-down"
                               for c in changed["scope_change"]],
                    "size": 14, "color": [theme.BAD if c > 0 else theme.GOOD
                                          for c in changed["scope_change"]]},
            customdata=changed["changes"],
            hovertemplate="%{x}<br>scope change: %{customdata}<extra></extra>"))
    return fig


def burnup(df: pd.DataFrame, unit: str, title: str = "Burnup") -> go.Figure:
    """Scope and completed per day end (columns day, scope, completed, changes)."""
    fig = _fig(title, y=unit)
    fig.add_trace(go.Scatter(x=df["day"], y=df["scope"], name="Scope", mode="lines",
                             line={"shape": "hv", "color": theme.WARN, "width": 3},
                             customdata=df.get("changes"),
                             hovertemplate="%{x}: %{y}<br>%{customdata}<extra>scope</extra>"))
    fig.add_trace(go.Scatter(x=df["day"], y=df["completed"], name="Completed", mode="lines",
                             line={"shape": "hv", "color": theme.GOOD, "width": 3},
                             fill="tozeroy"))
    return fig


def _grouped_bars(df: pd.DataFrame, x: str, bars: list[tuple[str, str, str]], title: str,
                  y: str) -> go.Figure:
    """Side-by-side bars per ``x``: one series per (column, legend name, colour)."""
    fig = _fig(title, y=y)
    for column, name, colour in bars:
        fig.add_trace(go.Bar(x=df[x], y=df[column], name=name, marker_color=colour))
    fig.update_layout(barmode="group")
    return fig


def committed_vs_completed(df: pd.DataFrame, title: str = "Committed vs completed") -> go.Figure:
    """Grouped bars per sprint (columns sprint, committed, completed, unit)."""
    unit = df["unit"].iloc[-1] if not df.empty else ""
    return _grouped_bars(df, "sprint", [("committed", "Committed", theme.NEUTRAL),
                                        ("completed", "Completed", theme.GOOD)], title, unit)


def cycle_scatter(df: pd.DataFrame, percentiles: dict[str, float],
                  title: str = "Cycle time") -> go.Figure:
    """One dot per item (columns done_at, days, key, title); lines at the percentiles (days)."""
    fig = _fig(title, y="days")
    fig.add_trace(go.Scatter(x=df["done_at"], y=df["days"], mode="markers", name="Item",
                             marker={"size": 9, "color": theme.PALETTE[0], "opacity": 0.75},
                             customdata=df[["key", "title"]].astype(str).values,
                             hovertemplate="%{customdata[0]} %{customdata[1]}<br>"
                                           "%{y:.1f} days<extra></extra>"))
    dashes = {"50": "dot", "85": "dash", "95": "longdash"}
    for name, value in percentiles.items():
        if value is None:
            continue
        fig.add_hline(y=value, line_dash=dashes.get(name.strip("p%"), "dot"),
                      line_color=theme.WARN,
                      annotation_text=f"{name}: {value:.1f} d", annotation_position="top left")
    return fig


def cumulative_flow(df: pd.DataFrame, title: str = "Cumulative flow") -> go.Figure:
    """Stacked areas per status category (columns day, todo, in_progress, done)."""
    fig = _fig(title, y="items")
    for cat in ("done", "in_progress", "todo"):
        if cat in df:
            fig.add_trace(go.Scatter(x=df["day"], y=df[cat], name=cat.replace("_", " "),
                                     mode="lines", stackgroup="flow",
                                     line={"color": theme.CATEGORY_COLOURS[cat]}))
    return fig


def stacked_area(df: pd.DataFrame, x: str, series: Sequence[str], colours: dict[str, str],
                 title: str, y: str = "") -> go.Figure:
    """Stacked areas, one per column in ``series`` (e.g. open bugs by severity over time)."""
    fig = _fig(title, y=y)
    for s in series:
        if s in df:
            fig.add_trace(go.Scatter(x=df[x], y=df[s], name=s, mode="lines", stackgroup="one",
                                     line={"color": colours.get(s)}))
    return fig


def inflow_outflow(df: pd.DataFrame, title: str = "Bug inflow vs outflow per week") -> go.Figure:
    """Bars for created and resolved per week (columns week, inflow, outflow)."""
    return _grouped_bars(df, "week", [("inflow", "Inflow (created)", theme.BAD),
                                      ("outflow", "Outflow (resolved)", theme.GOOD)],
                         title, "bugs")


def histogram(values: Sequence[float], title: str, x: str, bins: int = 20) -> go.Figure:
    fig = _fig(title, x=x, y="count", unit=_unit_of(x))
    fig.add_trace(go.Histogram(x=list(values), nbinsx=bins, marker_color=theme.PALETTE[0],
                               name=x))
    return fig


def lines(df: pd.DataFrame, x: str, y: str, by: str, title: str, ytitle: str = "",
          percent: bool = False, hover: str | None = None) -> go.Figure:
    """One line per value of ``by`` (e.g. pass rate per pipeline over time)."""
    fig = _fig(title, y="" if percent else ytitle, unit="%" if percent else None)
    for name, part in df.groupby(by, sort=True):
        fig.add_trace(go.Scatter(
            x=part[x], y=part[y], name=str(name), mode="lines+markers",
            customdata=part[hover] if hover else None,
            hovertemplate=(f"%{{x}}<br>%{{y{':.1%' if percent else ''}}}"
                           + ("<br>%{customdata}" if hover else "") + "<extra></extra>")))
    if percent:
        fig.update_yaxes(tickformat=".1%")
    if df[by].nunique() > 3:  # a long legend would run into the title: put it underneath
        fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.15,
                                  "xanchor": "left", "x": 0}, height=420)
    return fig


def bars(labels: Sequence[str], values: Sequence[float], title: str, x: str = "",
         horizontal: bool = True, colour: str | None = None) -> go.Figure:
    fig = _fig(title, x=x if horizontal else "", y="" if horizontal else x, unit=x)
    if horizontal:
        fig.add_trace(go.Bar(y=list(labels), x=list(values), orientation="h",
                             marker_color=colour or theme.PALETTE[0]))
        fig.update_yaxes(autorange="reversed")
    else:
        fig.add_trace(go.Bar(x=list(labels), y=list(values), marker_color=colour or theme.PALETTE[0]))
    return fig


def stacked_bars(df: pd.DataFrame, x: str, parts: Sequence[str], title: str, y: str = "",
                 horizontal: bool = True) -> go.Figure:
    """Stacked bars (e.g. PR cycle time split into coding / pickup / review / deploy)."""
    fig = _fig(title, x=y if horizontal else "", y="" if horizontal else y, unit=y)
    for i, p in enumerate(parts):
        if p not in df:
            continue
        kw = {"y": df[x], "x": df[p], "orientation": "h"} if horizontal else {"x": df[x], "y": df[p]}
        fig.add_trace(go.Bar(name=p, marker_color=theme.PALETTE[i % len(theme.PALETTE)], **kw))
    fig.update_layout(barmode="stack")
    return fig


def score_history(df: pd.DataFrame, title: str = "Readiness score over time (0–100)",
                  x: str = "evaluated_at") -> go.Figure:
    """Score (0–100) per snapshot (columns ``x`` — evaluated_at or as_of —, score, verdict);
    each marker's colour and hover say the verdict in icon and word."""
    fig = _fig(title, y="score (0–100)", unit="0–100")
    fig.add_trace(go.Scatter(
        x=df[x], y=df["score"], mode="lines+markers", name="Score",
        line={"color": theme.PALETTE[0], "width": 3},
        marker={"size": 10, "color": [theme.verdict_colour(v) for v in df["verdict"]]},
        customdata=[theme.verdict_label(v) for v in df["verdict"]],
        hovertemplate="%{x}<br>score %{y:.0f}<br>%{customdata}<extra></extra>"))
    fig.update_yaxes(range=[0, 105])
    return fig


def forecast(dates: Sequence, shares: Sequence[float], target=None,
             marks: dict | None = None,
             title: str = "Forecast: completion date") -> go.Figure:
    """Share of simulated trials finishing on each date (bars); target and percentiles marked.

    Bars after the target are coloured as late, so the chance of slipping is visible at once.
    """
    fig = _fig(title, y="share of trials")  # title: "… (share of trials)"
    colours = [theme.BAD if target is not None and pd.Timestamp(d) > pd.Timestamp(target)
               else theme.PALETTE[0] for d in dates]
    fig.add_trace(go.Bar(x=list(dates), y=list(shares), marker_color=colours, name="trials",
                         hovertemplate="%{x}<br>%{y:.1%} of trials<extra></extra>"))
    fig.update_yaxes(tickformat=".0%")
    for name, when in (marks or {}).items():
        if when is not None:
            fig.add_vline(x=_ms(when), line_dash="dot", line_color=theme.NEUTRAL,
                          annotation_text=name, annotation_position="top")
    if target is not None:
        fig.add_vline(x=_ms(target), line_color=theme.BAD, line_width=3,
                      annotation_text="target", annotation_position="top right")
    return fig


def _unit_of(axis_title: str) -> str:
    """The unit inside an axis title such as "age (days)" → "days" (else the whole title)."""
    if axis_title.endswith(")") and "(" in axis_title:
        return axis_title[axis_title.rindex("(") + 1:-1]
    return axis_title


def _tint(colour: str, share: float) -> str:
    """``colour`` (#rrggbb) mixed with white: ``share`` of the colour, the rest white."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - share * (255 - c)):02x}" for c in rgb)


def _ms(when) -> float:
    """Plotly's add_vline on a date axis wants epoch milliseconds (a datetime breaks its
    annotation arithmetic)."""
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.value / 1e6


def sparkline(days: Sequence, scores: Sequence[float],
              title: str = "4-week score (0–100)") -> go.Figure:
    """A release's readiness score per day (metrics.snapshots.daily_scores) as a small line,
    the last point marked; the y axis is fixed at 0–100 so sparklines compare across rows."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(days), y=list(scores), mode="lines", name="score",
                             line={"color": theme.PALETTE[0], "width": 2},
                             hovertemplate="%{x|%d %b}: %{y:.0f}/100<extra></extra>"))
    if len(days):
        fig.add_trace(go.Scatter(x=[days[-1]], y=[scores[-1]], mode="markers", name="latest",
                                 marker={"size": 7, "color": theme.PALETTE[0]},
                                 hovertemplate="%{x|%d %b}: %{y:.0f}/100<extra></extra>"))
    fig.update_layout(template=theme.TEMPLATE_NAME, height=95, showlegend=False,
                      title={"text": title, "font": {"size": 11}, "y": 0.97, "yanchor": "top"},
                      margin={"l": 4, "r": 8, "t": 20, "b": 4})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(range=[0, 105], visible=False)
    return fig


def gate_timeline(frame: pd.DataFrame, title: str = "Gate status per evaluation") -> go.Figure:
    """Every gate's status across the release's life: one row per gate, one column per
    evaluation (columns as_of, gate, status — PASS/WARN/FAIL/NO_DATA/WAIVED). Each cell is
    coloured and carries the status icon, and the hover names the word, so status never
    rests on colour alone."""
    order = list(theme.STATUS)
    gates = list(dict.fromkeys(frame["gate"]))
    moments = sorted(frame["as_of"].unique())
    z = pd.DataFrame(index=gates, columns=moments, dtype=float)
    text = pd.DataFrame(index=gates, columns=moments, dtype=object)
    words = pd.DataFrame(index=gates, columns=moments, dtype=object)
    for row in frame.itertuples():
        key = str(row.status).upper()
        z.loc[row.gate, row.as_of] = order.index(key) if key in order else order.index("NO_DATA")
        icon, word, _ = theme.STATUS.get(key, theme.STATUS["NO_DATA"])
        text.loc[row.gate, row.as_of] = icon
        words.loc[row.gate, row.as_of] = word
    n = len(order)
    scale = []
    for i, key in enumerate(order):  # a stepped scale: one colour per status, tinted so
        colour = _tint(theme.STATUS[key][2], 0.55)  # the icon on it stays legible
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = _fig(title, unit="status")
    fig.add_trace(go.Heatmap(
        z=z.values, x=moments, y=gates, zmin=0, zmax=n, colorscale=scale, showscale=False,
        text=text.values, texttemplate="%{text}", textfont={"size": 11}, xgap=1, ygap=1,
        customdata=words.values,
        hovertemplate="%{y}<br>%{x|%d %b %Y %H:%M} UTC: %{customdata}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(220, 28 * len(gates) + 90), xaxis_title="data as of (UTC)")
    return fig
