"""From parsed ChirpStack events to the records of a batch: decode, normalise, enrich, derive.

One uplink becomes: its raw frame (always, for audit and re-decoding), its canonical readings
tagged with the device's place from the inventory, the consumption deltas of its meter
indexes (:mod:`lorawatch.pipeline.meters`), and data-quality events. An uplink that cannot be
read (unknown device, decoder error, no decoder and no mapping) becomes a dead letter with
its reason, and its raw frame is still kept.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import structlog

from lorawatch.core.errors import RejectedMessage
from lorawatch.core.readings import DELTA_OF, OUTDOOR, Reading
from lorawatch.decoders import mapping as object_mapping
from lorawatch.decoders.base import Uplink, readings_of
from lorawatch.decoders.normalized import PROBLEM_PREFIXES as NORMALIZED_PROBLEM
from lorawatch.gateway_bridge.dedup import identity
from lorawatch.gateway_bridge.events import Event, Rx, UplinkEvent
from lorawatch.gateway_bridge.source import Message
from lorawatch.inventory import Inventory, ResolvedDevice
from lorawatch.inventory.occupancy import BuildingSchedules
from lorawatch.pipeline import commands as _commands
from lorawatch.pipeline.meters import Delta, MeterEngine, MeterKey, MeterLimits, QualityEvent
from lorawatch.pipeline.records import (
    Batch,
    Consumption,
    DeadLetter,
    DeviceEvent,
    Place,
    RawUplink,
    StoredReading,
)

log = structlog.get_logger(__name__)

# Physical maxima per meter kind: beyond them a delta is a glitch, not consumption.
DEFAULT_LIMITS = {
    "electricity": MeterLimits(max_per_hour=2_000.0),
    "water": MeterLimits(max_per_hour=100.0),
    "gas": MeterLimits(max_per_hour=2_000.0),
}


def place_of(device: ResolvedDevice) -> Place:
    return Place(device.commune, device.building, device.name, device.kind)


def _strength(rx: Rx) -> float:
    """What picks the best reception of an uplink: its RSSI (none: the weakest)."""
    return rx.rssi if rx.rssi is not None else -999.0


class Ingestor:
    def __init__(
        self,
        inventory: Inventory,
        use_object: bool = True,
        meters: MeterEngine | None = None,
        commands: _commands.CommandQueue | None = None,
    ) -> None:
        self.inventory = inventory
        self.use_object = use_object
        self.meters = meters or MeterEngine(self.limits)
        self.quality: Counter[str] = Counter()
        self.chirpstack_logs: Counter[str] = Counter()
        self.chirpstack_log_devices: defaultdict[str, set[str]] = defaultdict(set)
        self._places: dict[str, Place] = {}
        self._mapping_logged: set[tuple[str, str]] = set()
        self.occupancy = BuildingSchedules(inventory)
        self._commands = commands
        self._commands_checked = 0.0

    def poll_commands(self, batch: Batch, every_s: float = 2.0) -> list[int]:
        """Apply meter commands recorded since the last look; add the deltas they change.

        Runs on the bridge thread (the meter engine is not thread-safe), at most every
        ``every_s``; returns the ids to mark applied once the batch is durable.
        """
        now = time.monotonic()
        if self._commands is None or now - self._commands_checked < every_s:
            return []
        self._commands_checked = now
        ids = []
        for command in self._commands.pending_commands():
            deltas, events = _commands.apply(self.meters, command)
            device = self.inventory.devices.get(command.key.dev_eui)
            place = self._place(device) if device else Place()
            self._add(command.key.dev_eui, deltas, events, place, batch)
            ids.append(command.id)
        return ids

    def commands_applied(self, ids: list[int]) -> None:
        if ids and self._commands is not None:
            self._commands.mark_commands_applied(ids)

    def _place(self, device: ResolvedDevice) -> Place:
        place = self._places.get(device.dev_eui)
        if place is None:
            place = self._places[device.dev_eui] = place_of(device)
        return place

    def limits(self, key: MeterKey) -> MeterLimits:
        """Each meter's physical limits, from its device's kind and parameters."""
        device = self.inventory.devices.get(key.dev_eui)
        kind = device.kind if device else ""
        limit = DEFAULT_LIMITS.get(kind, MeterLimits())
        gap = device.params.get("gap_after_h") if device else None
        if isinstance(gap, float) and gap > 0:
            return MeterLimits(limit.max_per_hour, timedelta(hours=gap))
        return limit

    def uplink(
        self,
        message: Message,
        event: UplinkEvent,
        batch: Batch,
        uid: int | None = None,
        *,
        meters: bool = True,
    ) -> int:
        """Add the uplink's records to the batch; return the number of readings. ``uid`` is
        the identity the bridge resolved (:mod:`lorawatch.gateway_bridge.dedup`), else the
        first generation's. ``meters`` False keeps the frame's indexes out of the meters (a
        frame whose own time could not be trusted): the next frame's delta spans its interval,
        so consumption stays the last index minus the first."""
        device = self.inventory.resolve(
            event.dev_eui, event.device_profile, event.tags, event.device_name
        )
        place = self._place(device) if device else Place(device=event.device_name)
        rx = event.rx
        best = rx[0] if len(rx) == 1 else max(rx, key=_strength, default=None)
        batch.uplinks.append(
            RawUplink(
                event.dev_eui,
                event.time,
                event.f_cnt,
                event.f_port,
                event.payload,
                event.dedup_id,
                message.received,
                event.format,
                best.rssi if best else None,
                best.snr if best else None,
                len(event.rx),
                place,
                identity(event, message) if uid is None else uid,
            )
        )
        try:
            if device is None:
                raise RejectedMessage(
                    "unknown_device",
                    f"{event.dev_eui} ({event.device_name or 'no name'}, profile "
                    f"{event.device_profile or 'none'}) is not in the inventory",
                    event.dev_eui,
                )
            notes: list[str] = []
            readings = self._readings(device, event, notes)
            if notes:
                self._mapping_notes(device, event, notes, place, batch)
        except RejectedMessage as exc:
            batch.dead_letters.append(
                DeadLetter(
                    message.received,
                    message.topic,
                    message.payload,
                    exc.reason,
                    exc.detail,
                    event.dev_eui,
                )
            )
            return 0
        outdoor = device.outdoor
        dev_eui = event.dev_eui
        store = batch.readings.append
        for r in readings:
            name = r.name
            store(
                StoredReading(
                    dev_eui,
                    OUTDOOR if outdoor and name == "temperature_c" else name,
                    r.channel,
                    r.time,
                    r.value,
                    place,
                )
            )
            if meters and name in DELTA_OF:
                deltas, events = self.meters.update(dev_eui, r)
                if deltas or events:
                    self._add(dev_eui, deltas, events, place, batch)
        return len(readings)

    def _add(
        self,
        dev_eui: str,
        deltas: list[Delta],
        events: list[QualityEvent],
        place: Place,
        batch: Batch,
    ) -> None:
        unoccupied = self.occupancy.unoccupied
        for d in deltas:
            batch.consumption.append(
                Consumption(
                    dev_eui,
                    d.name,
                    d.key.channel,
                    d.start,
                    d.end,
                    d.value,
                    d.gap,
                    place,
                    unoccupied(place.building, d.start, d.end, d.value),
                )
            )
        for q in events:
            self.quality[q.kind] += 1
            batch.events.append(DeviceEvent(dev_eui, q.time, "quality", q.kind, q.detail, place))

    def _mapping_notes(
        self,
        device: ResolvedDevice,
        event: UplinkEvent,
        notes: list[str],
        place: Place,
        batch: Batch,
    ) -> None:
        """A mapped value that could not be read is a counted ``mapping`` quality event, logged
        once per device and field (its value is still in the raw frame)."""
        for note in notes:
            self.quality["mapping"] += 1
            batch.events.append(
                DeviceEvent(event.dev_eui, event.time, "quality", "mapping", note, place)
            )
            key = (device.dev_eui, note.partition(":")[0])
            if key not in self._mapping_logged and len(self._mapping_logged) < 10_000:
                self._mapping_logged.add(key)
                log.warning("mapping cannot read a value", dev_eui=device.dev_eui, detail=note)

    def _readings(
        self, device: ResolvedDevice, event: UplinkEvent, notes: list[str]
    ) -> list[Reading]:
        if device.decoder is not None:
            if not event.payload:
                raise RejectedMessage(
                    "empty_payload", "uplink has no data to decode", event.dev_eui
                )
            result = device.decoder.decode_uplink(
                Uplink(event.payload, event.f_port, event.time, event.tags)
            )
            readings = readings_of(device.decoder, result, device.params, event.time)
            # TTN normalized fields lorawatch could not read are mapping problems too.
            notes += [w for w in result.warnings if w.startswith(NORMALIZED_PROBLEM)]
            if not result.ok:
                raise RejectedMessage(
                    "decode_error",
                    f"{device.decoder.name}: {'; '.join(result.errors)}",
                    event.dev_eui,
                )
            if device.mapping and result.data:
                mapped, problems = object_mapping.apply(result.data, device.mapping, event.time)
                notes += problems
                # The operator's mapping is authoritative for the readings it declares.
                declared = {(f.reading, f.channel) for f in device.mapping.values()}
                readings = [r for r in readings if (r.name, r.channel) not in declared] + mapped
            return readings
        if device.mapping and self.use_object and event.object is not None:
            readings, problems = object_mapping.apply(event.object, device.mapping, event.time)
            notes += problems
            return readings
        raise RejectedMessage(
            "no_decoder",
            "device has no decoder, and no mapping of ChirpStack's object (or no object: the "
            "device profile's codec failed or is missing)",
            event.dev_eui,
        )

    def clock_ahead(self, event: Event, claimed: datetime, batch: Batch) -> None:
        """Record that ``event``, now dated at its arrival, claimed the time ``claimed``."""
        device = self.inventory.devices.get(event.dev_eui)
        place = self._place(device) if device else Place(device=event.device_name)
        detail = (
            f"{event.kind} event dated {claimed.isoformat()}, {claimed - event.time} after its "
            "arrival: read at its arrival time, its meter indexes left out"
        )
        batch.events.append(
            DeviceEvent(event.dev_eui, event.time, "quality", "clock_ahead", detail, place)
        )

    def event(self, event: Event, batch: Batch, uid: int | None = None) -> None:
        """Record a non-uplink event (``uid``: its identity); status battery levels also
        become readings."""
        device = self.inventory.devices.get(event.dev_eui)
        place = self._place(device) if device else Place(device=event.device_name)
        body = event.body
        code = str(body.get("code", "")) if event.kind == "log" else ""
        detail = str(body.get("description", "")) if event.kind == "log" else ""
        if code:
            # ChirpStack's own reports (a failing device-profile codec, a frame-counter reset,
            # a retransmission): counted per code and device for /healthz.
            self.chirpstack_logs[code] += 1
            self.chirpstack_log_devices[code].add(event.dev_eui)
        if event.kind == "status":
            level = body.get("batteryLevel")
            unavailable = body.get("batteryLevelUnavailable") or body.get("externalPowerSource")
            if isinstance(level, int | float) and not unavailable and 0 <= level <= 100:
                batch.readings.append(
                    StoredReading(event.dev_eui, "battery_pct", "", event.time, float(level), place)
                )
            detail = f"margin={body.get('margin')} battery={level}"
        elif event.kind == "join":
            detail = f"devAddr={body.get('devAddr', '')}"
        batch.events.append(
            DeviceEvent(event.dev_eui, event.time, event.kind, code, detail, place, uid)
        )
