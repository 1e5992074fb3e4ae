"""Notifications against a local HTTP server: what is due, at most once, retried only before
sending or on a 429, and the webhook URL never in any output (README, Notifications).

The organisation: release PAY 2.4, target three days after NOW, holding one bug of severity
critical. While the bug is open the gate "No open critical bugs" fails (1 > 0): NO-GO. Once
it is done, that gate passes and the blocking gates with no data (tests, CI, deployments)
leave the release AT RISK (docs/metrics.md: a blocking gate without data is never a pass).
"""

from __future__ import annotations

import json
import logging
import re
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from werkzeug import Response

from data import schema
from data.config import parse_settings
from fake_clock import FakeClock
from metrics.__main__ import main
from metrics.notify import send_due, send_one_off
from metrics.readiness import evaluate_release
from metrics_rows import item, load, release, utc
from raw_server import RawServer

NOW = utc(2026, 11, 30, 9, 0)
RELEASE = "t:release:r24"
TOKEN = "xoxWEBHOOKtok3nDoNotLeak42"
PATH = f"/services/T0AAA/B0BBB/{TOKEN}"


def settings(**notify):
    return parse_settings({"app": {"base_url": "https://ship.example"},
                           "notify": {"to": "slack", "webhook_env": "TEST_HOOK",
                                      "digest_days": 0, **notify}}, None)


def org(engine, now=NOW):
    load(engine,
         releases=[release("r24", "2.4", target=now + timedelta(days=3))],
         work_items=[item("PAY-1", type="bug", severity="critical",
                          created=now - timedelta(days=10))],
         release_items=[{"release_id": RELEASE, "item_id": "t:issue:PAY-1", "source": "t"}])


def fix_the_bug(engine):
    with engine.begin() as conn:
        conn.execute(update(schema.work_items).values(
            status="done", status_category="done", resolved_at=NOW - timedelta(hours=2),
            resolution_category="delivered"))


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(schema.notifications)
                                              .order_by(schema.notifications.c.id)).mappings()]


@pytest.fixture
def hook(httpserver, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_HOOK", httpserver.url_for(PATH))
    monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "no-secrets.toml"))
    return httpserver


def bodies(server) -> list[dict]:
    return [json.loads(req.get_data()) for req, _resp in server.log]


def test_the_organisation_is_what_the_docstring_says(sqlite_engine):
    org(sqlite_engine)
    s = settings()
    with sqlite_engine.connect() as conn:
        before = evaluate_release(conn, s, RELEASE, now=NOW)
    fix_the_bug(sqlite_engine)
    with sqlite_engine.connect() as conn:
        after = evaluate_release(conn, s, RELEASE, now=NOW)
    gate = {g.gate.id: g for g in before.gates}["open_critical_bugs"]
    assert (before.verdict, gate.status, gate.value) == ("NO_GO", "FAIL", 1.0)
    gate = {g.gate.id: g for g in after.gates}["open_critical_bugs"]
    assert (after.verdict, gate.status, gate.value) == ("AT_RISK", "PASS", 0.0)


def test_a_verdict_change_is_posted_once_and_recorded_before_it_goes(engine, hook):
    """First sight remembers NO-GO (no snapshot to compare with); the fix moves it to AT RISK:
    one message, whose row already says ``sending`` while the server receives it; a second
    run sends nothing."""
    org(engine)
    seen_status = []

    def handler(request):
        with engine.connect() as conn:
            seen_status.append(conn.execute(select(schema.notifications.c.status)).scalars()
                               .all())
        return Response("ok")

    hook.expect_request(PATH, method="POST").respond_with_handler(handler)
    s = settings()
    assert send_due(engine, s, NOW) == []
    with engine.connect() as conn:
        assert conn.execute(select(schema.notify_verdicts.c.verdict)).scalars().all() == \
            ["NO_GO"]
    fix_the_bug(engine)
    later = NOW + timedelta(hours=1)
    [out] = send_due(engine, s, later)
    assert (out.kind, out.status, out.subject) == ("change", "sent",
                                                    "PAY 2.4: verdict NO-GO → AT RISK")
    assert seen_status == [["sending"]]
    [body] = bodies(hook)
    assert body["blocks"][0]["text"]["text"] == "🟠 PAY 2.4: AT RISK"
    text = body["blocks"][1]["text"]["text"]
    assert text.startswith("*<https://ship.example/readiness?release=2.4&project=PAY|PAY 2.4>*"
                           " — Verdict changed: NO-GO → AT RISK")
    assert body["blocks"][2]["elements"][0]["url"] == \
        "https://ship.example/readiness?release=2.4&project=PAY"
    assert send_due(engine, s, later + timedelta(minutes=5)) == []
    assert len(hook.log) == 1
    [row] = rows(engine)
    assert (row["status"], row["kind"], row["verdict"], row["attempts"], row["http_status"]) == \
        ("sent", "change", "AT_RISK", 1, 200)


