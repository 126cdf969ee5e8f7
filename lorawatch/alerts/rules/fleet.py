"""Fleet health: silent devices, low batteries, undecodable uplinks, frame-counter resets.

- ``fleet.silent`` (judged on :meth:`Fleet.tick`): no uplink for ``silence_factor`` times
  the device's usual interval (the median of its recent intervals, so event frames and a
  few lost frames do not matter). Silence is measured against the newest uplink of the whole
  fleet, not only the wall clock: when the network server, the broker or lorawatch itself
  was down, every device looks silent, and that outage is not the devices' fault. It clears
  at the device's next uplink.
- ``fleet.battery``: battery level or voltage below its threshold in
  ``battery_confirm_readings`` readings in a row (a cell's voltage dips on a cold morning and
  recovers; a flat one stays low), with a margin to clear.
- ``fleet.decode_errors``: a share of the device's uplinks of the last day failed to decode
  (dead letters with reason ``decode_error``): a firmware update changed the payload, or the
  inventory names the wrong decoder.
- ``fleet.fcnt_reset``: ChirpStack logged a frame-counter reset, or the fCnt went down
  without a join (a device that rebooted with an ABP session, or a replayed frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from lorawatch.alerts.config import Severity
from lorawatch.alerts.model import Evidence, Finding
from lorawatch.alerts.places import Rules
from lorawatch.alerts.rules.base import (
    HOUR,
    Domain,
    Run,
    dt,
    median,
    runs_from_json,
    runs_to_json,
    ts,
)
from lorawatch.pipeline.records import Batch, Place

ZERO = timedelta(0)
GAPS_KEPT = 9
MIN_GAPS = 3
FLEET = "_fleet"
FLEET_SLACK_S = 300.0
"""How far past the fleet's newest uplink the silence clock may run."""
FCNT_HOLD = timedelta(hours=24)
_TIME = attrgetter("time")
JOIN_GRACE_S = 3600.0
HOURS_KEPT = 48
"""Hourly uplink counts kept before the ones out of the decode-error window are dropped."""
CLEAR_MARGIN = {"battery_pct": 5.0, "battery_v": 0.05}
"""How far above its threshold a battery must be for its alert to clear (no flapping)."""


@dataclass(slots=True)
class _Device:
    place: Place
    last_seen: float = 0.0
    gaps: list[float] = field(default_factory=list)
    fcnt: int | None = None
    fcnt_t: float = 0.0
    join_t: float = 0.0
    hours: dict[int, list[int]] = field(default_factory=dict)
    """Hour (UTC seconds) -> [uplinks, decode errors], for the decode-error rate."""
    battery: dict[str, float] = field(default_factory=dict)
    low: dict[str, Run] = field(default_factory=dict)
    """Debounce of a low battery, per reading name."""


