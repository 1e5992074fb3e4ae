"""Where the demo's dates fall: sprints, releases and the history window around ``--today``.

Everything is derived from ``today`` alone (never the wall clock), so the same day gives the
same calendar. ``now`` is the start of ``today`` (00:00 UTC): every generated event happens
before it, so the data never describes the future.

Sprints are two weeks long and start on Mondays of a fixed fortnightly cadence (counted from
2024-01-01), so the sprint a given date falls in does not change from one day to the next.
The active sprint is the one whose start boundary is the latest one strictly before today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

UTC = timezone.utc
CADENCE_EPOCH = date(2024, 1, 1)  # a Monday; sprint boundaries fall every 14 days from it
SPRINT_DAYS = 14
CLOSED_SPRINTS = 12
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class SprintSlot:
    """One sprint of a project: number 1..CLOSED_SPRINTS+2 (the last one is future, undated)."""

    number: int
    state: str  # closed/active/future
    start: datetime | None
    end: datetime | None
    completed: datetime | None

    @property
    def close(self) -> datetime | None:
        """When unfinished work leaves the sprint: completion, or None while it runs."""
        return self.completed


@dataclass(frozen=True)
class ReleaseSlot:
    """A release on the calendar. ``freeze`` bounds which resolved work lands in it."""

    name: str
    kind: str  # shipped/upcoming/later
    day: date  # ship date (shipped) or target date
    released_at: datetime | None
    target: datetime
    branch_cut: datetime
    freeze: datetime  # work resolved up to here ships in it (shipped releases only)


def at(day: date, hour: float = 0.0) -> datetime:
    """``day`` at ``hour`` (may be fractional or beyond 24) UTC."""
    t = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(hours=hour)
    return t.replace(microsecond=0)


def last_boundary_before(today: date) -> date:
    """The latest sprint boundary (a cadence Monday) strictly before ``today``."""
    steps = ((today - CADENCE_EPOCH).days - 1) // SPRINT_DAYS
    return CADENCE_EPOCH + timedelta(days=SPRINT_DAYS * steps)


def on_workday(t: datetime) -> datetime:
    """``t`` moved forward to Monday (same time of day) when it falls on a weekend."""
    wd = t.weekday()
    return t + timedelta(days=7 - wd) if wd >= 5 else t


def before_weekend(t: datetime) -> datetime:
    """``t`` moved back to Friday (same time of day) when it falls on a weekend."""
    wd = t.weekday()
    return t - timedelta(days=wd - 4) if wd >= 5 else t


def weekday_on_or_before(day: date, allowed: tuple[int, ...]) -> date:
    """The latest date on or before ``day`` whose weekday is in ``allowed`` (Mon = 0)."""
    while day.weekday() not in allowed:
        day -= DAY
    return day


@dataclass(frozen=True)
class Layout:
    today: date

    @property
    def now(self) -> datetime:
        return at(self.today)

    @property
    def active_boundary(self) -> date:
        return last_boundary_before(self.today)

    @property
    def first_boundary(self) -> date:
        return self.active_boundary - timedelta(days=SPRINT_DAYS * CLOSED_SPRINTS)

    @property
    def history_start(self) -> datetime:
        """Start of the generated history: four weeks before the first sprint."""
        return at(self.first_boundary - timedelta(days=28))

    def windows(self) -> list[tuple[int, datetime, datetime]]:
        """Creation windows ``(w, start, end)``: w = 0 is the four weeks before sprint 1, then
        one window per sprint period (w = sprint number), the last one ending at ``now``."""
        out = [(0, self.history_start, at(self.first_boundary))]
        for n in range(1, CLOSED_SPRINTS + 2):
            start = at(self.first_boundary + timedelta(days=SPRINT_DAYS * (n - 1)))
            end = min(start + timedelta(days=SPRINT_DAYS), self.now)
            out.append((n, start, end))
        return out

    def sprints(self, start_hour: float, closes_early: list[bool]) -> list[SprintSlot]:
        """Closed sprints 1..12, the active sprint 13 and a future sprint 14.

        A sprint starts on its Monday at ``start_hour`` UTC and ends one hour before the next
        one starts. ``closes_early[i]`` closes sprint i+1 on the Friday before its end (Jira
        lets completeDate precede endDate); otherwise it is completed just after its end.
        """
        out = []
        for n in range(1, CLOSED_SPRINTS + 2):
            boundary = self.first_boundary + timedelta(days=SPRINT_DAYS * (n - 1))
            start = at(boundary, start_hour)
            end = start + timedelta(days=SPRINT_DAYS) - HOUR
            if n <= CLOSED_SPRINTS:
                completed = (end - timedelta(days=3) + 8 * HOUR if closes_early[n - 1]
                             else end + timedelta(minutes=25))
                out.append(SprintSlot(n, "closed", start, end, completed))
            else:
                out.append(SprintSlot(n, "active", start, end, None))
        out.append(SprintSlot(CLOSED_SPRINTS + 2, "future", None, None, None))
        return out

    def release(self, name: str, kind: str, offset_days: int, ship_hour: float = 0.0
                ) -> ReleaseSlot:
        """A release ``offset_days`` from today: shipped ones move back to a Tue–Thu, targets
        off a weekend to the Friday before. Jira keeps release dates as days, so a shipped
        release's ``released_at`` is that day at ``ship_hour`` (0 = midnight UTC)."""
        raw = self.today + timedelta(days=offset_days)
        if kind == "shipped":
            day = weekday_on_or_before(raw, (1, 2, 3))
            released = at(day, ship_hour)
            cut = at(day - timedelta(days=12))
            return ReleaseSlot(name, kind, day, released, at(day), cut,
                               freeze=at(day) - 2 * DAY)
        day = weekday_on_or_before(raw, (0, 1, 2, 3, 4))
        cut = min(at(day) - timedelta(days=24), self.now - 5 * DAY)
        return ReleaseSlot(name, kind, day, None, at(day), cut, freeze=at(day))
