"""One catalogue of metrics: each id has one definition, shown in the same words by the CLI,
the pages, the HTML report and the gates; every KPI has its compute function; gates name
catalogue ids (issue 12, item 3)."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from metrics import gates as G
from metrics import readiness, registry
from metrics.__main__ import main
from metrics.format import html_text
from metrics.registry import CATALOGUE, RELEASE
from pages_support import APP, TIMEOUT


def test_every_kpi_has_its_compute_function_and_every_gate_measure_a_function():
    kpis = {r.metric.id for r in registry.all_kpis()}
    release_measures = {mid for mid, m in CATALOGUE.items() if m.group == RELEASE}
    # each catalogue id is exactly one of the two kinds
    assert kpis | release_measures == set(CATALOGUE) and not kpis & release_measures
    assert set(readiness.MEASURES) == set(registry.GATE_METRICS) <= set(CATALOGUE)
    for r in registry.all_kpis():
        assert r.metric is CATALOGUE[r.metric.id] and callable(r.compute)
    for gate in G.load_catalogue().values():
        assert gate.metric in CATALOGUE


def test_registering_outside_the_catalogue_fails_at_once():
    with pytest.raises(KeyError, match="CATALOGUE"):
        registry.kpi("not_in_the_catalogue")
    with pytest.raises(ValueError, match="release measure"):
        registry.kpi("scope_done")
    with pytest.raises(ValueError, match="twice"):
        registry.kpi("test_pass_rate")(lambda conn, scope: None)


def test_a_gates_definition_is_its_measures_catalogue_entry():
    for gate in G.load_catalogue().values():
        assert gate.definition == CATALOGUE[gate.metric].definition
        assert gate.unit == CATALOGUE[gate.metric].unit


def _tiles(at: AppTest) -> dict[str, str]:
    """{label: definition} of every KPI tile (the first part of its help text)."""
    return {m.label: m.help.split("  \n")[0] for m in at.metric if m.help}


def _open(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_cli_pages_report_and_gates_show_the_same_definition(demo, capsys):
    by_label = {m.label: m for m in CATALOGUE.values()}

    # the CLI's JSON
    assert main(["kpis", "--project", "PAY", "--release", "2.4", "--format", "json"]) == 0
    cli = {k["id"]: k["definition"] for k in json.loads(capsys.readouterr().out)["kpis"]}

    # the HTML report: each gate's definition opens its explanation
    main(["readiness", "--project", "PAY", "--release", "2.4", "--format", "html",
          "--no-snapshot"])
    page = capsys.readouterr().out
    shown_in_report = re.findall(r"<div class='basis'>(.*?)\. ", page)

    # the pages: KPI tiles (help) and the readiness page's gate table
    tiles: dict[str, str] = {}
    for name in ("pages/sprint.py", "pages/quality.py", "pages/delivery.py"):
        tiles.update(_tiles(_open(name, {"project": "PAY"})))
    gate_table = next(df.value for df in _open("pages/readiness.py", {
        "project": "PAY", "release": "2.4"}).dataframe if "Definition" in df.value.columns)

    gates = G.load_catalogue()
    # the same string wherever an id is shown
    for mid, definition in cli.items():
        assert definition == CATALOGUE[mid].definition, mid
    for label, definition in tiles.items():
        assert definition == by_label[label].definition, label
    assert set(gate_table["Definition"]) <= {CATALOGUE[g.metric].definition
                                             for g in gates.values()}
    assert shown_in_report == [html_text(CATALOGUE[g.metric].definition)
                               for g in gates.values() if g.enabled]

    # test pass rate (the one that differed) is shown by all four, in one wording
    words = CATALOGUE["test_pass_rate"].definition
    assert cli["test_pass_rate"] == tiles["Test pass rate"] == words
    assert words in set(gate_table["Definition"])
    assert html_text(words) in shown_in_report
    assert gates["test_pass_rate"].definition == words
    # and every KPI is shown somewhere: the CLI lists them all (a release in scope)
    assert set(cli) == {r.metric.id for r in registry.all_kpis()}
