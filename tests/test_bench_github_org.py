"""The organisation benchmark still runs end to end (2 small repositories, no latency, not
timed) and prints its three lines in the form a script reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_prints_its_three_lines():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_ORG_SCALE": "0.1",
           "BENCH_ORG_REPOS": "2", "BENCH_ORG_LATENCY_MS": "0"}
    done = subprocess.run([sys.executable, "-m", "bench", "github_org"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    requests = re.search(r"^requests per 1000 merged pull requests: (\d+)$", out, re.M)
    points = re.search(r"^graphql points per 1000 merged pull requests: (\d+)$", out, re.M)
    ratio = re.search(r"^latency-bound ratio \(sync / bare loop\): (\d+\.\d\d)$", out, re.M)
    assert requests and points and ratio, out
    # 2 × 50 merged pull requests: per repository 1 listing page and 1 GraphQL query of 50
    # (1 point) → 4 requests and 2 points for 100 merged: 40 and 20 per 1,000
    assert (int(requests.group(1)), int(points.group(1))) == (40, 20)
    # before: 1 listing page + 3 × 50 REST requests for 50 merged → 3,020 per 1,000
    assert "before (REST details, 3 per merged pull request): 3,020 requests" in out
