"""Physical models behind the simulated devices: what a meter, a bin or a lamp would measure.

Random noise alone teaches nothing: a dashboard or an alert rule is only shown to work if the
data has the shapes of the real thing. So consumption here is driven by its causes:

- a building's electricity by its occupancy (:mod:`lorawatch.inventory.occupancy`: opening hours,
  school holidays, closures), its lighting (more after dark, :mod:`lorawatch.inventory.sun`), its
  heating (outside temperature from :mod:`lorawatch.simulators.weather`, comfort setpoint
  when occupied or about to be, setback otherwise), a kitchen on school days, and a night
  baseload (servers, fridges, ventilation) that never stops;
- its water by occupancy (toilets, hand washing), the kitchen, and injected faults;
- a bin's fill by daily deposits (heavier at weekends), emptied on its collection days;
- a streetlight by sunset and sunrise at the commune, dimmed in the middle of the night;
- every battery by a slow drain.

Every value is a pure function of (seed, device, time): day profiles are drawn from a
``random.Random`` stream seeded per device (or building) and per day, and cumulative indexes
are sums of whole days since the scenario epoch plus the part of the current day. So any
interval can be simulated without running the ones before it, and the same seed always
gives the same numbers, whatever the wall clock says.

One module on purpose (about 900 lines): the models share the seeded day streams, the
building load that drives both meters, and the battery; apart, each would import the others.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo

from lorawatch.decoders.bins import fill_pct
from lorawatch.inventory import Building, Commune, Device
from lorawatch.inventory.occupancy import WEEKDAYS, Schedule, parse_hours
from lorawatch.inventory.sun import SunTimes, sun_times
from lorawatch.simulators.scenario import Anomaly
from lorawatch.simulators.weather import YEAR_S, Weather

SLOT_S: Final = 900.0
"""Building loads are integrated over quarter hours, the step of French load curves."""

State = dict[str, float | bool]


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by ``parts``: per-frame decisions without a stream."""
    return unit_of("/".join(map(str, parts)))


def unit_of(key: str) -> float:
    """:func:`unit` of parts already joined by "/": hot paths keep a device's prefix joined."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def stream(*parts: object) -> random.Random:
    """A random stream of its own for (seed, device or building, day...)."""
    return random.Random("/".join(map(str, parts)))  # noqa: S311 - a simulation, not a secret


@dataclass(slots=True)
class Context:
    """What every model of one simulation shares."""

    seed: int
    zone: ZoneInfo
    epoch_ts: float
    weather: Weather
    shared: dict[object, object] = field(default_factory=dict)
    _last_date: tuple[float, date] = field(
        default=(math.nan, date.min), init=False, repr=False, compare=False
    )
    """The last :meth:`local_date` asked: a frame's models ask it of one instant many times."""
    epoch_day: date = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.epoch_day = self.local_date(self.epoch_ts)

    def local_date(self, ts: float) -> date:
        last_ts, last_day = self._last_date
        if ts == last_ts:
            return last_day
        day = datetime.fromtimestamp(ts, self.zone).date()
        self._last_date = (ts, day)
        return day

    def day_start(self, day: date) -> float:
        return datetime.combine(day, time(0)).replace(tzinfo=self.zone).timestamp()

    def outside(self, start: float, n: int) -> list[float]:
        """Outside temperature at the middle of ``n`` quarter hours from ``start``, computed
        once for all the buildings of the simulation."""
        key = ("outside", start, n)
        found = self.shared.get(key)
        if not isinstance(found, list):
            found = self.shared[key] = [
                self.weather.at(start + (i + 0.5) * SLOT_S) for i in range(n)
            ]
        return found

    def daily_mean(self, day: date) -> float:
        """The weather's mean over local ``day``, computed once for all the buildings."""
        key = ("daily_mean", day)
        found = self.shared.get(key)
        if not isinstance(found, float):
            found = self.shared[key] = self.weather.daily_mean(day, self.zone)
        return found

    def sun(self, day: date, latitude: float, longitude: float) -> SunTimes:
        """Sunrise and sunset at a place, computed once per day for the buildings and lamps
        of a commune."""
        key = ("sun", day, latitude, longitude)
        found = self.shared.get(key)
        if not isinstance(found, SunTimes):
            found = self.shared[key] = sun_times(day, latitude, longitude)
        return found

    def local_clock(self, day: date, hhmm: int) -> float:
        """Unix time of ``hhmm`` minutes after local midnight of ``day`` (wall clock)."""
        naive = datetime.combine(day, time(0)) + timedelta(minutes=hhmm)
        return naive.replace(tzinfo=self.zone).timestamp()


