"""Command line: ``python -m jobs schedule [--every SECONDS] [--once] [--config FILE]``
(docs/cli.md). Exit codes: 0 done (or ``--once`` with every source synced or skipped), 1 a
source failed in the ``--once`` round, 2 bad arguments, configuration or database,
130 interrupted."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from data.config import ConfigError, load_settings
from data.store import DatabaseError, database_error, database_url, get_engine
from net.http import redact


def _every(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 1 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError("expected 1 to 604800 seconds (a week)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs",
                                     description="Keep ShipReady's data fresh on its own.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sched = sub.add_parser("schedule", help="sync every configured source, take the daily "
                           "readiness snapshots and send due notifications, every N seconds")
    sched.add_argument("--every", type=_every, default=1800.0,
                       help="seconds between rounds, ±10%% jitter (default 1800)")
    sched.add_argument("--once", action="store_true",
                       help="run one round and exit: 1 if a source failed, else 0")
    sched.add_argument("--config", default=None, help="configuration file (readiness.toml)")
    return parser


def _stop_on_sigterm(stop) -> None:
    """SIGTERM (a service manager, `make serve` stopping): finish the source in flight —
    its lease is let go normally — start nothing more, exit 130. A flag, not an exception:
    raised from a signal handler, an exception can land in a finaliser and be lost."""
    import signal

    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())


def main(argv: list[str] | None = None) -> int:
    from jobs.schedule import Scheduler

    args = build_parser().parse_args(argv)
    try:
        load_settings(args.config)  # a broken file stops the start, with its one line
        engine = get_engine()
        scheduler = Scheduler(engine, lambda: load_settings(args.config), every=args.every)
        _stop_on_sigterm(scheduler.stop)
        return scheduler.run(once=args.once)
    except (ConfigError, DatabaseError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: {redact(str(database_error(exc, database_url())))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scheduler stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
