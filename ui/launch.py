"""The one way the dashboard is started: ``make run`` and ``make serve`` (docs/cli.md).

``python -m ui.launch [--host H] [--port P] [--allow-anonymous] [--with CMD] [-- STREAMLIT...]``

Before anything listens on the port it checks what would make serving unsafe or broken, each
as one line on stderr and exit 2 (README "Sign-in"):

- a secrets file or ``[auth]`` section that is broken (sign-in meant to be on must not
  silently be off), or a readiness.toml that does not load (its ``[access]`` decides who
  enters);
- an address other than loopback (127.x, ::1, localhost) with no sign-in configured, unless
  the risk is accepted with ``ALLOW_ANONYMOUS=1`` or ``--allow-anonymous``.

Then it runs ``streamlit run app.py`` and, with ``--with CMD``, a second process beside it
(``make serve`` gives ``python -m jobs schedule``). Ctrl-C or SIGTERM stops both and exits 0;
when either ends on its own the other is stopped too and its exit code is passed on (1 if it
was 0), so a service manager sees one unit fail and restarts the pair.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from data.access import is_loopback

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE = 10.0  # seconds a process has to stop after SIGTERM before it is killed
RISK = ("refusing to serve on {host} without sign-in: anyone who can reach that address "
        "could read every page; configure [auth] in .streamlit/secrets.toml (README: "
        "Sign-in), or accept the risk with ALLOW_ANONYMOUS=1 or --allow-anonymous")


class Refusal(Exception):
    """Why the launcher will not start, as one line (exit 2)."""


class _Stop(Exception):
    """SIGTERM, turned into the same orderly stop as Ctrl-C."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ui.launch",
        description="Start the dashboard (and optionally the scheduler) after safety checks.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    parser.add_argument("--allow-anonymous", action="store_true",
                        help="serve a non-loopback address without sign-in (read-only for "
                             "everyone); same as ALLOW_ANONYMOUS=1")
    parser.add_argument("--with", dest="with_cmd", metavar="CMD",
                        help="a command to run beside the dashboard and stop with it, e.g. "
                             "'python -m jobs schedule'")
    parser.add_argument("streamlit_args", nargs="*", metavar="STREAMLIT_ARG",
                        help="after --: more options for streamlit run")
    return parser


def anonymous_accepted(args: argparse.Namespace) -> bool:
    return args.allow_anonymous or os.environ.get("ALLOW_ANONYMOUS", "").strip() == "1"


def check(args: argparse.Namespace) -> list[str]:
    """Raise :class:`Refusal` for what forbids starting; return warnings (one line each)."""
    from streamlit import config as st_config

    from data.config import ConfigError, load_settings
    from ui import signin

    try:
        providers = signin.providers(
            signin.read_auth_section(st_config.get_option("secrets.files")))
    except signin.SignInConfigError as exc:
        raise Refusal(f"sign-in is misconfigured: {exc}") from None
    if providers and signin.authlib_missing():
        raise Refusal(signin.authlib_missing())
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise Refusal(str(exc)) from None
    if not providers:
        if not is_loopback(args.host) and not anonymous_accepted(args):
            raise Refusal(RISK.format(host=args.host or "every interface"))
        return []
    warnings = []
    access = settings.access
    if not (access.admins or access.emails or access.domains):
        warnings.append("sign-in is on but readiness.toml has no [access] list: nobody can "
                        "enter until you add admins, emails or domains")
    for provider in providers:
        problem = signin.probe(provider.metadata_url)
        if problem:
            warnings.append(f"{problem}; the sign-in page will say so until it answers")
    return warnings


def streamlit_command(args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
            "--server.address", args.host, "--server.port", str(args.port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            *args.streamlit_args]


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    # The project on the path for `python -m jobs …` whatever the working directory (which
    # stays the caller's: readiness.toml and .streamlit/secrets.toml are read from there).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    if anonymous_accepted(args):
        env["ALLOW_ANONYMOUS"] = "1"  # the router reads it (ui/gate.py)
    return env


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def supervise(commands: list[tuple[str, list[str]]], env: dict[str, str]) -> int:
    """Run the commands side by side until one ends or we are told to stop; stop them all."""
    def on_term(signum, frame):  # noqa: ARG001
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    procs: list[subprocess.Popen] = []
    names: list[str] = []
    try:
        for name, argv in commands:
            try:
                procs.append(subprocess.Popen(argv, env=env))
            except OSError as exc:
                print(f"shipready: cannot start {name}: {exc.strerror or exc}", file=sys.stderr)
                _stop(procs)
                return 2
            names.append(name)
        while True:
            for name, proc in zip(names, procs):
                code = proc.poll()
                if code is not None:
                    if len(procs) > 1:
                        print(f"shipready: {name} exited with {code}; stopping the rest",
                              file=sys.stderr)
                    _stop(procs)
                    return code if (code or len(procs) == 1) else 1
            time.sleep(0.2)
    except (KeyboardInterrupt, _Stop):
        # A second Ctrl-C while the children stop must not leave them behind with a
        # traceback: the stop finishes within STOP_GRACE anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(procs)
        return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        warnings = check(args)
    except Refusal as exc:
        print(f"shipready: {exc}", file=sys.stderr)
        return 2
    for line in warnings:
        print(f"shipready: warning: {line}", file=sys.stderr)
    commands = [("the dashboard", streamlit_command(args))]
    if args.with_cmd:
        try:
            extra = shlex.split(args.with_cmd)
        except ValueError as exc:
            print(f"shipready: --with: {exc}", file=sys.stderr)
            return 2
        if not extra:
            print("shipready: --with needs a command", file=sys.stderr)
            return 2
        commands.append((shlex.join(extra), extra))
    return supervise(commands, _env(args))


if __name__ == "__main__":
    sys.exit(main())
