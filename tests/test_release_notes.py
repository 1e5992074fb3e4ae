"""Release notes on a small organisation, worked out by hand from the definition in
metrics/release_notes.py (README, Release notes).

Release PAY 2.4 (project PAY: repository acme/web, release branch release/2.4), as of AS_OF:

| row | what | in the notes? |
|---|---|---|
| PAY-1 story, done | feature; PR acme/web#10 (merged, names PAY-1) shown with it | yes, Features |
| PAY-2 bug, done | fix; PR acme/web#11 names it but was closed unmerged | yes, Fixes, no PR |
| PAY-3 task, done | other | yes, Other |
| PAY-4 story, done as Won't Do | not delivered | no |
| PAY-5 story, in progress | not done; PR acme/web#12 (merged, names it): a feature | PR only |
| PAY-6 epic, done | an epic | no |
| PAY-7 bug, resolved after AS_OF | not done then | no |
| PAY-8 story, done, not in the release | PR acme/web#18 names it | no |
| acme/web#13 "fix: null card token" | merged into release/2.4 | yes, Fixes |
| acme/web#14 | merged into main, names nothing | no |
| acme/web#15 "Bump deps" | merged into release/2.4 | yes, Other |
| other/repo#16 | merged into release/2.4 of a repository not the project's | no |
| acme/web#17 "feat(api): payouts" | merged into release/2.4 | yes, Features |
| acme/web#19 | merged into release/2.4 after AS_OF | no |

So 3 items and 5 pull requests (#10 with PAY-1; #12, #13, #15, #17 on their own).
"""

from __future__ import annotations

from datetime import timedelta

from data.config import parse_settings
from metrics.__main__ import main
from metrics.notes_report import render_notes
from metrics.release_notes import release_notes
from metrics_rows import item, load, release, utc

AS_OF = utc(2026, 11, 30, 12, 0)
DAY = timedelta(days=1)
RID = "t:release:r24"
SETTINGS = {"projects": {"PAY": {"repos": ["acme/web"]}}}


def _pr(number: int, *, repo: str = "acme/web", title: str | None = None, base: str = "main",
        merged=AS_OF - DAY, linked=None) -> dict:
    return {"id": f"t:pr:{repo}#{number}", "source": "t", "repo": repo, "number": number,
            "title": title or f"PR {number}", "state": "merged" if merged else "closed",
            "base_branch": base, "head_branch": f"b{number}", "created_at": AS_OF - 9 * DAY,
            "merged_at": merged, "closed_at": merged or AS_OF - DAY,
            "linked_items": [f"t:issue:{k}" for k in linked] if linked else None,
            "url": f"https://github.com/{repo}/pull/{number}"}


def organisation(engine) -> None:
    created, done = AS_OF - 20 * DAY, AS_OF - 2 * DAY
    items = [
        item("PAY-1", created=created, status_category="done", resolved=done),
        item("PAY-2", type="bug", created=created, status_category="done", resolved=done),
        item("PAY-3", type="task", created=created, status_category="done", resolved=done),
        item("PAY-4", created=created, status_category="done", resolved=done,
             resolution="Won't Do"),
        item("PAY-5", created=created, status_category="in_progress"),
        item("PAY-6", type="epic", created=created, status_category="done", resolved=done),
        item("PAY-7", type="bug", created=created, status_category="done",
             resolved=AS_OF + DAY),
        item("PAY-8", created=created, status_category="done", resolved=done),
    ]
    items[0]["title"] = "Pay 2.4: cards (beta) - NO-GO fix"
    items[1]["title"] = "Refunds with *stars* and <script>alert(1)</script>"
    branch = "release/2.4"
    load(engine,
         releases=[release("r24", "2.4", target=AS_OF + 10 * DAY)],
         work_items=items,
         release_items=[{"release_id": RID, "item_id": f"t:issue:PAY-{n}", "source": "t"}
                        for n in range(1, 8)],
         pull_requests=[
             _pr(10, linked=["PAY-1"]),
             _pr(11, linked=["PAY-2"], merged=None),
             _pr(12, title="Wire the wallet", linked=["PAY-5"]),
             _pr(13, title="fix: null card token", base=branch),
             _pr(14),
             _pr(15, title="Bump deps", base=branch),
             _pr(16, repo="other/repo", base=branch),
             _pr(17, title="feat(api): payouts", base=branch),
             _pr(18, linked=["PAY-8"]),
             _pr(19, base=branch, merged=AS_OF + DAY),
         ])


