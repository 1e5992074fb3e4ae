"""``python -m metrics readiness`` and ``python -m metrics waive`` (metrics/__main__.py parses the
arguments per docs/cli.md and calls these).

readiness exit codes: 0 GO (and AT RISK unless --strict); 1 NO-GO (and AT RISK with --strict);
2 an error — unknown release, no database, bad configuration or arguments — with one line on
stderr, never a traceback.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from data.config import ConfigError, load_settings
from data.store import DatabaseError, get_engine, read_snapshot
from metrics import gates as G
from metrics.readiness import ReleaseNotFound, evaluate_release
from metrics.report import FORMATS, VERDICT_WORDS, render
from metrics.scope import ScopeError, resolve_scope, to_utc
from metrics.snapshots import list_snapshots, save_snapshot
from metrics.waivers import WaiverError, add_waiver

_ERRORS = (ConfigError, DatabaseError, ScopeError, ReleaseNotFound, WaiverError)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _release_id(conn, settings, args) -> str:
    scope = resolve_scope(conn, settings, project=getattr(args, "project", None),
                          release=args.release)
    return scope.release_id


def exit_code(verdict: str, strict: bool) -> int:
    """0 for GO (and AT_RISK unless strict), 1 for NO_GO (and AT_RISK when strict)."""
    if verdict == G.NO_GO or (verdict == G.AT_RISK and strict):
        return 1
    return 0


def run_readiness(args, *, now: datetime | None = None) -> int:
    """Evaluate ``args.release``, store a snapshot (unless ``--no-snapshot``), print or write
    the report; returns the exit code."""
    fmt = getattr(args, "format", None) or "text"
    if fmt not in FORMATS:
        return _fail(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    try:
        settings = load_settings(getattr(args, "config", None))
        as_of = to_utc(args.as_of, end_of_day=True) if getattr(args, "as_of", None) else None
        now = now or datetime.now(timezone.utc)
        engine = get_engine()
        try:
            # Every measure reads one state of the database, even while a sync writes;
            # the snapshot row is then written in a transaction of its own.
            with read_snapshot(engine) as conn:
                release_id = _release_id(conn, settings, args)
                ev = evaluate_release(conn, settings, release_id, as_of=as_of, now=now)
            with engine.begin() as conn:
                if not getattr(args, "no_snapshot", False):
                    save_snapshot(conn, ev)
                history = list_snapshots(conn, release_id)
        finally:
            engine.dispose()
    except _ERRORS as exc:
        return _fail(str(exc))
    text = render(ev, fmt, history)
    output = getattr(args, "output", None)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write {output}: {exc.strerror or exc}")
        print(f"{VERDICT_WORDS[ev.verdict]} (score {ev.score:g}) — report written to {output}")
    else:
        sys.stdout.write(text)
    return exit_code(ev.verdict, bool(getattr(args, "strict", False)))


def run_waive(args, *, now: datetime | None = None) -> int:
    """Record a waiver of ``args.gate`` for ``args.release``; 0 on success, 2 on an error."""
    try:
        settings = load_settings(getattr(args, "config", None))
        now = now or datetime.now(timezone.utc)
        expires = (to_utc(args.expires, end_of_day=True)
                   if getattr(args, "expires", None) else None)
        engine = get_engine()
        try:
            with engine.begin() as conn:
                scope = resolve_scope(conn, settings, project=getattr(args, "project", None),
                                      release=args.release)
                project = scope.labels.get("project")
                known = {g.id for g in G.gates_for(settings, project, args.release)}
                add_waiver(conn, scope.release_id, args.gate, reason=args.reason, by=args.by,
                           expires_at=expires, known_gates=known, now=now)
        finally:
            engine.dispose()
    except _ERRORS as exc:
        return _fail(str(exc))
    if expires is None:
        until = " with no expiry"
    elif len(args.expires.strip()) == 10:  # a bare date covers that whole day
        until = f" through {args.expires.strip()} (UTC)"
    else:
        until = f" until {expires:%Y-%m-%d %H:%M} UTC"
    print(f"waived gate {args.gate} of release {project} {args.release}{until} "
          f"(by {args.by.strip()})")
    return 0
