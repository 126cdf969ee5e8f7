"""Waste: a container nearly full or full, full soon at its current rate, lid open.

- ``waste.fill``: warning at ``near_full_pct``, escalated to critical at ``full_pct`` (one
  alert that escalates, not two). Clears once the level dropped ``clear_drop_pct`` below the
  warning level: the bin was emptied, which is conclusive, so it resolves at once. Each level
  (nearly full, full, emptied) counts only once it held for ``fill_confirm_readings``
  readings or ``fill_confirm_min`` minutes: a single outlier frame at 100 % raises nothing,
  a single one at 0 % resolves nothing, and neither enters the fill rate (a jump of more than
  20 points waits for the next reading before ``waste.time_to_full`` judges it).
- ``waste.time_to_full`` (info): the fill rate of the last day (least squares over the
  readings since the last emptying) predicts the full level within ``time_to_full_h``: time
  to plan a collection before the weekend.
- ``waste.tilt``: the sensor reports it is tilted (lid open, container knocked over) in
  ``tilt_confirm_readings`` readings in a row: a collection tilts it for a minute only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lorawatch.alerts.config import Severity
from lorawatch.alerts.model import Evidence, Finding
from lorawatch.alerts.rules.base import HOUR, Domain, Run, dt, runs_from_json, runs_to_json, ts
from lorawatch.pipeline.records import Batch, Place, StoredReading

ZERO = timedelta(0)
EMPTIED_DROP_PCT = 20.0
"""A fall of the level by this much between two readings is an emptying."""
RATE_WINDOW_S = 24 * HOUR
MIN_SPAN_S = 6 * HOUR


@dataclass(slots=True)
class _Bin:
    place: Place
    fills: list[list[float]] = field(default_factory=list)
    """[[time, fill %]] since the last emptying, within the rate window."""
    last: dict[str, float] = field(default_factory=dict)
    """Newest time seen per reading name."""
    runs: dict[str, Run] = field(default_factory=dict)
    """Debounce per level: ``near``, ``full``, ``emptied`` and ``tilted``."""
    before: list[list[float]] = field(default_factory=list)
    """``fills`` as they were before the latest emptying, until the next reading confirms it
    (or shows the emptying was one low outlier, and they are restored)."""

    def run(self, name: str) -> Run:
        found = self.runs.get(name)
        if found is None:
            found = self.runs[name] = Run()
        return found


def slope_per_hour(points: list[list[float]]) -> float | None:
    """Least-squares slope of fill against time, in % per hour; None when too little data."""
    if len(points) < 3 or points[-1][0] - points[0][0] < MIN_SPAN_S:
        return None
    n = len(points)
    mt = sum(p[0] for p in points) / n
    mf = sum(p[1] for p in points) / n
    var = sum((p[0] - mt) ** 2 for p in points)
    if var <= 0:
        return None
    cov = sum((p[0] - mt) * (p[1] - mf) for p in points)
    return cov / var * HOUR


class Waste(Domain):
    name = "waste"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bins: dict[str, _Bin] = {}

    def dump(self, subject: str) -> Any:
        b = self.bins[subject]
        p = b.place
        return {
            "place": [p.commune, p.building, p.device, p.kind],
            "fills": b.fills,
            "last": b.last,
            "runs": runs_to_json(b.runs),
            "before": b.before,
        }

    def load(self, subject: str, state: Any) -> None:
        self.bins[subject] = _Bin(
            Place(*state["place"]),
            state["fills"],
            state["last"],
            runs_from_json(state.get("runs")),
            state.get("before", []),
        )

    def batch(self, batch: Batch) -> list[Finding]:
        out: list[Finding] = []
        wanted = batch.named(("fill_pct", "tilted"))
        for r in sorted(wanted, key=lambda r: r.time):
            b = self.bins.get(r.dev_eui)
            if b is None:
                b = self.bins[r.dev_eui] = _Bin(r.place)
            b.place = r.place
            t = ts(r.time)
            if t <= b.last.get(r.name, -1.0):
                continue
            b.last[r.name] = t
            self.dirty.add(r.dev_eui)
            if r.name == "tilted":
                out += self._tilt(r, b, t)
            else:
                out += self._fill(r, b, t, float(r.value))
        return out

    def _tilt(self, r: StoredReading, b: _Bin, t: float) -> list[Finding]:
        rules = self.places.rules(r.place, r.dev_eui)
        run = b.run("tilted")
        run.see(t, bool(r.value))
        if not rules.on("waste.tilt"):
            return []
        if not r.value:
            return self.clear("waste.tilt", r.dev_eui, r.time, r.place)
        cfg = rules.set.waste
        if not run.held(cfg.tilt_confirm_readings, cfg.tilt_confirm_min):
            return []
        where = self.places.where(r.place, r.dev_eui)
        return [
            Finding(
                "waste.tilt",
                r.dev_eui,
                r.time,
                True,
                Severity.WARNING,
                r.place,
                evidence=[Evidence(r.time, "tilted", True, "bool", r.place.device)],
                **self.places.say(
                    "waste.tilt",
                    where=where,
                    since=self.places.local(r.place, dt(run.since)),
                    readings=run.count,
                ),
            )
        ]

    def _fill(self, r: StoredReading, b: _Bin, t: float, fill: float) -> list[Finding]:
        rules = self.places.rules(r.place, r.dev_eui)
        cfg = rules.set.waste
        out: list[Finding] = []
        _drop_outliers(b, fill)
        emptied = bool(b.fills) and fill < b.fills[-1][1] - EMPTIED_DROP_PCT
        jumped = bool(b.fills) and fill > b.fills[-1][1] + EMPTIED_DROP_PCT
        if emptied:
            b.before, b.fills = b.fills, []
        b.fills = [p for p in b.fills if p[0] >= t - RATE_WINDOW_S]
        b.fills.append([t, fill])
        near, full, low = b.run("near"), b.run("full"), b.run("emptied")
        near.see(t, fill >= cfg.near_full_pct)
        full.see(t, fill >= cfg.full_pct)
        low.see(t, fill < cfg.near_full_pct - cfg.clear_drop_pct)
        if rules.on("waste.fill"):
            confirm = (cfg.fill_confirm_readings, cfg.fill_confirm_min)
            if full.held(*confirm):
                out.append(self._fill_finding(r, b, full, fill, Severity.CRITICAL))
            elif near.held(*confirm):
                out.append(self._fill_finding(r, b, near, fill, Severity.WARNING))
            elif low.held(*confirm):
                out += self.clear("waste.fill", r.dev_eui, r.time, r.place, ZERO)
        if rules.on("waste.time_to_full"):
            if emptied:
                out += self.clear("waste.time_to_full", r.dev_eui, r.time, r.place, ZERO)
            elif not jumped:  # a jump is judged once the next reading confirms it
                out += self._forecast(r, b, fill, self.places.where(r.place, r.dev_eui))
        return out

    def _fill_finding(
        self, r: StoredReading, b: _Bin, run: Run, fill: float, severity: Severity
    ) -> Finding:
        cfg = self.places.rules(r.place, r.dev_eui).set.waste
        full = severity == Severity.CRITICAL
        return Finding(
            "waste.fill",
            r.dev_eui,
            r.time,
            True,
            severity,
            r.place,
            evidence=[
                Evidence(dt(p[0]), "fill_pct", p[1], "%", r.place.device)
                for p in b.fills
                if p[0] >= run.since
            ][-12:],
            **self.places.say(
                "waste.full" if full else "waste.nearly_full",
                where=self.places.where(r.place, r.dev_eui),
                at=self.places.local(r.place, r.time),
                since=self.places.local(r.place, dt(run.since)),
                fill_pct=fill,
                threshold_pct=float(cfg.full_pct if full else cfg.near_full_pct),
                readings=run.count,
            ),
        )

    def _forecast(self, r: StoredReading, b: _Bin, fill: float, where: str) -> list[Finding]:
        cfg = self.places.rules(r.place, r.dev_eui).set.waste
        rate = slope_per_hour(b.fills)
        if rate is None:
            return []
        hours = (cfg.full_pct - fill) / rate if rate > 0.01 else float("inf")
        if fill >= cfg.time_to_full_min_pct and 0 < hours <= cfg.time_to_full_h:
            full_at: datetime = r.time + timedelta(hours=hours)
            return [
                Finding(
                    "waste.time_to_full",
                    r.dev_eui,
                    r.time,
                    True,
                    Severity.INFO,
                    r.place,
                    evidence=[
                        Evidence(dt(p[0]), "fill_pct", p[1], "%", r.place.device)
                        for p in b.fills[-12:]
                    ],
                    **self.places.say(
                        "waste.time_to_full",
                        where=where,
                        at=self.places.local(r.place, r.time),
                        fill_pct=fill,
                        rate_pct_h=rate,
                        over_h=(b.fills[-1][0] - b.fills[0][0]) / HOUR,
                        full_pct=float(cfg.full_pct),
                        full_at=self.places.local(r.place, full_at),
                        hours_to_full=hours,
                    ),
                )
            ]
        if hours > 2 * cfg.time_to_full_h or fill < cfg.time_to_full_min_pct - 10:
            return self.clear("waste.time_to_full", r.dev_eui, r.time, r.place)
        return []


def _drop_outliers(b: _Bin, fill: float) -> None:
    """Take a lone outlier out of the fill history, now that ``fill`` shows it was one.

    A reading far from the one before it and followed by one back near that level was an
    outlier: a spike is dropped, and a low reading taken for an emptying gives the history
    back. Neither then counts in the fill rate.
    """
    before, b.before = b.before, []
    if before and len(b.fills) == 1 and abs(fill - before[-1][1]) <= EMPTIED_DROP_PCT / 2:
        b.fills = before
        return
    if len(b.fills) >= 2:
        p0, p1 = b.fills[-2][1], b.fills[-1][1]
        if abs(p1 - p0) > EMPTIED_DROP_PCT and abs(fill - p0) <= EMPTIED_DROP_PCT / 2:
            del b.fills[-1]
