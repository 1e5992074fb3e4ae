"""CI: pipeline runs (pipeline "ci") on main and on release branches, with per-test results.

A generator, run by run, so memory stays flat at any scale. Test names are stable per repo
(data/demo/org.py). On main: flaky tests fail now and then (and a failed run is often re-run on
the same sha, so a flaky test shows both outcomes on one commit), a test occasionally breaks for
a few runs and is fixed, a few results carry a flaky marker (a retry inside the run passed).
Release branches run once per working day from the branch cut and are green, except PAY's
release/2.4, whose last three runs carry the release's risks: a flaky failure that passes on a
re-run of the same sha, then a new failure in the latest run.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from data import schema
from data.demo.layout import DAY, SPRINT_DAYS, Layout, ReleaseSlot, at
from data.demo.org import Project, TestCase
from data.demo.rand import between, sha, vary
from data.text import test_key

# Rows go in through the raw driver (no column defaults): the identity is written here. The
# demo's tests are a fixed set, so the cache stays small.
_test_key = functools.lru_cache(maxsize=None)(test_key)

SOURCE = "demo"
PIPELINE = "ci"
FLAKY_PAY_TEST = "test_webhook_retry_backoff"
NEW_FAILURE_PAY_TEST = "test_refund_partial_currency_rounding"

_MESSAGES = {
    "failed": ("AssertionError: expected status 200, got 500",
               "AssertionError: assert Decimal('10.01') == Decimal('10.00')",
               "TimeoutError: no response within 30 s",
               "AssertionError: expected 3 ledger entries, found 2",
               "AssertionError: element '#submit' not visible after 10 s"),
    "error": ("ConnectionResetError: [Errno 104] Connection reset by peer (redis:6379)",
              "OperationalError: could not connect to server: Connection refused"),
}


@dataclass(order=True)
class _RunPlan:
    at: datetime
    branch: str = field(compare=False)
    sha: str = field(compare=False)
    event: str = field(compare=False, default="push")
    forced: tuple[str, ...] = field(compare=False, default=())  # tests that fail in it
    clean: bool = field(compare=False, default=False)  # release runs: no random failures


def _main_plans(project: Project, layout: Layout, scale: float, rng: random.Random
                ) -> Iterator[_RunPlan]:
    for _w, start, end in layout.windows():
        share = (end - start) / timedelta(days=SPRINT_DAYS)
        times = sorted(between(rng, start, end)
                       for _ in range(vary(rng, project.main_runs_per_window * scale * share)))
        for t in times:
            # Fewer pushes at weekends.
            if t.weekday() >= 5 and rng.random() < 0.8:
                continue
            yield _RunPlan(t, "main", "")


def _release_plans(project: Project, layout: Layout, releases: list[ReleaseSlot],
                   rng: random.Random) -> list[_RunPlan]:
    h0 = project.work_hours[0]
    out: list[_RunPlan] = []
    for rel in releases:
        if rel.kind == "later":
            continue
        branch = f"release/{rel.name}"
        end_day = (rel.day - DAY) if rel.kind == "shipped" else (layout.today - DAY)
        specials: list[_RunPlan] = []
        if project.key == "PAY" and rel.kind == "upcoming":
            last = end_day
            while last.weekday() >= 5:
                last -= DAY
            before = last - DAY
            while before.weekday() >= 5:
                before -= DAY
            flaky_sha = sha(project.repo, branch, "rc", 1)
            specials = [
                _RunPlan(at(before, h0 + 4), branch, flaky_sha, "push", (FLAKY_PAY_TEST,), True),
                _RunPlan(at(before, h0 + 4.6), branch, flaky_sha, "workflow_dispatch", (), True),
                _RunPlan(at(last, h0 + 8), branch, sha(project.repo, branch, "rc", 2), "push",
                         (NEW_FAILURE_PAY_TEST,), True),
            ]
            end_day = before - DAY
        day = rel.branch_cut.date()
        while day <= end_day:
            if day.weekday() < 5:
                t = at(day, h0 + 2 + rng.uniform(0, 4))
                out.append(_RunPlan(t, branch, sha(project.repo, branch, day), "push", (), True))
            day += DAY
        out += specials
    return sorted(out)


def generate_ci(project: Project, layout: Layout, releases: list[ReleaseSlot], scale: float,
                rng: random.Random) -> Iterator[tuple]:
    """Yield ``(table, row)`` for the project's pipeline runs and their test results."""
    plans = heapq.merge(_main_plans(project, layout, scale, rng),
                        _release_plans(project, layout, releases, rng))
    tests = project.tests
    normal = [i for i, t in enumerate(tests) if t.kind in ("normal", "slow")]
    broken: dict[int, int] = {}  # test index -> main runs it stays broken
    number = project.first_run_number
    for plan in plans:
        if plan.at >= layout.now:
            continue
        number += 1
        run_sha = plan.sha or sha(project.repo, "main", number)
        outcome = yield from _run(project, plan, number, run_sha, tests, broken, rng)
        if plan.branch != "main":
            continue
        # A main run that failed only on flaky tests is often re-run on the same commit.
        if outcome == "flaky" and rng.random() < 0.7:
            rerun = _RunPlan(plan.at + timedelta(minutes=rng.uniform(15, 40)), "main", run_sha,
                             "workflow_dispatch")
            if rerun.at < layout.now:
                number += 1
                yield from _run(project, rerun, number, run_sha, tests, broken, rng)
        broken = {i: n - 1 for i, n in broken.items() if n > 1}
        if rng.random() < 0.02:
            broken[rng.choice(normal)] = rng.randint(1, 3)


