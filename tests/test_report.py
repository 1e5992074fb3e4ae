"""Report rendering on hand-built evaluations (no database): content, escaping, charts."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from metrics import gates as G
from metrics import report
from metrics.readiness import Evaluation, GateResult

T = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
HOSTILE = '<img src=x onerror="alert(1)"> **bold** [x](javascript:alert(1)) | pipe'


def _gate(gid, metric, comparator, threshold, *, blocking=False, warn=None, weight=1.0):
    return G.Gate(id=gid, label=gid.replace("_", " ").capitalize(), metric=metric,
                  comparator=comparator, threshold=threshold, weight=weight, blocking=blocking,
                  warn=warn)


def evaluation(**kw) -> Evaluation:
    crit = _gate("open_critical_bugs", "open_bugs_critical", "<=", 0, blocking=True, weight=3)
    rate = _gate("test_pass_rate", "test_pass_rate", ">=", 0.98, blocking=True, warn=0.95)
    fc = _gate("forecast_on_time", "forecast_on_time", ">=", 0.85, warn=0.5)
    gates = [
        GateResult(crit, "FAIL", 1.0, [{"label": "PAY-3", "url": "https://jira/PAY-3",
                                        "detail": HOSTILE},
                                       {"label": "PAY-4", "url": "javascript:alert(1)",
                                        "detail": "bad link"}], basis="1 open critical bug"),
        GateResult(rate, "PASS", 0.99, [], basis="99 of 100 passed"),
        GateResult(fc, "WARN", 0.6, [], basis="trials",
                   detail={"target": date(2026, 3, 20), "distribution": [
                       {"date": "2026-03-18", "share": 0.6}, {"date": "2026-03-25",
                                                              "share": 0.4}]}),
    ]
    base = dict(release_id="r", release="2.4", project="PAY", target_date=None,
                released_at=None, as_of=T, evaluated_at=T, verdict="NO_GO", score=42.9,
                gates=gates, context={"branch": "release/2.4"})
    base.update(kw)
    return Evaluation(**base)


def test_text_report_lists_reasons_and_evidence():
    out = report.render(evaluation(), "text")
    first, *rest = out.splitlines()
    assert first == "Release PAY 2.4: NO-GO (score 42.9/100)"
    assert "Why not GO:" in out
    assert "  - Open critical bugs: ✖ FAIL (1, needs <= 0)" in out
    assert "  - Forecast on time: ▲ WARN (60%, needs >= 85% (warn >= 50%))" in out
    assert "PAY-3" in out and "<https://jira/PAY-3>" in out
    assert "✔ PASS" in out  # every status has an icon and a word


def test_html_escapes_source_text_and_drops_unsafe_links():
    page = report.render(evaluation(), "html")
    assert '<img src=x' not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert 'href="https://jira/PAY-3"' in page
    assert 'href="javascript' not in page
    assert "✖ FAIL" in page and "NO-GO" in page and "42.9" in page


def test_html_has_inline_charts_and_no_network():
    page = report.render(evaluation(), "html",
                         history=[{"evaluated_at": T, "as_of": T, "verdict": "AT_RISK",
                                   "score": 60.0},
                                  {"evaluated_at": T, "as_of": T, "verdict": "NO_GO",
                                   "score": 42.9}])
    # gate chart, forecast chart, history chart: three plotly divs, plotly.js inlined once
    assert page.count('class="plotly-graph-div"') == 3
    assert page.count("plotly.js v") <= 2  # the library banner, once (sometimes repeated in it)
    assert "<script src" not in page and 'src="http' not in page and "<link" not in page


def test_markdown_escapes_only_what_would_change_the_markup():
    lines = report.render(evaluation(), "markdown").splitlines()
    # ordinary punctuation stays as typed: Slack, Jira and GitHub would show backslashes
    assert lines[0] == "# Release PAY 2.4: NO-GO (score 42.9/100)"
    assert "| ✖ FAIL | Open critical bugs | 1 | <= 0 | yes |" in lines
    # the hostile detail: no tag, no emphasis, no link; a pipe outside a table is harmless
    assert ('- [PAY-3](https://jira/PAY-3): \\<img src=x onerror="alert(1)"> \\*\\*bold\\*\\* '
            '[x\\](javascript:alert(1)) | pipe') in lines
    assert "- PAY-4: bad link" in lines  # javascript: link dropped, label kept as text


def test_json_is_the_evaluation():
    doc = json.loads(report.render(evaluation(), "json"))
    assert doc["verdict"] == "NO_GO" and doc["gates"][0]["evidence"][0]["detail"] == HOSTILE


def test_forecast_chart_needs_a_distribution():
    assert report.forecast_chart(evaluation()) is not None
    ev = evaluation()
    ev.gates[2].detail = {}
    assert report.forecast_chart(ev) is None


def test_gate_chart_bars_are_weight_times_credit():
    fig = report.gate_chart(evaluation())
    # reversed order: forecast WARN 1 * 0.5, pass rate PASS 1 * 1, critical FAIL 3 * 0
    assert list(fig.data[0].x) == [0.5, 1.0, 0.0]
    assert list(fig.data[1].x) == [0.5, 0.0, 3.0]
