"""Tests/CI metrics on a small hand-made history (SQLite and PostgreSQL).

Fixture (pipeline "ci", repo acme/pay):
  release/2.4  r1 sha s1 (10 min, failure):   A pass, B pass, C fail, D skip
               r2 sha s2 (20 min, failure):   A pass, B fail, C fail, D skip, E error
               r3 sha s2 (15 min, success):   A pass, B pass, C fail, E pass   (re-run of s2)
               r4 (cancelled, no tests)
  main         m1 sha s9 (5 min, success):    A pass, F pass with the flaky marker
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from metrics_rows import load, utc

from metrics import tests_ci
from metrics.scope import Scope

T0 = utc(2026, 3, 1, 10)


def run(rid, *, branch="release/2.4", sha=None, day=0, minutes=10, conclusion="success",
        repo="acme/pay", pipeline="ci"):
    fin = T0 + timedelta(days=day)
    return {"id": rid, "source": "t", "pipeline": pipeline, "repo": repo, "project": "PAY",
            "branch": branch, "sha": sha, "status": "completed", "conclusion": conclusion,
            "started_at": fin - timedelta(minutes=minutes), "finished_at": fin,
            "duration_s": minutes * 60.0, "url": f"https://ci/{rid}"}


def res(run_id, name, status, *, dur=1.0, flaky=False, cls="pay.Tests"):
    return {"run_id": run_id, "suite": "s", "classname": cls, "name": name, "status": status,
            "duration_s": dur, "flaky": flaky, "message": f"{name} {status}"}


@pytest.fixture
def ci(engine):
    runs = [run("r1", sha="s1", day=0, minutes=10, conclusion="failure"),
            run("r2", sha="s2", day=1, minutes=20, conclusion="failure"),
            run("r3", sha="s2", day=2, minutes=15, conclusion="success"),
            run("r4", sha="s3", day=3, minutes=1, conclusion="cancelled"),
            run("m1", branch="main", sha="s9", day=2, minutes=5)]
    results = [res("r1", "A", "passed", dur=2), res("r1", "B", "passed"), res("r1", "C", "failed"),
               res("r1", "D", "skipped", dur=9),
               res("r2", "A", "passed", dur=4), res("r2", "B", "failed"), res("r2", "C", "failed"),
               res("r2", "D", "skipped"), res("r2", "E", "error"),
               res("r3", "A", "passed", dur=6), res("r3", "B", "passed"), res("r3", "C", "failed"),
               res("r3", "E", "passed"),
               res("m1", "A", "passed"), res("m1", "F", "passed", flaky=True)]
    load(engine, pipeline_runs=runs, test_results=results)
    return engine


def test_pass_rate_per_run_excludes_skips(ci):
    with ci.connect() as conn:
        c = tests_ci.run_counts(conn, ["r1", "r2", "r3", "r4"])
    # r1: 2 passed / (2 + 1 failed + 0 error) = 2/3; the skip of D is left out
    assert (c["r1"].passed, c["r1"].failed, c["r1"].skipped) == (2, 1, 1)
    assert c["r1"].pass_rate == pytest.approx(2 / 3)
    # r2: 1 / (1 + 2 + 1) = 1/4
    assert c["r2"].pass_rate == pytest.approx(0.25)
    # r3: 3 / (3 + 1) = 3/4
    assert c["r3"].pass_rate == pytest.approx(0.75)
    # r4 has no results: no data, never 0 or 100 %
    assert c["r4"].pass_rate is None


def test_only_skips_is_no_data(engine):
    load(engine, pipeline_runs=[run("x")], test_results=[res("x", "A", "skipped")])
    with engine.connect() as conn:
        assert tests_ci.run_counts(conn, ["x"])["x"].pass_rate is None


def test_latest_run_on_branch_ignores_runs_without_tests_and_respects_as_of(ci):
    with ci.connect() as conn:
        assert tests_ci.latest_run(conn, branch="release/2.4")["id"] == "r3"  # r4 has no tests
        assert tests_ci.latest_run(conn, branch="release/2.4", with_tests=False)["id"] == "r4"
        # as of the end of day 1 only r1 and r2 had finished
        as_of = T0 + timedelta(days=1, hours=1)
        assert tests_ci.latest_run(conn, branch="release/2.4", as_of=as_of)["id"] == "r2"
        assert tests_ci.latest_run(conn, branch="release/9.9") is None


def test_new_failures_against_previous_run(ci):
    with ci.connect() as conn:
        r2 = tests_ci.latest_run(conn, branch="release/2.4", as_of=T0 + timedelta(days=1))
        new, prev = tests_ci.new_failures(conn, r2)
        assert prev["id"] == "r1"
        # failing in r2: B (passed in r1 -> new), C (failed in r1 -> not new), E (absent -> new)
        assert new == [{"test": "pay.Tests::B", "previous": "passed"},
                       {"test": "pay.Tests::E", "previous": "absent"}]
        r3 = tests_ci.latest_run(conn, branch="release/2.4")
        new, prev = tests_ci.new_failures(conn, r3)
        assert prev["id"] == "r2" and new == []  # C was already failing


def test_flaky_rules_are_named(ci):
    with ci.connect() as conn:
        flaky = {f.test: f.rules for f in tests_ci.flaky_tests(conn, branch="release/2.4")}
        # B: failed in r2 and passed in r3 on sha s2; outcomes P, F, P = 2 flips
        # E: error in r2, passed in r3 on s2; outcomes -, F, P = 1 flip (not enough)
        # C fails every time and A always passes: not flaky
        assert flaky == {"pay.Tests::B": ["same_sha", "flips"], "pay.Tests::E": ["same_sha"]}
        everywhere = {f.test: f.rules for f in tests_ci.flaky_tests(conn)}
        assert everywhere["pay.Tests::F"] == ["marker"]
        # before r3 existed nothing had both outcomes on one sha, and B had flipped only once
        early = tests_ci.flaky_tests(conn, branch="release/2.4", until=T0 + timedelta(days=1))
        assert early == []


def test_flips_only_counted_in_last_window_runs(engine):
    # G alternates P F P over three runs (2 flips), but with a window of 2 only F P is seen
    runs = [run(f"w{i}", sha=f"w{i}", day=i) for i in range(3)]
    results = [res("w0", "G", "passed"), res("w1", "G", "failed"), res("w2", "G", "passed")]
    load(engine, pipeline_runs=runs, test_results=results)
    with engine.connect() as conn:
        assert [f.rules for f in tests_ci.flaky_tests(conn)] == [["flips"]]
        assert tests_ci.flaky_tests(conn, window=2) == []


def test_pipeline_success_rate_excludes_cancelled(ci):
    with ci.connect() as conn:
        s = tests_ci.pipeline_stats(conn, branch="release/2.4")
    # r1 failure, r2 failure, r3 success; r4 cancelled is left out -> 1/3
    assert (s.success, s.counted, s.excluded) == (1, 3, 1)
    assert s.rate == pytest.approx(1 / 3)
    # durations 10, 20, 15 minutes -> median 15; p85 = 15 + 0.7 * (20 - 15) = 18.5
    assert s.p50_minutes == pytest.approx(15)
    assert s.p85_minutes == pytest.approx(18.5)
    assert [r["id"] for r in s.failed_runs] == ["r2", "r1"]


def test_slowest_tests(ci):
    with ci.connect() as conn:
        slow = tests_ci.slowest_tests(conn, branch="release/2.4", limit=2)
    # A: (2 + 4 + 6) / 3 = 4 s over 3 runs; D is skipped (not timed); the rest take 1 s
    assert slow[0] == {"test": "pay.Tests::A", "mean_s": 4.0, "max_s": 6.0, "runs": 3}
    assert slow[1]["mean_s"] == 1.0


def _scope(**kw):
    base = dict(projects=("PAY",), repos=("acme/pay",), services=(), since=T0 - timedelta(days=1),
                until=T0 + timedelta(days=10))
    base.update(kw)
    return Scope(**base)


def test_kpis(ci):
    with ci.connect() as conn:
        # latest run on main is m1: A and F passed -> 2 / 2
        v = tests_ci.test_pass_rate_kpi(conn, _scope())
        assert (v.value, v.n) == (1.0, 2)
        # flaky in the window: B, E (release branch) and F (marker on main)
        assert tests_ci.flaky_tests_kpi(conn, _scope()).value == 3
        # 2 successes (r3, m1) / 4 counted runs (r4 cancelled left out)
        assert tests_ci.pipeline_success_rate_kpi(conn, _scope()).value == pytest.approx(0.5)
        other = _scope(projects=("OPS",), repos=("acme/ops",))
        assert tests_ci.test_pass_rate_kpi(conn, other).value is None
        assert tests_ci.pipeline_success_rate_kpi(conn, other).value is None
        assert tests_ci.flaky_tests_kpi(conn, other).value is None


def test_long_names_alike_up_to_the_cap_are_two_tests(engine):
    """Stored names are capped (data.text.NAME); tests are compared by the hash of the full
    names, so two names equal over the cap's length stay two tests across runs."""
    from data.text import NAME, cap, test_key

    one, two = "t" * NAME + "-one", "t" * NAME + "-two"

    def long(run_id, name, status):
        return {**res(run_id, cap(name, NAME), status), "test_key": test_key("pay.Tests", name)}

    load(engine, pipeline_runs=[run("p", day=0), run("q", day=1)],
         test_results=[long("p", one, "failed"), long("p", two, "passed"),
                       long("q", one, "passed"), long("q", two, "failed")])
    with engine.connect() as conn:
        q = tests_ci.latest_run(conn, branch="release/2.4", repos=["acme/pay"])
        failures, prev = tests_ci.new_failures(conn, q)
    # "two" passed in p and fails in q: new. "one" failed in p and passes in q: not failing.
    # Compared by capped name they would be one test failing in both runs: no new failure.
    assert prev["id"] == "p"
    assert failures == [{"test": "pay.Tests::" + cap(two, NAME), "previous": "passed"}]
