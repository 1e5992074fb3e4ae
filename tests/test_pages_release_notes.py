"""The release-notes downloads on the Readiness page (demo organisation): both formats are
there, drafted on click (deferred: the page's render does not pay for them), and what a click
yields is the metrics layer's notes for the same release. tests/test_browser_notes.py clicks
one in Chromium."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data import schema
from data.config import load_settings
from metrics.notes_report import render_notes
from metrics.release_notes import release_notes
from pages_support import APP, TIMEOUT
from ui import notes as notes_ui

NOW = datetime.now(timezone.utc)


def test_readiness_page_offers_the_release_notes(demo):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["release"] = "2.4"
    at.query_params["project"] = "PAY"
    at.run()
    at.switch_page("pages/readiness.py").run()
    assert not at.exception, at.exception
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    for label in ("Release notes (Markdown) ⤓", "Release notes (HTML) ⤓"):
        assert buttons[label].deferred_file_id  # drafted when clicked


def test_a_click_yields_the_metrics_layers_notes(demo):
    with demo.connect() as conn:
        rid = conn.execute(select(schema.releases.c.id).where(
            schema.releases.c.project == "PAY", schema.releases.c.name == "2.4")).scalar_one()
        notes = release_notes(conn, load_settings(), rid, as_of=NOW)
    assert notes.item_count > 0 and notes.pull_count > 0  # the demo has both to show
    for fmt in ("markdown", "html"):
        assert notes_ui.notes_file(rid, NOW, fmt).decode("utf-8") == render_notes(notes, fmt)
