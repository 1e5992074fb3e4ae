"""No credential leaves its host; every HTTP fault is one line (issue 10, items 1-5, 7, 8, 10, 11,
15). Real local servers: the configured one (``httpserver``, "localhost") and another on a
different port ("127.0.0.1") that must never see a credential; raw sockets for faults werkzeug
cannot produce (a cut chunked body, a trickle)."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Response

from connectors.__main__ import main
from net.http import (ConnectionFailed, HttpClient, OffHost, RateLimited, TooLarge,
                             redact, register_secret, retry_after_policy)
from connectors.jenkins.cli import sync_jobs
from connectors.progress import NULL_PROGRESS
from data import schema
from tests.fake_clock import FakeClock
from tests.github_server import FakeGitHub, issue, run
from tests.raw_server import RawServer, head
from tests.test_github_artifacts import REPORT, zipped
from tests.test_github_sync import sync
from tests.test_jenkins_sync import FakeJenkins, build
from tests.test_jenkins_sync import settings as jenkins_settings

TOKEN = "t0ken-secret"  # what tests.test_github_sync.sync sends


@pytest.fixture
def other():
    """Another host: every request it gets is logged with its Authorization header."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    seen: list[tuple[str, str | None, str | None]] = []

    def handler(request):
        seen.append((request.path, request.headers.get("Authorization"),
                     request.headers.get("PRIVATE-TOKEN")))
        if request.path.endswith(".zip"):
            return Response(zipped({"TEST-cart.xml": REPORT}), content_type="application/zip")
        return Response("<html>not json</html>", content_type="text/html")

    server.expect_request(re.compile(".*")).respond_with_handler(handler)
    server.seen = seen
    server.base = server.url_for("/").rstrip("/")
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    fake.issues = [issue(n, f"2024-03-0{n}T00:00:00Z") for n in (1, 2, 3)]
    return fake


def work_items(engine):
    with engine.connect() as conn:
        return sorted(conn.execute(select(schema.work_items.c.id)).scalars())


def last_error(engine):
    with engine.connect() as conn:
        return conn.execute(select(schema.sync_runs.c.error)
                            .order_by(schema.sync_runs.c.id.desc())).scalar()


# --- 1. next links and redirects stay on the configured host ---------------------------------

def test_next_link_to_another_host_stops_with_the_host_named(engine, gh, other):
    gh.fail_next("/issues", 200, {"Link": f'<{other.base}/repositories/1000/issues?page=2>; '
                                          'rel="next"'},
                 [issue(1, "2024-03-01T00:00:00Z")])
    with pytest.raises(OffHost) as err:
        sync(engine, gh)
    assert f"127.0.0.1:{other.port}" in str(err.value) and "\n" not in str(err.value)
    assert other.seen == []  # not even asked, so no token went there
    assert "127.0.0.1" in last_error(engine)


def test_redirect_to_another_host_is_refused(engine, gh, other):
    gh.fail_next("/issues", 302, {"Location": f"{other.base}/issues"})
    with pytest.raises(OffHost) as err:
        sync(engine, gh)
    assert f"127.0.0.1:{other.port}" in str(err.value)
    assert other.seen == []


def test_redirect_on_the_same_host_is_followed_with_the_token(engine, gh):
    gh.fail_next("/repos/acme/web/issues", 301,
                 {"Location": "/repositories/1000/issues?state=all&per_page=100"})
    sync(engine, gh)
    assert len(work_items(engine)) == 3
    hops = [(p, h.get("authorization")) for p, _q, h in gh.log if p.endswith("/issues")]
    assert hops[:2] == [("/repos/acme/web/issues", f"Bearer {TOKEN}"),
                        ("/repositories/1000/issues", f"Bearer {TOKEN}")]


# --- 2. artifacts ------------------------------------------------------------------------------

def _artifact_run(gh, url):
    gh.runs = [run(101, "2024-03-10T10:00:00Z", updated="2024-03-10T10:05:00Z")]
    gh.artifacts = {101: [{"id": 1, "name": "junit", "expired": False,
                           "archive_download_url": url}]}


def test_artifact_on_another_host_gets_no_token(engine, gh, other):
    _artifact_run(gh, f"{other.base}/a.zip")
    with pytest.raises(OffHost) as err:
        sync(engine, gh)
    assert f"127.0.0.1:{other.port}" in str(err.value)
    assert other.seen == []


def test_artifact_redirect_to_blob_storage_is_followed_without_credentials(engine, gh, other):
    _artifact_run(gh, f"{gh.base_url}/repos/acme/web/actions/artifacts/1/zip")
    # GitHub answers the API URL with a redirect to a signed storage URL on another host
    gh.fail_next("/actions/artifacts/1/zip", 302, {"Location": f"{other.base}/blob/a.zip?sig=1"})
    sync(engine, gh)
    assert other.seen == [("/blob/a.zip", None, None)]
    with engine.connect() as conn:
        names = sorted(conn.execute(select(schema.test_results.c.name)).scalars())
    assert names == ["test_add", "test_skip", "test_total"]


