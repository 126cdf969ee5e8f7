"""Street lighting: a failed lamp, a lamp on in daylight or off at night, dimming not applied.

Day and night are the sun's at the commune's coordinates (:mod:`lorawatch.inventory.sun`), with a
margin around sunrise and sunset where either state is fine (controllers switch on their own
clock or photocell). Wrong-state rules need a few consecutive readings, and they only clear
on a reading that shows the right state where it matters (a lamp seen off in daylight, lit at
night, dimmed in the dim window), so an alert does not resolve every morning and reopen every
evening.

- ``lighting.failure``: the controller reports a lamp or driver failure (its own alarm, sent
  at once by DALI controllers).
- ``lighting.day_burning`` (info): lit in daylight: wasted energy, a stuck relay or clock.
- ``lighting.dark``: off at night without a failure report: a tripped breaker, a clock
  that lost its schedule.
- ``lighting.dimming`` (info): lit above the dim level inside the dim window (23:00-05:00).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lorawatch.alerts.config import Severity, parse_clock_range
from lorawatch.alerts.model import Evidence, Finding
from lorawatch.alerts.rules.base import Domain, ts
from lorawatch.pipeline.records import Batch, Place

NAMES = ("lamp_on", "lamp_failure", "dim_pct")


@dataclass(slots=True)
class _Lamp:
    place: Place
    last: float = -1.0
    runs: dict[str, int] = field(default_factory=dict)


class Lighting(Domain):
    name = "lighting"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lamps: dict[str, _Lamp] = {}

    def dump(self, subject: str) -> Any:
        lamp = self.lamps[subject]
        p = lamp.place
        return {
            "place": [p.commune, p.building, p.device, p.kind],
            "last": lamp.last,
            "runs": lamp.runs,
        }

    def load(self, subject: str, state: Any) -> None:
        self.lamps[subject] = _Lamp(Place(*state["place"]), float(state["last"]), state["runs"])

    def batch(self, batch: Batch) -> list[Finding]:
        frames: dict[tuple[str, datetime], dict[str, float | bool]] = defaultdict(dict)
        places: dict[str, Place] = {}
        for r in batch.named(NAMES):
            frames[(r.dev_eui, r.time)][r.name] = r.value
            places[r.dev_eui] = r.place
        out: list[Finding] = []
        for (dev_eui, t), frame in sorted(frames.items(), key=lambda kv: kv[0][1]):
            lamp = self.lamps.get(dev_eui)
            if lamp is None:
                lamp = self.lamps[dev_eui] = _Lamp(places[dev_eui])
            lamp.place = places[dev_eui]
            if ts(t) <= lamp.last:
                continue
            lamp.last = ts(t)
            self.dirty.add(dev_eui)
            out += self._frame(dev_eui, lamp, t, frame)
        return out

    def _frame(
        self, dev_eui: str, lamp: _Lamp, t: datetime, frame: dict[str, float | bool]
    ) -> list[Finding]:
        place = lamp.place
        rules = self.places.rules(place, dev_eui)
        cfg = rules.set.lighting
        out: list[Finding] = []
        zone = self.places.zone(place)

        # Words are only built for a firing finding: most frames are fine.
        def where() -> str:
            return self.places.where(place, dev_eui)

        def local() -> str:
            return self.places.local(place, t)

        def hhmm(when: datetime) -> str:
            return when.astimezone(zone).strftime("%H:%M")

        failed = bool(frame.get("lamp_failure", False))
        if "lamp_failure" in frame and rules.on("lighting.failure"):
            if failed:
                out.append(
                    Finding(
                        "lighting.failure",
                        dev_eui,
                        t,
                        True,
                        Severity.WARNING,
                        place,
                        evidence=self._evidence(t, frame, place),
                        **self.places.say("lighting.failure", where=where(), at=local()),
                    )
                )
            else:
                out += self.clear("lighting.failure", dev_eui, t, place)
        if "lamp_on" not in frame:
            return out
        lit = bool(frame["lamp_on"])
        sun = self.places.sun(place, t.astimezone(UTC).date())
        if sun is None or sun.sunrise is None or sun.sunset is None:
            return out
        margin = timedelta(minutes=cfg.margin_min)
        day = sun.sunrise + margin <= t < sun.sunset - margin
        night = t < sun.sunrise - margin or t >= sun.sunset + margin

        def judge(
            rule: str,
            wrong: bool,
            right: bool,
            severity: Severity,
            values: Callable[[], dict[str, str | float]],
        ) -> None:
            if not rules.on(rule):
                return
            if wrong:
                lamp.runs[rule] = lamp.runs.get(rule, 0) + 1
                if lamp.runs[rule] >= cfg.readings_to_fire:
                    out.append(
                        Finding(
                            rule,
                            dev_eui,
                            t,
                            True,
                            severity,
                            place,
                            evidence=self._evidence(t, frame, place),
                            **self.places.say(
                                rule, where=where(), readings=lamp.runs[rule], **values()
                            ),
                        )
                    )
            elif right:
                lamp.runs[rule] = 0
                out.extend(self.clear(rule, dev_eui, t, place))

        rise, set_ = sun.sunrise, sun.sunset
        judge(
            "lighting.day_burning",
            lit and day,
            not lit and day,
            Severity.INFO,
            lambda: {"at": local(), "sunrise": hhmm(rise), "sunset": hhmm(set_)},
        )
        judge(
            "lighting.dark",
            not lit and night and not failed,
            lit and night,
            Severity.WARNING,
            lambda: {"at": local(), "sunrise": hhmm(rise), "sunset": hhmm(set_)},
        )
        dim = frame.get("dim_pct")
        if isinstance(dim, bool) or dim is None:
            return out
        start, end = parse_clock_range(cfg.dim_window)
        clock = t.astimezone(zone)
        minute = clock.hour * 60 + clock.minute
        if minute < start:
            minute += 24 * 60
        inside = start + cfg.margin_min <= minute < end - cfg.margin_min
        judge(
            "lighting.dimming",
            inside and lit and float(dim) > cfg.dim_max_pct,
            inside and lit and float(dim) <= cfg.dim_max_pct,
            Severity.INFO,
            lambda: {
                "at": local(),
                "dim_pct": float(dim),
                "dim_max_pct": float(cfg.dim_max_pct),
                "window": cfg.dim_window,
            },
        )
        return out

    @staticmethod
    def _evidence(t: datetime, frame: dict[str, float | bool], place: Place) -> list[Evidence]:
        units = {"lamp_on": "bool", "lamp_failure": "bool", "dim_pct": "%"}
        return [
            Evidence(t, name, value, units[name], place.device) for name, value in frame.items()
        ]
