"""Benchmark: import 1,000,000 generated JUnit test cases into SQLite.

ShipReady's path (``connectors.junit.import_paths``: the safe streaming expat parser, retries,
per-file savepoints, ``sync_runs`` bookkeeping) against a baseline measured in the same run on
the same files: ``xml.etree.ElementTree.iterparse`` (C accelerated, no safety checks) and the
same rows inserted with ``sqlite3`` ``executemany`` into the same table. Each side runs in a
fresh child process, so its peak resident memory (``ru_maxrss``) is its own.

``python -m bench junit_import``; ``BENCH_JUNIT_CASES`` overrides the number of cases
(1,000,000). Three datasets, each against the baseline in the same run:

- ``100 files``: the cases spread over 100 Surefire-like files, every name unique;
- ``1 file, unique``: all of them in one file, every name unique;
- ``1 file, repeated``: one file where every test appears twice, the second record half a file
  after the first (never adjacent), 1 in 10 of them failing first and passing on the retry;
  ShipReady folds them into half as many tests, the baseline stores every record.

A second import of the same files (which replaces the first) is timed too. Peak memory is the
child process's ``ru_maxrss`` (each side runs in a fresh interpreter). Last, one file holding a
single test whose name is 4, 8 and 16 MB long is imported, to show the time grows linearly.
``BENCH_JUNIT_ONLY`` (comma-separated: spread, unique, repeated, huge) picks datasets.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

CASES = int(os.environ.get("BENCH_JUNIT_CASES", "1000000"))
ONLY = set(filter(None, os.environ.get("BENCH_JUNIT_ONLY", "").split(",")))
TARGET_RATIO = 2.0
TARGET_PEAK_MB = 300


def generate(folder: Path, cases: int, files: int, repeated: bool = False) -> int:
    """Surefire-like reports: 1 in 20 cases fails with a short trace, 1 in 50 is skipped.

    ``repeated``: record ``n`` and record ``n + half`` of a file are the same test (``half``
    records apart); 1 in 10 of those fail the first time and pass the second."""
    per_file = cases // files
    half = per_file // 2
    written = 0
    for f in range(files):
        path = folder / f"TEST-com.example.pkg{f}.GeneratedTest.xml"
        with open(path, "w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                      f'<testsuite name="com.example.pkg{f}.GeneratedTest" tests="{per_file}" '
                      'time="12.5" timestamp="2026-01-05T10:00:00">\n'
                      "  <properties><property name=\"java.version\" value=\"21\"/></properties>\n")
            for i in range(per_file):
                n = f * per_file + i
                if repeated:
                    t = i % half
                    first = i < half
                    n = f * per_file + t
                    head = (f'  <testcase name="test{n}" '
                            f'classname="com.example.pkg{f}.Class{t % 50}" '
                            f'time="0.{n % 1000:03d}"')
                    if t % 10 == 3 and first:
                        out.write(f'{head}>\n    <failure message="flaked {n}"/>\n  </testcase>\n')
                    else:
                        out.write(f"{head}/>\n")
                    written += 1
                    continue
                head = (f'  <testcase name="test{n}" classname="com.example.pkg{f}.Class{i % 50}" '
                        f'time="0.{n % 1000:03d}"')
                if n % 20 == 0:
                    out.write(f'{head}>\n    <failure message="expected 1 but was {n}" '
                              'type="java.lang.AssertionError">java.lang.AssertionError\n'
                              f"\tat com.example.Class.test{n}(Class.java:{n % 300})\n"
                              "    </failure>\n  </testcase>\n")
                elif n % 50 == 1:
                    out.write(f'{head}>\n    <skipped message="disabled"/>\n  </testcase>\n')
                else:
                    out.write(f"{head}/>\n")
                written += 1
            out.write("</testsuite>\n")
    return written


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def run_shipready(folder: str, db: str, queue) -> None:
    from connectors.junit import import_paths
    from data.store import get_engine

    engine = get_engine(f"sqlite:///{db}")
    t0 = time.perf_counter()
    result, problems = import_paths(engine, [folder], pipeline="bench", run_id="1")
    elapsed = time.perf_counter() - t0
    assert not problems, problems
    t0 = time.perf_counter()
    again, problems = import_paths(engine, [folder], pipeline="bench", run_id="1")
    reimport = time.perf_counter() - t0
    assert not problems and again.tests == result.tests
    queue.put({"seconds": elapsed, "rows": result.tests, "peak_mb": _peak_mb(),
               "reimport": reimport})


def run_baseline(folder: str, db: str, queue) -> None:
    import xml.etree.ElementTree as ET

    from data.store import get_engine

    get_engine(f"sqlite:///{db}").dispose()  # the same schema, indexes included
    t0 = time.perf_counter()
    conn = sqlite3.connect(db)
    # The settings data.store gives every SQLite connection, so only the code differs.
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("INSERT INTO pipeline_runs (id, source, pipeline) VALUES ('b', 'junit', 'b')")
    sql = ("INSERT INTO test_results (run_id, suite, classname, name, status, duration_s, "
           "message, flaky, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    rows = 0
    for path in sorted(Path(folder).glob("*.xml")):
        batch = []
        suite = None
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                if elem.tag == "testsuite":
                    suite = elem.get("name")
                continue
            if elem.tag != "testcase":
                continue
            status, message = "passed", None
            for child in elem:
                if child.tag in ("failure", "error", "skipped"):
                    status = {"failure": "failed"}.get(child.tag, child.tag)
                    message = ((child.get("message") or "") + "\n" + (child.text or ""))[:4096]
            batch.append(("b", suite, elem.get("classname"), elem.get("name"), status,
                          float(elem.get("time") or 0), message, False, path.as_posix()))
            elem.clear()
            if len(batch) >= 5000:
                conn.executemany(sql, batch)
                rows += len(batch)
                batch = []
        conn.executemany(sql, batch)
        rows += len(batch)
    conn.commit()
    conn.close()
    elapsed = time.perf_counter() - t0
    queue.put({"seconds": elapsed, "rows": rows, "peak_mb": _peak_mb()})


def _child(target, folder: str, db: str) -> dict:
    ctx = mp.get_context("spawn")  # a fresh interpreter: its ru_maxrss is its own
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(folder, db, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def run_huge(path: str, db: str, queue) -> None:
    from connectors.junit import import_paths
    from data.store import get_engine

    engine = get_engine(f"sqlite:///{db}")
    t0 = time.perf_counter()
    result, problems = import_paths(engine, [path], pipeline="bench", run_id="1")
    queue.put({"seconds": time.perf_counter() - t0, "rows": result.tests if result else 0,
               "problems": problems, "peak_mb": _peak_mb()})


def _dataset(tmp: Path, label: str, files: int, repeated: bool) -> None:
    folder = tmp / label
    folder.mkdir()
    t0 = time.perf_counter()
    n = generate(folder, CASES, files, repeated)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    print(f"[{label}] generated {n:,} cases in {files} file(s) ({size:.0f} MB) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    base = _child(run_baseline, str(folder), str(tmp / f"{label}-baseline.db"))
    ours = _child(run_shipready, str(folder), str(tmp / f"{label}-shipready.db"))
    for p in folder.iterdir():
        p.unlink()
    tests = n // 2 if repeated else n
    assert base["rows"] == n, (base["rows"], n)
    print(f"[{label}] shipready stored {ours['rows']:,} tests (expected {tests:,})")
    ratio = ours["seconds"] / base["seconds"]
    print(f"[{label}] baseline  (etree iterparse + sqlite3 executemany): {base['seconds']:6.1f} s"
          f"  {n / base['seconds']:>9,.0f} cases/s  peak RSS {base['peak_mb']:.0f} MB")
    print(f"[{label}] shipready (import-junit path):                      "
          f"{ours['seconds']:6.1f} s  {n / ours['seconds']:>9,.0f} cases/s  "
          f"peak RSS {ours['peak_mb']:.0f} MB")
    print(f"[{label}] shipready re-import of the same files (replaces):  "
          f"{ours['reimport']:6.1f} s")
    print(f"[{label}] ratio {ratio:.2f}x (target <= {TARGET_RATIO}x): "
          f"{'OK' if ratio <= TARGET_RATIO else 'MISSED'}; peak {ours['peak_mb']:.0f} MB "
          f"(target < {TARGET_PEAK_MB} MB): "
          f"{'OK' if ours['peak_mb'] < TARGET_PEAK_MB else 'MISSED'}", flush=True)


def _huge(tmp: Path) -> None:
    for mb in (4, 8, 16):
        path = tmp / f"huge-{mb}.xml"
        path.write_bytes(b'<testsuite name="s"><testcase classname="C" name="'
                         + b"n" * (mb << 20) + b'"/></testsuite>')
        out = _child(run_huge, str(path), str(tmp / f"huge-{mb}.db"))
        path.unlink()
        print(f"[huge] one test with a {mb} MB name: {out['seconds']:.2f} s, "
              f"{out['rows']} test(s), peak RSS {out['peak_mb']:.0f} MB "
              f"{out['problems'] or ''}", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-junit-") as tmp:
        tmp = Path(tmp)
        for label, files, repeated in (("spread", 100, False), ("unique", 1, False),
                                       ("repeated", 1, True)):
            if not ONLY or label in ONLY:
                _dataset(tmp, label, files, repeated)
        if not ONLY or "huge" in ONLY:
            _huge(tmp)


if __name__ == "__main__":
    main()
