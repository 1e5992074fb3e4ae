"""Replaying an item's planned life: from "set" events to change rows and today's state.

A life is a list of ``(at, field, new value)`` events — status names, tuples of sprint numbers,
story points — in any order and possibly beyond ``now``. The replay keeps those before ``now``,
in time order, skips events that change nothing, and records each real change with its old and
new value. The item's current row is then read off the final state, so the row and its history
cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Replayed:
    status: str
    sprints: tuple = ()
    points: float | None = None
    started_at: datetime | None = None  # first move into an in-progress status
    resolved_at: datetime | None = None  # last move into done, None unless done now
    updated_at: datetime | None = None
    changes: list[tuple[datetime, str, object, object]] = field(default_factory=list)


def replay(events: Iterable[tuple[datetime, str, object]], *, now: datetime, initial: str,
           created: datetime, category: Callable[[str], str]) -> Replayed:
    """The state at ``now`` of an item created at ``created`` in status ``initial``."""
    state = Replayed(status=initial, updated_at=created)
    kept = sorted(((t.replace(microsecond=0), f, v) for t, f, v in events if t < now),
                  key=lambda e: e[0])
    for t, fld, new in kept:
        old = {"status": state.status, "sprint": state.sprints,
               "story_points": state.points}[fld]
        if new == old:
            continue
        state.changes.append((t, fld, old, new))
        if fld == "status":
            state.status = new
            cat = category(new)
            if cat == "in_progress" and state.started_at is None:
                state.started_at = t
            state.resolved_at = t if cat == "done" else None
        elif fld == "sprint":
            state.sprints = new
        else:
            state.points = new
        state.updated_at = max(state.updated_at, t)
    return state
