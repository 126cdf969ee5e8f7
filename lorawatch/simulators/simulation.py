"""The simulation: every uplink of every device of a scenario, as ChirpStack would publish it.

Each device reports on its own rhythm (a phase drawn from the seed, a little clock jitter),
plus frames on a change of state (a lamp switching, a leak starting). Each frame carries the
device's physical state (:mod:`lorawatch.simulators.models`) encoded by the real device's
encoder and wrapped in a ChirpStack event (:mod:`lorawatch.simulators.chirpstack`). A few %
of uplinks are lost on the air (their fCnt is skipped, as a network server would see) and a
few are delivered twice (the same bytes again, as an MQTT redelivery does).

Everything is decided per (seed, device, frame) without state carried between calls, so
``uplinks(a, c)`` equals ``uplinks(a, b)`` followed by ``uplinks(b, c)``, and two runs with
the same seed are identical byte for byte.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Final

from lorawatch.core.errors import InventoryError
from lorawatch.decoders import registry
from lorawatch.decoders.base import Params, ParamValue
from lorawatch.gateway_bridge.source import Message
from lorawatch.inventory import Commune, Device
from lorawatch.simulators import encoders
from lorawatch.simulators.chirpstack import OutFormat, SimDevice, encode, topic, uplink_event
from lorawatch.simulators.models import (
    BinModel,
    BuildingLoad,
    Context,
    DeviceModel,
    ElectricityMeter,
    LeakModel,
    OutdoorSensor,
    State,
    StreetlightModel,
    WaterMeter,
    stream,
    unit,
    unit_of,
)
from lorawatch.simulators.scenario import Anomaly, Scenario
from lorawatch.simulators.weather import Weather

UNIX0: Final = datetime(1970, 1, 1, tzinfo=UTC)
JITTER_MS: Final = 2000
"""A device clock drifts: reports come up to 2 s either side of their nominal time."""
MAX_DUPLICATE_DELAY_MS: Final = 5000
WINDOW_MS: Final = 86_400_000

# Resolution of each reading on the air, so the simulated state is exactly what decodes.
_RESOLUTION: Final[dict[str, float]] = {
    "temperature_c": 0.1,
    "humidity_pct": 0.5,
    "battery_pct": 1,
    "battery_v": 0.01,
    "dim_pct": 1,
    "power_w": 1,
    "voltage_v": 1,
    "power_factor": 0.01,
    "lamp_hours": 0.1,
    "distance_mm": 1,
    "flow_l_h": 1,
    "current_a": 0.001,
    "fill_pct": 0.01,
}
_BY_DECODER: Final[dict[str, dict[str, float]]] = {
    "nas-cm30xx": {"temperature_c": 1},
    "nas-um30xx": {"temperature_c": 1},
}
_APPLICATIONS: Final = {
    "electricity": "batiments-energie",
    "water": "batiments-eau",
    "leak": "batiments-eau",
    "bin": "dechets-points-apport",
    "streetlight": "eclairage-public",
    "environment": "meteo",
}


@dataclass(frozen=True, slots=True)
class SimUplink:
    """One simulated delivery: the serialised event on its topic, and what it encodes."""

    time: datetime
    topic: str
    payload: bytes
    dev_eui: str
    state: Mapping[str, float | bool]
    """The canonical values the frame encodes (after the device's own rounding)."""
    duplicate: bool = False
    f_cnt: int = 0
    kind: str = "report"

    def message(self) -> Message:
        """As the bridge receives it, stamped with the event time."""
        return Message(self.topic, self.payload, self.time)


_Rounding = tuple[dict[str, tuple[float, float]], dict[str, tuple[int, float]]]
"""Of one device: (meter name: (counts per unit, index offset)), (reading: (inverse of its
resolution or 0, resolution)), worked out once rather than for every frame."""


@dataclass(slots=True)
class _Device:
    dev_eui: str
    model: DeviceModel
    decoder: str
    params: Params
    readings: frozenset[str]
    sim_device: SimDevice
    dev_addr: str
    phase_ms: int
    interval_ms: int
    kinds: tuple[str, ...]
    key: str
    """``seed/dev_eui/``: the start of every per-frame :func:`unit` and :func:`stream` key."""
    topic: str
    encoder: encoders.Encoder
    rounding: _Rounding


class Simulation:
    """All devices of a scenario for one seed; ask :meth:`uplinks` for any interval."""

    def __init__(self, scenario: Scenario, seed: int = 0, fmt: OutFormat = "v4-json") -> None:
        self.scenario = scenario
        self.seed = seed
        self.fmt: OutFormat = fmt
        weather = Weather.from_spec(scenario.weather, seed, scenario.timezone)
        self.ctx = Context(seed, scenario.zone, scenario.epoch.timestamp(), weather)
        self.epoch_ms = _ms(scenario.epoch)
        inventory = scenario.inventory
        self.loads: dict[str, BuildingLoad] = {}
        self.devices: dict[str, _Device] = {}
        problems: list[tuple[str, str]] = []
        for entry in scenario.devices:
            resolved = inventory.devices[entry.dev_eui]
            where = f"devices[{entry.dev_eui}] ({resolved.name})"
            anomalies = scenario.anomalies_of_device(entry.dev_eui)
            commune = inventory.communes.get(resolved.commune)
            try:
                encoder_kinds = encoders.kinds(entry.decoder)
            except KeyError:
                problems.append((where, f"decoder {entry.decoder!r} has no simulator encoder"))
                continue
            try:
                model = self._model(entry.kind, entry, anomalies, commune)
            except (ValueError, KeyError) as exc:
                problems.append((where, str(exc)))
                continue
            if model is None:
                problems.append((where, f"no simulation model for kind {entry.kind!r}"))
                continue
            kinds = tuple(str(k) for k in entry.simulation.get("kinds", model.kinds))
            if not set(kinds) <= set(encoder_kinds):
                kinds = ("report",)
            interval_ms = round(model.interval_s * 1000)
            tags = {
                "commune": resolved.commune,
                "building": resolved.building,
                "kind": resolved.kind,
            }
            sim_device = SimDevice(
                dev_eui=entry.dev_eui,
                name=resolved.name,
                profile=entry.decoder,
                tags={k: v for k, v in tags.items() if v},
                application_name=_APPLICATIONS.get(entry.kind, "capteurs"),
                tenant_name=commune.name if commune else scenario.name,
                distance_m=100 + 2400 * unit(seed, entry.dev_eui, "distance"),
            )
            self.devices[entry.dev_eui] = _Device(
                dev_eui=entry.dev_eui,
                model=model,
                decoder=entry.decoder,
                params=resolved.params,
                readings=frozenset(registry.get(entry.decoder).readings),
                sim_device=sim_device,
                dev_addr=f"{int(unit(seed, entry.dev_eui, 'devaddr') * 2**25) | 0x26000000:08x}",
                phase_ms=JITTER_MS
                + round(unit(seed, entry.dev_eui, "phase") * (interval_ms - 2 * JITTER_MS)),
                interval_ms=interval_ms,
                kinds=kinds,
                key=f"{seed}/{entry.dev_eui}/",
                topic=topic(sim_device, "up", fmt),
                encoder=encoders.get(entry.decoder),
                rounding=_rounding(entry.decoder, resolved.params),
            )
        if problems:
            raise InventoryError(problems, str(scenario.path))

    def _model(
        self, kind: str, entry: Device, anomalies: list[Anomaly], commune: Commune | None
    ) -> DeviceModel | None:
        if kind == "electricity":
            return ElectricityMeter(self.ctx, entry, anomalies, self.load(entry.building))
        if kind == "water":
            return WaterMeter(self.ctx, entry, anomalies, self.load(entry.building))
        if kind == "leak":
            return LeakModel(
                self.ctx, entry, anomalies, self.load(entry.building) if entry.building else None
            )
        if kind == "bin":
            return BinModel(self.ctx, entry, anomalies)
        if kind == "streetlight":
            return StreetlightModel(self.ctx, entry, anomalies, commune)
        if kind == "environment" and entry.outdoor:
            return OutdoorSensor(self.ctx, entry, anomalies)
        return None

    def load(self, building_id: str) -> BuildingLoad:
        """The shared load model of a building ("" gives a standalone office-like load)."""
        found = self.loads.get(building_id)
        if found is None:
            inventory = self.scenario.inventory
            building = inventory.buildings.get(building_id)
            commune = inventory.communes.get(building.commune) if building else None
            anomalies = self.scenario.anomalies_of_building(building_id) if building_id else []
            found = self.loads[building_id] = BuildingLoad(self.ctx, building, commune, anomalies)
        return found

    def model(self, dev_eui: str) -> DeviceModel:
        return self.devices[dev_eui].model

    # -- the schedule ----------------------------------------------------------------------------

    def _report_ms(self, d: _Device, k: int) -> int:
        jitter = round((unit_of(f"{d.key}jitter/{k}") - 0.5) * 2 * JITTER_MS)
        return self.epoch_ms + d.phase_ms + k * d.interval_ms + jitter

    def _reports_before(self, d: _Device, t_ms: int) -> int:
        m = (t_ms - self.epoch_ms - d.phase_ms) // d.interval_ms
        count = max(0, m)
        count += sum(1 for k in (m, m + 1) if k >= 0 and self._report_ms(d, k) < t_ms)
        return count

    def _frames(self, d: _Device, lo: int, hi: int) -> list[tuple[int, bool, int, str, int]]:
        """(delivery ms, duplicate, fCnt, kind, frame ms) of deliveries within [lo, hi)."""
        slack = JITTER_MS + MAX_DUPLICATE_DELAY_MS
        first = max(0, -(-(lo - slack - self.epoch_ms - d.phase_ms) // d.interval_ms))
        last = (hi + JITTER_MS - self.epoch_ms - d.phase_ms) // d.interval_ms
        frames: list[tuple[int, int, str]] = []
        model = d.model
        for k in range(first, last + 1):
            t = self._report_ms(d, k)
            frames.append((t, k + model.events_before(t / 1000), d.kinds[k % len(d.kinds)]))
        day = self.ctx.local_date((lo - slack) / 1000)
        last_day = self.ctx.local_date(hi / 1000)
        while day <= last_day:
            for ts, kind in model.events(day):
                t = round(ts * 1000)
                if lo - slack <= t < hi:
                    frames.append((t, self._reports_before(d, t) + model.events_before(ts), kind))
            day += timedelta(days=1)
        silent = model.silent_from * 1000
        loss_rate, duplicate_rate = self.scenario.loss_rate, self.scenario.duplicate_rate
        key = d.key
        out: list[tuple[int, bool, int, str, int]] = []
        for t, f_cnt, kind in frames:
            if t < self.epoch_ms or t >= silent:
                continue
            if unit_of(f"{key}lost/{f_cnt}") < loss_rate:
                continue
            if lo <= t < hi:
                out.append((t, False, f_cnt, kind, t))
            if unit_of(f"{key}dup/{f_cnt}") < duplicate_rate:
                later = (
                    t
                    + 300
                    + round(unit_of(f"{key}dup-delay/{f_cnt}") * (MAX_DUPLICATE_DELAY_MS - 300))
                )
                if lo <= later < hi:
                    out.append((later, True, f_cnt, kind, t))
        out.sort()
        return out

    def _device_uplinks(self, d: _Device, start_ms: int, end_ms: int) -> Iterator[SimUplink]:
        lo = max(start_ms, self.epoch_ms)
        silent = d.model.silent_from * 1000
        while lo < end_ms and lo < silent + MAX_DUPLICATE_DELAY_MS:
            hi = min(end_ms, lo + WINDOW_MS)
            for when, duplicate, f_cnt, kind, frame_ms in self._frames(d, lo, hi):
                yield self._uplink(d, when, duplicate, f_cnt, kind, frame_ms)
            lo = hi

    def _uplink(
        self, d: _Device, when: int, duplicate: bool, f_cnt: int, kind: str, frame_ms: int
    ) -> SimUplink:
        ts = frame_ms / 1000
        state = _on_air(d.model.state(ts), d.readings, d.rounding)
        frame = d.encoder({**state, "timestamp": math.floor(ts)}, d.params, kind)
        frame_time = _time(frame_ms)
        rng = stream(f"{d.key}frame/{f_cnt}")
        event = uplink_event(
            d.sim_device, frame.f_port, frame.payload, f_cnt % 2**32, frame_time, rng
        )
        event["devAddr"] = d.dev_addr
        return SimUplink(
            time=_time(when) if duplicate else frame_time,
            topic=d.topic,
            payload=encode(event, self.fmt),
            dev_eui=d.dev_eui,
            state=state,
            duplicate=duplicate,
            f_cnt=f_cnt,
            kind=kind,
        )

    def uplinks(
        self, start: datetime, end: datetime, dev_euis: Collection[str] | None = None
    ) -> Iterator[SimUplink]:
        """Every delivery with ``start <= time < end``, in time order (ties: dev_eui).

        ``dev_euis`` restricts the output to those devices (the others are not computed).
        """
        start_ms, end_ms = _ms_ceil(start), _ms_ceil(end)
        chosen = self.devices.values() if dev_euis is None else [self.devices[e] for e in dev_euis]
        streams = [self._device_uplinks(d, start_ms, end_ms) for d in chosen]
        yield from heapq.merge(*streams, key=attrgetter("time", "dev_eui", "duplicate"))


def on_air(decoder: str, params: Params, state: State, readings: frozenset[str]) -> State:
    """The state as the device sends it: only what its frames carry, at the device's
    resolution, and meter indexes in whole pulses on top of the meter's index offset."""
    return _on_air(state, readings, _rounding(decoder, params))


def _rounding(decoder: str, params: Params) -> _Rounding:
    meters = {name: _meter_constant(name, params) for name in ("energy_kwh", "volume_m3")}
    resolution = {**_RESOLUTION, **_BY_DECODER.get(decoder, {})}
    steps = {name: (round(1 / step) if step < 1 else 0, step) for name, step in resolution.items()}
    return meters, steps


def _on_air(state: State, readings: frozenset[str], rounding: _Rounding) -> State:
    meters, steps = rounding
    out: State = {}
    for name, value in state.items():
        if name not in readings:
            continue
        if isinstance(value, bool):
            out[name] = value
        elif name in meters:
            per_unit, offset = meters[name]
            out[name] = math.floor((value - offset) * per_unit + 1e-9) / per_unit + offset
        elif name in steps:
            inverse, step = steps[name]
            out[name] = (
                round(value * inverse) / inverse if inverse else float(round(value / step) * step)
            )
        else:
            out[name] = value
    return out


def _meter_constant(name: str, params: Params) -> tuple[float, float]:
    """(counts per kWh or m³, index offset) of the meter behind a device."""

    def number(*keys: str) -> float | None:
        for key in keys:
            value: ParamValue | None = params.get(key)
            if isinstance(value, float) and value > 0:
                return value
        return None

    offset = number("index_offset", "pulse_1_index_offset") or 0.0
    if name == "energy_kwh":
        return number("pulses_per_kwh", "pulse_1_pulses_per_kwh") or 1000.0, offset
    litres = number("litres_per_pulse", "pulse_1_litres_per_pulse")
    return (1000.0 / litres if litres else 1000.0), offset


def _ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("simulation times must be aware datetimes")
    return (t - UNIX0) // timedelta(milliseconds=1)


def _ms_ceil(t: datetime) -> int:
    """The first whole millisecond at or after ``t``."""
    if t.tzinfo is None:
        raise ValueError("simulation times must be aware datetimes")
    return -((UNIX0 - t) // timedelta(milliseconds=1))


def _time(ms: int) -> datetime:
    return UNIX0 + timedelta(milliseconds=ms)
