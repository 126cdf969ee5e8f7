"""Water: a raised leak flag, flow that never stops, flow at night, a burst.

The meter rules work on the pipeline's consumption deltas (``volume_delta_m3``), so they see
exactly what the dashboards sum, wraps and resets already handled. Each meter's litres are
kept per hour; an hour is judged once every delta up to its end has arrived.

- ``water.leak`` (critical, at once): a device's leak flag (a floor sensor, or a meter's own
  leak alarm) is raised.
- ``water.continuous_flow``: no hour without flow in the last 24 hours: a stuck flush, a
  dripping tap, a leak after the meter. Clears at the first hour without flow.
- ``water.night_flow``: every hour of the night window (01:00-05:00) drew more than the
  threshold: a building should be still at night. Judged once per night, when it ends.
- ``water.burst`` (critical): more litres within 30 minutes than a building ever draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lorawatch.alerts.config import Severity, parse_clock_range
from lorawatch.alerts.model import Evidence, Finding
from lorawatch.alerts.rules.base import HOUR, Domain, Hourly, dt, ts
from lorawatch.pipeline.records import Batch, Consumption, Place

ZERO = timedelta(0)


@dataclass(slots=True)
class _Meter:
    place: Place
    dev_eui: str
    hours: Hourly = field(default_factory=Hourly)
    evaluated: int = 0
    """Start of the last hour judged (UTC seconds)."""


class Water(Domain):
    name = "water"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meters: dict[str, _Meter] = {}
        self.leak_seen: dict[str, float] = {}

    def dump(self, subject: str) -> Any:
        m = self.meters[subject]
        return {
            "place": list(_place_tuple(m.place)),
            "dev_eui": m.dev_eui,
            "hours": m.hours.to_json(),
            "evaluated": m.evaluated,
        }

    def series(self, subject: str) -> Hourly | None:
        meter = self.meters.get(subject)
        return None if meter is None else meter.hours

    def load(self, subject: str, state: Any) -> None:
        self.meters[subject] = _Meter(
            Place(*state["place"]),
            state["dev_eui"],
            Hourly.from_json(state["hours"]),
            int(state["evaluated"]),
        )

    def batch(self, batch: Batch) -> list[Finding]:
        out: list[Finding] = []
        for r in sorted(batch.named(("leak",)), key=lambda r: r.time):
            t = ts(r.time)
            if t < self.leak_seen.get(r.dev_eui, 0.0):
                continue  # an older reading arriving late says nothing about now
            self.leak_seen[r.dev_eui] = t
            rules = self.places.rules(r.place, r.dev_eui)
            if not rules.on("water.leak"):
                continue
            if bool(r.value):
                where = self.places.where(r.place, r.dev_eui)
                out.append(
                    Finding(
                        "water.leak",
                        r.dev_eui,
                        r.time,
                        True,
                        Severity.CRITICAL,
                        r.place,
                        evidence=[Evidence(r.time, "leak", True, "bool", r.place.device)],
                        **self.places.say(
                            "water.leak",
                            where=where,
                            device=r.place.device or r.dev_eui,
                            at=self.places.local(r.place, r.time),
                        ),
                    )
                )
            else:
                out += self.clear("water.leak", r.dev_eui, r.time, r.place)
        touched: dict[str, list[Consumption]] = {}
        for c in batch.consumption:
            if c.name != "volume_delta_m3":
                continue
            key = f"{c.dev_eui}:{c.channel}" if c.channel else c.dev_eui
            meter = self.meters.get(key)
            if meter is None:
                meter = self.meters[key] = _Meter(c.place, c.dev_eui)
            meter.place = c.place
            if meter.hours.add(key, ts(c.start), ts(c.end), c.value * 1000.0, c.gap):
                touched.setdefault(key, []).append(c)
        for key, deltas in touched.items():
            self.dirty.add(key)
            meter = self.meters[key]
            out += self._burst(key, meter, sorted(deltas, key=lambda c: c.end))
            out += self._hours(key, meter)
        return out

    def _burst(self, key: str, meter: _Meter, deltas: list[Consumption]) -> list[Finding]:
        rules = self.places.rules(meter.place, meter.dev_eui)
        if not rules.on("water.burst"):
            return []
        cfg = rules.set.water
        window = cfg.burst_window_min * 60
        out = []
        for c in deltas:
            end = ts(c.end)
            litres = meter.hours.window(end - window, end)
            if litres > cfg.burst_l:
                where = self.places.where(meter.place, meter.dev_eui)
                out.append(
                    Finding(
                        "water.burst",
                        key,
                        c.end,
                        True,
                        Severity.CRITICAL,
                        meter.place,
                        **self.places.say(
                            "water.burst",
                            where=where,
                            litres=litres,
                            minutes=cfg.burst_window_min,
                            at=self.places.local(meter.place, c.end),
                            threshold_l=float(cfg.burst_l),
                        ),
                        evidence=[
                            Evidence(
                                d.start,
                                "volume_delta_l",
                                d.value * 1000,
                                "L",
                                d.place.device,
                                end=d.end,
                            )
                            for d in deltas
                            if ts(d.end) > end - window and d.end <= c.end
                        ],
                    )
                )
            elif litres < cfg.burst_l / 2:
                out += self.clear("water.burst", key, c.end, meter.place)
        return out

    def _hours(self, key: str, meter: _Meter) -> list[Finding]:
        rules = self.places.rules(meter.place, meter.dev_eui)
        cfg = rules.set.water
        hours = meter.hours
        last = int(hours.watermark() // HOUR) * HOUR - HOUR
        first = meter.evaluated + HOUR if meter.evaluated else last
        first = max(first, last - 48 * HOUR)
        out: list[Finding] = []
        n_continuous = max(2, round(cfg.continuous_flow_h))
        night_start, night_end = parse_clock_range(cfg.night_window)
        night_hours = max(1, (night_end - night_start) // 60)
        zone = self.places.zone(meter.place)
        for h in range(first, last + 1, HOUR):
            at = dt(h + HOUR)
            if rules.on("water.continuous_flow"):
                span = range(h - (n_continuous - 1) * HOUR, h + HOUR, HOUR)
                if all(hours.known(x) and hours.value(x) >= cfg.zero_hour_l for x in span):
                    out.append(self._continuous(key, meter, at, list(span), cfg.continuous_flow_h))
                elif hours.known(h) and hours.value(h) < cfg.zero_hour_l:
                    out += self.clear("water.continuous_flow", key, at, meter.place, ZERO)
            local_end = at.astimezone(zone)
            if rules.on("water.night_flow") and (
                local_end.hour * 60 + local_end.minute == night_end % (24 * 60)
            ):
                span = range(h - (night_hours - 1) * HOUR, h + HOUR, HOUR)
                if all(hours.known(x) for x in span):
                    low = min(hours.value(x) for x in span)
                    if low >= cfg.night_flow_l_h:
                        out.append(self._night(key, meter, at, list(span), low, cfg.night_flow_l_h))
                    elif low < cfg.night_flow_l_h / 2:
                        out += self.clear("water.night_flow", key, at, meter.place, ZERO)
        if last >= first:
            meter.evaluated = last
        keep = max(n_continuous, night_hours, 24) + 4
        hours.prune(last - keep * HOUR)
        return out

    def _evidence(self, meter: _Meter, span: list[int]) -> list[Evidence]:
        return [
            Evidence(
                dt(x),
                "volume_hour_l",
                meter.hours.value(x),
                "L",
                meter.place.device,
                end=dt(x + HOUR),
            )
            for x in span
        ]

    def _continuous(
        self, key: str, meter: _Meter, at: Any, span: list[int], hours_needed: float
    ) -> Finding:
        values = [meter.hours.value(x) for x in span]
        where = self.places.where(meter.place, meter.dev_eui)
        return Finding(
            "water.continuous_flow",
            key,
            at,
            True,
            Severity.WARNING,
            meter.place,
            evidence=self._evidence(meter, span),
            **self.places.say(
                "water.continuous_flow",
                where=where,
                hours=float(hours_needed),
                since=self.places.local(meter.place, dt(span[0])),
                min_l_h=min(values),
                mean_l_h=sum(values) / len(values),
            ),
        )

    def _night(
        self, key: str, meter: _Meter, at: Any, span: list[int], low: float, threshold: float
    ) -> Finding:
        where = self.places.where(meter.place, meter.dev_eui)
        first = self.places.local(meter.place, dt(span[0]))
        last = self.places.local(meter.place, dt(span[-1] + HOUR))[-5:]
        return Finding(
            "water.night_flow",
            key,
            at,
            True,
            Severity.WARNING,
            meter.place,
            evidence=self._evidence(meter, span),
            **self.places.say(
                "water.night_flow",
                where=where,
                first=first,
                last=last,
                night_min_l_h=low,
                threshold_l_h=threshold,
            ),
        )


def _place_tuple(place: Place) -> tuple[str, str, str, str]:
    return (place.commune, place.building, place.device, place.kind)
