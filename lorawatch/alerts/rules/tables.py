"""Compact tables for what a rule keeps for weeks: flat arrays of doubles, not lists of floats.

A Python float in a list costs about 32 bytes, a double in an ``array`` 8: a building's
weeks of judged hours and its time-of-week references (:mod:`lorawatch.alerts.rules.energy`)
are most of the rules' memory, and a commune has dozens of buildings, a metropolis
thousands.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence

WIDTH = 12
"""Values of a judged hour: hour, kWh, °C, the seven schedule terms, prediction, over."""


class Rows:
    """A building's judged hours, flat in one array of doubles (None as NaN): 96 bytes an
    hour, against ~330 as lists of Python floats; a building keeps weeks of them."""

    __slots__ = ("data",)

    def __init__(self, rows: Sequence[Sequence[float | None]] = ()) -> None:
        self.data = array("d")
        for row in rows:
            self.append(row)

    def __len__(self) -> int:
        return len(self.data) // WIDTH

    def __iter__(self) -> Iterator[list[float | None]]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, i: int) -> list[float | None]:
        i = i % len(self) if i < 0 else i
        return [None if v != v else v for v in self.data[i * WIDTH : (i + 1) * WIDTH]]

    def append(self, row: Sequence[float | None]) -> None:
        self.data.extend(math.nan if v is None else float(v) for v in row)

    def hour(self, i: int) -> float:
        return self.data[(i % len(self)) * WIDTH]

    def set(self, i: int, column: int, value: float | None) -> None:
        self.data[i * WIDTH + column] = math.nan if value is None else value

    def keep_last(self, n: int) -> None:
        extra = len(self) - n
        if extra > 0:
            del self.data[: extra * WIDTH]


class Values:
    """Reference values of one key, (hour, kWh) pairs flat in an array of doubles, oldest
    first: a building has 336 time-of-week keys of up to twelve values each."""

    __slots__ = ("data",)

    def __init__(self, pairs: Sequence[Sequence[float]] = ()) -> None:
        self.data = array("d")
        for h, kwh in pairs:
            self.data.extend((h, kwh))

    def __len__(self) -> int:
        return len(self.data) // 2

    def append(self, h: float, kwh: float) -> None:
        self.data.extend((h, kwh))

    def last(self, n: int) -> list[float]:
        """The last ``n`` values (kWh)."""
        start = max(len(self.data) - 2 * n, 0) + 1
        return list(self.data[start::2]) if n > 0 else []

    def keep_last(self, n: int) -> None:
        extra = len(self) - n
        if extra > 0:
            del self.data[: 2 * extra]

    def pairs(self) -> list[list[float]]:
        d = self.data
        return [[d[i], d[i + 1]] for i in range(0, len(d), 2)]
