"""Odd input to `python -m connectors` and `python -m metrics` is one line on stderr and exit 2
— never a traceback (issue 10, items 11 and 15): a configuration that is not UTF-8 or is a
folder, a negative or non-finite max_wait, a database in a missing or read-only place, dates
outside 1970..2100, an overlong or malformed run id. Real commands in real processes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data import schema
from data.store import get_engine

ROOT = Path(__file__).resolve().parent.parent
REPORT = """<?xml version="1.0"?>
<testsuite name="s" tests="1"><testcase classname="c" name="t" time="0.5"/></testsuite>
"""


def _run(module: str, args: list[str], *, db: str | None, cwd: Path = ROOT, env: dict | None = None,
         prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "READINESS_CONFIG")}
    base["PYTHONPATH"] = str(ROOT)
    if db is not None:
        base["DATABASE_URL"] = db
    base.update(env or {})
    return subprocess.run([*(prefix or []), sys.executable, "-m", module, *args], cwd=cwd,
                          env=base, capture_output=True, text=True, timeout=300)


def _one_line(done: subprocess.CompletedProcess, *needles: str) -> str:
    """The command failed with exit 2 and said so in one `error:` line holding ``needles``."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def report(tmp_path) -> Path:
    path = tmp_path / "report.xml"
    path.write_text(REPORT)
    return path


# --- the configuration file -----------------------------------------------------------------
def test_a_configuration_that_is_not_utf8_is_one_line(tmp_path):
    config = tmp_path / "readiness.toml"
    config.write_bytes(b'[jira]\nurl = "https://caf\xe9.example"\n')  # Latin-1, not UTF-8
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _one_line(_run("connectors", ["sync", "--config", str(config)], db=db), str(config), "UTF-8")
    _one_line(_run("metrics", ["kpis", "--config", str(config)], db=db), str(config), "UTF-8")
    # the same through READINESS_CONFIG
    _one_line(_run("metrics", ["kpis"], db=db, env={"READINESS_CONFIG": str(config)}), "UTF-8")


