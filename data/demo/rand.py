"""Seeded randomness helpers. Each stream gets its own ``random.Random`` seeded from a string
(``random`` hashes string seeds with SHA-512, so they do not depend on PYTHONHASHSEED)."""

from __future__ import annotations

import hashlib
import math
import random
from datetime import datetime, timedelta


def stream(seed: int, name: str) -> random.Random:
    """An independent generator for one part of the organisation."""
    return random.Random(f"shipready-demo:{seed}:{name}")


def sround(rng: random.Random, x: float) -> int:
    """``x`` rounded up with probability equal to its fraction (so small scales still add up)."""
    whole = math.floor(x)
    return whole + (1 if rng.random() < x - whole else 0)


def vary(rng: random.Random, x: float, spread: float = 0.2) -> int:
    """About ``x`` (± spread), stochastically rounded."""
    return sround(rng, max(0.0, x * rng.uniform(1 - spread, 1 + spread)))


def lognormal_days(rng: random.Random, median: float, sigma: float = 0.6) -> timedelta:
    return timedelta(days=median * math.exp(rng.gauss(0.0, sigma)))


def between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A time uniformly in [start, end), to the second."""
    span = max(0.0, (end - start).total_seconds())
    return (start + timedelta(seconds=int(rng.random() * span))).replace(microsecond=0)


def weighted(rng: random.Random, options: dict):
    return rng.choices(list(options), weights=list(options.values()))[0]


def sha(*parts: object) -> str:
    """A stable 40-hex-digit commit-like id for ``parts``."""
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()
