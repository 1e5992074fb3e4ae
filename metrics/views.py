"""Page views: the compositions a page's default view computes, on one connection.

Each chains metrics functions (and lists rows to feed them) so that questions asked twice on
one render are answered once; every number is the metrics layer's own. They take the
configuration explicitly, so the app (ui/loaders.py) and ``python -m metrics derive``
(metrics/derived.py, which stores them once per data version) compute the same thing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection

from metrics import registry
from metrics.scope import Scope, resolve_scope

DORA_IDS = ("deployment_frequency", "lead_time_for_changes", "change_failure_rate",
            "failed_deployment_recovery_time", "deployment_rework_rate")
# The Quality page's headline, bugs then tests (two rows of four on the page).
QUALITY_IDS = ("open_bugs_critical", "open_bugs_high", "bug_inflow", "bug_outflow",
               "test_pass_rate", "flaky_tests", "pipeline_success_rate")
VELOCITY_SPRINTS = 6


def registry_values(conn: Connection, scope: Scope, ids) -> dict:
    """``{id: (Metric, MetricValue)}`` for ``ids`` on ``conn`` (KPIs of one connection share
    the metrics layer's per-connection memo)."""
    return {i: (registry.get(i).metric, registry.compute(i, conn, scope)) for i in ids}


# --- Sprint -----------------------------------------------------------------------------------
def sprint_velocity(conn: Connection, scope: Scope, n: int = VELOCITY_SPRINTS):
    """``(committed vs completed of the last n closed sprints, the velocity KPI)`` on one
    connection: the KPI averages the same sprint reports (metrics.sprint.cached_reports)."""
    from metrics.sprint import velocity

    table = velocity(conn, list(scope.projects), n)
    return table, registry_values(conn, scope, ("velocity",))["velocity"]


# --- Quality ----------------------------------------------------------------------------------
def latest_run_failures(conn: Connection, scope: Scope) -> list[dict]:
    """Per pipeline, its latest run with tests on a default branch: the run, its pass rate,
    the tests failing now that were not failing in the previous run, with their messages."""
    from metrics.tests_ci import (DEFAULT_BRANCHES, failing_tests, latest_runs_per_pipeline,
                                  new_failures, run_counts)

    runs = latest_runs_per_pipeline(conn, branch=DEFAULT_BRANCHES, repos=scope.repos,
                                    projects=scope.projects, as_of=scope.until)
    counts = run_counts(conn, [r["id"] for r in runs])
    out = []
    for run in runs:
        new, prev = new_failures(conn, run)
        messages = {f["test"]: f["message"] for f in failing_tests(conn, run["id"], limit=500)}
        out.append({"run": run, "pass_rate": counts[run["id"]].pass_rate,
                    "executed": counts[run["id"]].executed, "previous": prev,
                    "new": [dict(f, message=messages.get(f["test"], "")) for f in new]})
    return out


def flaky_and_slow(conn: Connection, scope: Scope):
    """Flaky tests (with the rules that flagged them) and the slowest tests, in the window."""
    from metrics.tests_ci import flaky_tests, slowest_tests

    kw = {"repos": scope.repos, "projects": scope.projects, "since": scope.since,
          "until": scope.until}
    return flaky_tests(conn, **kw), slowest_tests(conn, limit=15, **kw)


def quality_tests_view(conn: Connection, scope: Scope, ids: tuple[str, ...] = QUALITY_IDS):
    """``(KPIs, latest_run_failures, flaky tests, slowest tests)`` on one connection: the
    test KPIs and the page's lists ask metrics.tests_ci.flaky_tests and
    latest_runs_per_pipeline the same questions, answered once (share_flaky_tests)."""
    from metrics.tests_ci import share_flaky_tests

    share_flaky_tests(conn)
    values = registry_values(conn, scope, ids)
    return (values, latest_run_failures(conn, scope), *flaky_and_slow(conn, scope))


# --- Delivery ---------------------------------------------------------------------------------
def previous_window(scope: Scope) -> dict:
    """The window of the same length just before ``scope``'s, as resolve_scope arguments
    (whole days: what the Delivery page's trend arrows compare with)."""
    return {"since": (scope.since - (scope.until - scope.since)).date(),
            "until": scope.since.date()}


def month_windows(end: datetime, months: int) -> list[tuple[datetime, datetime]]:
    """``(start, end)`` of each of the last ``months`` calendar months (UTC) up to ``end``,
    oldest first; the last one ends at ``end``."""
    first = datetime(end.year, end.month, 1, tzinfo=timezone.utc)
    starts = []
    y, m = first.year, first.month
    for _ in range(months):
        starts.append(datetime(y, m, 1, tzinfo=timezone.utc))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    windows = []
    for start in reversed(starts):
        nxt = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1,
                       tzinfo=timezone.utc)
        windows.append((start, min(nxt, end)))
    return windows


