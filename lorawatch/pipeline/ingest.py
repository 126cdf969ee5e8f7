"""From parsed ChirpStack events to the records of a batch: decode, normalise, enrich, derive.

One uplink becomes: its raw frame (always, for audit and re-decoding), its canonical readings
tagged with the device's place from the inventory, the consumption deltas of its meter
indexes (:mod:`lorawatch.pipeline.meters`), and data-quality events. An uplink that cannot be
read (unknown device, decoder error, no decoder and no mapping) becomes a dead letter with
its reason, and its raw frame is still kept.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from lorawatch.decoders import mapping as object_mapping
from lorawatch.decoders.base import Uplink, readings_of
from lorawatch.errors import RejectedMessage
from lorawatch.gateway_bridge.events import Event, UplinkEvent
from lorawatch.gateway_bridge.source import Message
from lorawatch.inventory import Inventory, ResolvedDevice
from lorawatch.pipeline.meters import MeterEngine, MeterKey, MeterLimits
from lorawatch.pipeline.records import (
    Batch,
    Consumption,
    DeadLetter,
    DeviceEvent,
    Place,
    RawUplink,
    StoredReading,
)
from lorawatch.readings import DELTA_OF, Reading

# Physical maxima per meter kind: beyond them a delta is a glitch, not consumption.
DEFAULT_LIMITS = {
    "electricity": MeterLimits(max_per_hour=2_000.0),
    "water": MeterLimits(max_per_hour=100.0),
    "gas": MeterLimits(max_per_hour=2_000.0),
}


def place_of(device: ResolvedDevice) -> Place:
    return Place(device.commune, device.building, device.name, device.kind)


class Ingestor:
    def __init__(
        self, inventory: Inventory, use_object: bool = True, meters: MeterEngine | None = None
    ) -> None:
        self.inventory = inventory
        self.use_object = use_object
        self.meters = meters or MeterEngine(self._limits)
        self.quality: Counter[str] = Counter()
        self._places: dict[str, Place] = {}

    def _place(self, device: ResolvedDevice) -> Place:
        place = self._places.get(device.dev_eui)
        if place is None:
            place = self._places[device.dev_eui] = place_of(device)
        return place

    def _limits(self, key: MeterKey) -> MeterLimits:
        device = self.inventory.devices.get(key.dev_eui)
        kind = device.kind if device else ""
        limit = DEFAULT_LIMITS.get(kind, MeterLimits())
        gap = device.params.get("gap_after_h") if device else None
        if isinstance(gap, float) and gap > 0:
            return MeterLimits(limit.max_per_hour, timedelta(hours=gap))
        return limit

    def uplink(self, message: Message, event: UplinkEvent, batch: Batch) -> int:
        """Add the uplink's records to the batch; return the number of readings."""
        device = self.inventory.resolve(
            event.dev_eui, event.device_profile, event.tags, event.device_name
        )
        place = place_of(device) if device else Place(device=event.device_name)
        best = max(event.rx, key=lambda r: r.rssi if r.rssi is not None else -999.0, default=None)
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
            readings = self._readings(device, event)
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
        for r in readings:
            batch.readings.append(
                StoredReading(event.dev_eui, r.name, r.channel, r.time, r.value, place)
            )
            if r.name not in DELTA_OF:
                continue
            deltas, events = self.meters.update(event.dev_eui, r)
            for d in deltas:
                batch.consumption.append(
                    Consumption(
                        event.dev_eui, d.name, d.key.channel, d.start, d.end, d.value, d.gap, place
                    )
                )
            for q in events:
                self.quality[q.kind] += 1
                batch.events.append(
                    DeviceEvent(event.dev_eui, q.time, "quality", q.kind, q.detail, place)
                )
        return len(readings)

    def _readings(self, device: ResolvedDevice, event: UplinkEvent) -> list[Reading]:
        if device.decoder is not None:
            if not event.payload:
                raise RejectedMessage(
                    "empty_payload", "uplink has no data to decode", event.dev_eui
                )
            result = device.decoder.decode_uplink(
                Uplink(event.payload, event.f_port, event.time, event.tags)
            )
            readings = readings_of(device.decoder, result, device.params, event.time)
            if not result.ok:
                raise RejectedMessage(
                    "decode_error",
                    f"{device.decoder.name}: {'; '.join(result.errors)}",
                    event.dev_eui,
                )
            if device.mapping and result.data:
                mapped, _ = object_mapping.apply(result.data, device.mapping, event.time)
                readings += mapped
            return readings
        if device.mapping and self.use_object and event.object is not None:
            readings, _ = object_mapping.apply(event.object, device.mapping, event.time)
            return readings
        raise RejectedMessage(
            "no_decoder",
            "device has no decoder, and no mapping of ChirpStack's object (or no object: the "
            "device profile's codec failed or is missing)",
            event.dev_eui,
        )

    def event(self, event: Event, batch: Batch) -> None:
        """Record a non-uplink event; status battery levels also become readings."""
        device = self.inventory.devices.get(event.dev_eui)
        place = place_of(device) if device else Place(device=event.device_name)
        body = event.body
        code = str(body.get("code", "")) if event.kind == "log" else ""
        detail = str(body.get("description", "")) if event.kind == "log" else ""
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
        batch.events.append(DeviceEvent(event.dev_eui, event.time, event.kind, code, detail, place))
