"""`python -m metrics kpis`: every KPI for a scope as text, JSON or CSV.

For CI scripts, spreadsheets and data warehouses: KPI ids are stable, ``value`` is null (JSON),
empty (CSV) or "no data" (text) when there is nothing to compute from. Units follow docs/metrics.md:
hours, fractions 0..1, per day, counts over the window.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass

from metrics import registry
from metrics.format import format_value
from metrics.registry import RELEASE_ONLY, Metric, MetricValue
from metrics.scope import Scope, resolve_scope


@dataclass
class KpiRow:
    metric: Metric
    value: MetricValue


def compute_all(conn, scope: Scope, *, errors: list[str] | None = None) -> list[KpiRow]:
    """Every registered KPI that applies to ``scope``, contract ids first."""
    rows = []
    for reg in registry.all_kpis():
        m = reg.metric
        if m.id in RELEASE_ONLY and scope.release_id is None:
            continue
        try:
            value = registry.compute(m.id, conn, scope)
        except Exception as exc:  # one broken KPI must not hide the others
            if errors is not None:
                errors.append(f"{m.id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            value = MetricValue(None, m.unit, basis="error")
        rows.append(KpiRow(m, value))
    return rows


def scope_dict(scope: Scope) -> dict:
    """The filters as given, plus the resolved window and the sprint the sprint KPIs describe."""
    lab = scope.labels
    return {"project": lab.get("project"), "team": lab.get("team"),
            "release": lab.get("release"), "sprint": lab.get("sprint"),
            "sprint_default": bool(lab.get("sprint_default")),
            "since": scope.since.isoformat(), "until": scope.until.isoformat(),
            "projects": list(scope.projects), "timezone": scope.timezone}


def _value(v: float | None) -> float | None:
    if v is None:
        return None
    return round(float(v), 6)


def as_records(rows: list[KpiRow]) -> list[dict]:
    return [{"id": r.metric.id, "label": r.metric.label, "value": _value(r.value.value),
             "unit": r.value.unit or r.metric.unit, "definition": r.metric.definition}
            for r in rows]


def show(value: float | None, unit: str) -> str:
    """A value for people (metrics.format.format_value); None reads "no data" in a terminal."""
    return "no data" if value is None else format_value(value, unit)


def render(scope: Scope, rows: list[KpiRow], fmt: str) -> str:
    records = as_records(rows)
    if fmt == "json":
        return json.dumps({"scope": scope_dict(scope), "kpis": records}, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["id", "label", "value", "unit", "definition"],
                           lineterminator="\n")
        w.writeheader()
        for rec in records:
            w.writerow({**rec, "value": "" if rec["value"] is None else rec["value"]})
        return buf.getvalue()
    sd = scope_dict(scope)
    head = [f"{k}: {sd[k]}" for k in ("project", "team", "release", "sprint") if sd[k]]
    lines = [f"KPIs {sd['since'][:10]} .. {sd['until'][:16]} UTC"
             + (f" ({', '.join(head)})" if head else "")]
    if sd["sprint_default"]:
        lines.append(f"sprint KPIs describe the last closed sprint: {sd['sprint']}")
    width = max(len(r["label"]) for r in records) if records else 10
    for rec in records:
        lines.append(f"  {rec['label']:<{width}}  {show(rec['value'], rec['unit']):>14}   "
                     f"[{rec['id']}] {rec['definition']}")
    return "\n".join(lines) + "\n"


def run_kpis(args) -> int:
    """The `kpis` command: 0 on success, 1 if a KPI failed, 2 on a usage error."""
    from data.config import load_settings
    from data.store import get_engine, read_snapshot

    settings = load_settings(getattr(args, "config", None))
    engine = get_engine()
    errors: list[str] = []
    try:
        with read_snapshot(engine) as conn:  # one state of the data, even mid-sync
            scope = resolve_scope(conn, settings, project=args.project, team=args.team,
                                  sprint=args.sprint, release=args.release,
                                  since=args.since, until=args.until)
            rows = compute_all(conn, scope, errors=errors)
    finally:
        engine.dispose()
    sys.stdout.write(render(scope, rows, args.format))
    for e in errors:
        print(f"error: KPI {e}", file=sys.stderr)
    return 1 if errors else 0
