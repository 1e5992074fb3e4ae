"""The credential sweep (issue 10, item 5): per connector, failing syncs run through the real
command line with sentinel secrets — a 401, server errors, a redirect to another host, bad JSON,
an unreachable host, odd tokens, credentials in the URL, servers that echo the credentials back
— then the sentinels are looked for, raw and in every escaping (base64 alone and in a Basic
pair, URL-encoded, JSON- and backslash-escaped), in what was printed, in the bytes of the SQLite
file and in the rendered Home and Data sources pages."""

from __future__ import annotations

import base64
import json
import re
import socket
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from pytest_httpserver import HTTPServer
from streamlit.testing.v1 import AppTest
from werkzeug import Response

from connectors.__main__ import main
from net.http import SystemClock
from pages_support import APP, TIMEOUT, page_database
from tests.github_server import FakeGitHub, issue
from tests.jira_server import FakeJira
from tests.jira_server import issue as jira_issue
from tests.test_jenkins_sync import FakeJenkins, build

USER = "sweep-user"
SECRET = {  # odd characters on purpose: each escaping then differs from the raw text
    "github": "ghp_SWEEPgh+Tok/3n=Q7z\"x",
    "jira": "ATATTswp+Jira/T0k=9q'k",
    "jenkins": "11swpJenk+ins/Tok=4w~",
}


def forms(secret: str) -> set[str]:
    """Every way the secret could show up."""
    pair = f"{USER}:{secret}".encode()
    out = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], quote(secret, safe=""),
           quote_plus(secret), quote(secret),
           base64.b64encode(secret.encode()).decode().rstrip("="),
           base64.b64encode(pair).decode().rstrip("="),
           base64.urlsafe_b64encode(pair).decode().rstrip("="),
           quote(base64.b64encode(pair).decode(), safe="")}
    return out


def find(haystack: str | bytes, secret: str) -> list[str]:
    if isinstance(haystack, bytes):
        haystack = haystack.decode("latin-1")
    return [f for f in forms(secret) if f in haystack]


@pytest.fixture(autouse=True)
def _instant(monkeypatch, tmp_path):
    """Backoff waits are instant (the CLI uses the system clock); no stray configuration."""
    monkeypatch.setattr(SystemClock, "sleep", lambda self, seconds: None)
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_TOKEN", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_TOKEN", "JENKINS_USER",
                 "JENKINS_TOKEN", "READINESS_CONFIG", "SHIPREADY_SECRETS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def other():
    """Another host that answers anything with an echo of the credentials it got."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    server.expect_request(re.compile(".*")).respond_with_handler(
        lambda r: Response(f"<html>{r.headers.get('Authorization')}</html>", status=200))
    yield server
    server.clear()
    server.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Faults:
    """A handler wrapper: the fault named by ``mode`` answers every request, echoing the
    request's credentials back (as a careless or hostile server would); else the fake."""

    def __init__(self, fake_handle, other_url: str) -> None:
        self.fake_handle, self.other_url, self.mode = fake_handle, other_url, None

    def __call__(self, request):
        auth = request.headers.get("Authorization") or ""
        echo = json.dumps({"message": f"got {auth}", "errorMessages": [f"got {auth}"]})
        if self.mode == "401":
            return Response(echo, status=401, content_type="application/json")
        if self.mode == "500":
            return Response(echo, status=500, content_type="application/json")
        if self.mode == "redirect":
            return Response("", status=302, headers={
                "Location": f"{self.other_url}/x?auth={quote(auth, safe='')}"})
        if self.mode == "badjson":
            return Response(f"not json {auth}", status=200, content_type="application/json")
        return self.fake_handle(request)


def run_cli(argv, capsys) -> tuple[int | str, str]:
    """The exit code and everything printed; a crash is recorded with its traceback (what a
    user would see), so the sweep scans it too and the test then fails on it."""
    try:
        code: int | str = main(argv)
        trace = ""
    except Exception:  # noqa: BLE001 - recorded, then failed on
        code, trace = "crash", traceback.format_exc()
    out = capsys.readouterr()
    return code, out.out + out.err + trace


def page_texts(db_url: str, tmp_path: Path, monkeypatch) -> dict[str, str]:
    """Every element of the Home and Data sources pages, as protobuf text and values."""
    texts = {}
    with page_database(db_url, tmp_path, monkeypatch):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        texts["home"] = _tree_text(at)
        at.switch_page("pages/data_sources.py").run()
        assert not at.exception, at.exception
        texts["data sources"] = _tree_text(at)
    assert "sync" in texts["data sources"].lower()
    return texts


def _tree_text(at) -> str:
    parts = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        value = getattr(node, "value", None)
        if hasattr(value, "to_csv"):
            parts.append(value.to_csv())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def sweep(source: str, db_path: Path, printed: list[str], tmp_path, monkeypatch) -> None:
    secret = SECRET[source]
    leaks = []
    for i, text in enumerate(printed):
        leaks += [(f"output of run {i}", f) for f in find(text, secret)]
        assert "Traceback" not in text or leaks, text
    for f in sorted(db_path.parent.glob(db_path.name + "*")):  # the file, its -wal/-journal
        leaks += [(f.name, form) for form in find(f.read_bytes(), secret)]
    pages = page_texts(f"sqlite:///{db_path}", tmp_path, monkeypatch)
    for page, text in pages.items():
        leaks += [(page, f) for f in find(text, secret)]
    assert leaks == []
    # the pages did show the stored error of the last run (the unreachable host)
    assert "cannot reach 127.0.0.1" in pages["data sources"]


