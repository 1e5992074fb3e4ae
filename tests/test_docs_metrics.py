"""docs/metrics.md is the catalogue rendered: a KPI or gate changed without regenerating the doc
fails here (regenerate: ``python -m metrics.catalogue_doc > docs/metrics.md``)."""

from __future__ import annotations

from pathlib import Path

from metrics.catalogue_doc import render
from metrics.registry import CATALOGUE

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


def test_docs_metrics_is_the_rendered_catalogue():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/metrics.md is stale: run python -m metrics.catalogue_doc > docs/metrics.md")


def test_every_measure_and_gate_is_in_the_doc():
    text = render()
    for mid, metric in CATALOGUE.items():
        assert f"| `{mid}` | {metric.label} |" in text
    # gates.toml's ids, read by hand from the file
    for gate in ("open_critical_bugs", "open_high_bugs", "scope_done", "test_pass_rate",
                 "new_failures", "flaky_tests", "ci_success_rate", "staging_deploy_healthy",
                 "change_failure_rate", "bug_trend_converging", "forecast_on_time"):
        assert f"| `{gate}` |" in text
