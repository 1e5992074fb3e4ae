"""The release-notes downloads on the Readiness page: a draft of the release's notes in
Markdown and HTML (metrics/release_notes.py decides what is in them, metrics/notes_report.py
renders them; README, Release notes).

The notes are drafted when a button is clicked (Streamlit calls :func:`notes_file` then), not
on every render of the page: the page's first paint does not pay for them."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import streamlit as st

from metrics.notes_report import render_notes
from ui import db


def notes_file(release_id: str, as_of: datetime | None, fmt: str) -> bytes:
    """The release's notes (now, or as of ``as_of``) in ``fmt`` (markdown or html)."""
    from metrics.release_notes import release_notes

    with db.engine().connect() as conn:
        notes = release_notes(conn, db.settings(), release_id, as_of=as_of)
    return render_notes(notes, fmt).encode("utf-8")


def downloads(release_id: str, *, as_of: datetime | None, slug: str) -> None:
    """What the draft holds, and its two downloads side by side."""
    st.caption("Release notes (draft): the release's done work items and merged pull "
               "requests, grouped features, fixes and other, each with its link.")
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Release notes (Markdown) ⤓",
                         partial(notes_file, release_id, as_of, "markdown"),
                         f"{slug}-release-notes.md", mime="text/markdown", width="stretch",
                         key="notes_md", on_click="ignore")
    right.download_button("Release notes (HTML) ⤓", partial(notes_file, release_id, as_of, "html"),
                          f"{slug}-release-notes.html", mime="text/html", width="stretch",
                          key="notes_html", on_click="ignore")