def _run(project: Project, plan: _RunPlan, number: int, run_sha: str,
         tests: tuple[TestCase, ...], broken: dict[int, int], rng: random.Random):
    run_id = f"demo:run:{project.repo}:{number}"
    results = []
    causes = set()
    total_s = 0.0
    for i, test in enumerate(tests):
        status, message, flaky = "passed", None, False
        seconds = round(test.seconds * rng.uniform(0.7, 1.4), 3)
        if test.kind == "skipped":
            status, seconds = "skipped", 0.0
            message = "skipped: needs a sandbox account"
        elif test.name in plan.forced:
            status = "failed"
            message = ("AssertionError: assert Decimal('10.01') == Decimal('10.00')"
                       if test.name == NEW_FAILURE_PAY_TEST
                       else "TimeoutError: webhook not retried within 30 s")
            causes.add("flaky" if test.kind == "flaky" else "broken")
        elif not plan.clean:
            if i in broken:
                status, message = "failed", rng.choice(_MESSAGES["failed"])
                causes.add("broken")
            elif test.kind == "flaky" and rng.random() < project.flaky_rate:
                status, message = "failed", rng.choice(_MESSAGES["failed"])
                causes.add("flaky")
            elif rng.random() < 0.001:
                status, message = "error", rng.choice(_MESSAGES["error"])
                causes.add("broken")
            elif test.kind == "flaky" and rng.random() < 0.04:
                flaky = True  # failed once inside the run, passed on the runner's retry
        total_s += seconds
        module = test.classname.rsplit(".", 1)[0]
        results.append({
            "run_id": run_id, "suite": module, "classname": test.classname, "name": test.name,
            "test_key": _test_key(test.classname, test.name), "status": status, "duration_s": seconds, "message": message, "flaky": flaky,
            "file": f"reports/junit-{module.split('.')[1]}.xml",
        })
    started = plan.at + timedelta(seconds=rng.randint(5, 60))
    duration = round(rng.uniform(45, 90) + total_s / 4, 1)
    conclusion = "failure" if causes else "success"
    yield schema.pipeline_runs, {
        "id": run_id, "source": SOURCE, "pipeline": PIPELINE, "repo": project.repo,
        "project": project.key, "number": number, "branch": plan.branch, "sha": run_sha,
        "event": plan.event, "status": "completed", "conclusion": conclusion, "attempt": 1,
        "created_at": plan.at, "started_at": started,
        "finished_at": started + timedelta(seconds=duration), "duration_s": duration,
        "url": f"https://github.com/{project.repo}/actions/runs/{number}",
    }
    for row in results:
        yield schema.test_results, row
    if causes == {"flaky"}:
        return "flaky"
    return conclusion