class Battery:
    """Battery level: a slow linear drain, or a steep one ending flat at a ``flat_battery``
    anomaly's onset, after which the device is silent."""

    def __init__(
        self, ctx: Context, dev_eui: str, spec: Mapping[str, Any], anomalies: Sequence[Anomaly]
    ) -> None:
        self.ctx = ctx
        self.start_pct = float(
            spec.get("battery_start_pct", 82 + 18 * unit(ctx.seed, dev_eui, "battery"))
        )
        self.drain = float(
            spec.get("battery_drain_pct_per_year", 3 + 5 * unit(ctx.seed, dev_eui, "drain"))
        )
        flat = [a for a in anomalies if a.type == "flat_battery"]
        self.flat = min(flat, key=lambda a: a.onset_ts) if flat else None

    @property
    def silent_from(self) -> float:
        return self.flat.onset_ts if self.flat else math.inf

    def _linear(self, ts: float) -> float:
        return self.start_pct - self.drain * (ts - self.ctx.epoch_ts) / YEAR_S

    def pct(self, ts: float) -> float:
        level = self._linear(ts)
        if self.flat is not None:
            end = self.flat.onset_ts
            start = end - self.flat.size["drain_days"] * 86400
            if ts >= end:
                return 0.0
            if ts > start:
                at_start = self._linear(start)
                level = at_start + (1.0 - at_start) * (ts - start) / (end - start)
        return min(100.0, max(0.0, level))

    def volts(self, ts: float) -> float:
        return _cell_volts(self.pct(ts))


def _cell_volts(pct: float) -> float:
    """A lithium-thionyl chloride cell: about 3.65 V new, 3.0 V when exhausted."""
    return 3.0 + 0.65 * pct / 100


class DeviceModel:
    """Base of the device models: state at a time, extra (event) frames, reporting rhythm."""

    default_interval_s: ClassVar[float] = 3600.0
    kinds: tuple[str, ...] = ("report",)
    """Frame kinds of the periodic reports, cycled: report k has kind kinds[k % len]."""

    def __init__(self, ctx: Context, device: Device, anomalies: Sequence[Anomaly]) -> None:
        self.ctx = ctx
        self.device = device
        self.dev_eui = device.dev_eui
        self.sim = device.simulation
        self.anomalies = list(anomalies)
        self.interval_s = float(self.sim.get("interval_min", self.default_interval_s / 60)) * 60
        if self.interval_s < 60:
            raise ValueError(f"{device.dev_eui}: interval_min must be at least 1")
        self.battery = Battery(ctx, device.dev_eui, self.sim, anomalies)

    @property
    def silent_from(self) -> float:
        """From this Unix time on the device sends nothing (flat battery)."""
        return self.battery.silent_from

    def state(self, ts: float) -> State:
        raise NotImplementedError

    def common(self, ts: float) -> State:
        pct = self.battery.pct(ts)
        return {"battery_pct": pct, "battery_v": _cell_volts(pct)}

    def events(self, day: date) -> list[tuple[float, str]]:
        """Frames sent on a change of state during local ``day``: (Unix time, kind)."""
        return []

    def events_before(self, ts: float) -> int:
        """How many event frames were sent since the epoch before ``ts`` (for fCnt)."""
        return 0


# ---- buildings --------------------------------------------------------------------------------

PROFILES: Final[dict[str, dict[str, Any]]] = {
    # Defaults per building usage; a building's ``simulation`` table overrides any key.
    "office": {
        "baseload_w": 450,
        "occupied_w": 2500,
        "lighting_w": 1000,
        "heating": "heat_pump",
        "ua_w_per_k_m2": 0.9,
        "comfort_c": 20.0,
        "setback_c": 16.0,
        "water_l_per_h": 25,
    },
    "school": {
        "baseload_w": 650,
        "occupied_w": 6000,
        "lighting_w": 4000,
        "heating": "gas",
        "aux_w": 900,
        "comfort_c": 19.0,
        "setback_c": 14.0,
        "water_l_per_h": 140,
    },
    "canteen": {
        "baseload_w": 1600,
        "occupied_w": 1500,
        "lighting_w": 800,
        "heating": "gas",
        "aux_w": 300,
        "comfort_c": 19.0,
        "setback_c": 14.0,
        "water_l_per_h": 20,
        "kitchen_hours": "09:30-13:30",
        "kitchen_w": 14000,
        "kitchen_water_l_per_h": 220,
    },
    "hall": {
        "baseload_w": 250,
        "occupied_w": 3500,
        "lighting_w": 2500,
        "heating": "electric",
        "ua_w_per_k_m2": 1.1,
        "comfort_c": 19.0,
        "setback_c": 10.0,
        "water_l_per_h": 50,
    },
    "library": {
        "baseload_w": 350,
        "occupied_w": 2200,
        "lighting_w": 1200,
        "heating": "heat_pump",
        "ua_w_per_k_m2": 0.8,
        "comfort_c": 20.0,
        "setback_c": 15.0,
        "water_l_per_h": 8,
    },
    "sports": {
        "baseload_w": 500,
        "occupied_w": 2000,
        "lighting_w": 9000,
        "heating": "gas",
        "aux_w": 700,
        "hot_water_w": 9000,
        "comfort_c": 16.0,
        "setback_c": 12.0,
        "water_l_per_h": 300,
    },
    "workshop": {
        "baseload_w": 400,
        "occupied_w": 5000,
        "lighting_w": 1500,
        "heating": "electric",
        "ua_w_per_k_m2": 0.6,
        "comfort_c": 16.0,
        "setback_c": 8.0,
        "water_l_per_h": 40,
    },
}
_COMMON: Final[dict[str, Any]] = {
    "surface_m2": 400.0,
    "aux_w": 0,
    "hot_water_w": 0,
    "preheat_h": 1.5,
    "heating_limit_c": 15.0,
    "night_water_l_per_h": 0.0,
    "kitchen_hours": "",
    "kitchen_w": 0,
    "kitchen_water_l_per_h": 0,
    "noise": 0.08,
}
_DEFAULT_HOURS: Final = {d: ["08:30-12:00", "13:30-17:30"] for d in WEEKDAYS[:5]}


