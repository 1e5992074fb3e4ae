"""``python -m metrics notify`` and ``python -m metrics notes`` (metrics/__main__.py parses
the arguments per docs/cli.md and calls these).

notify exit codes: 0 every message sent (or nothing due), 1 a message failed or could not
reach the server, 2 an error (configuration, no webhook URL, unknown release) with one line on
stderr. The webhook URL is never an argument: ``--webhook-env`` names the variable holding it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from data.config import ConfigError, load_settings
from data.store import DatabaseError, get_engine
from metrics.readiness import ReleaseNotFound
from metrics.scope import ScopeError, resolve_scope

_ERRORS = (ConfigError, DatabaseError, ScopeError, ReleaseNotFound)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_notify(args, *, now: datetime | None = None, clock=None) -> int:
    """Send what is due (or, with ``--release``, that release's state now); print one line
    per message."""
    from metrics.notify import describe, send_due, send_one_off

    try:
        settings = load_settings(getattr(args, "config", None))
        now = now or datetime.now(timezone.utc)
        channel = args.to or settings.notify.to
        if channel is None:
            return _fail("notify: no channel — set [notify] to = \"slack\", \"teams\" or "
                         "\"json\" in readiness.toml, or pass --to")
        engine = get_engine()
        try:
            if args.release:
                with engine.connect() as conn:
                    release_id = resolve_scope(conn, settings, project=args.project,
                                               release=args.release).release_id
                outcomes = [send_one_off(engine, settings, release_id, channel,
                                         webhook_env=args.webhook_env, now=now,
                                         dry_run=args.dry_run, clock=clock)]
            else:
                outcomes = send_due(engine, settings, now, channel=channel,
                                    webhook_env=args.webhook_env, dry_run=args.dry_run,
                                    clock=clock)
        finally:
            engine.dispose()
    except _ERRORS as exc:
        return _fail(str(exc))
    if not outcomes:
        print("nothing to send")
    for o in outcomes:
        if o.payload is not None:
            print(json.dumps(o.payload, indent=2, ensure_ascii=False))
        print(describe(o))
    return 1 if any(o.status in ("failed", "unsent") for o in outcomes) else 0


def run_notes(args, *, now: datetime | None = None) -> int:
    """Print (or write to ``--output``) the release's notes in Markdown or HTML."""
    from metrics.notes_report import render_notes
    from metrics.release_notes import release_notes

    try:
        settings = load_settings(getattr(args, "config", None))
        engine = get_engine()
        try:
            with engine.connect() as conn:
                release_id = resolve_scope(conn, settings, project=args.project,
                                           release=args.release).release_id
                notes = release_notes(conn, settings, release_id, as_of=now)
        finally:
            engine.dispose()
    except _ERRORS as exc:
        return _fail(str(exc))
    text = render_notes(notes, args.format or "markdown")
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
        print(f"release notes of {notes.project} {notes.release}: {notes.item_count} items, "
              f"{notes.pull_count} pull requests — written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0