def test_github_sweep(httpserver, other, tmp_path, monkeypatch, capsys):
    db = tmp_path / "sweep.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    fake = FakeGitHub().install(httpserver)
    fake.issues = [issue(n, f"2024-03-0{n}T00:00:00Z") for n in (1, 2, 3)]
    faults = Faults(lambda r: fake._werkzeug(r), other.url_for("/").rstrip("/"))
    httpserver.clear_all_handlers()
    httpserver.expect_request(re.compile(".*")).respond_with_handler(faults)
    secret = SECRET["github"]
    argv = ["sync", "github", "--repo", "acme/web", "--api-url", fake.base_url]
    printed, codes = [], []

    def go(mode, token, args=argv):
        faults.mode = mode
        monkeypatch.setenv("GITHUB_TOKEN", token)
        code, text = run_cli(args, capsys)
        codes.append(code)
        printed.append(text)

    go(None, secret + "\n")  # a pasted newline: stripped, and the sync succeeds
    for mode in ("401", "500", "redirect", "badjson"):
        go(mode, secret)
    go(None, secret, ["sync", "github", "--repo", "acme/web", "--api-url",
                      f"http://127.0.0.1:{closed_port()}"])
    go(None, secret[:8] + "\x07" + secret[8:])  # a control character inside
    go(None, secret, ["sync", "github", "--repo", "acme/web", "--api-url",
                      f"http://x:{quote(secret, safe='')}@127.0.0.1:{httpserver.port}"])
    sweep("github", db, printed, tmp_path, monkeypatch)
    assert codes == [0, 1, 1, 1, 1, 1, 2, 2]
    assert f"127.0.0.1:{other.port}" in printed[3]  # the redirect's host is named
    assert other.log == []


def test_jira_sweep(httpserver, other, tmp_path, monkeypatch, capsys):
    db = tmp_path / "sweep.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    secret = SECRET["jira"]
    pair = base64.b64encode(f"{USER}:{secret}".encode()).decode()
    fake = FakeJira(httpserver, require_auth=f"Basic {pair}",
                    issues=[jira_issue("PAY-1", summary="one")])
    faults = Faults(fake.handle, other.url_for("/").rstrip("/"))
    httpserver.clear_all_handlers()
    httpserver.expect_request(re.compile(".*")).respond_with_handler(faults)
    argv = ["sync", "jira", "--url", fake.url, "--project", "PAY"]
    monkeypatch.setenv("JIRA_EMAIL", USER)
    printed, codes = [], []

    def go(mode, token, args=argv):
        faults.mode = mode
        monkeypatch.setenv("JIRA_API_TOKEN", token)
        code, text = run_cli(args, capsys)
        codes.append(code)
        printed.append(text)

    go(None, " " + secret + "\r\n")
    for mode in ("401", "500", "redirect", "badjson"):
        go(mode, secret)
    go(None, secret, ["sync", "jira", "--url", f"http://127.0.0.1:{closed_port()}",
                      "--project", "PAY"])
    go(None, secret.replace("Jira", "Ji\tra"))
    go(None, secret, ["sync", "jira", "--url",
                      f"http://{USER}:{quote(secret, safe='')}@127.0.0.1:{httpserver.port}",
                      "--project", "PAY"])
    sweep("jira", db, printed, tmp_path, monkeypatch)
    assert codes == [0, 1, 1, 1, 1, 1, 2, 2]
    assert f"127.0.0.1:{other.port}" in printed[3]
    assert other.log == []


def test_jenkins_sweep(httpserver, other, tmp_path, monkeypatch, capsys):
    db = tmp_path / "sweep.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    secret = SECRET["jenkins"]
    fake = FakeJenkins()
    fake.builds["/job/app/job/main/"] = [build(2), build(1)]
    fake.require_auth = "Basic " + base64.b64encode(f"{USER}:{secret}".encode()).decode()
    faults = Faults(fake.handle, other.url_for("/").rstrip("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(faults)
    url = httpserver.url_for("/")
    argv = ["sync", "jenkins", "--url", url, "--job", "app/main"]
    monkeypatch.setenv("JENKINS_USER", USER)
    printed, codes = [], []

    def go(mode, token, args=argv):
        faults.mode = mode
        monkeypatch.setenv("JENKINS_TOKEN", token)
        code, text = run_cli(args, capsys)
        codes.append(code)
        printed.append(text)

    go(None, secret + "\n")
    for mode in ("401", "500", "redirect", "badjson"):
        go(mode, secret)
    go(None, secret, ["sync", "jenkins", "--url", f"http://127.0.0.1:{closed_port()}/",
                      "--job", "app/main"])
    go(None, secret + "\x1b[0mtail")
    go(None, secret, ["sync", "jenkins", "--url",
                      f"http://{USER}:{quote(secret, safe='')}@127.0.0.1:{httpserver.port}/",
                      "--job", "app/main"])
    sweep("jenkins", db, printed, tmp_path, monkeypatch)
    assert codes == [0, 1, 1, 1, 1, 1, 2, 2]
    assert f"127.0.0.1:{other.port}" in printed[3]
    assert other.log == []