def test_on_first_sight_the_last_snapshot_is_the_verdict_before(sqlite_engine, hook):
    org(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.execute(insert(schema.readiness_snapshots).values(
            release_id=RELEASE, evaluated_at=NOW - timedelta(days=1),
            as_of=NOW - timedelta(days=1), verdict="GO", score=100.0, payload={}))
    hook.expect_request(PATH, method="POST").respond_with_data("ok")
    [out] = send_due(sqlite_engine, settings(), NOW)
    assert out.subject == "PAY 2.4: verdict GO → NO-GO" and out.status == "sent"


def test_the_digest_goes_once_a_day_from_its_hour(sqlite_engine, hook):
    """Due within 3 days: target NOW + 3 days is due (0 ≤ 3 ≤ 3); within 2 days it is not."""
    org(sqlite_engine)
    hook.expect_request(PATH, method="POST").respond_with_data("ok")
    assert send_due(sqlite_engine, settings(digest_days=2), NOW) == []
    s = settings(digest_days=3, digest_hour=10)
    assert send_due(sqlite_engine, s, NOW) == []  # 09:00, before the digest hour
    [out] = send_due(sqlite_engine, s, NOW + timedelta(hours=1))
    assert (out.kind, out.subject) == ("digest", "digest: 1 release due within 3 days")
    assert send_due(sqlite_engine, s, NOW + timedelta(hours=5)) == []
    [again] = send_due(sqlite_engine, s, NOW + timedelta(days=1, hours=1))
    assert again.kind == "digest"
    first, second = bodies(hook)
    assert first["blocks"][0]["text"]["text"] == "🚦 Releases due within 3 days"
    assert "target 2026-12-03 (in 3 days)" in first["blocks"][1]["text"]["text"]
    assert "target 2026-12-03 (in 2 days)" in second["blocks"][1]["text"]["text"]
    # Slack's mrkdwn takes < and > as entities
    assert "✖ FAIL No open critical bugs: 1 (needs &lt;= 0)" in first["blocks"][1]["text"]["text"]


def _closed_port_url() -> str:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}{PATH}"


def test_a_connection_refused_before_sending_is_retried_next_run(sqlite_engine, hook,
                                                                 monkeypatch):
    org(sqlite_engine)
    s = settings(digest_days=3)
    monkeypatch.setenv("TEST_HOOK", _closed_port_url())
    clock = FakeClock()
    [out] = send_due(sqlite_engine, s, NOW, clock=clock)
    assert out.status == "unsent" and "connection refused" in out.error
    assert len(clock.sleeps) == 3  # urllib3's connect retries, before anything was sent
    hook.expect_request(PATH, method="POST").respond_with_data("ok")
    monkeypatch.setenv("TEST_HOOK", hook.url_for(PATH))
    [out] = send_due(sqlite_engine, s, NOW + timedelta(minutes=10))
    assert (out.kind, out.status) == ("digest", "sent")
    assert send_due(sqlite_engine, s, NOW + timedelta(minutes=20)) == []
    assert len(hook.log) == 1
    [row] = rows(sqlite_engine)
    assert (row["status"], row["attempts"]) == ("sent", 2)