# --- 3. Jenkins: no retry path sends Basic credentials elsewhere -------------------------------

def test_jenkins_report_redirect_to_another_host_sends_no_credentials(engine, httpserver, other,
                                                                      monkeypatch):
    fake = FakeJenkins()
    job_path = "/job/app/job/main/"
    fake.builds[job_path] = [build(1)]

    def handler(request):
        if request.path.endswith("/testReport/api/json"):
            return Response("", status=302,
                            headers={"Location": f"{other.base}/report/api/json"})
        return fake.handle(request)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    monkeypatch.setenv("JENKINS_USER", "ci-reader")
    monkeypatch.setenv("JENKINS_TOKEN", "11a5b3c9d0e4f6a7b8c9d0e1f2a3b4")
    with pytest.raises(OffHost) as err:
        sync_jobs(jenkins_settings(), engine, NULL_PROGRESS, httpserver.url_for("/"),
                  ["app/main"], clock=FakeClock())
    assert f"127.0.0.1:{other.port}" in str(err.value)
    assert other.seen == []


def test_basic_auth_goes_to_the_configured_origin_on_every_hop_and_nowhere_else(httpserver,
                                                                               other):
    """The one Basic-auth path (requests' ``auth=``, attached per request): sent on each
    same-host hop, never to another host, even on an anonymous follow."""
    seen = []

    def handler(request):
        seen.append((request.path, request.headers.get("Authorization")))
        if request.path == "/hop":
            return Response("", status=302, headers={"Location": "/data"})
        if request.path == "/away":
            return Response("", status=302, headers={"Location": f"{other.base}/blob"})
        return Response("{}", content_type="application/json")

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    client = HttpClient(base_url=httpserver.url_for("/"), source="test", clock=FakeClock(),
                        basic_auth=("ci-reader", "b4s1c-t0ken-value"))
    client.get_json("/hop")
    client.get("/away", anonymous_redirects=True)
    basic = "Basic " + base64.b64encode(b"ci-reader:b4s1c-t0ken-value").decode()
    assert seen == [("/hop", basic), ("/data", basic), ("/away", basic)]
    assert other.seen == [("/blob", None, None)]
    assert "b4s1c-t0ken-value" not in redact(f"failed with {basic}")


# --- 4. tokens: stripped, control characters refused, redacted in every escaping ---------------

