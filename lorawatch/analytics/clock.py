"""The schedule terms of the weather-aware baseline, hour by hour, without numpy.

:class:`ScheduleClock` is what the energy alert rule keeps per building between batches; the
model itself (:mod:`lorawatch.analytics.baseline`, numpy) loads only once a building has the
history to fit it, so a service without such buildings does not hold numpy (~11 MB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WEEK_H = 168.0


@dataclass(slots=True)
class ScheduleClock:
    """Hours since closing, since opening, and the length of the last closure, hour by hour.

    Fed the hours in time order (a missed hour counts as what it was, not as a new period),
    so the alert rules and the offline fits derive the same schedule terms.
    """

    last_occupied: float = -math.inf
    """Start of the last occupied hour seen."""
    open_start: float = -math.inf
    closure_h: float = 0.0

    def step(self, hour: float, occupied: bool) -> tuple[float, float, float]:
        """(hours since closing, closure length before this opening, hours since opening)."""
        if occupied:
            gap = (hour - self.last_occupied) / 3600 - 1
            if gap > 0 or not math.isfinite(self.open_start):
                self.open_start = hour
                self.closure_h = min(gap, WEEK_H) if math.isfinite(gap) else WEEK_H
            self.last_occupied = hour
            return 0.0, self.closure_h, (hour - self.open_start) / 3600
        since = (hour - self.last_occupied) / 3600 - 1 if math.isfinite(self.last_occupied) else 99
        return min(since, 99.0), self.closure_h, 99.0

    def to_json(self) -> list[float]:
        return [
            self.last_occupied if math.isfinite(self.last_occupied) else -1.0,
            self.open_start if math.isfinite(self.open_start) else -1.0,
            self.closure_h,
        ]

    @classmethod
    def from_json(cls, data: list[float]) -> ScheduleClock:
        a, b, c = (float(x) for x in data)
        return cls(a if a >= 0 else -math.inf, b if b >= 0 else -math.inf, c)