def test_a_server_error_is_not_sent_again(sqlite_engine, hook):
    org(sqlite_engine)
    hook.expect_request(PATH, method="POST").respond_with_data("boom", status=500)
    s = settings(digest_days=3)
    [out] = send_due(sqlite_engine, s, NOW, clock=FakeClock())
    assert out.status == "failed" and "HTTP 500" in out.error
    assert send_due(sqlite_engine, s, NOW + timedelta(minutes=10)) == []
    assert len(hook.log) == 1  # urllib3 did not retry the 500 either


def test_a_connection_dropped_after_sending_is_not_sent_again(sqlite_engine, monkeypatch,
                                                              tmp_path):
    org(sqlite_engine)
    server = RawServer(lambda conn, n: None)  # reads the request, closes without answering
    try:
        monkeypatch.setenv("TEST_HOOK", server.url + PATH)
        monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "none.toml"))
        s = settings(digest_days=3)
        [out] = send_due(sqlite_engine, s, NOW, clock=FakeClock())
        assert out.status == "failed"
        assert send_due(sqlite_engine, s, NOW + timedelta(minutes=10), clock=FakeClock()) == []
        assert len(server.requests) == 1
    finally:
        server.close()


def test_a_429_is_waited_out_and_sent_again(sqlite_engine, hook):
    org(sqlite_engine)
    hook.expect_ordered_request(PATH, method="POST").respond_with_data(
        "rate limited", status=429, headers={"Retry-After": "7"})
    hook.expect_ordered_request(PATH, method="POST").respond_with_data("ok")
    clock = FakeClock()
    [out] = send_due(sqlite_engine, settings(digest_days=3), NOW, clock=clock)
    assert out.status == "sent" and clock.sleeps == [7.0]
    assert len(hook.log) == 2


def test_a_429_every_time_leaves_the_message_for_the_next_run(sqlite_engine, hook):
    org(sqlite_engine)
    hook.expect_request(PATH, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "5"})
    s = settings(digest_days=3)
    [out] = send_due(sqlite_engine, s, NOW, clock=FakeClock())
    assert (out.status, out.http_status) == ("unsent", 429)
    assert len(hook.log) == 4  # the first try and three waits
    hook.clear()
    hook.expect_request(PATH, method="POST").respond_with_data("ok")
    [out] = send_due(sqlite_engine, s, NOW + timedelta(hours=1), clock=FakeClock())
    assert out.status == "sent"


def test_teams_and_json_bodies(sqlite_engine, hook):
    org(sqlite_engine)
    hook.expect_request(PATH, method="POST").respond_with_data("", status=202)
    s = settings()
    out = send_one_off(sqlite_engine, s, RELEASE, "teams", now=NOW)
    assert out.status == "sent"
    out = send_one_off(sqlite_engine, s, RELEASE, "json", now=NOW + timedelta(seconds=1))
    assert out.status == "sent"
    teams, body = bodies(hook)
    [attachment] = teams["attachments"]
    assert teams["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["body"][0]["text"] == "🔴 PAY 2.4: NO-GO"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open readiness page",
                                "url": "https://ship.example/readiness?release=2.4&project=PAY"}]
    assert list(body)[:6] == ["release", "project", "verdict", "score", "evaluated_at", "gates"]
    assert (body["release"], body["project"], body["verdict"], body["event"]) == \
        ("2.4", "PAY", "NO_GO", "status")
    gate = next(g for g in body["gates"] if g["id"] == "open_critical_bugs")
    assert (gate["status"], gate["value"], gate["threshold"]) == ("FAIL", 1.0, 0)


# --- the command line and secrets ----------------------------------------------------------
@pytest.fixture
def cli_db(sqlite_url, monkeypatch, tmp_path):
    from data.store import get_engine

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text('[app]\nbase_url = "https://ship.example"\n'
                   '[notify]\nto = "slack"\nwebhook_env = "TEST_HOOK"\ndigest_days = 7\n'
                   'digest_hour = 0\n')
    monkeypatch.setenv("READINESS_CONFIG", str(cfg))
    engine = get_engine(sqlite_url)
    # The command reads the real clock: the release is due in 3 days from now, and the
    # digest is due from midnight UTC, whatever day and hour the suite runs.
    org(engine, now=datetime.now(timezone.utc))
    yield engine
    engine.dispose()


