"""Helpers for the real-browser tests: a `streamlit run app.py` server on a free port and
Chromium through Playwright. Not a test module (tests/test_browser_*.py import it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import need
from pages_support import ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

# Idle = no "Running…" status and no skeleton placeholders for four polls (2 s) in a row.
IDLE = """() => {
  const w = document.querySelector('[data-testid="stStatusWidget"]');
  const busy = (w && /Running|Stop/.test(w.innerText)) || document.querySelector('[data-testid="stSkeleton"]');
  window.__idle = busy ? 0 : (window.__idle || 0) + 1;
  return window.__idle >= 4;
}"""


def chromium() -> str:
    """Chromium's path (CHROMIUM_PATH, default /usr/bin/chromium); skips when absent."""
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        need("chromium", f"Chromium not found at {path}: apt-get install -y chromium "
                         "(or set CHROMIUM_PATH)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")


@contextmanager
def streamlit_server(database_url: str, log_path: Path) -> Iterator[str]:
    """A fresh `streamlit run app.py` on a free port against ``database_url`` (demo
    settings: no READINESS_CONFIG); yields its base URL and stops it afterwards."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url)
    env.pop("READINESS_CONFIG", None)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(port, proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def settle(page) -> None:
    """Wait until Streamlit has finished the script run and drawn every element."""
    page.wait_for_selector('[data-testid="stMain"]', timeout=60_000)
    page.wait_for_timeout(500)
    page.wait_for_function(IDLE, polling=500, timeout=120_000)
