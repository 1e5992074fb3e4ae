"""Look and feel, checked on every page of the demo (README "Look and feel"): every chart's
title ends with its unit in parentheses, and every status, verdict or outcome in a table is an
icon and a word, never colour alone."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from pages_support import APP, TIMEOUT
from ui import theme
from ui.figures import with_unit

PAGES = ["pages/home.py", "pages/readiness.py", "pages/sprint.py", "pages/quality.py",
         "pages/delivery.py", "pages/data_sources.py"]
# What a status cell may say: the theme's icon + word pairs, written out here by hand.
LABELS = {"✅ PASS", "⚠️ WARN", "❌ FAIL", "❔ NO DATA", "🛡 WAIVED", "✅ GO", "⚠️ AT RISK",
          "❌ NO-GO", "✅ success", "❌ failed", "⏳ running", "⚠️ abandoned"}
UNIT_AT_END = re.compile(r"\([^()]+\)$")


def test_with_unit():
    assert with_unit("Burndown", "points") == "Burndown (points)"
    assert with_unit("Score (0–100)", "0–100") == "Score (0–100)"
    assert with_unit("Deployment frequency", "per_day") == "Deployment frequency (per day)"
    assert with_unit("Titled", "") == "Titled"


@pytest.mark.parametrize("page", PAGES)
def test_charts_name_their_unit_and_statuses_are_icon_and_word(demo, page):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["project"] = "PAY"
    at.query_params["release"] = "2.4"
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    for chart in at.get("plotly_chart"):
        title = (json.loads(chart.proto.spec)["layout"].get("title") or {}).get("text") or ""
        assert UNIT_AT_END.search(title), f"{page}: chart title without a unit: {title!r}"
    for frame in at.dataframe:
        df = frame.value
        for col in [c for c in df.columns if str(c) in ("Status", "Status then", "Outcome",
                                                       "Verdict", "Change")]:
            for cell in df[col].dropna().astype(str):
                parts = [p.strip() for p in cell.split("→")]
                assert all(p in LABELS for p in parts), f"{page}: {col} = {cell!r}"
    assert {theme.status_label(s) for s in theme.STATUS} <= LABELS
