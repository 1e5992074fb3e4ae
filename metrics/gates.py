"""Launch gates: the catalogue (``metrics/gates.toml``), overrides from ``readiness.toml``, and the
pure rules that turn measured values into a status, a verdict and a score (docs/metrics.md).

- Status of a gate: PASS when the threshold is met; else WARN when the warn threshold is met or
  the gate does not block; else FAIL; NO_DATA when its measure has no value (or, for an age
  gate, a value past twice its ``max_age_hours``); WAIVED when an unexpired waiver covers it.
- Verdict: NO_GO if any gate FAILs; else AT_RISK if any gate WARNs or a blocking gate has
  NO_DATA; else GO.
- Score = 100 × Σ weight × credit / Σ weight over gates not waived; credit PASS 1, WARN ½,
  FAIL and NO_DATA 0 (missing evidence is never a pass). With every gate waived: 100.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from data.config import ConfigError
from metrics import registry
from metrics.format import format_value
from metrics.registry import CATALOGUE, Metric

CATALOGUE_PATH = Path(__file__).with_name("gates.toml")

PASS, WARN, FAIL, NO_DATA, WAIVED = "PASS", "WARN", "FAIL", "NO_DATA", "WAIVED"
GO, AT_RISK, NO_GO = "GO", "AT_RISK", "NO_GO"
CREDIT = {PASS: 1.0, WARN: 0.5, FAIL: 0.0, NO_DATA: 0.0}

COMPARATORS = {
    "<=": lambda v, t: v <= t, "<": lambda v, t: v < t,
    ">=": lambda v, t: v >= t, ">": lambda v, t: v > t,
    "==": lambda v, t: v == t,
}

# The measures a gate may read, with their one definition and unit (metrics/registry.py).
GATE_METRICS: dict[str, Metric] = {mid: CATALOGUE[mid] for mid in registry.GATE_METRICS}

_REQUIRED = {"label": str, "metric": str, "comparator": str, "threshold": (int, float),
             "weight": (int, float), "blocking": bool}
_OPTIONAL = {"warn": (int, float), "enabled": bool}
OVERRIDABLE = ("threshold", "warn", "weight", "blocking", "enabled", "max_age_hours")
# An age gate (data_fresh) is set by one number: ``max_age_hours = H`` means threshold H,
# warn up to 2H, and past 2H no data — data that old cannot support a verdict (README,
# "Data freshness").
AGE_KEY = "max_age_hours"


@dataclass(frozen=True)
class Gate:
    """One launch gate: which measure it reads, how it is compared, how much it counts."""

    id: str
    label: str
    metric: str
    comparator: str
    threshold: float
    weight: float
    blocking: bool
    warn: float | None = None
    enabled: bool = True
    no_data_above: float | None = None  # a value past this counts as no data (age gates)

    @property
    def unit(self) -> str:
        return GATE_METRICS[self.metric].unit

    @property
    def definition(self) -> str:
        """The catalogue's definition of the measure read (the same words as the KPI's)."""
        return GATE_METRICS[self.metric].definition

    def describe_threshold(self) -> str:
        """The threshold as a reader sees it: ``>= 98%``, ``<= 0``."""
        return f"{self.comparator} {format_value(self.threshold, self.unit)}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(gate_id: str, key: str, value: Any, metric: str, where: str) -> float:
    if not _is_number(value):
        raise ConfigError(f"{where}: '{key}' of gate '{gate_id}' should be a number, "
                          f"got {value!r}")
    unit = GATE_METRICS[metric].unit
    if unit == "fraction" and not 0 <= value <= 1:
        raise ConfigError(f"{where}: '{key}' of gate '{gate_id}' is a fraction between 0 and 1 "
                          f"(0.95 = 95%), got {value!r}")
    if unit == "count" and value < 0:
        raise ConfigError(f"{where}: '{key}' of gate '{gate_id}' should be >= 0, got {value!r}")
    return float(value)


def _check_gate(gate: Gate, where: str, key: str) -> Gate:
    """Cross-field checks: a warn threshold must be looser than the threshold."""
    if gate.warn is not None:
        looser_or_equal = {"<=": gate.warn >= gate.threshold, "<": gate.warn >= gate.threshold,
                           ">=": gate.warn <= gate.threshold, ">": gate.warn <= gate.threshold,
                           "==": True}[gate.comparator]
        if not looser_or_equal:
            side = "above" if gate.comparator.startswith("<") else "below"
            raise ConfigError(f"{where}: '{key}.warn' ({gate.warn:g}) should be at or {side} "
                              f"the threshold ({gate.threshold:g}) — it is the softer limit")
    if gate.weight < 0:
        raise ConfigError(f"{where}: '{key}.weight' should be a number >= 0, got {gate.weight:g}")
    return gate


def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, Gate]:
    """The default gates, validated: unknown keys or metrics and bad values raise ConfigError
    naming ``path`` and the key."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    gates: dict[str, Gate] = {}
    for gate_id, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: '{gate_id}' should be a table")
        for key in table:
            if key not in _REQUIRED and key not in _OPTIONAL and key != AGE_KEY:
                raise ConfigError(f"{path}: unknown key '{gate_id}.{key}' (known: "
                                  f"{', '.join(sorted({**_REQUIRED, **_OPTIONAL}))}, "
                                  f"{AGE_KEY})")
        if AGE_KEY in table:
            table = _expand_age(gate_id, table, str(path))
        for key, typ in _REQUIRED.items():
            if key not in table:
                raise ConfigError(f"{path}: '{gate_id}.{key}' is missing")
            if not isinstance(table[key], typ) or (typ is not bool and isinstance(table[key], bool)):
                raise ConfigError(f"{path}: '{gate_id}.{key}' has the wrong type: "
                                  f"{table[key]!r}")
        if table["metric"] not in GATE_METRICS:
            raise ConfigError(f"{path}: '{gate_id}.metric' names an unknown metric "
                              f"'{table['metric']}' (known: {', '.join(sorted(GATE_METRICS))})")
        if table["comparator"] not in COMPARATORS:
            raise ConfigError(f"{path}: '{gate_id}.comparator' should be one of "
                              f"{', '.join(COMPARATORS)}, got {table['comparator']!r}")
        metric = table["metric"]
        gate = Gate(id=gate_id, label=table["label"], metric=metric,
                    comparator=table["comparator"],
                    threshold=_check_value(gate_id, "threshold", table["threshold"], metric,
                                           str(path)),
                    weight=float(table["weight"]), blocking=table["blocking"],
                    warn=(_check_value(gate_id, "warn", table["warn"], metric, str(path))
                          if "warn" in table else None),
                    enabled=table.get("enabled", True),
                    no_data_above=table.get("no_data_above"))
        gates[gate_id] = _check_gate(gate, str(path), gate_id)
    return gates