def test_token_with_a_trailing_newline_is_stripped(sqlite_url, gh, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_newline0123456789\n")
    assert main(["sync", "github", "--repo", "acme/web", "--api-url", gh.base_url]) == 0
    sent = {h.get("authorization") for _p, _q, h in gh.log}
    assert sent == {"Bearer ghp_newline0123456789"}


def test_token_with_an_inner_control_character_is_one_line_naming_it(sqlite_url, gh,
                                                                     monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_in\nner0123456789")
    assert main(["sync", "github", "--repo", "acme/web", "--api-url", gh.base_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GITHUB_TOKEN" in err and "control character" in err
    assert "ner0123456789" not in err and "ghp_in" not in err
    assert gh.log == []  # nothing was sent


def test_every_escaping_of_a_secret_is_redacted():
    secret = "Zq7+tok/en\"x\\y=9"
    register_secret(secret)
    pair = base64.b64encode(b"some-user:" + secret.encode()).decode()
    for shown in (secret, json.dumps(secret), repr(secret), quote(secret, safe=""),
                  quote(secret), base64.b64encode(secret.encode()).decode(),
                  base64.urlsafe_b64encode(b"ab" + secret.encode()).decode(), pair,
                  quote(pair, safe="")):
        out = redact(f"failed: {shown} (end)")
        assert "Zq7" not in out and "dG9r" not in out, (shown, out)
        assert out.startswith("failed: ") and out.endswith(" (end)")


def test_a_user_name_is_not_redacted(monkeypatch):
    from connectors.jenkins.cli import _credentials

    monkeypatch.setenv("JENKINS_USER", "jenkins")
    monkeypatch.setenv("JENKINS_TOKEN", "11a5b3c9d0e4f6a7b8c9d0e1f2a3b4")
    assert _credentials() == ("jenkins", "11a5b3c9d0e4f6a7b8c9d0e1f2a3b4")
    assert redact("jenkins: not found (404)") == "jenkins: not found (404)"
    assert redact("token 11a5b3c9d0e4f6a7b8c9d0e1f2a3b4") == "token ***"


# --- 5 and 11. URLs: no userinfo, only http(s) --------------------------------------------------

@pytest.mark.parametrize("argv, variables", [
    (["sync", "jenkins", "--url", "http://admin:PASSw0rd-777@127.0.0.1:9/", "--job", "app"],
     "JENKINS_TOKEN"),
    (["sync", "github", "--repo", "acme/web", "--api-url",
      "https://x-access-token:PASSw0rd-777@127.0.0.1:9/api/v3"], "GITHUB_TOKEN"),
    (["sync", "jira", "--url", "https://me%40acme.com:PASSw0rd-777@127.0.0.1:9",
      "--project", "PAY"], "JIRA_API_TOKEN"),
])
def test_credentials_in_a_url_are_refused_unechoed(sqlite_url, monkeypatch, capsys, argv,
                                                  variables):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PASSw0rd" not in err
    assert "credentials go in the environment" in err and variables in err
    from data.store import get_engine

    engine = get_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(schema.sync_runs)).all() == []
    finally:
        engine.dispose()


def test_credentials_in_the_configured_url_are_refused(sqlite_url, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    config = tmp_path / "readiness.toml"
    config.write_text('[jenkins]\nurl = "https://bot:PASSw0rd-888@ci.example.com/"\n'
                      'jobs = ["app/main"]\n')
    assert main(["sync", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PASSw0rd" not in err and "JENKINS_USER" in err


@pytest.mark.parametrize("url", ["ftp://x", "file:///etc/passwd", "x"])
def test_a_url_that_is_not_http_is_a_usage_error(sqlite_url, monkeypatch, capsys, url):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["sync", "github", "--repo", "acme/web", "--api-url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "http:// or https://" in err


# --- 7, 8, 10. bodies: cut off, trickled, oversize ----------------------------------------------

def _client(url, **kw) -> HttpClient:
    kw.setdefault("clock", FakeClock())
    return HttpClient(base_url=url, source="test", auth_headers={"Authorization": "Bearer k"},
                      **kw)


def _cut_chunked(conn, n):
    conn.sendall(head(Content_Type="application/json", Transfer_Encoding="chunked")
                 + b"40\r\n[1,2,3" )  # a 64-byte chunk announced, 6 bytes sent, then closed


def test_a_chunked_body_cut_mid_way_is_retried_then_one_line():
    server = RawServer(_cut_chunked)
    clock = FakeClock()
    try:
        with pytest.raises(ConnectionFailed) as err:
            _client(server.url, clock=clock, retries=2).get_json("/x")
    finally:
        server.close()
    assert len(server.requests) == 3  # the first try and two retries
    assert clock.sleeps == [1.0, 2.0]
    assert "cut off" in str(err.value) and "\n" not in str(err.value)


def test_a_body_cut_once_then_whole_is_read():
    def script(conn, n):
        if n == 1:
            return _cut_chunked(conn, n)
        conn.sendall(head(Content_Type="application/json", Content_Length="7") + b"[1,2,3]")

    server = RawServer(script)
    try:
        body, _ = _client(server.url).get_json("/x")
    finally:
        server.close()
    assert body == [1, 2, 3]


def test_a_trickling_server_is_stopped_by_the_total_deadline():
    def trickle(conn, n):
        conn.sendall(head(Content_Type="application/json", Content_Length="1000") + b"[")
        for _ in range(300):
            time.sleep(0.05)
            conn.sendall(b" ")

    server = RawServer(trickle)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed) as err:
            _client(server.url, deadline=1.0).get_json("/slow")
    finally:
        server.close()
    assert time.monotonic() - started < 5  # the socket timeout (60 s) alone never fires
    assert "too slowly" in str(err.value) and "/slow" in str(err.value)
    assert len(server.requests) == 1  # not retried: a slow server stays slow


@pytest.mark.parametrize("length", [True, False])
def test_an_answer_past_the_size_cap_is_refused(length):
    def big(conn, n):
        if length:
            conn.sendall(head(Content_Type="application/json", Content_Length="5000")
                         + b"[" + b" " * 4998 + b"]")
        else:  # no length announced: counted as it streams
            conn.sendall(head(Content_Type="application/json", Connection="close")
                         + b"[" + b" " * 4998 + b"]")

    server = RawServer(big)
    try:
        with pytest.raises(TooLarge) as err:
            _client(server.url, max_answer_bytes=4096).get_json("/huge")
    finally:
        server.close()
    assert "/huge" in str(err.value) and "larger than" in str(err.value)
    assert len(server.requests) == 1


# --- 15. --max-wait and the rate-limit message ---------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-inf"])
def test_max_wait_must_be_a_finite_number_of_seconds(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "github", "--repo", "acme/web", "--max-wait", value])
    assert exit_.value.code == 2
    assert "--max-wait" in capsys.readouterr().err


def test_rate_limit_message_after_several_waits_states_them(httpserver):
    httpserver.expect_request("/limited").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "10"})
    clock = FakeClock()
    client = _client(httpserver.url_for("/"), clock=clock, max_wait=900,
                     rate_limit_policy=retry_after_policy, max_rate_limit_waits=3)
    with pytest.raises(RateLimited) as err:
        client.get("/limited")
    assert clock.sleeps == [10.0, 10.0, 10.0]
    # the limit was never past --max-wait: the message must not claim it was
    assert str(err.value) == ("test: still rate limited (after 3 waits, 30 s in all) — rerun "
                              "later, it resumes")


def test_rate_limit_past_max_wait_names_the_wait_and_the_limit(httpserver):
    httpserver.expect_request("/limited").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1200"})
    client = _client(httpserver.url_for("/"), max_wait=600.5,
                     rate_limit_policy=retry_after_policy)
    with pytest.raises(RateLimited) as err:
        client.get("/limited")
    assert "next wait would be 1200 s, more than --max-wait 600.5 s" in str(err.value)


# --- post_json ----------------------------------------------------------------------------------

def test_post_json_retries_a_server_error_and_sends_credentials_on_host(httpserver):
    seen = []

    def handler(request):
        seen.append((request.method, request.headers.get("Authorization"), request.get_json()))
        if len(seen) == 1:
            return Response("{}", status=502)
        return Response('{"data": {"count": 7}}', content_type="application/json")

    httpserver.expect_request("/graphql", method="POST").respond_with_handler(handler)
    clock = FakeClock()
    body, resp = _client(httpserver.url_for("/"), clock=clock).post_json(
        "/graphql", {"query": "{ count }"})
    assert body == {"data": {"count": 7}} and resp.status_code == 200
    assert seen == [("POST", "Bearer k", {"query": "{ count }"})] * 2
    assert len(clock.sleeps) == 1


def test_post_json_to_another_host_is_refused(httpserver, other):
    with pytest.raises(OffHost):
        _client(httpserver.url_for("/")).post_json(f"{other.base}/graphql", {})
    assert other.seen == []


def test_post_json_redirect_to_another_host_is_refused(httpserver, other):
    httpserver.expect_request("/graphql", method="POST").respond_with_data(
        "", status=307, headers={"Location": f"{other.base}/graphql"})
    with pytest.raises(OffHost):
        _client(httpserver.url_for("/")).post_json("/graphql", {})
    assert other.seen == []


def test_ctrl_c_stops_a_sync_stuck_on_a_trickling_server_within_seconds(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    def trickle(conn, n):
        conn.sendall(head(Content_Type="application/json", Content_Length="100000") + b"{")
        for _ in range(1200):
            time.sleep(0.1)
            conn.sendall(b" ")

    server = RawServer(trickle)
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "connectors", "sync", "jenkins", "--url",
                             server.url, "--job", "app"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        waited = 0.0
        while not server.requests and waited < 30:
            time.sleep(0.1)
            waited += 0.1
        time.sleep(0.5)  # well inside the body
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        server.close()
    assert server.requests and took < 5
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_configured_max_wait_must_be_a_finite_number_of_seconds(value, sqlite_url, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    config = tmp_path / "readiness.toml"
    config.write_text(f'[jenkins]\nurl = "http://127.0.0.1:9/"\njobs = ["app"]\n'
                      f"max_wait = {value}\n")
    code = main(["sync", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "max_wait" in err


def test_a_server_trickling_its_headers_is_stopped_by_the_deadline():
    def trickle_head(conn, n):
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(300):  # 15 s of one byte every 50 ms
            time.sleep(0.05)
            conn.sendall(b"a")

    server = RawServer(trickle_head)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionFailed) as err:
            _client(server.url, deadline=1.0).get_json("/slow-head")
    finally:
        server.close()
    assert time.monotonic() - started < 5
    assert "too slowly" in str(err.value) and "/slow-head" in str(err.value)
    assert len(server.requests) == 1  # urllib3 did not try again after the deadline


def test_backoff_between_server_errors_does_not_count_against_the_deadline(httpserver):
    answers = iter([Response("", status=503), Response("", status=503),
                    Response("[1]", content_type="application/json")])
    httpserver.expect_request("/flaky").respond_with_handler(lambda r: next(answers))

    class SlowClock(FakeClock):
        def sleep(self, seconds):  # really sleeps: 0.6 s per backoff, 1.2 s in all
            super().sleep(seconds)
            time.sleep(0.6)

    body, _ = _client(httpserver.url_for("/"), clock=SlowClock(), deadline=1.0).get_json("/flaky")
    assert body == [1]
