"""The injectable clock the connectors take, for tests: waits are recorded, never slept."""

from __future__ import annotations


class FakeClock:
    """Instant clock: ``sleep`` only records and advances time."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.t = now
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(seconds, 0)