@dataclass(slots=True)
class _Day:
    """One local day of a building at quarter-hour resolution."""

    start: float
    power_w: list[float]
    energy_kwh: list[float]  # cumulated at each slot start
    water_l: list[float]  # litres in each slot
    water_cum_l: list[float]  # cumulated at each slot start
    indoor_c: list[float]
    occupied: list[float]  # occupied fraction of each slot

    @property
    def total_kwh(self) -> float:
        return self.energy_kwh[-1] + self.power_w[-1] * SLOT_S / 3.6e6

    @property
    def total_l(self) -> float:
        return self.water_cum_l[-1] + self.water_l[-1]


class BuildingLoad:
    """Electricity and water of one building, shared by its meters."""

    def __init__(
        self,
        ctx: Context,
        building: Building | None,
        commune: Commune | None,
        anomalies: Sequence[Anomaly],
    ) -> None:
        self.ctx = ctx
        self.id = building.id if building else "standalone"
        usage = (building.simulation.get("profile") or building.usage) if building else "office"
        profile = PROFILES.get(str(usage), PROFILES["office"])
        self.p: dict[str, Any] = {**_COMMON, **profile, **(building.simulation if building else {})}
        if building and building.surface_m2:
            self.p["surface_m2"] = building.surface_m2
        self.p.setdefault("ua_w_per_k_m2", 0.9)
        self.ua = float(
            self.p.get("ua_w_per_k", float(self.p["ua_w_per_k_m2"]) * float(self.p["surface_m2"]))
        )
        hours = building.opening_hours if building and building.opening_hours else _DEFAULT_HOURS
        self.schedule = Schedule(
            hours,
            building.calendars if building else (),
            building.closures if building else (),
            str(ctx.zone),
        )
        self.kitchen = parse_hours(self.p["kitchen_hours"]) if self.p["kitchen_hours"] else None
        self.latitude = commune.latitude if commune else 48.1
        self.longitude = commune.longitude if commune else -1.7
        self.heating_on = [a for a in anomalies if a.type == "heating_left_on"]
        self.flushes = [a for a in anomalies if a.type == "stuck_flush"]
        self._forced = [(a.onset_ts, a.end_ts, a.size["setpoint_c"]) for a in self.heating_on]
        self._flushes = [(a.onset_ts, a.end_ts, a.size["flow_l_h"]) for a in self.flushes]
        self._days: dict[date, _Day] = {}
        self._prefix_kwh: list[float] = [0.0]
        self._prefix_l: list[float] = [0.0]
        self._at_epoch: tuple[float, float] | None = None
        self._last_slot: tuple[float, tuple[date, _Day, int, float] | None] = (math.nan, None)

    # -- one day ---------------------------------------------------------------------------------

    def _compute(self, day: date) -> _Day:
        ctx, p = self.ctx, self.p
        start, end = (b.timestamp() for b in self.schedule.day_bounds(day))
        n = round((end - start) / SLOT_S)
        today = [(a.timestamp(), b.timestamp()) for a, b in self.schedule.intervals(day)]
        occ = [0.0] * n
        for a, b in today:
            _spread(occ, start, a, b)
        # Comfort is wanted from ``preheat_h`` before each opening, including tomorrow's first.
        preheat = float(p["preheat_h"]) * 3600
        wanted = [0.0] * n
        tomorrow = self.schedule.intervals(day + timedelta(days=1))
        for a, b in (*today, *((a.timestamp(), b.timestamp()) for a, b in tomorrow)):
            _spread(wanted, start, a - preheat, b)
        kitchen = [0.0] * n
        if self.kitchen and any(occ):
            _spread(
                kitchen,
                start,
                ctx.local_clock(day, self.kitchen[0]),
                ctx.local_clock(day, self.kitchen[1]),
            )
        sun = ctx.sun(day, self.latitude, self.longitude)
        rise = sun.sunrise.timestamp() if sun.sunrise else end
        set_ = sun.sunset.timestamp() if sun.sunset else start
        in_season = ctx.daily_mean(day) < float(p["heating_limit_c"])
        rng = stream(ctx.seed, "building", self.id, day.isoformat())
        draw = rng.random
        noise = float(p["noise"])
        day_factor = math.exp(rng.gauss(0.0, noise))
        baseload, occupied_w = float(p["baseload_w"]), float(p["occupied_w"]) * day_factor
        lighting_w, hot_water_w = float(p["lighting_w"]), float(p["hot_water_w"]) * 0.5
        kitchen_w = float(p["kitchen_w"]) * day_factor
        comfort, setback, aux_w = float(p["comfort_c"]), float(p["setback_c"]), float(p["aux_w"])
        per_slot = SLOT_S / 3600
        water_h, kitchen_water_h = float(p["water_l_per_h"]), float(p["kitchen_water_l_per_h"])
        night_water = float(p["night_water_l_per_h"]) * per_slot
        heating_kind = str(p["heating"])
        electric, heat_pump = heating_kind == "electric", heating_kind == "heat_pump"
        ua = self.ua
        # Faults outside the day's slots change none of them (they would add exact zeros).
        slots_end = start + n * SLOT_S
        forced = [f for f in self._forced if f[0] < slots_end and f[1] > start]
        flushes = [f for f in self._flushes if f[0] < slots_end and f[1] > start]
        outside_c = ctx.outside(start, n)
        power, water, indoor = [0.0] * n, [0.0] * n, [0.0] * n
        for i in range(n):
            t0 = start + i * SLOT_S
            mid = t0 + SLOT_S / 2
            outside = outside_c[i]
            o = occ[i]
            # Uniform noise of unit variance: cheaper than Gaussian draws, as good for a meter.
            w = baseload * (1 + 0.07 * (draw() - 0.5))
            if o > 0:
                busy = 1 + noise * 3.46 * (draw() - 0.5)
                w += o * occupied_w * (busy if busy > 0.2 else 0.2)
                w += o * (lighting_w * (1.0 if mid < rise or mid >= set_ else 0.35) + hot_water_w)
            w += kitchen[i] * kitchen_w
            target = comfort if wanted[i] > 0 else setback
            heating = in_season
            for onset, until, setpoint in forced:
                if onset <= mid < until:
                    target, heating = setpoint, True
            demand = 0.0
            if heating:
                gap = target - outside - (2.0 if o > 0 else 0.5)
                demand = ua * (gap if gap > 0.0 else 0.0)
            if electric:
                w += demand
            elif heat_pump:
                cop = 2.6 + 0.06 * outside
                w += demand / (4.0 if cop >= 4.0 else cop if cop > 1.8 else 1.8)
            elif demand > 0:
                w += aux_w
            power[i] = w if w > 0.0 else 0.0
            if heating:
                floor = 0.35 * outside + 12.0
                indoor[i] = (floor if floor > target else target) - 0.4 + 0.5 * (draw() - 0.5)
            else:
                indoor[i] = 0.45 * outside + 11.5 + 1.5 * o + 0.5 * (draw() - 0.5)
            litres = night_water + kitchen[i] * kitchen_water_h * per_slot
            if o > 0:
                litres += o * water_h * per_slot * (0.5 + draw())
            for onset, until, flow in flushes:
                overlap = min(t0 + SLOT_S, until) - max(t0, onset)
                litres += flow * (overlap if overlap > 0.0 else 0.0) / 3600
            water[i] = litres
        energy_cum = list(accumulate((w * SLOT_S / 3.6e6 for w in power[:-1]), initial=0.0))
        water_cum = list(accumulate(water[:-1], initial=0.0))
        return _Day(start, power, energy_cum, water, water_cum, indoor, occ)

    def day(self, day: date) -> _Day:
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= 8:
                self._days.pop(next(iter(self._days)))
            found = self._days[day] = self._compute(day)
        return found

    def _prefix(self, day: date) -> tuple[float, float]:
        """Energy (kWh) and water (L) from the epoch day to the start of ``day``."""
        index = (day - self.ctx.epoch_day).days
        if index <= 0:
            return 0.0, 0.0
        while len(self._prefix_kwh) <= index:
            d = self.ctx.epoch_day + timedelta(days=len(self._prefix_kwh) - 1)
            computed = self.day(d) if d in self._days else self._compute(d)
            self._prefix_kwh.append(self._prefix_kwh[-1] + computed.total_kwh)
            self._prefix_l.append(self._prefix_l[-1] + computed.total_l)
        return self._prefix_kwh[index], self._prefix_l[index]

    def _slot(self, ts: float) -> tuple[date, _Day, int, float]:
        """(local day, its slots, slot index, seconds into it) of ``ts``; a meter's state asks
        it several times of the same instant."""
        last_ts, last = self._last_slot
        if ts == last_ts and last is not None:
            return last
        day = self.ctx.local_date(ts)
        d = self.day(day)
        i = min(len(d.power_w) - 1, max(0, int((ts - d.start) // SLOT_S)))
        found = day, d, i, ts - (d.start + i * SLOT_S)
        self._last_slot = (ts, found)
        return found

    # -- what meters read ----------------------------------------------------------------------

    def _epoch_part(self) -> tuple[float, float]:
        """Energy and water of the epoch's own day before the epoch instant: meters start at 0."""
        if self._at_epoch is None:
            _, d, i, into = self._slot(self.ctx.epoch_ts)
            self._at_epoch = (
                d.energy_kwh[i] + d.power_w[i] * into / 3.6e6,
                d.water_cum_l[i] + d.water_l[i] * into / SLOT_S,
            )
        return self._at_epoch

    def energy_kwh(self, ts: float) -> float:
        """Energy since the epoch (kWh) at ``ts``."""
        if ts <= self.ctx.epoch_ts:
            return 0.0
        day, d, i, into = self._slot(ts)
        partial = d.energy_kwh[i] + d.power_w[i] * into / 3.6e6
        return self._prefix(day)[0] + partial - self._epoch_part()[0]

    def volume_l(self, ts: float) -> float:
        """Water since the epoch (litres) at ``ts``."""
        if ts <= self.ctx.epoch_ts:
            return 0.0
        day, d, i, into = self._slot(ts)
        partial = d.water_cum_l[i] + d.water_l[i] * into / SLOT_S
        return self._prefix(day)[1] + partial - self._epoch_part()[1]

    def power_w(self, ts: float) -> float:
        _, d, i, _ = self._slot(ts)
        return d.power_w[i]

    def flow_l_h(self, ts: float) -> float:
        _, d, i, _ = self._slot(ts)
        return d.water_l[i] * 3600 / SLOT_S

    def indoor_c(self, ts: float) -> float:
        _, d, i, _ = self._slot(ts)
        return d.indoor_c[i]

    def humidity_pct(self, ts: float) -> float:
        season = math.cos(2 * math.pi * (ts - 1_263_513_600) / YEAR_S)
        return min(95.0, max(20.0, 48 - 8 * season + 3 * math.sin(ts / 20_000)))

    def continuous_flow(self, ts: float) -> bool:
        """A meter's leak alarm: flow that has not stopped for ``alert_after_h``."""
        return any(
            a.active(ts) and ts - a.onset_ts >= a.size["alert_after_h"] * 3600 for a in self.flushes
        )


def _spread(slots: list[float], start: float, a: float, b: float) -> None:
    """Add to each quarter-hour slot the fraction of it that [a, b) covers."""
    n, slot_s = len(slots), SLOT_S
    first = max(0, int((a - start) // slot_s))
    last = min(n - 1, int((b - start) // slot_s))
    for i in range(first, last + 1):
        s0 = start + i * slot_s
        s1 = s0 + slot_s
        overlap = (b if b < s1 else s1) - (s0 if s0 > a else a)
        if overlap > 0:
            slots[i] += overlap / slot_s


def _meter_start(device: Device) -> float:
    """The meter's index on the epoch: ``simulation.meter_start``, else the pulse reader's
    ``index_offset`` (the reading noted when it was fitted), else 0."""
    for source, key in (
        (device.simulation, "meter_start"),
        (device.params, "index_offset"),
        (device.params, "pulse_1_index_offset"),
    ):
        value = source.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0


class ElectricityMeter(DeviceModel):
    """A pulse reader (or meter) on a building's main electricity meter."""

    default_interval_s = 900.0

    def __init__(
        self, ctx: Context, device: Device, anomalies: Sequence[Anomaly], load: BuildingLoad
    ) -> None:
        super().__init__(ctx, device, anomalies)
        self.load = load
        self.start = _meter_start(device)

    def state(self, ts: float) -> State:
        return {
            **self.common(ts),
            "energy_kwh": self.start + self.load.energy_kwh(ts),
            "power_w": self.load.power_w(ts),
            "temperature_c": self.load.indoor_c(ts),
            "humidity_pct": self.load.humidity_pct(ts),
        }


class WaterMeter(DeviceModel):
    """A reader on a building's water meter; its leak flag is the meter's continuous flow."""

    default_interval_s = 900.0

    def __init__(
        self, ctx: Context, device: Device, anomalies: Sequence[Anomaly], load: BuildingLoad
    ) -> None:
        super().__init__(ctx, device, anomalies)
        self.load = load
        self.start = _meter_start(device)

    def state(self, ts: float) -> State:
        # The meter sits in a pit or plant room: its temperature follows the season slowly.
        pit = self.ctx.weather.seasonal(ts) * 0.6 + 5
        return {
            **self.common(ts),
            "volume_m3": self.start + self.load.volume_l(ts) / 1000,
            "flow_l_h": self.load.flow_l_h(ts),
            "leak": self.load.continuous_flow(ts),
            "temperature_c": pit,
        }


# ---- waste bins -------------------------------------------------------------------------------

STREAMS: Final[dict[str, dict[str, Any]]] = {
    # Mean fill gained per day (% of the container), and the weekly collection days.
    "glass": {"fill_pct_per_day": 7.5, "collection": ["mon"]},
    "paper": {"fill_pct_per_day": 8.5, "collection": ["tue"]},
    "household": {"fill_pct_per_day": 16.0, "collection": ["mon", "thu"]},
    "packaging": {"fill_pct_per_day": 9.0, "collection": ["wed"]},
}
# Deposits are heavier at weekends (drop-off after shopping, after parties).
_WEEKDAY_FACTOR: Final = (1.0, 0.85, 0.85, 0.9, 1.1, 1.6, 1.45)


class BinModel(DeviceModel):
    """An ultrasonic sensor under the lid of a drop-off container."""

    default_interval_s = 3600.0

    def __init__(self, ctx: Context, device: Device, anomalies: Sequence[Anomaly]) -> None:
        super().__init__(ctx, device, anomalies)
        streams = self.sim.get("streams")
        stream_name = self.sim.get("stream")
        if stream_name is None and isinstance(streams, list) and streams:
            stream_name = streams[int(self.sim.get("fleet_index", 0)) % len(streams)]
        self.stream = str(stream_name or "household")
        spec = {**STREAMS.get(self.stream, STREAMS["household"]), **self.sim}
        self.rate = float(spec["fill_pct_per_day"]) * (
            0.75 + 0.4 * unit(ctx.seed, self.dev_eui, "rate")
        )
        self.collection = {WEEKDAYS.index(d) for d in spec["collection"]}
        self.every_weeks = int(spec.get("collection_every_weeks", 1))
        self.collect_at = parse_hours(str(spec.get("collection_window", "06:00-11:00")))
        empty = device.params.get("empty_distance_mm", 1600.0)
        full = device.params.get("full_distance_mm", 300.0)
        self.params: dict[str, float | str | bool] = {
            "empty_distance_mm": float(empty),
            "full_distance_mm": float(full),
        }
        self.full_events = [a for a in anomalies if a.type == "bin_full"]
        # Each frame looks back to the last collection and sums the days since: memoised.
        self._collections: dict[date, float | None] = {}
        self._deposits: dict[date, tuple[float, float, float]] = {}

    def collected_at(self, day: date) -> float | None:
        """When the truck empties the bin on local ``day``, or None."""
        try:
            return self._collections[day]
        except KeyError:
            pass
        when = None
        if day.weekday() in self.collection and not day.isocalendar().week % self.every_weeks:
            a, b = self.collect_at
            minute = a + (b - a) * unit(self.ctx.seed, self.dev_eui, "collect", day.isoformat())
            when = self.ctx.local_clock(day, round(minute))
        if len(self._collections) > 512:
            self._collections.clear()
        self._collections[day] = when
        return when

    def deposited(self, day: date) -> float:
        """Fill gained over the whole local ``day`` (%)."""
        rng = stream(self.ctx.seed, "bin", self.dev_eui, day.isoformat())
        seasonal = 1.35 if self.stream == "glass" and day.month == 12 else 1.0
        return (
            self.rate * _WEEKDAY_FACTOR[day.weekday()] * seasonal * math.exp(rng.gauss(0.0, 0.25))
        )

    def _deposit_window(self, day: date) -> tuple[float, float, float]:
        """(08:00, 20:00, fill deposited in between) of local ``day``."""
        found = self._deposits.get(day)
        if found is None:
            if len(self._deposits) > 512:
                self._deposits.clear()
            found = self._deposits[day] = (
                self.ctx.local_clock(day, 8 * 60),
                self.ctx.local_clock(day, 20 * 60),
                self.deposited(day),
            )
        return found

    def _deposited_between(self, a: float, b: float) -> float:
        """Fill gained in [a, b): deposits spread over 08:00-20:00 local time."""
        total = 0.0
        day = self.ctx.local_date(a)
        while True:
            open_, close, deposited = self._deposit_window(day)
            if open_ >= b:
                break
            overlap = min(b, close) - max(a, open_)
            if overlap > 0:
                total += deposited * overlap / (close - open_)
            day += timedelta(days=1)
        return total

    def fill(self, ts: float) -> float:
        """True fill level (%, may exceed 100 when overflowing) at ``ts``."""
        day = self.ctx.local_date(ts)
        since = max(self.ctx.epoch_ts, ts - 35 * 86400)
        for back in range(36):
            d = day - timedelta(days=back)
            when = self.collected_at(d)
            if when is not None and when <= ts:
                since = max(since, when)
                break
        level = self._deposited_between(since, ts)
        for a in self.full_events:
            if a.onset_ts <= ts < a.end_ts and a.onset_ts >= since:
                level = max(level, a.size["fill_pct"])
        return level

    def state(self, ts: float) -> State:
        empty, full = (
            float(self.params["empty_distance_mm"]),
            float(self.params["full_distance_mm"]),
        )
        level = min(100.0, self.fill(ts))
        # An uneven surface of waste: the echo comes back from a bump or a hollow.
        jitter = (
            (unit(self.ctx.seed, self.dev_eui, "echo", round(ts)) - 0.5) * 0.03 * (empty - full)
        )
        distance = min(empty, max(full, empty - level / 100 * (empty - full) + jitter))
        state: State = {**self.common(ts), "distance_mm": float(round(distance)), "tilted": False}
        pct = fill_pct(round(distance), self.params)
        if pct is not None:
            state["fill_pct"] = pct
        state["temperature_c"] = self.ctx.weather.at(ts)
        return state


# ---- street lighting --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LightDay:
    on: tuple[tuple[float, float], ...]  # relay closed
    dimmed: tuple[tuple[float, float], ...]  # closed and dimmed
    events: tuple[tuple[float, str], ...]  # (time, what): on, off, dim, undim
    full_s: float
    dim_s: float


class LightingCalendar:
    """Dusk-to-dawn switching with a night dimming window, shared by a commune's lamps."""

    def __init__(
        self, ctx: Context, latitude: float, longitude: float, dim_from: str, dim_to: str
    ) -> None:
        self.ctx = ctx
        self.latitude, self.longitude = latitude, longitude
        self.dim_from = parse_hours(f"{dim_from}-00:00")[0]
        self.dim_to = parse_hours(f"00:00-{dim_to}")[1] % (24 * 60)
        self._days: dict[date, _LightDay] = {}
        self._prefix: list[tuple[float, float, int]] = [(0.0, 0.0, 0)]
        self._before_epoch: tuple[float, float, int] | None = None

    @classmethod
    def shared(
        cls, ctx: Context, latitude: float, longitude: float, dim_from: str, dim_to: str
    ) -> LightingCalendar:
        key = ("lighting", latitude, longitude, dim_from, dim_to)
        found = ctx.shared.get(key)
        if not isinstance(found, LightingCalendar):
            found = ctx.shared[key] = cls(ctx, latitude, longitude, dim_from, dim_to)
        return found

    def day(self, day: date) -> _LightDay:
        found = self._days.get(day)
        if found is not None:
            return found
        start = self.ctx.day_start(day)
        end = self.ctx.day_start(day + timedelta(days=1))
        sun = self.ctx.sun(day, self.latitude, self.longitude)
        rise = sun.sunrise.timestamp() if sun.sunrise else (end if not sun.polar_day else start)
        set_ = sun.sunset.timestamp() if sun.sunset else (end if sun.polar_day else start)
        on = (
            [(start, rise), (set_, end)]
            if rise < set_
            else [(start, end)]
            if not sun.polar_day
            else []
        )
        on = [(a, b) for a, b in on if b > a]
        dim_windows = [
            (start, self.ctx.local_clock(day, self.dim_to)),
            (self.ctx.local_clock(day, self.dim_from), end),
        ]
        dimmed = [
            (max(a, c), min(b, d)) for a, b in on for c, d in dim_windows if min(b, d) > max(a, c)
        ]
        events: list[tuple[float, str]] = []
        if rise < end and sun.sunrise:
            events.append((rise, "off"))
        if set_ > start and sun.sunset:
            events.append((set_, "on"))
        for c, d in dim_windows:
            if _inside(c, on) and c > start:
                events.append((c, "dim"))
            if _inside(d - 1, on) and d < end:
                events.append((d, "undim"))
        on_s = sum(b - a for a, b in on)
        dim_s = sum(b - a for a, b in dimmed)
        result = _LightDay(tuple(on), tuple(dimmed), tuple(sorted(events)), on_s - dim_s, dim_s)
        if len(self._days) > 64:
            self._days.clear()
        self._days[day] = result
        return result

    def _before(self, day: date) -> tuple[float, float, int]:
        """(full-power s, dimmed s, events) from the epoch day to the start of ``day``."""
        index = (day - self.ctx.epoch_day).days
        if index <= 0:
            return 0.0, 0.0, 0
        while len(self._prefix) <= index:
            d = self.day(self.ctx.epoch_day + timedelta(days=len(self._prefix) - 1))
            full, dim, n = self._prefix[-1]
            self._prefix.append((full + d.full_s, dim + d.dim_s, n + len(d.events)))
        return self._prefix[index]

    def _epoch_day_part(self) -> tuple[float, float, int]:
        """(full-power s, dimmed s, events) of the epoch's own day before the epoch instant."""
        if self._before_epoch is None:
            epoch_ts = self.ctx.epoch_ts
            events = sum(1 for t, _ in self.day(self.ctx.epoch_day).events if t < epoch_ts)
            self._before_epoch = (*self._partial(epoch_ts), events)
        return self._before_epoch

    def cumulative(self, ts: float) -> tuple[float, float]:
        """(full-power seconds, dimmed seconds) lit from the epoch to ``ts``."""
        if ts <= self.ctx.epoch_ts:
            return 0.0, 0.0
        first = self._epoch_day_part()
        day = self.ctx.local_date(ts)
        full, dim, _ = self._before(day)
        part = self._partial(ts)
        return full + part[0] - first[0], dim + part[1] - first[1]

    def _partial(self, ts: float) -> tuple[float, float]:
        d = self.day(self.ctx.local_date(ts))
        on = sum([max(0.0, min(b, ts) - a) for a, b in d.on])
        dim = sum([max(0.0, min(b, ts) - a) for a, b in d.dimmed])
        return on - dim, dim

    def events_before(self, ts: float) -> int:
        day = self.ctx.local_date(ts)
        base = self._before(day)[2]
        count = base + sum(1 for t, _ in self.day(day).events if t < ts)
        return count - self._epoch_day_part()[2]

    def lit(self, ts: float) -> tuple[bool, bool]:
        """(relay closed, dimmed) at ``ts``."""
        d = self.day(self.ctx.local_date(ts))
        return _inside(ts, d.on), _inside(ts, d.dimmed)


def _inside(ts: float, spans: Sequence[tuple[float, float]]) -> bool:
    return any(a <= ts < b for a, b in spans)


class StreetlightModel(DeviceModel):
    """A luminaire controller: switched by the commune's lighting calendar, with its meter."""

    default_interval_s = 3600.0
    kinds = ("report", "usage")

    def __init__(
        self, ctx: Context, device: Device, anomalies: Sequence[Anomaly], commune: Commune | None
    ) -> None:
        super().__init__(ctx, device, anomalies)
        lat = commune.latitude if commune else 48.1
        lon = commune.longitude if commune else -1.7
        self.calendar = LightingCalendar.shared(
            ctx,
            lat,
            lon,
            str(self.sim.get("dim_from", "23:00")),
            str(self.sim.get("dim_to", "05:00")),
        )
        self.lamp_w = float(
            self.sim.get("lamp_w", 40 + 10 * math.floor(6 * unit(ctx.seed, self.dev_eui, "lamp")))
        )
        self.dim_pct = float(self.sim.get("dim_pct", 50))
        self.delay = 5 + 55 * unit(ctx.seed, self.dev_eui, "notify")
        self.voltage_phase = unit(ctx.seed, self.dev_eui, "v") * 6
        self.failures = [a for a in anomalies if a.type == "lamp_out"]

    def _energy_norm(self, ts: float) -> tuple[float, float]:
        """(kWh, lamp hours) at ``ts`` if the lamp had never failed."""
        full, dim = self.calendar.cumulative(ts)
        return self.lamp_w * (full + dim * self.dim_pct / 100) / 3.6e6, (full + dim) / 3600

    def totals(self, ts: float) -> tuple[float, float]:
        kwh, hours = self._energy_norm(ts)
        for a in self.failures:
            if ts > a.onset_ts:
                until = min(ts, a.end_ts)
                k0, h0 = self._energy_norm(a.onset_ts)
                k1, h1 = self._energy_norm(until)
                kwh += -(k1 - k0) + a.size["standby_w"] * (until - a.onset_ts) / 3.6e6
                hours -= h1 - h0
        return kwh, hours

    def state(self, ts: float) -> State:
        relay, dimmed = self.calendar.lit(ts)
        failed = any(a.active(ts) for a in self.failures)
        lit = relay and not failed
        level = (self.dim_pct if dimmed else 100.0) if lit else 0.0
        kwh, hours = self.totals(ts)
        power = self.lamp_w * level / 100 * (1 + 0.01 * math.sin(ts / 3000))
        if relay and failed:
            power = next(a.size["standby_w"] for a in self.failures if a.active(ts))
        state: State = {
            "lamp_on": lit,
            "lamp_failure": failed,
            "dim_pct": level,
            "power_w": power,
            "voltage_v": 230 + 4 * math.sin(ts / 7200 + self.voltage_phase),
            "energy_kwh": kwh,
            "lamp_hours": hours,
        }
        if lit:
            state["power_factor"] = 0.95
        return state

    def events(self, day: date) -> list[tuple[float, str]]:
        out = [(t + self.delay, "report") for t, _ in self.calendar.day(day).events]
        for a in self.failures:
            if self.ctx.local_date(a.onset_ts) == day:
                out.append((a.onset_ts + 20.0, "dali_alert"))
        return sorted(out)

    def events_before(self, ts: float) -> int:
        count = self.calendar.events_before(ts - self.delay)
        return count + sum(
            1 for a in self.failures if a.onset_ts + 20.0 < ts and a.onset_ts >= self.ctx.epoch_ts
        )


# ---- leak sensors -----------------------------------------------------------------------------


class LeakModel(DeviceModel):
    """A floor leak sensor: dry, except during ``leak`` anomalies; a frame at once on change."""

    default_interval_s = 3600.0

    def __init__(
        self, ctx: Context, device: Device, anomalies: Sequence[Anomaly], load: BuildingLoad | None
    ) -> None:
        super().__init__(ctx, device, anomalies)
        self.load = load
        self.leaks = [a for a in anomalies if a.type == "leak"]
        self.changes = sorted(
            t
            for a in self.leaks
            for t in (a.onset_ts, a.end_ts)
            if math.isfinite(t) and t >= ctx.epoch_ts
        )

    def state(self, ts: float) -> State:
        indoor = self.load.indoor_c(ts) if self.load else 18.0
        humidity = self.load.humidity_pct(ts) if self.load else 55.0
        return {
            **self.common(ts),
            "leak": any(a.active(ts) for a in self.leaks),
            "temperature_c": indoor,
            "humidity_pct": humidity,
        }

    def events(self, day: date) -> list[tuple[float, str]]:
        return [(t + 2.0, "report") for t in self.changes if self.ctx.local_date(t) == day]

    def events_before(self, ts: float) -> int:
        return bisect.bisect_left([t + 2.0 for t in self.changes], ts)


# ---- outdoor temperature ----------------------------------------------------------------------


class OutdoorSensor(DeviceModel):
    """A temperature sensor under a shelter outside (``outdoor = true``): the commune's weather
    source, read by the weather-aware baselines; a few tenths of noise, like a real probe."""

    default_interval_s = 600.0

    def state(self, ts: float) -> State:
        noise = 0.3 * (unit(self.ctx.seed, self.dev_eui, "probe", int(ts // 60)) - 0.5)
        return {**self.common(ts), "temperature_c": self.ctx.weather.at(ts) + noise}


def building_of(device: Device, buildings: Mapping[str, Building]) -> Building | None:
    return buildings.get(device.building) if device.building else None


def day_bounds(ctx: Context, day: date) -> tuple[datetime, datetime]:
    """Local midnight to next local midnight, aware UTC (helper for reports and tests)."""
    start = datetime.fromtimestamp(ctx.day_start(day), UTC)
    return start, datetime.fromtimestamp(ctx.day_start(day + timedelta(days=1)), UTC)