def _expand_age(gate_id: str, table: dict, where: str) -> dict:
    """``max_age_hours = H`` → threshold H, warn 2H, no data past 2H (see :data:`AGE_KEY`)."""
    hours = table[AGE_KEY]
    if not _is_number(hours) or hours <= 0:
        raise ConfigError(f"{where}: '{gate_id}.{AGE_KEY}' should be a number of hours > 0, "
                          f"got {hours!r}")
    if "threshold" in table or "warn" in table:
        raise ConfigError(f"{where}: '{gate_id}' sets {AGE_KEY} and threshold/warn; "
                          f"{AGE_KEY} alone sets both")
    rest = {k: v for k, v in table.items() if k != AGE_KEY}
    return {**rest, "threshold": float(hours), "warn": 2.0 * hours,
            "no_data_above": 2.0 * hours}


def _override_layers(settings, project: str | None, release: str | None):
    """(dotted prefix, overrides) in the order they apply: global, project, release."""
    yield "gates", settings.gates
    proj = settings.projects.get(project or "") if project else None
    if proj is not None:
        yield f"projects.{project}.gates", proj.gates
        if release and release in proj.releases:
            yield (f"projects.{project}.releases.{release}.gates",
                   proj.releases[release].get("gates", {}))


def apply_overrides(catalogue: dict[str, Gate], settings, project: str | None = None,
                    release: str | None = None) -> list[Gate]:
    """The gates in force for a release: the catalogue with ``readiness.toml`` overrides
    (global, then project, then release — later wins), disabled gates removed.

    An unknown gate id or a bad value raises ConfigError naming the file and the dotted key.
    """
    where = str(settings.path) if settings.path else "readiness.toml"
    gates = dict(catalogue)
    for prefix, layer in _override_layers(settings, project, release):
        for gate_id, override in layer.items():
            key = f"{prefix}.{gate_id}"
            if gate_id not in gates:
                raise ConfigError(f"{where}: '{key}' names an unknown gate '{gate_id}' "
                                  f"(known: {', '.join(sorted(catalogue))})")
            gate = gates[gate_id]
            changes: dict[str, Any] = {}
            for name, value in override.items():
                if name not in OVERRIDABLE:
                    raise ConfigError(f"{where}: '{key}.{name}' cannot be overridden "
                                      f"(allowed: {', '.join(OVERRIDABLE)})")
                if name == AGE_KEY:
                    if gate.no_data_above is None:
                        raise ConfigError(f"{where}: '{key}.{name}' applies only to age gates "
                                          f"(data_fresh); use threshold")
                    hours = _expand_age(gate_id, {AGE_KEY: value}, where)
                    changes.update(threshold=hours["threshold"], warn=hours["warn"],
                                   no_data_above=hours["no_data_above"])
                elif name in ("threshold", "warn"):
                    changes[name] = _check_value(gate_id, f"{key}.{name}", value, gate.metric,
                                                 where)
                elif name == "weight":
                    if not _is_number(value) or value < 0:
                        raise ConfigError(f"{where}: '{key}.weight' should be a number >= 0, "
                                          f"got {value!r}")
                    changes[name] = float(value)
                else:
                    changes[name] = value
            gates[gate_id] = _check_gate(replace(gate, **changes), where, key)
    return [g for g in gates.values() if g.enabled]


