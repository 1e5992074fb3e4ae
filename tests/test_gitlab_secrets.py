"""The credential sweep for GitLab (as tests/test_secret_sweep.py does for the other
connectors): failing syncs run through the real command line with a sentinel token — a 401,
server errors, a redirect to another host, bad JSON, a 429 whose plain-text body echoes the
token, an unreachable host, a control character, credentials in the URL, servers that echo the
``PRIVATE-TOKEN`` header back — then the token is looked for, raw and in every escaping, in
what was printed, in the bytes of the SQLite file and in the rendered Home and Data sources
pages."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from werkzeug import Response

from net.http import SystemClock
from tests.gitlab_server import FakeGitLab, Project
from tests.test_gitlab_sync import PATH, PID, populate
from tests.test_secret_sweep import closed_port, find, other, page_texts, run_cli  # noqa: F401

TOKEN = "glpat-SWEEP+gl/T0k=9\"q"


@pytest.fixture(autouse=True)
def _instant(monkeypatch, tmp_path):
    monkeypatch.setattr(SystemClock, "sleep", lambda self, seconds: None)
    monkeypatch.chdir(tmp_path)
    for name in ("GITLAB_TOKEN", "READINESS_CONFIG", "SHIPREADY_SECRETS"):
        monkeypatch.delenv(name, raising=False)


class Faults:
    """The fault named by ``mode`` answers every request, echoing the token it got."""

    def __init__(self, fake: FakeGitLab, other_url: str) -> None:
        self.fake, self.other_url, self.mode = fake, other_url, None

    def __call__(self, request):
        token = request.headers.get("PRIVATE-TOKEN") or ""
        echo = json.dumps({"message": f"got {token}"})
        if self.mode == "401":
            return Response(echo, status=401, content_type="application/json")
        if self.mode == "500":
            return Response(echo, status=500, content_type="application/json")
        if self.mode == "429":
            return Response(f"Retry later {token}", status=429,
                            headers={"Retry-After": "99999"}, content_type="text/plain")
        if self.mode == "redirect":
            return Response("", status=302, headers={
                "Location": f"{self.other_url}/x?token={quote(token, safe='')}"})
        if self.mode == "badjson":
            return Response(f"not json {token}", status=200, content_type="application/json")
        return self.fake._werkzeug(request)


def test_gitlab_sweep(httpserver, other, tmp_path, monkeypatch, capsys):  # noqa: F811
    db = tmp_path / "sweep.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    fake = FakeGitLab(prefix="/gitlab", token=TOKEN)
    populate(fake.add(Project(PID, PATH)))
    faults = Faults(fake, other.url_for("/").rstrip("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(faults)
    url = httpserver.url_for("/gitlab")
    argv = ["sync", "gitlab", "--url", url, "--project", PATH]
    printed, codes = [], []

    def go(mode, token, args=argv):
        faults.mode = mode
        monkeypatch.setenv("GITLAB_TOKEN", token)
        code, text = run_cli(args, capsys)
        codes.append(code)
        printed.append(text)

    go(None, TOKEN + "\n")  # a pasted newline: stripped, and the sync succeeds
    for mode in ("401", "500", "redirect", "badjson", "429"):
        go(mode, TOKEN)
    go(None, TOKEN, ["sync", "gitlab", "--url", f"http://127.0.0.1:{closed_port()}/gitlab",
                     "--project", PATH])
    go(None, TOKEN[:8] + "\x07" + TOKEN[8:])
    go(None, TOKEN, ["sync", "gitlab", "--url",
                     f"http://x:{quote(TOKEN, safe='')}@127.0.0.1:{httpserver.port}/gitlab",
                     "--project", PATH])
    leaks = []
    for i, text in enumerate(printed):
        leaks += [(f"output of run {i}", f) for f in find(text, TOKEN)]
        assert "Traceback" not in text, text
    for f in sorted(db.parent.glob(db.name + "*")):
        leaks += [(f.name, form) for form in find(f.read_bytes(), TOKEN)]
    pages = page_texts(f"sqlite:///{db}", tmp_path, monkeypatch)
    for page, text in pages.items():
        leaks += [(page, f) for f in find(text, TOKEN)]
    assert leaks == []
    assert codes == [0, 1, 1, 1, 1, 1, 1, 2, 2]
    assert "GITLAB_TOKEN" in printed[1]  # the 401 names the variable
    assert f"127.0.0.1:{other.port}" in printed[3]  # the redirect's host is named
    assert "rate limited" in printed[5]
    assert other.log == []
    assert "cannot reach 127.0.0.1" in pages["data sources"]
