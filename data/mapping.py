"""How a source's signal becomes a severity — the ``[mapping]`` rules of readiness.toml as pure
functions, shared by the connectors (today's severity) and the metrics (severity at a past
moment, rebuilt from the signal's history)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

SEVERITY_ORDER = ("critical", "high", "medium", "low")


@lru_cache(maxsize=64)
def _casefolded(items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {k.casefold(): v for k, v in items}


def severity_for_priority(priority: str | None, mapping: Mapping[str, Any]) -> str | None:
    """The severity ``mapping.severity_by_priority`` gives a priority name (any case), or
    None when the priority is unset or not mapped (Jira)."""
    if not priority:
        return None
    table = _casefolded(tuple(mapping["severity_by_priority"].items()))
    return table.get(priority.casefold())


def severity_for_labels(labels: Iterable[str], mapping: Mapping[str, Any]) -> str | None:
    """The most severe level any label maps to through ``mapping.severity_labels`` (any case),
    or None when none does (GitHub)."""
    table = _casefolded(tuple(mapping["severity_labels"].items()))
    found = {table[lab.casefold()] for lab in labels if lab.casefold() in table}
    return next((s for s in SEVERITY_ORDER if s in found), None)