def test_one_off_from_the_command_line(cli_db, hook, capsys):
    hook.expect_request(PATH, method="POST").respond_with_data("ok")
    code = main(["notify", "--release", "2.4", "--project", "PAY", "--to", "json",
                 "--webhook-env", "TEST_HOOK"])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    assert re.fullmatch(r"sent \(json\): PAY 2\.4: NO-GO\n", out.out)
    assert bodies(hook)[0]["verdict"] == "NO_GO"


def test_missing_webhook_variable_is_one_line_and_records_nothing(cli_db, capsys, monkeypatch,
                                                                  tmp_path):
    monkeypatch.setenv("SHIPREADY_SECRETS", str(tmp_path / "none.toml"))
    monkeypatch.delenv("OTHER_HOOK", raising=False)
    assert main(["notify", "--webhook-env", "OTHER_HOOK"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "OTHER_HOOK is not set" in err
    assert rows(cli_db) == []


def test_a_url_given_as_the_variable_name_is_not_echoed(cli_db, capsys):
    url = f"https://hooks.example{PATH}"
    assert main(["notify", "--webhook-env", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the URL itself" in err and TOKEN not in err


def test_a_variable_holding_no_url_is_not_echoed(cli_db, capsys, monkeypatch):
    monkeypatch.setenv("TEST_HOOK", f"hooks.example{PATH}")  # the scheme left out
    assert main(["notify"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not hold an http(s) webhook URL" in err
    assert TOKEN not in err and rows(cli_db) == []


def test_the_webhook_url_is_read_from_the_secrets_file(cli_db, hook, monkeypatch, tmp_path,
                                                       capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'FILE_HOOK = "{hook.url_for(PATH)}"\n')
    monkeypatch.setenv("SHIPREADY_SECRETS", str(secrets))
    hook.expect_request(PATH, method="POST").respond_with_data("ok")
    assert main(["notify", "--webhook-env", "FILE_HOOK"]) == 0
    assert "sent (slack): digest: 1 release due within 7 days" in capsys.readouterr().out


def test_a_webhook_url_is_not_an_option(cli_db, capsys):
    with pytest.raises(SystemExit) as info:
        main(["notify", "--webhook-url", "https://hooks.example/x"])
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_the_secret_is_in_no_output_log_or_row(cli_db, hook, capsys, caplog):
    """A server that echoes the URL's path and token in its 404 answer, for a one-off, a
    digest and a change: stdout, stderr, every DEBUG log record of ours (urllib3 logs request
    lines) and every stored row swept for the token and the path."""
    caplog.set_level(logging.DEBUG)
    hook.expect_request(PATH, method="POST").respond_with_data(
        f"no_service for {PATH} ({TOKEN})", status=404)
    assert main(["notify", "--release", "2.4", "--project", "PAY"]) == 1
    assert main(["notify"]) == 1  # the digest (and NO-GO remembered)
    fix_the_bug(cli_db)
    assert main(["notify"]) == 1  # the change
    out = capsys.readouterr()
    assert out.out.count("FAILED (slack)") == 3 and "answered HTTP 404" in out.out
    dump = json.dumps(rows(cli_db), default=str)
    assert len(rows(cli_db)) == 3
    ours = "\n".join(r.getMessage() for r in caplog.records  # werkzeug: the test server's
                     if not r.name.startswith("werkzeug"))
    for text in (out.out, out.err, ours, dump):
        assert TOKEN not in text and "B0BBB" not in text
    cli_db.dispose()
    database = Path(cli_db.url.database)
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            raw = path.read_bytes()
            assert TOKEN.encode() not in raw and b"B0BBB" not in raw
    assert "POST" in ours  # urllib3 did log the request line


def test_dry_run_prints_bodies_and_records_nothing(cli_db, capsys):
    assert main(["notify", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("would send (slack): digest: 1 release due within 7 days")
    assert '"type": "header"' in out
    assert rows(cli_db) == []
    with cli_db.connect() as conn:
        assert conn.execute(select(schema.notify_verdicts)).all() == []


def test_no_channel_is_one_line(sqlite_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text("[notify]\ndigest_days = 3\n")
    assert main(["notify", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[notify] to" in err
