"""`python -m metrics readiness` and `waive`: formats, exit codes, snapshots, waivers, errors.

Runs on the fixture of test_readiness.py (release PAY 2.4: NO-GO; OPS 1.0: AT RISK because it
has no tests), on SQLite and PostgreSQL, in-process through run_readiness/run_waive — the
functions metrics/__main__.py dispatches to — and once through the real command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_readiness import NOW, load_fixture

from data.schema import gate_waivers, readiness_snapshots
from metrics.cli_readiness import exit_code, run_readiness, run_waive

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
[projects.PAY]
repos = ["acme/pay"]
services = ["pay-api"]
pipelines = ["ci"]

[projects.OPS]
repos = ["acme/ops"]
services = ["ops-gw"]
pipelines = ["ci"]
"""


@pytest.fixture
def cli(engine, db_url, tmp_path, monkeypatch):
    load_fixture(engine)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text(CONFIG)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    return Namespace(engine=engine, config=str(cfg), url=db_url, tmp=tmp_path)


def readiness_args(cli, **kw):
    base = dict(release="2.4", project=None, format="text", output=None, strict=False,
                as_of=None, no_snapshot=False, config=cli.config)
    base.update(kw)
    return Namespace(**base)


def snapshot_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(readiness_snapshots)).scalar()


def test_text_report_and_exit_code_for_no_go(cli, capsys):
    assert run_readiness(readiness_args(cli), now=NOW) == 1
    out = capsys.readouterr().out
    assert out.startswith("Release PAY 2.4: NO-GO (score 37.5/100)")
    assert "✖ FAIL" in out and "PAY-3" in out and "pay::T3" in out
    assert snapshot_count(cli.engine) == 1


def test_json_format_contract(cli, capsys):
    assert run_readiness(readiness_args(cli, format="json", project="PAY"), now=NOW) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {"release", "project", "verdict", "score", "evaluated_at", "gates"} <= set(doc)
    assert (doc["release"], doc["project"], doc["verdict"], doc["score"]) == (
        "2.4", "PAY", "NO_GO", 37.5)
    first = doc["gates"][0]
    assert {"id", "label", "status", "value", "threshold", "blocking", "evidence"} <= set(first)
    assert (first["id"], first["status"], first["value"], first["threshold"]) == (
        "open_critical_bugs", "FAIL", 1.0, 0.0)
    assert first["evidence"][0]["label"] == "PAY-3"


def test_no_snapshot(cli, capsys):
    run_readiness(readiness_args(cli, no_snapshot=True), now=NOW)
    assert snapshot_count(cli.engine) == 0


def test_at_risk_exits_0_unless_strict(cli, capsys):
    assert run_readiness(readiness_args(cli, release="1.0"), now=NOW) == 0
    assert "AT RISK" in capsys.readouterr().out
    assert run_readiness(readiness_args(cli, release="1.0", strict=True), now=NOW) == 1


def test_exit_codes():
    assert [exit_code(v, False) for v in ("GO", "AT_RISK", "NO_GO")] == [0, 0, 1]
    assert [exit_code(v, True) for v in ("GO", "AT_RISK", "NO_GO")] == [0, 1, 1]


def test_as_of(cli, capsys):
    run_readiness(readiness_args(cli, format="json", as_of="2026-03-08T12:00:00Z"), now=NOW)
    doc = json.loads(capsys.readouterr().out)
    gates = {g["id"]: g for g in doc["gates"]}
    assert doc["as_of"] == "2026-03-08T12:00:00+00:00"
    assert gates["test_pass_rate"]["status"] == "PASS"  # only r1 (all passing) existed then


@pytest.mark.parametrize("kw,message", [
    (dict(release="9.9"), "error: unknown release '9.9'; known: 1.0, 2.4"),
    (dict(release="2.4", project="NOPE"), "error: unknown project 'NOPE'"),
    (dict(as_of="yesterday"), "error: bad date 'yesterday'"),
    (dict(config="/nonexistent/readiness.toml"), "no such configuration file"),
])
def test_errors_exit_2_with_one_line(cli, capsys, kw, message):
    assert run_readiness(readiness_args(cli, **kw), now=NOW) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_gate_override_is_an_error(cli, capsys):
    Path(cli.config).write_text(CONFIG + "\n[projects.PAY.gates.test_pass_rate]\n"
                                         "threshold = 98\n")
    assert run_readiness(readiness_args(cli), now=NOW) == 2
    err = capsys.readouterr().err
    assert "'projects.PAY.gates.test_pass_rate.threshold'" in err and "between 0 and 1" in err


