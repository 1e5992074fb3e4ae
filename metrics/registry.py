"""The KPI registry: one place that names every KPI, its unit, direction and definition.

A KPI is a :class:`Metric` (what it is) plus a compute function ``f(conn, scope) ->
MetricValue`` registered with :func:`kpi`. KPI ids are a public contract (DESIGN.md's
command-line section): dashboards and scripts key on them, so they never change.

Units: durations ``hours``; rates ``fraction`` (0..1); frequencies ``per_day``; counts cover
the scope's window (``count``/``items``); sprint sizes ``points`` or ``items``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

UNITS = {"fraction", "hours", "per_day", "count", "points", "items", "ratio", "days"}
DIRECTIONS = {"higher", "lower", "neutral"}
GROUPS = {"sprint", "quality", "tests", "delivery"}

# Modules whose import registers KPIs. Missing ones (not landed yet) are skipped.
KPI_MODULES = (
    "metrics.sprint", "metrics.flow", "metrics.quality", "metrics.forecast", "metrics.tests_ci",
    "metrics.dora",
)


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
    metric: Metric
    compute: Compute | None


REGISTRY: dict[str, Registered] = {}

# The contract ids with their definitions. Compute functions attach to these with @kpi; a
# definition here keeps the ids, labels and units in one reviewed list.
DEFINITIONS: dict[str, Metric] = {m.id: m for m in [
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
           "Completed divided by committed for the sprint (None when nothing was committed)",
           "sprint"),
    Metric("cycle_time_p50", "Cycle time (median)", "hours", "lower",
           "Median hours from first in-progress to done for items delivered in the window",
           "sprint"),
    Metric("lead_time_p50", "Lead time (median)", "hours", "lower",
           "Median hours from creation to done for items delivered in the window", "sprint"),
    Metric("open_bugs_critical", "Open critical bugs", "count", "lower",
           "Bugs open at the end of the window with critical severity then (status and "
           "severity as they were at that moment)", "quality"),
    Metric("open_bugs_high", "Open high bugs", "count", "lower",
           "Bugs open at the end of the window with high severity then (status and "
           "severity as they were at that moment)", "quality"),
    Metric("bug_inflow", "Bug inflow", "count", "lower",
           "Bugs created in the window", "quality"),
    Metric("bug_outflow", "Bug outflow", "count", "higher",
           "Bugs resolved (moved to done) in the window", "quality"),
    Metric("test_pass_rate", "Test pass rate", "fraction", "higher",
           "passed / (passed + failed + error) in the latest test run; skips excluded", "tests"),
    Metric("flaky_tests", "Flaky tests", "count", "lower",
           "Tests with both outcomes on one commit, a flaky marker, or 2+ flips in the last "
           "20 runs of the same pipeline and branch", "tests"),
    Metric("pipeline_success_rate", "Pipeline success rate", "fraction", "higher",
           "Completed pipeline runs in the window that concluded success / all that succeeded "
           "or failed (cancelled, skipped, not run and unknown outcomes left out)",
           "tests"),
    Metric("deployment_frequency", "Deployment frequency", "per_day", "higher",
           "Successful production deployments per day in the window", "delivery"),
    Metric("lead_time_for_changes", "Lead time for changes", "hours", "lower",
           "Median hours from a PR's first commit to the successful production deployment "
           "that first shipped its merge commit", "delivery"),
    Metric("change_failure_rate", "Change failure rate", "fraction", "lower",
           "Production deployments in the window that caused an incident, were rolled back or "
           "failed / all production deployments that succeeded or failed (not deployed and "
           "unknown outcomes left out)", "delivery"),
    Metric("failed_deployment_recovery_time", "Failed deployment recovery time", "hours",
           "lower", "Median hours from a failed deployment's incident opening to its "
           "resolution", "delivery"),
    Metric("deployment_rework_rate", "Deployment rework rate", "fraction", "lower",
           "Unplanned production deployments (rollbacks, hotfixes) / all production "
           "deployments in the window", "delivery"),
]}


def kpi(metric: Metric) -> Callable[[Compute], Compute]:
    """Decorator registering ``f(conn, scope) -> MetricValue`` as the KPI ``metric``.

    ``metric`` may restate a contract id from :data:`DEFINITIONS` (the registering module's
    wording wins) or add a new KPI.
    """

    def wrap(fn: Compute) -> Compute:
        REGISTRY[metric.id] = Registered(metric, fn)
        return fn

    return wrap


def _load_modules() -> None:
    for name in KPI_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Only a module that has not landed yet is skipped; a broken import inside it
            # (a missing dependency of a landed module) must still surface.
            if exc.name != name:
                raise


def all_kpis() -> list[Registered]:
    """Every KPI: the contract ids first (in DESIGN.md's order), then any others registered.

    A contract id whose compute function has not been registered is listed with
    ``compute=None`` so callers can still show it (as no data).
    """
    _load_modules()
    out = [REGISTRY.get(mid) or Registered(m, None) for mid, m in DEFINITIONS.items()]
    out += [r for mid, r in REGISTRY.items() if mid not in DEFINITIONS]
    return out


def get(metric_id: str) -> Registered:
    """The registered KPI ``metric_id``; KeyError naming the known ids when unknown."""
    _load_modules()
    if metric_id in REGISTRY:
        return REGISTRY[metric_id]
    if metric_id in DEFINITIONS:
        return Registered(DEFINITIONS[metric_id], None)
    raise KeyError(f"unknown KPI '{metric_id}'; known: {', '.join(sorted(DEFINITIONS))}")


def compute(metric_id: str, conn, scope) -> MetricValue:
    """Compute one KPI; a KPI without a compute function yet gives no data."""
    reg = get(metric_id)
    if reg.compute is None:
        return MetricValue(None, reg.metric.unit, basis="not computed yet")
    return reg.compute(conn, scope)
