"""Demo organisation load: time and peak memory at growing scales, against a bare insert.

`python -m bench demo` loads the demo into a fresh SQLite file at each scale of
``BENCH_DEMO_SCALES`` (default ``1,10``; the benchmarks of other pages use ``50``), each in a
fresh child process so its peak RSS is its own. The baseline, measured in this run, inserts the
same number of rows with the stdlib ``sqlite3`` module (``executemany``, 5,000 rows per
transaction, same PRAGMAs) into a table shaped like ``test_results`` — the floor for writing
that many rows. Flat memory shows as a peak RSS that does not grow with the scale.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
from datetime import date
from data.store import get_engine
from data.demo import load_demo
engine = get_engine(sys.argv[1])
t0 = time.perf_counter()
counts = load_demo(engine, scale=float(sys.argv[2]), today=date(2026, 3, 2))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "rows": sum(counts.values()), "counts": counts,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def load_in_child(scale: float, folder: Path) -> dict:
    url = f"sqlite:///{folder / f'demo-{scale:g}.db'}"
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(scale)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline(rows: int, folder: Path) -> float:
    """Seconds to insert ``rows`` plain rows with sqlite3, 5,000 per transaction."""
    db = sqlite3.connect(folder / "baseline.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, run_id TEXT, suite TEXT, classname TEXT,"
               " name TEXT, status TEXT, duration_s REAL, message TEXT, flaky INTEGER, file TEXT)")
    db.execute("CREATE INDEX ix_t_run ON t (run_id, status)")
    db.execute("CREATE INDEX ix_t_name ON t (classname, name)")
    t0 = time.perf_counter()
    for start in range(0, rows, 5000):
        batch = [(f"run:{i // 50}", "tests.mod", "tests.mod.TestCase", f"test_{i % 50}",
                  "passed", 0.5, None, 0, "reports/junit.xml")
                 for i in range(start, min(rows, start + 5000))]
        with db:
            db.executemany("INSERT INTO t (run_id, suite, classname, name, status, duration_s,"
                           " message, flaky, file) VALUES (?,?,?,?,?,?,?,?,?)", batch)
    seconds = time.perf_counter() - t0
    db.close()
    return seconds


def main() -> None:
    scales = [float(s) for s in os.environ.get("BENCH_DEMO_SCALES", "1,10").split(",")]
    print(f"{'scale':>6} {'rows':>10} {'items':>8} {'tests':>10} {'load s':>8} "
          f"{'rows/s':>8} {'baseline s':>10} {'ratio':>6} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for scale in scales:
            r = load_in_child(scale, folder)
            base = baseline(r["rows"], folder)
            (folder / "baseline.db").unlink()
            for extra in folder.glob("baseline.db-*"):
                extra.unlink()
            print(f"{scale:>6g} {r['rows']:>10,} {r['counts']['work_items']:>8,} "
                  f"{r['counts']['test_results']:>10,} {r['seconds']:>8.1f} "
                  f"{r['rows'] / r['seconds']:>8,.0f} {base:>10.1f} "
                  f"{r['seconds'] / base:>5.1f}x {r['peak_kb'] / 1024:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
