"""Release notes as Markdown and as one self-contained HTML page
(:class:`metrics.release_notes.ReleaseNotes`).

Titles come from sources: in Markdown they are escaped only where they would change the
markup (metrics/format.py), so the draft pastes cleanly into Slack, Jira, Confluence or a
GitHub comment; in HTML they are inert text. Links are kept only for http(s) URLs.
"""

from __future__ import annotations

from datetime import datetime

from metrics.format import html_link, html_text, md_inline, md_link
from metrics.release_notes import GROUP_TITLES, GROUPS, NoteEntry, ReleaseNotes

NOTES_FORMATS = ("markdown", "html")
LIMIT = 240  # characters of one title


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d") if dt else "—"


def _summary(notes: ReleaseNotes) -> str:
    items = f"{notes.item_count} done work item{'s' if notes.item_count != 1 else ''}"
    pulls = f"{notes.pull_count} merged pull request{'s' if notes.pull_count != 1 else ''}"
    when = (f"shipped {_when(notes.released_at)}" if notes.released_at
            else f"target {_when(notes.target_date)}")
    return (f"Draft from {items} and {pulls}, as of {notes.as_of:%Y-%m-%d %H:%M} UTC · "
            f"{when} · release branch {notes.branch}")


def title(notes: ReleaseNotes) -> str:
    return f"Release notes: {notes.project} {notes.release}"


def _md_entry(e: NoteEntry) -> str:
    line = f"- {md_link(e.label, e.url)} {md_inline(e.title, limit=LIMIT)}".rstrip()
    if e.pulls:
        line += " (" + ", ".join(md_link(p.label, p.url) for p in e.pulls) + ")"
    return line


def render_notes_markdown(notes: ReleaseNotes) -> str:
    """``# Release notes: PAY 2.4``, a summary line, then Features, Fixes and Other (a group
    with nothing in it is left out), one list item per entry with its link."""
    out = [f"# {md_inline(title(notes))}", "", md_inline(_summary(notes)), ""]
    if not notes.entries:
        out += ["Nothing in this release is done yet.", ""]
    for group in GROUPS:
        entries = notes.group(group)
        if entries:
            out += [f"## {GROUP_TITLES[group]}", ""] + [_md_entry(e) for e in entries] + [""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:900px;color:#1f2328;line-height:1.5;padding:0 1rem}.meta{color:#57606a}
li{margin:.2rem 0}.prs{color:#57606a;font-size:.92rem}
"""


def _html_entry(e: NoteEntry) -> str:
    prs = ""
    if e.pulls:
        prs = (" <span class='prs'>(" + ", ".join(html_link(p.label, p.url) for p in e.pulls)
               + ")</span>")
    return f"<li>{html_link(e.label, e.url)} {html_text(e.title)}{prs}</li>"


def render_notes_html(notes: ReleaseNotes) -> str:
    """One self-contained HTML page with the same content as the Markdown."""
    body = []
    if not notes.entries:
        body.append("<p>Nothing in this release is done yet.</p>")
    for group in GROUPS:
        entries = notes.group(group)
        if entries:
            body.append(f"<h2>{GROUP_TITLES[group]}</h2><ul>"
                        + "".join(_html_entry(e) for e in entries) + "</ul>")
    head = html_text(title(notes))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{head}</title><style>{_CSS}</style></head>
<body>
<h1>{head}</h1>
<p class="meta">{html_text(_summary(notes))}</p>
{''.join(body)}
</body></html>
"""


def render_notes(notes: ReleaseNotes, fmt: str = "markdown") -> str:
    """The notes in ``fmt`` (markdown or html)."""
    return render_notes_html(notes) if fmt == "html" else render_notes_markdown(notes)