EXPECTED_MARKDOWN = """\
# Release notes: PAY 2.4

Draft from 3 done work items and 5 merged pull requests, as of 2026-11-30 12:00 UTC · \
target 2026-12-10 · release branch release/2.4

## Features

- [PAY-1](https://t/PAY-1) Pay 2.4: cards (beta) - NO-GO fix \
([acme/web#10](https://github.com/acme/web/pull/10))
- [acme/web#12](https://github.com/acme/web/pull/12) Wire the wallet
- [acme/web#17](https://github.com/acme/web/pull/17) feat(api): payouts

## Fixes

- [PAY-2](https://t/PAY-2) Refunds with \\*stars\\* and \\<script>alert(1)\\</script>
- [acme/web#13](https://github.com/acme/web/pull/13) fix: null card token

## Other

- [PAY-3](https://t/PAY-3) title PAY-3
- [acme/web#15](https://github.com/acme/web/pull/15) Bump deps
"""


def test_notes_by_hand(engine):
    organisation(engine)
    with engine.connect() as conn:
        notes = release_notes(conn, parse_settings(SETTINGS, None), RID, as_of=AS_OF)
    assert [(e.group, e.label) for e in notes.entries] == [
        ("features", "PAY-1"), ("features", "acme/web#12"), ("features", "acme/web#17"),
        ("fixes", "PAY-2"), ("fixes", "acme/web#13"),
        ("other", "PAY-3"), ("other", "acme/web#15")]
    assert (notes.item_count, notes.pull_count) == (3, 5)
    assert render_notes(notes, "markdown") == EXPECTED_MARKDOWN


def test_html_notes_are_inert_and_linked(sqlite_engine):
    organisation(sqlite_engine)
    with sqlite_engine.connect() as conn:
        notes = release_notes(conn, parse_settings(SETTINGS, None), RID, as_of=AS_OF)
    page = render_notes(notes, "html")
    assert "<script>" not in page
    assert ('<li><a href="https://t/PAY-2" rel="noopener noreferrer">PAY-2</a> Refunds with '
            '*stars* and &lt;script&gt;alert(1)&lt;/script&gt;</li>') in page
    assert page.count("<h2>") == 3 and "<title>Release notes: PAY 2.4</title>" in page


def test_a_release_with_nothing_done_says_so(sqlite_engine):
    load(sqlite_engine, releases=[release("r9", "9.0", target=AS_OF + DAY)])
    with sqlite_engine.connect() as conn:
        notes = release_notes(conn, parse_settings({}, None), "t:release:r9", as_of=AS_OF)
    text = render_notes(notes)
    assert notes.entries == [] and "Nothing in this release is done yet." in text
    assert "## " not in text


def test_notes_command(sqlite_url, monkeypatch, tmp_path, capsys):
    from data.store import get_engine

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text('[projects.PAY]\nrepos = ["acme/web"]\n')
    engine = get_engine(sqlite_url)
    organisation(engine)
    engine.dispose()
    out = tmp_path / "notes.html"
    assert main(["notes", "--release", "2.4", "--project", "PAY", "--format", "html",
                 "--output", str(out), "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == (f"release notes of PAY 2.4: 3 items, 5 pull requests — "
                                       f"written to {out}\n")
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["notes", "--release", "2.4", "--config", str(cfg)]) == 0
    assert "## Fixes" in capsys.readouterr().out
    assert main(["notes", "--release", "7.7", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
