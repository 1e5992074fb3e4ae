"""The metric catalogue: one place that names every measure, its unit, direction and
definition, and the one compute function of each KPI.

Every measure has exactly one :class:`Metric` in :data:`CATALOGUE`; its ``definition`` is the
text the pages, ``python -m metrics kpis``, the readiness report and the gates all show.

- A KPI is a catalogue entry whose compute function ``f(conn, scope) -> MetricValue`` is
  registered with :func:`kpi` (by id) in the module that computes it. A scope is a window of
  projects, or a release; a definition says what each reads when they differ.
- A release measure (group ``release``) is read only by gates: its function, over a release
  at a moment, lives in metrics/readiness.py (``MEASURES``). Gates name catalogue ids in
  ``metric``; :data:`GATE_METRICS` lists the ids a gate may read.

KPI ids are a public contract (docs/cli.md): dashboards and scripts key on
them, so they never change.

Units: durations ``hours``; rates ``fraction`` (0..1); frequencies ``per_day``; counts cover
the scope's window (``count``/``items``); sprint sizes ``points`` or ``items``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

UNITS = {"fraction", "hours", "per_day", "count", "points", "items", "ratio", "days"}
DIRECTIONS = {"higher", "lower", "neutral"}
GROUPS = {"sprint", "quality", "tests", "delivery", "release"}
RELEASE = "release"  # the group of measures only gates read (no KPI compute function)


@dataclass(frozen=True)
class Metric:
    """What a KPI is: stable id, label, unit, which direction is better, one-line definition."""

    id: str
    label: str
    unit: str
    better: str
    definition: str
    group: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"metric {self.id}: unit {self.unit!r} not one of {sorted(UNITS)}")
        if self.better not in DIRECTIONS:
            raise ValueError(f"metric {self.id}: better {self.better!r} not in {DIRECTIONS}")
        if self.group not in GROUPS:
            raise ValueError(f"metric {self.id}: group {self.group!r} not in {GROUPS}")


@dataclass
class MetricValue:
    """A computed KPI. ``value`` None means no data (never 0 or 100 % for a zero denominator)."""

    value: float | None
    unit: str
    n: int = 0
    basis: str = ""
    evidence: list[dict] = field(default_factory=list)
    detail: dict = field(default_factory=dict)


Compute = Callable[[Any, Any], MetricValue]


@dataclass(frozen=True)
class Registered:
    """A KPI: its catalogue entry and its compute function."""

    metric: Metric
    compute: Compute


# Every measure, KPIs in the contract's order, then the release measures. When a KPI is also read
# by a gate, its definition says what it reads for a window and what for a release.
CATALOGUE: dict[str, Metric] = {m.id: m for m in [
    Metric("sprint_committed", "Committed", "points", "neutral",
           "Story points (or items, without estimates) in the sprint at its start, "
           "with the estimate they had then", "sprint"),
    Metric("sprint_completed", "Completed", "points", "higher",
           "Points (or items) in the sprint at completion whose status was done-category then, "
           "whatever the resolution (as Jira's sprint report)", "sprint"),
    Metric("sprint_added", "Added after start", "points", "lower",
           "Points (or items) brought into the sprint after it started", "sprint"),
    Metric("sprint_removed", "Removed after start", "points", "lower",
           "Points (or items) taken out of the sprint after it started", "sprint"),
    Metric("sprint_not_completed", "Not completed (carry-over)", "points", "lower",
           "Points (or items) in the sprint at completion that were not done", "sprint"),
    Metric("velocity", "Velocity", "points", "higher",
           "Mean completed points (or items) over the last 6 closed sprints", "sprint"),
    Metric("say_do_ratio", "Say/do ratio", "ratio", "higher",
           "Completed divided by committed for the sprint (no data when nothing was committed)",
           "sprint"),
    Metric("cycle_time_p50", "Cycle time (median)", "hours", "lower",
           "Median hours from first in-progress to done for items delivered in the window",
           "sprint"),
    Metric("lead_time_p50", "Lead time (median)", "hours", "lower",
           "Median hours from creation to done for items delivered in the window", "sprint"),
    Metric("open_bugs_critical", "Open critical bugs", "count", "lower",
           "Bugs open at the end of the scope (the window's end; for a release, the moment "
           "evaluated, among its items) with critical severity then, type, status and severity "
           "as they were at that moment", "quality"),
    Metric("open_bugs_high", "Open high bugs", "count", "lower",
           "Bugs open at the end of the scope (the window's end; for a release, the moment "
           "evaluated, among its items) with high severity then, type, status and severity "
           "as they were at that moment", "quality"),
    Metric("bug_inflow", "Bug inflow", "count", "lower",
           "Bugs created in the window", "quality"),
    Metric("bug_outflow", "Bug outflow", "count", "higher",
           "Bugs resolved (moved to done) in the window", "quality"),
    Metric("test_pass_rate", "Test pass rate", "fraction", "higher",
           "passed / (passed + failed + error) in the latest runs with test results at the "
           "scope's end: each pipeline's latest on the default branch (main/master) for a "
           "window, the latest on the release branch for a release; skips excluded", "tests"),
    Metric("flaky_tests", "Flaky tests", "count", "lower",
           "Tests with both outcomes on one commit, a flaky marker, or 2+ flips in the last "
           "20 runs of the same pipeline and branch (for a release: its release branch)",
           "tests"),
    Metric("pipeline_success_rate", "Pipeline success rate", "fraction", "higher",
           "Pipeline runs finished in the window (for a release: on its release branch in the "
           "30 days before the moment evaluated) that concluded success / all that succeeded "
           "or failed; cancelled, skipped and not-run runs and unknown outcomes left out",
           "tests"),
    Metric("deployment_frequency", "Deployment frequency", "per_day", "higher",
           "Successful production deployments per day in the window", "delivery"),
    Metric("lead_time_for_changes", "Lead time for changes", "hours", "lower",
           "Median hours from a PR's first commit (or opening, if earlier) to the successful "
           "production deployment that first shipped its merge commit; undeployed PRs "
           "excluded", "delivery"),
    Metric("change_failure_rate", "Change failure rate", "fraction", "lower",
           "Production deployments in the window (for a release: of its project's services "
           "in the 30 days before the moment evaluated) that caused an incident, were rolled "
           "back or failed / all that finished (succeeded or failed); cancelled, skipped and "
           "unknown outcomes left out", "delivery"),
    Metric("failed_deployment_recovery_time", "Failed deployment recovery time", "hours",
           "lower", "Median hours from a failed deployment's incident opening (or its own "
           "failure) to the incident's resolution (or the next successful deployment)",
           "delivery"),
    Metric("deployment_rework_rate", "Deployment rework rate", "fraction", "lower",
           "Unplanned production deployments (rollbacks, or deploys made while an incident on "
           "the service was open) / all production deployments in the window", "delivery"),
    Metric("forecast_on_time", "Forecast: chance of making the target", "fraction", "higher",
           "Share of 10,000 Monte Carlo trials over recent daily throughput that finish the "
           "release's remaining items by its target date", "sprint"),
    # Release measures: read by gates only (metrics/readiness.py computes them).
    Metric("scope_done", "Scope done", "fraction", "higher",
           "Share of the release's items (epics aside) whose status was done-category at the "
           "moment evaluated", RELEASE),
    Metric("new_failures", "New test failures", "count", "lower",
           "Tests failing in the latest release-branch run that were not failing in the "
           "previous run of the same pipeline", RELEASE),
    Metric("staging_deploy_healthy", "Staging deployment healthy", "fraction", "higher",
           "Share of the release's services whose latest finished staging deployment "
           "succeeded (cancelled, skipped and unknown outcomes skipped over)", RELEASE),
    Metric("bug_trend_converging", "Bug trend converging", "count", "higher",
           "1 when over the last 3 weeks the project's bugs were resolved at least as fast as "
           "they came in, else 0", RELEASE),
    Metric("data_age_hours", "Data age", "hours", "lower",
           "Hours from the end of the last successful sync, before the moment evaluated, of "
           "each source the release's items, CI runs and deployments come from; the oldest "
           "counts (a source with no such sync: no data)", RELEASE),
]}

# The measures a launch gate may read: metrics/readiness.py has a function for each.
GATE_METRICS: tuple[str, ...] = (
    "open_bugs_critical", "open_bugs_high", "scope_done", "test_pass_rate", "new_failures",
    "flaky_tests", "pipeline_success_rate", "staging_deploy_healthy", "change_failure_rate",
    "bug_trend_converging", "forecast_on_time", "data_age_hours")

# KPIs that only mean something when a release is in scope.
RELEASE_ONLY: frozenset[str] = frozenset({"forecast_on_time"})

REGISTRY: dict[str, Registered] = {}


def kpi(metric_id: str) -> Callable[[Compute], Compute]:
    """Decorator registering ``f(conn, scope) -> MetricValue`` as the compute function of the
    catalogue's KPI ``metric_id`` (the definition, label and unit come from :data:`CATALOGUE`).

    An id not in the catalogue, a release measure, or a second function for one id is a
    programming error and raises at import.
    """
    metric = CATALOGUE.get(metric_id)
    if metric is None:
        raise KeyError(f"kpi('{metric_id}'): add it to metrics.registry.CATALOGUE first")
    if metric.group == RELEASE:
        raise ValueError(f"kpi('{metric_id}'): a release measure is computed by "
                         "metrics/readiness.py, not registered as a KPI")

    def wrap(fn: Compute) -> Compute:
        known = REGISTRY.get(metric_id)
        if known is not None and known.compute is not fn:
            raise ValueError(f"kpi('{metric_id}') registered twice")
        REGISTRY[metric_id] = Registered(metric, fn)
        return fn

    return wrap


def _load() -> None:
    """Import the modules whose @kpi lines register the compute functions."""
    from metrics import dora, flow, forecast, quality, sprint, tests_ci  # noqa: F401

    missing = [mid for mid, m in CATALOGUE.items()
               if m.group != RELEASE and mid not in REGISTRY]
    if missing:
        raise RuntimeError(f"KPIs without a compute function: {', '.join(missing)}")


def definition(metric_id: str) -> Metric:
    """The catalogue entry of any measure (KPI or release measure); KeyError when unknown."""
    try:
        return CATALOGUE[metric_id]
    except KeyError:
        raise KeyError(f"unknown metric '{metric_id}'; known: "
                       f"{', '.join(sorted(CATALOGUE))}") from None


def all_kpis() -> list[Registered]:
    """Every KPI, in the catalogue's order (docs/metrics.md follows it)."""
    _load()
    return [REGISTRY[mid] for mid in CATALOGUE if mid in REGISTRY]


def get(metric_id: str) -> Registered:
    """The KPI ``metric_id``; KeyError naming the known ids when unknown."""
    _load()
    if metric_id in REGISTRY:
        return REGISTRY[metric_id]
    raise KeyError(f"unknown KPI '{metric_id}'; known: {', '.join(sorted(REGISTRY))}")


def compute(metric_id: str, conn, scope) -> MetricValue:
    """Compute one KPI for ``scope``."""
    return get(metric_id).compute(conn, scope)
