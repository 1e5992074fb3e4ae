"""Table in, table out (DevLake's manner) for the JUnit importer: report files from the corpus
in, whole ``pipeline_runs`` and ``test_results`` rows out, on SQLite and PostgreSQL.

Expected rows are worked out by reading the XML files (quoted in comments), not from the code.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sqlalchemy import select

from connectors.junit import import_paths
from data import schema

UTC = timezone.utc


def key(classname: str, name: str) -> str:
    """test_results.test_key as README/data-model define it: blake2b-128 of
    ``len(classname):classname + name``."""
    return hashlib.blake2b(f"{len(classname)}:{classname}{name}".encode(),
                           digest_size=16).hexdigest()


def rows(conn, table, order):
    return [dict(r) for r in conn.execute(select(table).order_by(*order)).mappings()]


def test_go_junit_report_and_a_flaky_fold(engine, corpus):
    go = corpus / "junit/go-junit-report/001-pass-fail-skip.report.xml"
    flaky = corpus / "junit/mikepenz/flaky-success-first.xml"
    before = datetime.now(UTC)
    result, problems = import_paths(engine, [str(go), str(flaky)], pipeline="unit",
                                    run_id="7", sha="abc", branch="main")
    after = datetime.now(UTC)
    assert problems == [] and result is not None
    run_id = "junit:run:unit:7"  # explicit --run-id: junit:run:<pipeline>:<id>
    with engine.connect() as conn:
        runs = rows(conn, schema.pipeline_runs, [schema.pipeline_runs.c.id])
        t = schema.test_results
        tests = rows(conn, t, [t.c.file, t.c.suite, t.c.name])
    created = runs[0].pop("created_at")
    assert before <= created <= after  # the moment of the import
    assert runs == [{
        "id": run_id, "source": "junit", "pipeline": "unit", "repo": None, "project": None,
        "number": 7, "branch": "main", "sha": "abc", "event": "import",
        "status": "completed",
        # TestOne failed, and the flaky test passed on one attempt: a failure counts
        "conclusion": "failure", "attempt": None,
        # earliest <testsuite timestamp="2022-01-01T00:00:00Z"> of the go report
        "started_at": datetime(2022, 1, 1, tzinfo=UTC), "finished_at": None,
        "duration_s": None, "url": None}]
    for r in tests:
        assert isinstance(r.pop("id"), int)
    g, f = str(go), str(flaky)
    assert tests == sorted([
        # <testcase name="TestPass" classname="package/pass" time="0.060">
        {"run_id": run_id, "suite": "package/pass", "classname": "package/pass",
         "name": "TestPass", "test_key": key("package/pass", "TestPass"), "status": "passed",
         "duration_s": 0.06, "message": None, "flaky": False, "file": g},
        # TestPassLog: its system-out is not a message
        {"run_id": run_id, "suite": "package/pass", "classname": "package/pass",
         "name": "TestPassLog", "test_key": key("package/pass", "TestPassLog"),
         "status": "passed", "duration_s": 0.1, "message": None, "flaky": False, "file": g},
        # <failure message="Failed"><![CDATA[    fail_test.go:6: ...]]>: the message is the
        # attribute, a newline, then the element's text; stripped at both ends
        {"run_id": run_id, "suite": "package/fail", "classname": "package/fail",
         "name": "TestOne", "test_key": key("package/fail", "TestOne"), "status": "failed",
         "duration_s": 0.151,
         "message": "Failed\n    fail_test.go:6: Error message\n    fail_test.go:7: Longer\n"
                    "        error\n        message.", "flaky": False, "file": g},
        {"run_id": run_id, "suite": "package/skip", "classname": "package/skip",
         "name": "TestSkip", "test_key": key("package/skip", "TestSkip"), "status": "skipped",
         "duration_s": 0.02, "message": "Skipped\n    skip_test.go:6: skip message", "flaky": False,
         "file": g},
        {"run_id": run_id, "suite": "package/skip", "classname": "package/skip",
         "name": "TestSkipNow", "test_key": key("package/skip", "TestSkipNow"),
         "status": "skipped", "duration_s": 0.13, "message": "Skipped\n    skip_test.go:10: log message",
         "flaky": False, "file": g},
        # three attempts of test_success_first (pass, failure, error; 1.0 s each) are one
        # test: passed, flaky, 3.0 s, the message of the first attempt that has one
        {"run_id": run_id, "suite": "FlakySuccessFirst", "classname": "test_order.TestOrder",
         "name": "test_success_first",
         "test_key": key("test_order.TestOrder", "test_success_first"), "status": "passed",
         "duration_s": 3.0, "message": "later failure\nThis failure came after success", "flaky": True,
         "file": f},
    ], key=lambda r: (r["file"], r["suite"], r["name"]))
