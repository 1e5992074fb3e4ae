"""The release-notes downloads on the Readiness page: a draft of the release's notes in
Markdown and HTML (metrics/release_notes.py decides what is in them, metrics/notes_report.py
renders them; README, Release notes)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from metrics.notes_report import render_notes
from ui import db, loaders


def release_notes_view(conn, release_id: str, as_of: datetime | None = None):
    """The release's notes (now, or as of ``as_of``)."""
    from metrics.release_notes import release_notes

    return release_notes(conn, db.settings(), release_id, as_of=as_of)


def downloads(release_id: str, *, as_of: datetime | None, slug: str) -> None:
    """A caption saying what the draft holds and its two downloads, side by side."""
    notes = loaders.call(release_notes_view, release_id, as_of=as_of)
    st.caption(f"Release notes (draft): {notes.item_count} done work items and "
               f"{notes.pull_count} merged pull requests, grouped features, fixes and other.")
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Release notes (Markdown) ⤓", render_notes(notes, "markdown").encode(),
                         f"{slug}-release-notes.md", mime="text/markdown", width="stretch",
                         key="notes_md")
    right.download_button("Release notes (HTML) ⤓", render_notes(notes, "html").encode(),
                          f"{slug}-release-notes.html", mime="text/html", width="stretch",
                          key="notes_html")