class Fleet(Domain):
    name = "fleet"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.devices: dict[str, _Device] = {}
        self.newest = 0.0

    def dump(self, subject: str) -> Any:
        if subject == FLEET:
            return {"newest": self.newest}
        d = self.devices[subject]
        p = d.place
        return {
            "place": [p.commune, p.building, p.device, p.kind],
            "last_seen": d.last_seen,
            "gaps": d.gaps,
            "fcnt": d.fcnt,
            "fcnt_t": d.fcnt_t,
            "join_t": d.join_t,
            "hours": d.hours,  # its hours become JSON keys (engine._json), as str(h) would
            "battery": d.battery,
            "low": runs_to_json(d.low),
        }

    def load(self, subject: str, state: Any) -> None:
        if subject == FLEET:
            self.newest = float(state["newest"])
            return
        self.devices[subject] = _Device(
            Place(*state["place"]),
            float(state["last_seen"]),
            [float(g) for g in state["gaps"]],
            state["fcnt"],
            float(state["fcnt_t"]),
            float(state["join_t"]),
            {int(h): v for h, v in state["hours"].items()},
            state["battery"],
            runs_from_json(state.get("low")),
        )

    def _device(self, dev_eui: str, place: Place | None) -> _Device | None:
        d = self.devices.get(dev_eui)
        if d is None:
            if place is None:
                known = self.places.inventory.devices.get(dev_eui)
                if known is None:
                    return None
                place = Place(known.commune, known.building, known.name, known.kind)
            if not place.kind:
                return None  # not in the inventory: the dead letters say so already
            d = self.devices[dev_eui] = _Device(place)
        elif place is not None and place.kind:
            d.place = place
        self.dirty.add(dev_eui)
        return d

    def _device_rules(self, dev_eui: str, place: Place) -> tuple[_Device, bool, bool, bool] | None:
        """The device, whether its silence alert is open, whether its rules judge resets,
        whether a reset alert follows it (the findings are applied after the batch, so what
        the alerts follow holds for the whole batch)."""
        d = self._device(dev_eui, place if place.kind else None)
        if d is None:
            return None
        fcnt = self.places.rules(d.place, dev_eui).on("fleet.fcnt_reset")
        return (
            d,
            self.s.is_open("fleet.silent", dev_eui),
            fcnt,
            self.s.tracked("fleet.fcnt_reset", dev_eui),
        )

    def batch(self, batch: Batch) -> list[Finding]:
        out: list[Finding] = []
        decode_touched: set[str] = set()
        for e in batch.events:
            d = self._device(e.dev_eui, e.place if e.place.kind else None)
            if d is None:
                continue
            if e.kind == "join":
                d.join_t = max(d.join_t, ts(e.time))
            elif e.kind == "log":
                out += self._log_event(e.dev_eui, d, e.time, e.code, e.detail)
        # Once per uplink of the fleet: what depends on the device only (its state, its
        # rules, its open alerts, which the batch does not change) is looked up once per
        # device, and the hour of reception once per reception time (a batch shares a few).
        tracked = self.s.tracked
        received: datetime | None = None
        hour = 0
        devices: dict[str, tuple[_Device, bool, bool, bool] | None] = {}
        for u in sorted(batch.uplinks, key=_TIME):
            dev_eui = u.dev_eui
            if dev_eui in devices:
                known = devices[dev_eui]
            else:
                known = devices[dev_eui] = self._device_rules(dev_eui, u.place)
                if known is not None and tracked("fleet.decode_errors", dev_eui):
                    decode_touched.add(dev_eui)  # only errors raise the rate; this may clear it
            if known is None:
                continue
            d, silent, fcnt_rule, fcnt_followed = known
            t = u.time.timestamp()
            if t > self.newest:
                self.newest = t
            if t > d.last_seen + 1.0:
                if d.last_seen:
                    d.gaps.append(t - d.last_seen)
                    del d.gaps[:-GAPS_KEPT]
                d.last_seen = t
                if silent:
                    out += self.clear("fleet.silent", dev_eui, u.time, d.place, ZERO)
            if u.received is not received:
                received = u.received
                hour = int(received.timestamp() // HOUR) * HOUR
            counts = d.hours.get(hour)
            if counts is None:
                counts = d.hours[hour] = [0, 0]
                if len(d.hours) > HOURS_KEPT:
                    window = self.places.rules(d.place, dev_eui).set.fleet.decode_window_h
                    d.hours = {h: v for h, v in d.hours.items() if h > hour - window * HOUR}
                    counts = d.hours[hour]
            counts[0] += 1
            f_cnt = u.f_cnt
            if f_cnt is None:
                continue
            previous = d.fcnt
            if previous is not None and f_cnt > previous and t >= d.fcnt_t and not fcnt_followed:
                d.fcnt, d.fcnt_t = f_cnt, t  # the usual frame: what _fcnt does, finding nothing
            else:
                out += self._fcnt(dev_eui, d, u.time, f_cnt, t, fcnt_rule)
        if any(devices.values()):
            self.dirty.add(FLEET)
        for letter in batch.dead_letters:
            if letter.reason != "decode_error" or not letter.dev_eui:
                continue
            d = self._device(letter.dev_eui, None)
            if d is None:
                continue
            hour = int(ts(letter.received) // HOUR) * HOUR
            d.hours.setdefault(hour, [0, 0])[1] += 1
            decode_touched.add(letter.dev_eui)
        for dev_eui in decode_touched:
            out += self._decode_rate(dev_eui, self.devices[dev_eui], batch)
        battery = batch.named(("battery_pct", "battery_v"))
        judged: dict[str, tuple[_Device, Rules, bool, dict[str, float]] | None] = {}
        for r in sorted(battery, key=_TIME):
            dev_eui = r.dev_eui
            if dev_eui in judged:
                found = judged[dev_eui]
            else:
                d = self._device(dev_eui, r.place if r.place.kind else None)
                found = judged[dev_eui] = None if d is None else self._battery_rules(dev_eui, d)
            if found is None:
                continue
            d, rules, followed, lows = found
            name, value = r.name, float(r.value)
            low = lows.get(name)
            if low is not None and value >= low:
                # A battery above its threshold, nearly every reading: judged without
                # looking the rule and its threshold up again.
                d.battery[name] = value
                out += self._battery_fine(dev_eui, d, followed, r.time, name, value, low)
                continue
            out += self._battery(dev_eui, d, rules, followed, r.time, name, value)
        return out

    def _battery_rules(
        self, dev_eui: str, d: _Device
    ) -> tuple[_Device, Rules, bool, dict[str, float]]:
        """What a batch's battery readings of a device are judged with, looked up once: its
        rules, whether a battery alert follows it, and its thresholds per reading name (none
        when the rule is off for it: :meth:`_battery` then keeps the reading only)."""
        rules = self.places.rules(d.place, dev_eui)
        cfg = rules.set.fleet
        lows = (
            {"battery_pct": cfg.battery_low_pct, "battery_v": cfg.battery_low_v}
            if rules.on("fleet.battery")
            else {}
        )
        return d, rules, self.s.tracked("fleet.battery", dev_eui), lows

    def tick(self, now: datetime) -> list[Finding]:
        ref = min(ts(now), self.newest + FLEET_SLACK_S)
        out: list[Finding] = []
        for dev_eui, d in self.devices.items():
            if len(d.gaps) < MIN_GAPS or not d.last_seen:
                continue
            rules = self.places.rules(d.place, dev_eui)
            if not rules.on("fleet.silent"):
                continue
            cfg = rules.set.fleet
            usual = median(d.gaps)
            limit = max(cfg.silence_factor * usual, cfg.silence_min_min * 60.0)
            quiet = ref - d.last_seen
            if quiet <= limit:
                continue
            last = dt(d.last_seen)
            text, battery = "fleet.silent", -1.0
            if "battery_pct" in d.battery:
                text, battery = "fleet.silent_battery_pct", d.battery["battery_pct"]
            elif "battery_v" in d.battery:
                text, battery = "fleet.silent_battery_v", d.battery["battery_v"]
            where = self.places.where(d.place, dev_eui)
            out.append(
                Finding(
                    "fleet.silent",
                    dev_eui,
                    dt(ref),
                    True,
                    Severity.WARNING,
                    d.place,
                    evidence=[Evidence(last, "last_uplink", "", "", d.place.device)],
                    **self.places.say(
                        text,
                        where=where,
                        since=self.places.local(d.place, last),
                        silent_s=quiet,
                        usual_interval_s=usual,
                        battery=float(battery),
                    ),
                )
            )
        return out

    def _battery(
        self,
        dev_eui: str,
        d: _Device,
        rules: Rules,
        followed: bool,
        t: datetime,
        name: str,
        value: float,
    ) -> list[Finding]:
        """``rules``: the device's; ``followed``: whether a battery alert follows it (both
        looked up once per batch)."""
        d.battery[name] = value
        if not rules.on("fleet.battery"):
            return []
        cfg = rules.set.fleet
        low, unit = (
            (cfg.battery_low_pct, "%") if name == "battery_pct" else (cfg.battery_low_v, "V")
        )
        if value >= low:
            return self._battery_fine(dev_eui, d, followed, t, name, value, low)
        run = d.low.get(name)
        if run is None:
            run = d.low[name] = Run()
        run.see(ts(t), True)
        if not run.held(cfg.battery_confirm_readings, cfg.battery_confirm_min):
            return []
        where = self.places.where(d.place, dev_eui)
        return [
            Finding(
                "fleet.battery",
                dev_eui,
                t,
                True,
                Severity.WARNING,
                d.place,
                evidence=[Evidence(t, name, value, unit, d.place.device)],
                **self.places.say(
                    "fleet.battery_pct" if unit == "%" else "fleet.battery_v",
                    where=where,
                    at=self.places.local(d.place, t),
                    since=self.places.local(d.place, dt(run.since)),
                    value=float(value),
                    threshold=float(low),
                    readings=run.count,
                    **{name: value},
                ),
            )
        ]

    def _battery_fine(
        self,
        dev_eui: str,
        d: _Device,
        followed: bool,
        t: datetime,
        name: str,
        value: float,
        low: float,
    ) -> list[Finding]:
        """A battery at or above its threshold ``low``: its low run is over, and an alert that
        follows it clears once it is a margin above (no flapping)."""
        run = d.low.get(name)
        if run is None:
            d.low[name] = Run()
        elif run.count or run.since or run.latest:
            run.see(0.0, False)
        if followed and value >= low + CLEAR_MARGIN[name]:
            return self.clear("fleet.battery", dev_eui, t, d.place)
        return []

    def _decode_rate(self, dev_eui: str, d: _Device, batch: Batch) -> list[Finding]:
        rules = self.places.rules(d.place, dev_eui)
        if not rules.on("fleet.decode_errors"):
            return []
        cfg = rules.set.fleet
        newest = max(d.hours)
        horizon = newest + HOUR - cfg.decode_window_h * HOUR
        if min(d.hours) < horizon:
            d.hours = {h: v for h, v in d.hours.items() if h >= horizon}
        total = sum(v[0] for v in d.hours.values())
        errors = sum(v[1] for v in d.hours.values())
        share = 100.0 * errors / total if total else 0.0
        at = dt(newest + HOUR)
        if errors >= cfg.decode_error_min and share >= cfg.decode_error_pct:
            details = sorted(
                {
                    x.detail[:200]
                    for x in batch.dead_letters
                    if x.dev_eui == dev_eui and x.reason == "decode_error"
                }
            )
            where = self.places.where(d.place, dev_eui)
            return [
                Finding(
                    "fleet.decode_errors",
                    dev_eui,
                    at,
                    True,
                    Severity.WARNING,
                    d.place,
                    evidence=[
                        Evidence(at, "decode_error", text, "", d.place.device)
                        for text in details[:5]
                    ],
                    **self.places.say(
                        "fleet.decode_errors",
                        where=where,
                        errors=errors,
                        uplinks=total,
                        share_pct=share,
                        window_h=float(cfg.decode_window_h),
                    ),
                )
            ]
        if share < cfg.decode_error_pct / 2:
            return self.clear("fleet.decode_errors", dev_eui, at, d.place)
        return []

    def _fcnt(
        self, dev_eui: str, d: _Device, t: datetime, f_cnt: int, now: float, on: bool
    ) -> list[Finding]:
        """``now`` is ``t`` in epoch seconds; ``on``: the device's rules judge resets."""
        previous, when = d.fcnt, d.fcnt_t
        if now < when:
            return []  # a late frame: its counter says nothing about a reset
        d.fcnt, d.fcnt_t = f_cnt, now
        if previous is None or not on:
            return []
        if f_cnt + 1 < previous and now - d.join_t > JOIN_GRACE_S:
            return [
                self._reset(
                    dev_eui,
                    d,
                    t,
                    "fleet.fcnt_reset",
                    {"previous": previous, "f_cnt": f_cnt},
                    [
                        Evidence(dt(when), "f_cnt", previous, "", d.place.device),
                        Evidence(t, "f_cnt", f_cnt, "", d.place.device),
                    ],
                )
            ]
        if f_cnt > previous:
            return self.clear("fleet.fcnt_reset", dev_eui, t, d.place, FCNT_HOLD)
        return []

    def _log_event(
        self, dev_eui: str, d: _Device, t: datetime, code: str, detail: str
    ) -> list[Finding]:
        rules = self.places.rules(d.place, dev_eui)
        if code not in rules.set.fleet.fcnt_log_codes or not rules.on("fleet.fcnt_reset"):
            return []
        return [
            self._reset(
                dev_eui,
                d,
                t,
                "fleet.fcnt_log",
                {"code": code, "detail": detail[:200]},
                [Evidence(t, "chirpstack_log", code, "", d.place.device, note=detail[:200])],
            )
        ]

    def _reset(
        self,
        dev_eui: str,
        d: _Device,
        t: datetime,
        text: str,
        values: dict[str, str | float],
        evidence: list[Evidence],
    ) -> Finding:
        return Finding(
            "fleet.fcnt_reset",
            dev_eui,
            t,
            True,
            Severity.INFO,
            d.place,
            evidence=evidence,
            **self.places.say(text, where=self.places.where(d.place, dev_eui), **values),
        )
