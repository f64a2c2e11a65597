"""Open-loop request schedules: when each request should start, independent of the server.

A schedule is fixed before the run (constant spacing, or Poisson arrivals from a seeded
generator), so a server that slows down is not rewarded with a lower offered rate: a slot
already in the past is taken at once, never skipped, and its lateness is kept. Latency is
then measured from the scheduled start as well as from the send (no coordinated omission).
"""

from __future__ import annotations

import random

KINDS = ("constant", "poisson")


class Schedule:
    """Slots at ``rate`` per second from ``start`` (unix s)."""

    def __init__(self, rate: float, start: float, kind: str = "constant", seed: int | str = 0) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if kind not in KINDS:
            raise ValueError(f"schedule must be one of {KINDS}, not {kind!r}")
        self.rate, self.kind = rate, kind
        self._rng = random.Random(f"schedule/{seed}")
        self._next = start

    def next_slot(self) -> float:
        slot = self._next
        gap = self._rng.expovariate(self.rate) if self.kind == "poisson" else 1.0 / self.rate
        self._next += gap
        return slot