def gates_for(settings, project: str | None = None, release: str | None = None) -> list[Gate]:
    """Catalogue + overrides for ``project``/``release`` (see :func:`apply_overrides`)."""
    return apply_overrides(load_catalogue(), settings, project, release)


# --- the rules ------------------------------------------------------------------------------------
def gate_status(gate: Gate, value: float | None, *, waived: bool = False) -> str:
    """PASS / WARN / FAIL / NO_DATA / WAIVED for ``value`` under ``gate`` (rules above)."""
    if waived:
        return WAIVED
    if value is None or (gate.no_data_above is not None and value > gate.no_data_above):
        return NO_DATA
    meets = COMPARATORS[gate.comparator]
    if meets(value, gate.threshold):
        return PASS
    if (gate.warn is not None and meets(value, gate.warn)) or not gate.blocking:
        return WARN
    return FAIL


def verdict(results: Iterable[tuple[str, bool]]) -> str:
    """NO_GO / AT_RISK / GO from ``(status, blocking)`` pairs."""
    results = list(results)
    if any(s == FAIL for s, _ in results):
        return NO_GO
    if any(s == WARN or (s == NO_DATA and blocking) for s, blocking in results):
        return AT_RISK
    return GO


def score(results: Iterable[tuple[str, float]]) -> float:
    """100 × Σ weight × credit / Σ weight over ``(status, weight)`` pairs not waived."""
    counted = [(s, w) for s, w in results if s != WAIVED]
    total = sum(w for _, w in counted)
    if total <= 0:
        return 100.0
    earned = sum(w * CREDIT[s] for s, w in counted)
    # Floating-point sums can land a hair outside 0..100; the definition cannot.
    return min(100.0, max(0.0, 100.0 * earned / total))
