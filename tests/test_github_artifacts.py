"""JUnit artifacts of completed runs: downloaded as zips, XML members imported once."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from data import schema
from tests.github_server import FakeGitHub, run
from tests.test_github_sync import sync

REPORT = b"""<?xml version="1.0"?>
<testsuite name="unit" tests="3">
  <testcase classname="app.Cart" name="test_add" time="0.5"/>
  <testcase classname="app.Cart" name="test_total" time="1.25"><failure message="1 != 2"/></testcase>
  <testcase classname="app.Cart" name="test_skip"><skipped/></testcase>
</testsuite>"""

HOSTILE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite name="evil"><testcase classname="a" name="&xxe;"/></testsuite>"""


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def gh(httpserver):
    fake = FakeGitHub().install(httpserver)
    fake.runs = [run(101, "2024-03-10T10:00:00Z", updated="2024-03-10T10:05:00Z"),
                 run(102, "2024-03-11T10:00:00Z", status="in_progress", conclusion=None)]

    def art(aid, name, expired=False):
        return {"id": aid, "name": name, "expired": expired,
                "archive_download_url": f"{fake.base_url}/repos/acme/web/actions/artifacts/"
                                        f"{aid}/zip"}

    fake.artifacts = {101: [art(1, "junit-results"), art(2, "coverage"),
                            art(3, "old-junit", expired=True)]}
    fake.artifact_zips = {1: zipped({"reports/TEST-cart.xml": REPORT,
                                     "reports/evil.xml": HOSTILE, "readme.txt": b"hi"}),
                          2: zipped({"coverage.xml": b"<coverage/>"})}
    return fake


def test_junit_artifacts_imported_once(engine, gh):
    sync(engine, gh)
    with engine.connect() as conn:
        results = conn.execute(select(schema.test_results.c.run_id, schema.test_results.c.name,
                                      schema.test_results.c.status,
                                      schema.test_results.c.file)).all()
        runs = {r.id: r for r in conn.execute(select(schema.pipeline_runs))}
        run_row = conn.execute(select(schema.sync_runs)).first()
    # three cases from TEST-cart.xml; evil.xml is refused (a DTD), coverage is not matched
    assert sorted((r.name, r.status) for r in results) == [
        ("test_add", "passed"), ("test_skip", "skipped"), ("test_total", "failed")]
    assert {r.run_id for r in results} == {"github:run:acme/web:101"}
    assert {r.file for r in results} == {"junit-results/reports/TEST-cart.xml"}
    assert runs["github:run:acme/web:101"].conclusion == "success"  # the run row is kept
    assert run_row.items["test_results"] == 3 and run_row.items["junit_errors"] == 1
    downloads = [p for p in gh.paths() if p.endswith("/zip")]
    assert downloads == ["/repos/acme/web/actions/artifacts/1/zip"]
    assert not [p for p in gh.paths() if p.endswith("/102/artifacts")]  # still running

    gh.clear_log()
    sync(engine, gh)
    assert not [p for p in gh.paths() if "artifacts" in p]  # listed once per run
