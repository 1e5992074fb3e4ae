"""The launcher behind `make run` and `make serve` (ui/launch.py), as real processes.

Refusals: exit 2, one line on stderr, and nothing ever listened on the port. Supervision: a
real Streamlit server and a real second process (a `python -c` sleeper standing in for
`python -m jobs schedule`) start together and stop together.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pages_support import ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def env_for(tmp_path: Path, **extra) -> dict[str, str]:
    """A clean home (no ~/.streamlit/secrets.toml of the machine) and the project on the path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ALLOW_ANONYMOUS", "READINESS_CONFIG", "PYTHONPATH")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}", **extra)
    return env


def launch(tmp_path: Path, *args: str, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.launch", *args], cwd=tmp_path,
                          env=env_for(tmp_path, **env), capture_output=True, text=True,
                          timeout=timeout)


def write_secrets(tmp_path: Path, text: str) -> None:
    (tmp_path / ".streamlit").mkdir(exist_ok=True)
    (tmp_path / ".streamlit" / "secrets.toml").write_text(text)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "dashboard.internal"])
def test_a_network_address_without_sign_in_is_refused(tmp_path, host):
    port = free_port()
    r = launch(tmp_path, "--host", host, "--port", str(port))
    assert r.returncode == 2
    assert r.stderr == (f"shipready: refusing to serve on {host} without sign-in: anyone who "
                        "can reach that address could read every page; configure [auth] in "
                        ".streamlit/secrets.toml (README: Sign-in), or accept the risk with "
                        "ALLOW_ANONYMOUS=1 or --allow-anonymous\n")
    assert r.stdout == "" and not listening(port)


@pytest.mark.parametrize("secrets, says", [
    ('[auth]\nredirect_uri = "http://127.0.0.1:1/oauth2callback"\ncookie_secret = "short"\n'
     'client_id = "a"\nclient_secret = "LEAKME"\nserver_metadata_url = "http://127.0.0.1:1/"\n',
     "shipready: sign-in is misconfigured: [auth] 'cookie_secret' should be a random text of "
     "at least 32 characters"),
    ('[auth\n', "shipready: sign-in is misconfigured: "),
])
def test_broken_sign_in_is_refused_even_on_loopback(tmp_path, secrets, says):
    write_secrets(tmp_path, secrets)
    port = free_port()
    r = launch(tmp_path, "--port", str(port))
    assert r.returncode == 2 and r.stderr.startswith(says), r.stderr
    assert r.stderr.count("\n") == 1 and "LEAKME" not in r.stderr
    assert not listening(port)


def test_a_malformed_allow_list_is_refused(tmp_path):
    (tmp_path / "readiness.toml").write_text('[access]\ndomains = ["*.example.com"]\n')
    port = free_port()
    r = launch(tmp_path, "--port", str(port))
    assert r.returncode == 2
    assert r.stderr == ("shipready: readiness.toml: 'access.domains' should list bare domains "
                        "such as example.com (no @, no *, no leading dot), got "
                        "'*.example.com'\n")
    assert not listening(port)


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"launcher exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the dashboard did not become healthy")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); a stopped child of the launcher is reaped by it.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


# A stand-in for the scheduler: writes its pid, ignores SIGINT (so only the launcher's SIGTERM
# can stop it), sleeps.
SLEEPER = ("import os, pathlib, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
           "pathlib.Path({path!r}).write_text(str(os.getpid())); time.sleep(600)")


def _start(tmp_path: Path, *args: str, **env) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    pid_file = tmp_path / "child.pid"
    child = f"{sys.executable} -c {SLEEPER.format(path=str(pid_file))!r}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.launch", "--port", str(port), "--with", child, *args,
         "--", "--server.fileWatcherType", "none"],
        cwd=tmp_path, env=env_for(tmp_path, **env), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, port, pid_file


def _child_pid(pid_file: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text():
            return int(pid_file.read_text())
        time.sleep(0.1)
    raise AssertionError("the second process did not start")


@pytest.mark.parametrize("how", ["sigint-to-launcher", "ctrl-c-to-the-group", "sigterm"])
def test_serve_starts_both_and_stops_both(tmp_path, how):
    proc, port, pid_file = _start(tmp_path)
    try:
        _wait_healthy(port, proc)
        child = _child_pid(pid_file)
        assert _alive(child)
        if how == "sigint-to-launcher":
            proc.send_signal(signal.SIGINT)
        elif how == "ctrl-c-to-the-group":  # what a terminal does on Ctrl-C
            os.killpg(proc.pid, signal.SIGINT)
        else:  # what systemd does
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert not _alive(child)
        assert not listening(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_when_the_second_process_dies_the_dashboard_is_stopped_too(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.launch", "--port", str(port), "--with",
         f"{sys.executable} -c 'import time, sys; time.sleep(8); sys.exit(3)'",
         "--", "--server.fileWatcherType", "none"],
        cwd=tmp_path, env=env_for(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        _wait_healthy(port, proc)
        assert proc.wait(timeout=60) == 3
        err = proc.stderr.read()
        assert f"shipready: {sys.executable} -c 'import time, sys; time.sleep(8); " \
               "sys.exit(3)' exited with 3; stopping the rest" in err
        assert not listening(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_accepted_anonymous_serving_starts_and_tells_the_router(tmp_path):
    # The network address is accepted with the flag; the router gets ALLOW_ANONYMOUS=1.
    port = free_port()
    env_file = tmp_path / "env"
    child = (f"{sys.executable} -c \"import os, pathlib, time; pathlib.Path({str(env_file)!r})"
             f".write_text(os.environ.get('ALLOW_ANONYMOUS', '-')); time.sleep(600)\"")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.launch", "--host", "0.0.0.0", "--port", str(port),
         "--allow-anonymous", "--with", child, "--", "--server.fileWatcherType", "none"],
        cwd=tmp_path, env=env_for(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        _wait_healthy(port, proc)
        assert env_file.read_text() == "1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_makefile_serve_target_runs_the_scheduler_through_the_launcher():
    text = (ROOT / "Makefile").read_text()
    serve = text.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    assert "-m ui.launch" in serve and "--with '$(PY) -m jobs schedule'" in serve
    run = text.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "-m ui.launch --host $(HOST) --port $(PORT)" in run
