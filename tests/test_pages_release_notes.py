"""The release-notes downloads on the Readiness page (demo organisation): both formats there,
and the draft they hold is the metrics layer's for the same release."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data import schema
from data.config import load_settings
from metrics.release_notes import release_notes
from pages_support import APP, TIMEOUT


def test_readiness_page_offers_the_release_notes(demo):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["release"] = "2.4"
    at.query_params["project"] = "PAY"
    at.run()
    at.switch_page("pages/readiness.py").run()
    assert not at.exception, at.exception
    buttons = {b.proto.label: b.proto.url for b in at.get("download_button")}
    assert buttons["Release notes (Markdown) ⤓"].endswith(".md")
    assert buttons["Release notes (HTML) ⤓"].endswith(".html")
    with demo.connect() as conn:
        rid = conn.execute(select(schema.releases.c.id).where(
            schema.releases.c.project == "PAY", schema.releases.c.name == "2.4")).scalar_one()
        notes = release_notes(conn, load_settings(), rid)
    assert notes.item_count > 0 and notes.pull_count > 0  # the demo has both to show
    caption = (f"Release notes (draft): {notes.item_count} done work items and "
               f"{notes.pull_count} merged pull requests, grouped features, fixes and other.")
    assert caption in [c.value for c in at.caption]
