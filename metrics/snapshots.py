"""Readiness snapshots: every stored evaluation, so the history shows what was green when a
launch was approved. Rows are only ever added."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Connection, insert, select

from data.schema import readiness_snapshots
from data.version import bump


def save_snapshot(conn: Connection, evaluation) -> int:
    """Store ``evaluation`` (a :class:`metrics.readiness.Evaluation`); returns the row id."""
    res = conn.execute(insert(readiness_snapshots).values(
        release_id=evaluation.release_id, evaluated_at=evaluation.evaluated_at,
        as_of=evaluation.as_of, verdict=evaluation.verdict, score=evaluation.score,
        payload=evaluation.to_dict()))
    bump(conn)  # pages' caches key on the data version (data/version.py)
    return int(res.inserted_primary_key[0])


def list_snapshots(conn: Connection, release_id: str, *, with_payload: bool = False
                   ) -> list[dict]:
    """The release's snapshots, oldest first: id, evaluated_at, as_of, verdict, score
    (and the full payload when asked)."""
    t = readiness_snapshots
    cols = [t.c.id, t.c.evaluated_at, t.c.as_of, t.c.verdict, t.c.score]
    if with_payload:
        cols.append(t.c.payload)
    q = select(*cols).where(t.c.release_id == release_id).order_by(t.c.evaluated_at, t.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


# --- readiness over time ------------------------------------------------------------------------
# Pure functions of stored snapshots (list_snapshots(..., with_payload=True) rows): the release's
# life is read along ``as_of`` — the moment whose data an evaluation saw — so a history rebuilt
# afterwards (``--as-of``) and one recorded live line up the same way (README "Readiness over
# time").


@dataclass(frozen=True)
class TimelinePoint:
    """One evaluation of a release: when its data was taken (``as_of``, UTC), when it ran
    (``evaluated_at``), its verdict and score (0–100), and each gate's status by gate id."""

    snapshot_id: int
    as_of: datetime
    evaluated_at: datetime
    verdict: str
    score: float
    statuses: dict[str, str]
    labels: dict[str, str]


def _ordered(snapshots: Iterable[dict]) -> list[dict]:
    return sorted(snapshots, key=lambda s: (s["as_of"], s["evaluated_at"], s["id"]))


def timeline(snapshots: Iterable[dict]) -> list[TimelinePoint]:
    """The release's evaluations in the order of their ``as_of``: score, verdict and every
    gate's status (PASS/WARN/FAIL/NO_DATA/WAIVED) at each. Rows need ``payload``."""
    out = []
    for s in _ordered(snapshots):
        gates = (s.get("payload") or {}).get("gates", [])
        out.append(TimelinePoint(
            snapshot_id=int(s["id"]), as_of=s["as_of"], evaluated_at=s["evaluated_at"],
            verdict=s["verdict"], score=float(s["score"]),
            statuses={g["id"]: g["status"] for g in gates if "id" in g},
            labels={g["id"]: g.get("label") or g["id"] for g in gates if "id" in g}))
    return out


@dataclass(frozen=True)
class GateChange:
    """How one gate differs between two evaluations, and why: the evidence (bugs, runs,
    deployments, tests …) that appeared in the later one (``added``) or left it
    (``removed``). ``before``/``after`` are statuses (None: the gate was not evaluated)."""

    gate_id: str
    label: str
    before: str | None
    after: str | None
    value_before: float | None
    value_after: float | None
    unit: str
    added: list[dict]
    removed: list[dict]

    @property
    def flipped(self) -> bool:
        """True when the status changed."""
        return self.before != self.after


def _evidence_key(e: dict) -> tuple:
    return (str(e.get("label") or ""), str(e.get("url") or ""))


def gate_changes(before: dict, after: dict) -> list[GateChange]:
    """The gates whose status or value differ between two evaluations (``Evaluation.to_dict``
    payloads, earlier first), in the later one's gate order, each with the evidence that came
    and went. An evidence item is the same item when its label and link are."""
    old = {g["id"]: g for g in (before or {}).get("gates", []) if "id" in g}
    new = {g["id"]: g for g in (after or {}).get("gates", []) if "id" in g}
    order = [g for g in new] + [g for g in old if g not in new]
    out = []
    for gid in order:
        a, b = old.get(gid), new.get(gid)
        if a is not None and b is not None and a.get("status") == b.get("status") \
                and a.get("value") == b.get("value"):
            continue
        was = {_evidence_key(e): e for e in (a or {}).get("evidence") or []}
        now = {_evidence_key(e): e for e in (b or {}).get("evidence") or []}
        out.append(GateChange(
            gate_id=gid, label=(b or a).get("label") or gid,
            before=a.get("status") if a else None, after=b.get("status") if b else None,
            value_before=a.get("value") if a else None, value_after=b.get("value") if b else None,
            unit=(b or a).get("unit") or "",
            added=[e for k, e in now.items() if k not in was],
            removed=[e for k, e in was.items() if k not in now]))
    return out


@dataclass(frozen=True)
class Flip:
    """A gate's status change between two consecutive evaluations: at ``as_of`` the gate went
    from ``change.before`` to ``change.after``; the previous evaluation's data was from
    ``since``."""

    since: datetime
    as_of: datetime
    change: GateChange


def flips(snapshots: Iterable[dict]) -> list[Flip]:
    """Every status change of every gate across the release's life, oldest first: each pair
    of consecutive evaluations (by ``as_of``) compared with :func:`gate_changes`, keeping the
    gates whose status changed."""
    ordered = _ordered(snapshots)
    out = []
    for prev, cur in zip(ordered, ordered[1:]):
        for change in gate_changes(prev.get("payload") or {}, cur.get("payload") or {}):
            if change.flipped:
                out.append(Flip(prev["as_of"], cur["as_of"], change))
    return out


def daily_scores(snapshots: Iterable[dict], *, until: datetime, days: int) -> list[tuple[date, float]]:
    """The score trend: for each UTC day of the ``days`` days ending on ``until``'s day, the
    score of that day's last evaluation (by ``as_of``); days without one are left out (no
    data is not a score). Oldest first."""
    last_day = until.astimezone(timezone.utc).date()
    first_day = last_day - timedelta(days=days - 1)
    by_day: dict[date, float] = {}
    for s in _ordered(snapshots):
        day = s["as_of"].astimezone(timezone.utc).date()
        if first_day <= day <= last_day:
            by_day[day] = float(s["score"])
    return sorted(by_day.items())


def score_change(trend: list[tuple[date, float]], days: int = 7) -> float | None:
    """Points gained (+) or lost (−) over the last ``days`` days of a :func:`daily_scores`
    trend: the last score minus the score of the latest day at least ``days`` days before
    it; None when the trend does not reach that far back."""
    if not trend:
        return None
    last_day, last = trend[-1]
    earlier = [score for day, score in trend if (last_day - day).days >= days]
    return None if not earlier else last - earlier[-1]


def rebuild_history(conn: Connection, settings, release_id: str,
                    moments: Iterable[datetime]) -> int:
    """Store the evaluations a daily job would have recorded: the release evaluated with the
    data that existed at each moment (``as_of`` = ``evaluated_at`` = the moment;
    metrics.readiness.evaluate_release). Returns how many snapshots were stored."""
    from metrics.readiness import evaluate_release

    n = 0
    for moment in moments:
        save_snapshot(conn, evaluate_release(conn, settings, release_id, as_of=moment,
                                             now=moment))
        n += 1
    return n