def test_a_configuration_path_naming_a_folder_is_one_line(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _one_line(_run("connectors", ["sync", "--config", str(folder)], db=db), str(folder),
              "folder")
    _one_line(_run("metrics", ["readiness", "--release", "2.4", "--config", str(folder)], db=db),
              str(folder), "folder")


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-0.5"])
@pytest.mark.parametrize("section", ["github", "jira", "jenkins"])
def test_max_wait_must_be_a_finite_number_of_seconds(tmp_path, section, value):
    from data.config import ConfigError, load_settings

    config = tmp_path / "readiness.toml"
    config.write_text(f"[{section}]\nmax_wait = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert message.startswith(f"{config}: '{section}.max_wait' should be a number of seconds, "
                              "0 or more")
    assert "\n" not in message


def test_max_wait_of_zero_or_a_fraction_is_accepted(tmp_path):
    from data.config import load_settings

    config = tmp_path / "readiness.toml"
    config.write_text("[github]\nmax_wait = 0\n[jira]\nmax_wait = 1.5\n")
    settings = load_settings(config)
    assert settings.github.max_wait == 0 and settings.jira.max_wait == 1.5
    assert settings.jenkins.max_wait == 900


def test_a_negative_max_wait_stops_the_sync_command_in_one_line(tmp_path):
    config = tmp_path / "readiness.toml"
    config.write_text('[jira]\nurl = "http://127.0.0.1:9"\nprojects = ["PAY"]\nmax_wait = -1\n')
    _one_line(_run("connectors", ["sync", "--config", str(config)],
                   db=f"sqlite:///{tmp_path / 'x.db'}"), "jira.max_wait")


# --- where the database lives ---------------------------------------------------------------
def test_a_database_in_a_missing_folder_is_refused_and_no_folder_is_made(tmp_path, report):
    missing = tmp_path / "no" / "such"
    db = f"sqlite:///{missing / 'readiness.db'}"
    _one_line(_run("connectors", ["demo", "--remove"], db=db), str(missing), "does not exist")
    _one_line(_run("connectors", ["import-junit", str(report), "--pipeline", "ci"], db=db),
              str(missing))
    _one_line(_run("metrics", ["kpis"], db=db), str(missing), "does not exist")
    assert not (tmp_path / "no").exists()


def test_the_default_database_works_where_a_data_folder_exists(tmp_path):
    # `make run` on a fresh clone: no DATABASE_URL, run from the checkout, whose data/ folder
    # is part of the repository. A copy of that layout, so the real checkout is untouched.
    assert (ROOT / "data").is_dir()
    (tmp_path / "data").mkdir()
    done = _run("connectors", ["demo", "--remove"], db=None, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "readiness.db").is_file()


def _without_write_permission() -> list[str] | None:
    """A command prefix under which file permissions bind: none for an ordinary user; for
    root, setpriv dropping the capabilities that override them. None when impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner",
              "--inh-caps=-all"]
    with tempfile.NamedTemporaryFile() as fh:
        os.chmod(fh.name, stat.S_IRUSR)
        probe = subprocess.run([*prefix, "sh", "-c", f"test -w {fh.name} || echo bound"],
                               capture_output=True, text=True)
    return prefix if probe.stdout.strip() == "bound" else None


@pytest.fixture
def read_only_db(demo_template, tmp_path):
    """A copy of the demo database (schema up to date) that this user may not write."""
    prefix = _without_write_permission()
    if prefix is None:
        pytest.skip("cannot make a file read-only for this user (root without setpriv)")
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "readiness.db"
    shutil.copyfile(demo_template, path)
    get_engine(f"sqlite:///{path}").dispose()  # leaves no -wal behind once disposed
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    yield prefix, path
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    folder.chmod(stat.S_IRWXU)


def test_a_read_only_database_file_is_one_line_for_writers_and_readable_for_readers(
        read_only_db, report):
    prefix, path = read_only_db
    db = f"sqlite:///{path}"
    before = path.read_bytes()
    line = _one_line(_run("connectors", ["import-junit", str(report), "--pipeline", "ci"],
                          db=db, prefix=prefix), str(path), "cannot write")
    assert "permissions" in line
    _one_line(_run("metrics", ["readiness", "--release", "2.4", "--project", "PAY"], db=db,
                   prefix=prefix), "cannot write")
    _one_line(_run("connectors", ["demo", "--scale", "0.01"], db=db, prefix=prefix),
              "cannot write")
    # reading needs no write: KPIs and an evaluation not stored still work
    kpis = _run("metrics", ["kpis", "--project", "PAY"], db=db, prefix=prefix)
    assert kpis.returncode == 0, kpis.stderr
    evaluated = _run("metrics", ["readiness", "--release", "2.4", "--project", "PAY",
                                 "--no-snapshot"], db=db, prefix=prefix)
    assert evaluated.returncode in (0, 1) and "Traceback" not in evaluated.stderr
    assert path.read_bytes() == before


def test_a_read_only_folder_is_one_line(read_only_db, report):
    prefix, path = read_only_db
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)  # the file may be written, its folder not:
    path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)  # SQLite cannot make its -wal beside it
    _one_line(_run("connectors", ["import-junit", str(report), "--pipeline", "ci"],
                   db=f"sqlite:///{path}", prefix=prefix), str(path), "its folder",
              "permissions")
    new = f"sqlite:///{path.parent / 'new.db'}"
    _one_line(_run("connectors", ["demo", "--remove"], db=new, prefix=prefix), "its folder",
              "permissions")


# --- dates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["readiness", "--release", "2.4", "--as-of", "9999-12-31"],
    ["readiness", "--release", "2.4", "--as-of", "0001-01-01"],
    ["readiness", "--release", "2.4", "--as-of", "0001-01-01T00:00+01:00"],
    ["readiness", "--release", "2.4", "--as-of", "1969-12-31"],
    ["readiness", "--release", "2.4", "--as-of", "2101-01-01"],
    ["kpis", "--until", "9999-12-31"],
    ["kpis", "--since", "0001-01-01"],
    ["waive", "--release", "2.4", "--gate", "g", "--reason", "r", "--by", "me",
     "--expires", "9999-12-31"],
])
def test_dates_outside_1970_to_2100_are_one_line(tmp_path, args):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    line = _one_line(_run("metrics", args, db=db), "out of range", "1970-01-01", "2100-12-31")
    assert args[-1] in line


def test_the_ends_of_the_date_range_are_accepted(demo_template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    db = f"sqlite:///{path}"
    done = _run("metrics", ["kpis", "--project", "PAY", "--since", "1970-01-01",
                            "--until", "2100-12-31", "--format", "json"], db=db)
    assert done.returncode == 0, done.stderr
    done = _run("metrics", ["readiness", "--release", "2.4", "--project", "PAY",
                            "--as-of", "2100-12-31", "--no-snapshot"], db=db)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr


def test_demo_today_outside_the_range_is_a_usage_error(tmp_path):
    for day in ("0001-01-01", "9999-12-31"):
        done = _run("connectors", ["demo", "--today", day], db=f"sqlite:///{tmp_path / 'x.db'}")
        _one_line(done, "1970-01-01 to 2100-12-31", day)


# --- import-junit identifiers ---------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--run-id", "x" * 101], "at most 100"),
    (["--run-id", "9" * 20], "below 2,147,483,648"),
    (["--run-id", "a\nb"], "control character"),
    (["--pipeline", "p" * 101], "at most 100"),
    (["--sha", "a" * 65], "at most 64"),
    (["--branch", "b" * 256], "at most 255"),
    (["--pipeline", ""], "empty"),
])
def test_odd_import_identifiers_are_usage_errors_and_store_nothing(tmp_path, report, args,
                                                                   needle):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    argv = ["import-junit", str(report), "--pipeline", "ci", *args]
    _one_line(_run("connectors", argv, db=db), needle)
    assert not (tmp_path / "x.db").exists()  # refused before the database is touched


def test_the_longest_accepted_identifiers_are_stored_whole(db_url, report, tmp_path):
    # 100-character pipeline and run id: junit:run:<100>:<100> is 211 characters, which the
    # 255-character id column holds on PostgreSQL too (SQLite would take anything).
    pipeline, run_id = "p" * 100, "r" * 100
    done = _run("connectors", ["import-junit", str(report), "--pipeline", pipeline,
                               "--run-id", run_id, "--sha", "a" * 64, "--branch", "b" * 255],
                db=db_url)
    assert done.returncode == 0, done.stderr
    engine = get_engine(db_url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(select(schema.pipeline_runs.c.id)).scalars().all()
            assert ids == [f"junit:run:{pipeline}:{run_id}"]
            assert conn.execute(select(func.count()).select_from(schema.test_results)
                                ).scalar() == 1
    finally:
        engine.dispose()


def test_an_overlong_waiver_author_is_one_line_and_stores_nothing(demo_template, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    args = ["waive", "--release", "2.4", "--project", "PAY", "--gate", "open_critical_bugs",
            "--reason", "known issue", "--by"]
    _one_line(_run("metrics", [*args, "x" * 256], db=f"sqlite:///{path}"), "at most 255")
    engine = get_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema.gate_waivers)
                                ).scalar() == 0
    finally:
        engine.dispose()
    done = _run("metrics", [*args, "x" * 255], db=f"sqlite:///{path}")  # the longest accepted
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind, needle", [
    ("folder", "is a folder; name a file in it"),
    ("not_sqlite", "not a SQLite database"),
    ("mysql", "runs on SQLite or PostgreSQL"),
])
def test_a_database_url_naming_the_wrong_thing_is_one_line(tmp_path, kind, needle):
    if kind == "folder":
        url = f"sqlite:///{tmp_path}"
    elif kind == "not_sqlite":
        (tmp_path / "notes.txt").write_text("not a database, just text\n" * 100)
        url = f"sqlite:///{tmp_path / 'notes.txt'}"
    else:
        url = "mysql://user:s3cret@db.example/shipready"
    for module, args in (("connectors", ["demo", "--remove"]), ("metrics", ["kpis"])):
        line = _one_line(_run(module, args, db=url), needle)
        assert "s3cret" not in line
