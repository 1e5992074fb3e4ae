"""Importing JUnit reports into the database (SQLite and PostgreSQL) and the CLI command."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from connectors.__main__ import main
from connectors.junit import derive_run_id
from connectors.junit.importer import import_streams
from data import schema
from data.store import get_engine

GOOD = b"""<?xml version="1.0"?>
<testsuite name="S">
  <testcase classname="C" name="a" time="1.5"/>
  <testcase classname="C" name="b" time="2"><failure message="no">trace</failure></testcase>
  <testcase classname="C" name="c"><skipped/></testcase>
</testsuite>"""
OTHER = b"""<testsuites><testsuite name="T">
  <testcase classname="D" name="x"/><testcase classname="D" name="y"><error/></testcase>
</testsuite></testsuites>"""
TRUNCATED = b'<?xml version="1.0"?>\n<testsuite name="S">\n  <testcase name="a"/>\n  <testca'

RUN = {"id": "junit:run:test", "source": "junit", "pipeline": "ci", "branch": "main",
       "sha": "abc123"}


def results(conn, run_id="junit:run:test"):
    t = schema.test_results
    return sorted(conn.execute(select(t.c.file, t.c.suite, t.c.classname, t.c.name, t.c.status,
                                      t.c.duration_s, t.c.flaky)
                               .where(t.c.run_id == run_id)).all())


def test_import_streams_stores_each_case(engine):
    with engine.begin() as conn:
        result = import_streams(conn, RUN, [("a.xml", io.BytesIO(GOOD)),
                                            ("b.xml", io.BytesIO(OTHER))])
    assert result.files == ["a.xml", "b.xml"] and result.errors == []
    assert result.counts == {"passed": 2, "failed": 1, "skipped": 1, "error": 1}
    with engine.connect() as conn:
        assert results(conn) == [
            ("a.xml", "S", "C", "a", "passed", 1.5, False),
            ("a.xml", "S", "C", "b", "failed", 2.0, False),
            ("a.xml", "S", "C", "c", "skipped", None, False),
            ("b.xml", "T", "D", "x", "passed", None, False),
            ("b.xml", "T", "D", "y", "error", None, False)]
        run = conn.execute(select(schema.pipeline_runs)).mappings().one()
        assert (run["id"], run["source"], run["pipeline"], run["branch"], run["sha"]) == (
            "junit:run:test", "junit", "ci", "main", "abc123")


def test_bad_file_stores_nothing_and_others_import(engine):
    with engine.begin() as conn:
        result = import_streams(conn, RUN, [("a.xml", io.BytesIO(GOOD)),
                                            ("cut.xml", io.BytesIO(TRUNCATED)),
                                            ("b.xml", io.BytesIO(OTHER))])
    assert result.files == ["a.xml", "b.xml"]
    (err,) = result.errors
    assert (err.file, err.line) == ("cut.xml", 4)
    with engine.connect() as conn:
        assert {r[0] for r in results(conn)} == {"a.xml", "b.xml"}
        assert len(results(conn)) == 5  # 3 + 2, none of cut.xml's first case


def test_reimport_replaces_and_a_bad_reimport_keeps_what_was_there(engine):
    with engine.begin() as conn:
        import_streams(conn, RUN, [("a.xml", io.BytesIO(GOOD)), ("b.xml", io.BytesIO(OTHER))])
    fixed = GOOD.replace(b'<failure message="no">trace</failure>', b"")
    with engine.begin() as conn:
        import_streams(conn, RUN, [("a.xml", io.BytesIO(fixed))])
    with engine.connect() as conn:
        rows = results(conn)
    # a.xml replaced (b now passes, still 3 rows), b.xml untouched: 3 + 2 rows
    assert len(rows) == 5
    assert ("a.xml", "S", "C", "b", "passed", 2.0, False) in rows
    with engine.begin() as conn:
        result = import_streams(conn, RUN, [("a.xml", io.BytesIO(TRUNCATED))])
    assert result.files == [] and len(result.errors) == 1
    with engine.connect() as conn:
        assert results(conn) == rows  # the failed re-import changed nothing


def test_no_file_imported_leaves_no_run(engine):
    with engine.begin() as conn:
        result = import_streams(conn, RUN, [("cut.xml", io.BytesIO(TRUNCATED))])
    assert result.files == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.pipeline_runs)).scalar() == 0


def test_run_id_is_stable_and_depends_on_what_identifies_the_run():
    a = derive_run_id("ci", "abc", "main", ["r/b.xml", "r/a.xml"])
    assert a == derive_run_id("ci", "abc", "main", ["r/a.xml", "r/b.xml"])  # order-free
    assert a.startswith("junit:run:")
    assert len({a, derive_run_id("ci", "abd", "main", ["r/a.xml", "r/b.xml"]),
                derive_run_id("ci", "abc", "dev", ["r/a.xml", "r/b.xml"]),
                derive_run_id("cd", "abc", "main", ["r/a.xml", "r/b.xml"]),
                derive_run_id("ci", "abc", "main", ["r/a.xml"])}) == 5
    assert derive_run_id("ci", None, None, [], "42") == "junit:run:ci:42"


# --- the command line -----------------------------------------------------------------------
@pytest.fixture
def cli_db(sqlite_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.chdir(sqlite_url.split("///", 1)[1].rsplit("/", 1)[0])
    eng = get_engine(sqlite_url)
    yield eng
    eng.dispose()


def write_reports(root):
    (root / "reports" / "nested").mkdir(parents=True)
    (root / "reports" / "TEST-a.xml").write_bytes(GOOD)
    (root / "reports" / "nested" / "TEST-b.xml").write_bytes(OTHER)
    (root / "reports" / "notes.txt").write_text("not a report")
    with zipfile.ZipFile(root / "artifact.zip", "w") as zf:
        zf.writestr("junit/TEST-z.xml", OTHER)
        zf.writestr("readme.md", "ignored")


def db_rows(eng):
    with eng.connect() as conn:
        runs = conn.execute(select(schema.pipeline_runs.c.id, schema.pipeline_runs.c.conclusion,
                                   schema.pipeline_runs.c.status)).all()
        files = conn.execute(select(schema.test_results.c.file, func.count())
                             .group_by(schema.test_results.c.file)
                             .order_by(schema.test_results.c.file)).all()
        syncs = conn.execute(select(schema.sync_runs.c.source, schema.sync_runs.c.outcome,
                                    schema.sync_runs.c["items"], schema.sync_runs.c.error)
                             .order_by(schema.sync_runs.c.id)).all()
    return runs, files, syncs


def test_cli_folder_glob_and_zip(cli_db, tmp_path, capsys):
    write_reports(tmp_path)
    code = main(["import-junit", "reports", "artifact.zip", "reports/**/TEST-b.xml",
                 "--pipeline", "ci", "--sha", "abc", "--branch", "main"])
    assert code == 0, capsys.readouterr().err
    runs, files, syncs = db_rows(cli_db)
    expected_id = derive_run_id("ci", "abc", "main", [
        "reports/TEST-a.xml", "reports/nested/TEST-b.xml", "artifact.zip/junit/TEST-z.xml"])
    # one failed case in TEST-a.xml and an error in TEST-b.xml: the run failed
    assert runs == [(expected_id, "failure", "completed")]
    # the glob names nested/TEST-b.xml again: imported once
    assert files == [("artifact.zip/junit/TEST-z.xml", 2), ("reports/TEST-a.xml", 3),
                     ("reports/nested/TEST-b.xml", 2)]
    assert syncs == [("junit", "success", {"files": 3, "test_results": 7}, None)]
    assert "3 file(s)" in capsys.readouterr().out

    # the same command again replaces the run rather than adding one
    assert main(["import-junit", "reports", "artifact.zip", "--pipeline", "ci", "--sha", "abc",
                 "--branch", "main"]) == 0
    runs2, files2, _ = db_rows(cli_db)
    assert runs2 == runs and files2 == files


def test_cli_bad_file_reported_others_imported(cli_db, tmp_path, capsys):
    write_reports(tmp_path)
    (tmp_path / "reports" / "TEST-cut.xml").write_bytes(TRUNCATED)
    code = main(["import-junit", "reports", "missing.xml", "--pipeline", "ci", "--run-id", "7"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: missing.xml: no such file or folder",
                   "error: reports/TEST-cut.xml: line 4: not well-formed XML (unclosed token"
                   "); the file may be truncated or not a JUnit report"]
    runs, files, syncs = db_rows(cli_db)
    assert runs == [("junit:run:ci:7", "failure", "completed")]
    assert files == [("reports/TEST-a.xml", 3), ("reports/nested/TEST-b.xml", 2)]
    (source, outcome, items, error), = syncs
    assert (source, outcome, items) == ("junit", "failed", {"files": 2, "test_results": 5})
    assert error.startswith("2 path(s) or file(s) not imported (2 imported)")


def test_cli_xxe_never_reads_the_target(cli_db, tmp_path, capsys, corpus):
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-51c0ffee")
    # the corpus' own hostile file, its placeholder pointed at our marker file
    hostile = (corpus / "junit/jenkins-junit-plugin/xxe-attack.xml").read_text("latin-1")
    (tmp_path / "xxe.xml").write_text(hostile.replace("$OOB_LINK$", secret.as_uri()), "latin-1")
    direct = ('<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY x SYSTEM "'
              f'{secret.as_uri()}">]>\n<testsuite><testcase name="&x;"/></testsuite>')
    (tmp_path / "direct.xml").write_text(direct)
    code = main(["import-junit", "xxe.xml", "direct.xml", "--pipeline", "ci"])
    out = capsys.readouterr()
    assert code == 1
    assert "xxe.xml: line 2: DOCTYPE declarations are refused" in out.err
    assert "direct.xml: line 2: DOCTYPE declarations are refused" in out.err
    assert "MARKER" not in out.out + out.err
    with cli_db.connect() as conn:
        dump = [conn.execute(select(t)).all() for t in schema.metadata.sorted_tables]
    assert "MARKER" not in repr(dump)
    runs, files, _ = db_rows(cli_db)
    assert runs == [] and files == []


def test_reimport_touches_only_that_run_and_file(engine):
    other = dict(RUN, id="junit:run:other")
    # another run holds a file of the same name, stored between this run's two files
    with engine.begin() as conn:
        import_streams(conn, RUN, [("a.xml", io.BytesIO(GOOD))])
        import_streams(conn, other, [("a.xml", io.BytesIO(GOOD))])
        import_streams(conn, RUN, [("b.xml", io.BytesIO(OTHER))])
    with engine.begin() as conn:
        import_streams(conn, RUN, [("a.xml", io.BytesIO(OTHER))])
    with engine.connect() as conn:
        mine, theirs = results(conn), results(conn, "junit:run:other")
    # run test: a.xml now holds OTHER's 2 cases, b.xml its 2; run other keeps GOOD's 3
    assert [(r[0], r[3]) for r in mine] == [("a.xml", "x"), ("a.xml", "y"), ("b.xml", "x"),
                                           ("b.xml", "y")]
    assert [(r[0], r[3]) for r in theirs] == [("a.xml", "a"), ("a.xml", "b"), ("a.xml", "c")]
