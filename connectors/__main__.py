"""Command line: ``python -m connectors demo|sync|status|import-junit`` (the contract in
docs/cli.md).

Every command creates or upgrades the schema on a new database. Failures print one line on
stderr — what is wrong and what to do — and exit non-zero; never a traceback, never a token.
Exit codes: 0 success, 1 a sync or import failed (what earlier runs stored is intact),
2 bad arguments, configuration or database.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from datetime import date

from sqlalchemy.exc import SQLAlchemyError

from connectors import SOURCE_MODULES
from net.http import SourceError, redact
from connectors.frame.lease import LeaseHeld
from connectors.progress import Progress
from connectors.sources import sync_source
from data.config import ConfigError, load_settings
from data.store import (DatabaseError, database_error, database_url, get_engine, is_empty,
                        masked)


def _date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None
    # The demo lays out years around this day: near the ends of the calendar that overflows.
    if not date(1970, 1, 1) <= value <= date(2100, 12, 31):
        raise argparse.ArgumentTypeError(
            f"expected a date from 1970-01-01 to 2100-12-31, got {text!r}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 200:
        raise argparse.ArgumentTypeError("expected a scale between 0 and 200 (1 ≈ 2,000 items)")
    return value


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted both before and after the source name (``sync --full github`` and
    ``sync github --full``). The copy after it defaults to SUPPRESS: argparse would otherwise
    reset, to its default, a flag given before the source name."""
    common = argparse.ArgumentParser(add_help=False)
    value, flag = (argparse.SUPPRESS, argparse.SUPPRESS) if suppress else (None, False)
    common.add_argument("--config", default=value,
                        help="configuration file (readiness.toml)")
    common.add_argument("--full", action="store_true", default=flag,
                        help="ignore stored cursors and fetch everything again")
    common.add_argument("--plan", action="store_true", default=flag,
                        help="print what the sync would fetch and cost (repositories, "
                             "requests, GraphQL points, hours at the current rate limit) "
                             "and write nothing")
    common.add_argument("--allow-mass-delete", action="store_true", default=flag,
                        help="let this sync remove more than [app] max_delete_share of a "
                             "repository's or project's stored items (default 0.1), when "
                             "the source really no longer has them")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m connectors",
                                     description="Load engineering data into ShipReady.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="load (or --remove) the demo organisation")
    demo.add_argument("--scale", type=_scale, default=1.0,
                      help="size: 1 gives about 2,000 work items and 50,000 test results")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--today", type=_date, default=None,
                      help="the day the data is laid out around (default: today, UTC)")
    demo.add_argument("--remove", action="store_true", help="delete every demo row, only those")
    demo.add_argument("--if-empty", action="store_true",
                      help="load only into a database holding no data yet (what `make run` does)")

    common, per_source = _common_options(False), _common_options(True)
    remap = sub.add_parser("remap", help="apply a changed [mapping] to the stored severities "
                           "and their history, without a re-sync")
    remap.add_argument("--config", default=None, help="configuration file (readiness.toml)")
    sync = sub.add_parser("sync", parents=[common],
                          help="sync configured sources, or one source given on the command line")
    sync.add_argument("--source", choices=sorted(SOURCE_MODULES),
                      help="only this configured source")
    sources = sync.add_subparsers(dest="source_command", metavar="SOURCE")
    for name, module_name in SOURCE_MODULES.items():
        p = sources.add_parser(name, parents=[per_source], help=f"sync {name}")
        importlib.import_module(module_name).add_arguments(p)

    status = sub.add_parser("status", help="each source's last successful sync, its age and "
                            "state; exit 1 when any is too old or failing")
    status.add_argument("--config", default=None, help="configuration file (readiness.toml)")
    status.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default) or json")

    junit = sub.add_parser("import-junit", help="import JUnit XML files, folders, globs or zips")
    importlib.import_module("connectors.junit").add_arguments(junit)
    return parser


def _plan(args: argparse.Namespace, settings) -> int:
    """``sync --plan``: the cost of the sync, nothing written (not even a new schema)."""
    import dataclasses

    from data.store import database_url
    from sqlalchemy.engine import make_url

    url = make_url(database_url())
    engine = None
    if url.get_backend_name() != "sqlite" or (url.database and os.path.exists(url.database)):
        engine = get_engine(create_schema=False)
    names = ([args.source_command] if args.source_command else
             [args.source] if args.source else settings.configured_sources())
    if not names:
        print("nothing to plan: no source is configured in readiness.toml", file=sys.stderr)
        return 2
    for name in names:
        if name != "github":
            print(f"{name}: --plan covers GitHub only; nothing fetched")
            continue
        from connectors.github import cli as github_cli

        if args.source_command:  # `sync github --repo … --plan`: those repositories only
            gh = settings.github.model_copy(update={
                "repos": list(args.repo), "orgs": [],
                "api_url": args.api_url or settings.github.api_url})
            settings = dataclasses.replace(settings, github=gh)
        github_cli.plan(settings, engine)
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    if args.command == "sync" and getattr(args, "plan", False):
        return _plan(args, settings)
    engine = get_engine()
    if args.command == "demo":
        from data import demo

        if args.remove:
            counts = demo.remove_demo(engine)
            print(f"removed {sum(counts.values())} demo rows")
            return 0
        if args.if_empty:
            with engine.connect() as conn:
                if not is_empty(conn):
                    return 0
            print(f"empty database {masked(str(engine.url))}: loading the demo organisation")
        with Progress("demo") as progress:
            counts = demo.load_demo(engine, scale=args.scale, seed=args.seed, today=args.today,
                                    progress=progress)
        print("loaded demo organisation: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0
    if args.command == "remap":
        from data.domain import remap
        from data.version import bump
        from data.mapping import mapping_rules

        with engine.begin() as conn:
            counts = remap(conn, mapping_rules(settings.mapping, settings.jira.status_names))
            bump(conn)  # pages' caches key on the data version (data/version.py)
        print(f"remapped: {counts['items']} severities changed, "
              f"{counts['history']} history rows derived")
        return 0
    if args.command == "import-junit":
        module = importlib.import_module("connectors.junit")
        with Progress("junit") as progress:
            return module.run(args, settings, engine, progress)
    # sync
    if args.command == "status":
        from connectors.status import run_status
        return run_status(settings, engine, args.format)
    if args.source_command:
        try:
            with Progress(args.source_command) as progress:
                written = sync_source(args.source_command, settings, engine, progress,
                                      run=lambda m: m.run(args, settings, engine, progress))
        except LeaseHeld as held:  # someone else is syncing it: not a failure
            print(held)
            return 0
        _report(args.source_command, written)
        return 0
    names = [args.source] if args.source else settings.configured_sources()
    if not names:
        print("nothing to sync: no source is configured in readiness.toml "
              "(see readiness.toml.example), or name one: python -m connectors sync github "
              "--repo OWNER/NAME", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            with Progress(name) as progress:
                _report(name, sync_source(name, settings, engine, progress, full=args.full,
                                          allow_mass_delete=args.allow_mass_delete))
        except LeaseHeld as held:  # someone else is syncing it: skipped, not a failure
            print(held)
        except SourceError as exc:  # one source failing does not stop the others
            print(f"error: {redact(str(exc))}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _report(source: str, written: dict[str, int]) -> None:
    summary = ", ".join(f"{k} {v}" for k, v in written.items()) or "nothing new"
    print(f"{source}: {summary}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (ConfigError, DatabaseError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # e.g. a read-only database file, a full disk
        print(f"error: {redact(str(database_error(exc, database_url())))}", file=sys.stderr)
        return 2
    except SourceError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: what was committed is kept; rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
