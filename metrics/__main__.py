"""`python -m metrics readiness | waive | kpis | notify | notes | derive` — the command-line
contract in docs/cli.md.

Errors (unknown release/project/sprint, no database, bad configuration or arguments) print one
line on stderr and exit 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

# Dates outside this range are typing mistakes (a year 0001 or 9999), and near the ends of
# Python's calendar a window's arithmetic overflows; refuse them in one line up front.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


MAX_BY = 255  # characters of gate_waivers.waived_by
DATE_OPTIONS = {"as_of": "--as-of", "since": "--since", "until": "--until",
                "expires": "--expires"}


def check_moment(text: str) -> str | None:
    """Why ``text`` is not a usable --as-of/--since/--until/--expires (a date or ISO datetime
    from 1970 to 2100), or None when it is. The commands parse the text themselves."""
    from metrics.scope import ScopeError, to_utc

    try:
        value = to_utc(text)
    except ScopeError as exc:
        return str(exc)
    except OverflowError:
        value = None
    if value is None or not EARLIEST <= value <= LATEST:
        return (f"date {text.strip()!r} is out of range: use a date from "
                f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}")
    return None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints usage; keep it to one line
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m metrics", description="Readiness verdicts, waivers and KPIs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("readiness", help="evaluate a release's launch gates")
    r.add_argument("--release", required=True, help="release name, e.g. 2.4")
    r.add_argument("--project", help="project key (needed when the name is in several)")
    r.add_argument("--format", choices=["text", "json", "markdown", "html"], default="text")
    r.add_argument("--output", help="write the report to FILE instead of stdout")
    r.add_argument("--strict", action="store_true", help="exit 1 for AT RISK too")
    r.add_argument("--as-of", dest="as_of",
                   help="evaluate as of DATETIME (only data then)")
    r.add_argument("--no-snapshot", dest="no_snapshot", action="store_true",
                   help="do not store this evaluation")
    r.add_argument("--config", help="readiness.toml path")

    w = sub.add_parser("waive", help="waive one gate of a release")
    w.add_argument("--release", required=True)
    w.add_argument("--project")
    w.add_argument("--gate", required=True, help="gate id")
    w.add_argument("--reason", required=True)
    w.add_argument("--by", required=True, help="who waives it")
    w.add_argument("--expires", help="DATE the waiver ends")
    w.add_argument("--config", help="readiness.toml path")

    k = sub.add_parser("kpis", help="every KPI for a scope")
    k.add_argument("--project")
    k.add_argument("--team")
    k.add_argument("--sprint", help="sprint name (default: the last closed sprint)")
    k.add_argument("--release")
    k.add_argument("--since",
                   help="DATE or DATETIME (default: 30 days before --until)")
    k.add_argument("--until", help="DATE or DATETIME (default: now)")
    k.add_argument("--format", choices=["text", "json", "csv"], default="text")
    k.add_argument("--config", help="readiness.toml path")

    n = sub.add_parser("notify", help="post verdict changes and the daily digest to a webhook")
    n.add_argument("--release", help="post this release's state now (a one-off)")
    n.add_argument("--project", help="project key (needed when the name is in several)")
    n.add_argument("--to", choices=["slack", "teams", "json"],
                   help="where to post (default [notify] to)")
    n.add_argument("--webhook-env", dest="webhook_env", metavar="VARIABLE",
                   help="the environment variable holding the webhook URL "
                        "(default [notify] webhook_env)")
    n.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="print the messages' bodies; record and send nothing")
    n.add_argument("--config", help="readiness.toml path")

    o = sub.add_parser("notes", help="draft a release's notes")
    o.add_argument("--release", required=True, help="release name, e.g. 2.4")
    o.add_argument("--project", help="project key (needed when the name is in several)")
    o.add_argument("--format", choices=["markdown", "html"], default="markdown")
    o.add_argument("--output", help="write the notes to FILE instead of stdout")
    o.add_argument("--config", help="readiness.toml path")

    d = sub.add_parser("derive", help="compute the pages' default views for the data now and "
                       "store them, so the next first render reads them")
    d.add_argument("--config", help="readiness.toml path")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sqlalchemy.exc import SQLAlchemyError

    from data.config import ConfigError
    from data.store import DatabaseError, database_error, database_url
    from metrics.scope import ScopeError

    for attr, option in DATE_OPTIONS.items():
        text = getattr(args, attr, None)
        problem = check_moment(text) if text is not None else None
        if problem:
            print(f"error: {option}: {problem}", file=sys.stderr)
            return 2
    by = getattr(args, "by", None)
    if by is not None and len(by) > MAX_BY:
        # stored in a 255-character column: past it PostgreSQL refuses the waiver
        print(f"error: --by is {len(by):,} characters long; at most {MAX_BY} are accepted "
              "(a name or an email address)", file=sys.stderr)
        return 2
    try:
        if args.command == "kpis":
            from metrics.kpis import run_kpis

            return run_kpis(args)
        if args.command == "derive":
            return run_derive(args)
        if args.command in ("notify", "notes"):
            from metrics import cli_notify

            return (cli_notify.run_notify(args) if args.command == "notify"
                    else cli_notify.run_notes(args))
        from metrics import cli_readiness  # imported only when its commands run

        if args.command == "readiness":
            return cli_readiness.run_readiness(args)
        return cli_readiness.run_waive(args)
    except (ScopeError, ConfigError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # e.g. a read-only database file (readiness stores a snapshot)
        print(f"error: {database_error(exc, database_url())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2


def run_derive(args) -> int:
    """The `derive` command: one line per view (what, how long, stored or not); 0, or 1 when
    a view could not be stored (the database was busy: the pages compute it on first view)."""
    from data.config import load_settings
    from data.store import get_engine
    from metrics.derived import derive_defaults

    settings = load_settings(getattr(args, "config", None))
    engine = get_engine()
    try:
        done = derive_defaults(engine, settings)
    finally:
        engine.dispose()
    for d in done:
        outcome = "stored" if d.stored else "not stored (database busy)"
        print(f"{d.request.view}: {d.seconds:.2f} s, {outcome}")
    if not done:
        print("nothing to derive: no data")
    return 0 if all(d.stored for d in done) else 1


if __name__ == "__main__":
    sys.exit(main())
