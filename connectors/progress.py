"""Progress reporting for long syncs: tqdm bars on a terminal, a callback in the app."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm


class Progress:
    """Counts items per resource. ``on_update(resource, total_so_far)`` feeds the app's bar."""

    def __init__(self, source: str, *, on_update: Callable[[str, int], None] | None = None,
                 terminal: bool | None = None) -> None:
        self.source = source
        self.on_update = on_update
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.totals: dict[str, int] = {}
        self._bars: dict[str, tqdm] = {}

    def update(self, resource: str, n: int = 1) -> None:
        self.totals[resource] = self.totals.get(resource, 0) + n
        if self.terminal:
            bar = self._bars.get(resource)
            if bar is None:
                bar = self._bars[resource] = tqdm(desc=f"{self.source} {resource}", unit=" items",
                                                  file=sys.stderr, leave=True)
            bar.update(n)
        if self.on_update:
            self.on_update(resource, self.totals[resource])

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


NULL_PROGRESS = Progress("", terminal=False)