def dora_monthly(conn: Connection, scope: Scope, months: int = 6) -> pd.DataFrame:
    """The DORA KPIs (registry) for each of the last ``months`` calendar months (UTC) up to
    the window's end: columns month, metric, value, unit."""
    from metrics.dora import dora_keys_by_window

    windows = month_windows(scope.until, months)
    rows = []
    for (start, _), values in zip(windows, dora_keys_by_window(conn, scope, windows)):
        for metric_id in DORA_IDS:
            v = values[metric_id]
            rows.append({"month": start.date(), "metric": registry.get(metric_id).metric.label,
                         "value": v.value, "unit": v.unit})
    return pd.DataFrame(rows)


def teams_side_by_side(conn: Connection, settings, scope: Scope) -> list[dict]:
    """Per configured team: the DORA KPIs and PR stage medians over the window."""
    from metrics.dora import pr_cycle_breakdown

    out = []
    for team in sorted(settings.teams):
        sc = resolve_scope(conn, settings, team=team, since=scope.since, until=scope.until)
        sc = dataclasses.replace(sc, since=scope.since, until=scope.until)
        row = {"team": team}
        for metric_id in DORA_IDS:
            row[metric_id] = registry.compute(metric_id, conn, sc)
        row["stages"] = pr_cycle_breakdown(conn, repos=sc.repos, since=sc.since, until=sc.until)
        out.append(row)
    return out


def delivery_view(conn: Connection, settings, scope: Scope, previous: dict, months: int = 6):
    """What the Delivery page shows above its upcoming releases, on one connection:
    ``(DORA KPIs now, DORA KPIs over ``previous`` (resolve_scope arguments), dora_monthly,
    teams_side_by_side)``.

    The merged PRs with their deployments (lead time and the PR stages: most of the cost) and
    the production deployments are read once for every repo and window here
    (metrics.dora.share_pr_deliveries, share_production_deployments); each KPI, month and team
    derives its rows from those reads, so every number is what its own call gives.
    """
    from metrics.dora import share_pr_deliveries, share_production_deployments

    prev = resolve_scope(conn, settings, **previous)
    teams = [resolve_scope(conn, settings, team=t, since=scope.since, until=scope.until)
             for t in sorted(settings.teams)]
    scopes = [scope, prev, *teams]
    # A scope naming no repos reads every PR (metrics.dora); then the shared read must too.
    repos = () if any(not sc.repos for sc in scopes) else sorted(
        {r for sc in scopes for r in sc.repos})
    windows = month_windows(scope.until, months)
    share_pr_deliveries(conn, repos=repos,
                        since=min([windows[0][0], scope.since, prev.since]),
                        until=max(scope.until, prev.until))
    share_production_deployments(conn, until=max(scope.until, prev.until))
    return (registry_values(conn, scope, DORA_IDS), registry_values(conn, prev, DORA_IDS),
            dora_monthly(conn, scope, months), teams_side_by_side(conn, settings, scope))


__all__ = ["DORA_IDS", "QUALITY_IDS", "registry_values", "sprint_velocity",
           "latest_run_failures", "flaky_and_slow", "quality_tests_view", "previous_window",
           "month_windows", "dora_monthly", "teams_side_by_side", "delivery_view"]
