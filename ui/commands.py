"""The command lines the data page shows and runs (the same ones cron or CI would run).

Running a command means a subprocess with stdout and stderr merged, read line by line so the
page can show live progress. The environment is inherited (tokens stay in the environment,
never on a command line, so they never appear in what the page shows).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sync_args(source: str, config: Path | None = None, *, full: bool = False) -> list[str]:
    """``connectors sync --source NAME [--config FILE] [--full]`` arguments (after
    ``python -m``)."""
    args = ["connectors", "sync", "--source", source]
    if config is not None:
        args += ["--config", str(config)]
    if full:
        args.append("--full")
    return args


def demo_args(scale: float = 1.0, remove: bool = False) -> list[str]:
    if remove:
        return ["connectors", "demo", "--remove"]
    return ["connectors", "demo", "--scale", f"{scale:g}"]


def shown(args: list[str]) -> str:
    """The command as a user types it: ``python -m connectors sync --source github``."""
    return "python -m " + shlex.join(args)


def run_streaming(args: list[str], on_line: Callable[[str], None], *,
                  timeout: float | None = None) -> int:
    """Run ``python -m <args>`` from the project root; each output line goes to ``on_line``.

    Returns the exit code (the CLI's contract: 0 ok, 1 a source failed, 2 bad configuration).
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            # tqdm redraws with \r; the last segment is the current state of the bar.
            text = line.rstrip("\n").split("\r")[-1].strip()
            if text:
                on_line(text)
        return proc.wait(timeout=timeout)