def test_html_report_written_to_file_is_self_contained_and_escaped(cli, capsys):
    out = cli.tmp / "report.html"
    assert run_readiness(readiness_args(cli, format="html", output=str(out)), now=NOW) == 1
    assert "report written to" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "NO-GO" in page and "PAY-3" in page
    # the failing test's message "boom <script>" is text, never markup
    assert "boom &lt;script&gt;" in page and "boom <script>" not in page
    # plotly.js is inlined and nothing is fetched from the network
    assert "Plotly" in page and len(page) > 1_000_000
    assert 'src="http' not in page and "<link " not in page


def test_markdown_report(cli, capsys):
    run_readiness(readiness_args(cli, format="markdown"), now=NOW)
    out = capsys.readouterr().out
    # punctuation as typed (issue 16 item 6): no "2\\.4", "NO\\-GO", "\\<= 0" to paste
    assert out.startswith("# Release PAY 2.4: NO-GO (score ")
    assert "| ✖ FAIL | No open critical bugs | 1 | <= 0 | yes |" in out
    assert "[PAY-3](https://t/PAY-3)" in out


def waive_args(cli, **kw):
    base = dict(release="2.4", project="PAY", gate="open_critical_bugs", reason="fix shipping",
                by="Ana", expires=None, config=cli.config)
    base.update(kw)
    return Namespace(**base)


def test_waive_then_readiness_shows_waived(cli, capsys):
    assert run_waive(waive_args(cli, expires="2026-03-20"), now=NOW) == 0
    assert capsys.readouterr().out == ("waived gate open_critical_bugs of release PAY 2.4 "
                                       "through 2026-03-20 (UTC) (by Ana)\n")
    run_readiness(readiness_args(cli, format="json"), now=NOW)
    gates = {g["id"]: g for g in json.loads(capsys.readouterr().out)["gates"]}
    assert gates["open_critical_bugs"]["status"] == "WAIVED"
    assert gates["open_critical_bugs"]["waiver"]["reason"] == "fix shipping"


@pytest.mark.parametrize("kw,message", [
    (dict(gate="no_such_gate"), "error: unknown gate 'no_such_gate'; known: bug_trend_converging"),
    (dict(expires="2020-01-01"), "already past"),
    (dict(reason="  "), "needs a reason"),
    (dict(release="7.7"), "unknown release '7.7'"),
])
def test_waive_errors(cli, capsys, kw, message):
    assert run_waive(waive_args(cli, **kw), now=NOW) == 2
    assert message in capsys.readouterr().err
    with cli.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(gate_waivers)).scalar() == 0


def test_real_command_line(sqlite_engine, sqlite_url, tmp_path):
    if not (ROOT / "metrics" / "__main__.py").exists():
        pytest.skip("metrics/__main__.py (the argument parser) has not landed yet")
    load_fixture(sqlite_engine)
    cfg = tmp_path / "readiness.toml"
    cfg.write_text(CONFIG)
    env = {**os.environ, "DATABASE_URL": sqlite_url, "READINESS_CONFIG": str(cfg)}

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "metrics", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    r = run("readiness", "--release", "2.4", "--format", "json", "--no-snapshot")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["verdict"] == "NO_GO"
    r = run("readiness", "--release", "1.0", "--strict")
    assert r.returncode == 1 and "AT RISK" in r.stdout
    r = run("readiness", "--release", "9.9")
    assert r.returncode == 2 and r.stderr.strip().startswith("error: unknown release '9.9'")
    assert "Traceback" not in r.stderr
    r = run("waive", "--release", "2.4", "--gate", "test_pass_rate", "--reason", "infra",
            "--by", "Ben")
    assert r.returncode == 0, r.stderr
