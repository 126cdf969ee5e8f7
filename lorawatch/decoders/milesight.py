"""The Milesight channel/type frame format shared by the EM300, EM310, CT and WS series.

A Milesight uplink (fPort 85 by default) is a run of ``channel id, channel type, value``
records whose value length is fixed by the (id, type) pair. Each device module gives a table
of the pairs it documents; the device-information pairs under id 0xFF are common to all.
Source: Milesight user guides, "Uplink Packets" chapter of each device, and the payload
tables of the Milesight-IoT SensorDecoders READMEs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from lorawatch.decoders.base import Decoder, Uplink
from lorawatch.decoders.binary import ByteReader
from lorawatch.errors import DecodeError

Handler = Callable[[ByteReader, dict[str, Any]], None]
MILESIGHT_FPORT = 85
# Alarm conditions of the threshold settings, and the enable flag of the settings' replies.
CONDITIONS: Mapping[int, str] = {0: "disable", 1: "below", 2: "above", 3: "between", 4: "outside"}
ENABLE: Mapping[int, str] = {0: "disable", 1: "enable"}


def lookup(table: Mapping[int, str], value: int) -> str:
    """An enumerated value by name; an undocumented one stays visible as ``unknown (n)``."""
    return table.get(value, f"unknown ({value})")


def _version_nibbles(r: ByteReader, data: dict[str, Any]) -> None:
    b = r.u8("ipso_version")
    data["ipso_version"] = f"v{b >> 4}.{b & 0x0F}"


# Versions are hex digits: the user guides read 0110 as v1.10.
def _hardware(r: ByteReader, data: dict[str, Any]) -> None:
    raw = r.take(2, "hardware_version")
    data["hardware_version"] = f"v{raw[0]:x}.{raw[1] >> 4:x}"


def _firmware(r: ByteReader, data: dict[str, Any]) -> None:
    raw = r.take(2, "firmware_version")
    data["firmware_version"] = f"v{raw[0]:x}.{raw[1]:x}"


def _tsl(r: ByteReader, data: dict[str, Any]) -> None:
    raw = r.take(2, "tsl_version")
    data["tsl_version"] = f"v{raw[0]}.{raw[1]}"


def _serial(r: ByteReader, data: dict[str, Any]) -> None:
    data["sn"] = r.take(8, "sn").hex()


_CLASSES = {0: "Class A", 1: "Class B", 2: "Class C", 3: "Class CtoB"}


def _lorawan_class(r: ByteReader, data: dict[str, Any]) -> None:
    data["lorawan_class"] = lookup(_CLASSES, r.u8("lorawan_class"))


def _reset_event(r: ByteReader, data: dict[str, Any]) -> None:
    r.u8("reset_event")
    data["reset_event"] = "reset"


def _device_status(r: ByteReader, data: dict[str, Any]) -> None:
    r.u8("device_status")
    data["device_status"] = "on"


def _battery(r: ByteReader, data: dict[str, Any]) -> None:
    data["battery"] = r.u8("battery")


COMMON: Mapping[tuple[int, int], Handler] = {
    (0xFF, 0x01): _version_nibbles,
    (0xFF, 0x09): _hardware,
    (0xFF, 0x0A): _firmware,
    (0xFF, 0xFF): _tsl,
    (0xFF, 0x16): _serial,
    (0xFF, 0x0F): _lorawan_class,
    (0xFF, 0xFE): _reset_event,
    (0xFF, 0x0B): _device_status,
    (0x01, 0x75): _battery,
}


def u16(key: str) -> Handler:
    """A handler storing a uint16 setting (an interval, a count) under ``key``."""

    def handler(r: ByteReader, data: dict[str, Any]) -> None:
        data[key] = r.u16le(key)

    return handler


def yes(key: str) -> Handler:
    """A handler for a command's one-byte acknowledgement (reboot...): ``key`` is "yes"."""

    def handler(r: ByteReader, data: dict[str, Any]) -> None:
        r.u8(key)
        data[key] = "yes"

    return handler


def replies(handlers: Mapping[int, Handler]) -> dict[tuple[int, int], Handler]:
    """Handlers of the replies to downlink commands, by the command's type.

    Replies come under channel 0xFF, or 0xFE on newer firmware, with the type of the command.
    """
    return {(channel, kind): h for channel in (0xFF, 0xFE) for kind, h in handlers.items()}


def history_point(r: ByteReader) -> dict[str, Any]:
    """The timestamp, temperature and humidity that start a stored EM300 record (type 0xCE)."""
    return {
        "timestamp": r.u32le("history timestamp"),
        "temperature": r.i16le("history temperature") / 10,
        "humidity": r.u8("history humidity") / 2,
    }


def temperature(r: ByteReader, data: dict[str, Any]) -> None:
    data["temperature"] = r.i16le("temperature") / 10


def humidity(r: ByteReader, data: dict[str, Any]) -> None:
    data["humidity"] = r.u8("humidity") / 2


def walk(
    payload: bytes, handlers: Mapping[tuple[int, int], Handler], warnings: list[str]
) -> dict[str, Any]:
    """Decode every channel record of a Milesight frame.

    An unknown (id, type) pair ends the walk, since its length is unknown: with records
    already decoded it is a warning (the rest is reported, not guessed), alone an error.
    """
    if not payload:
        raise DecodeError("empty payload")
    r = ByteReader(payload)
    data: dict[str, Any] = {}
    end = len(payload)
    while r.pos < end:
        at = r.pos
        if end - at < 2:
            raise DecodeError(f"dangling byte at offset {at}: a record needs id and type")
        key = (payload[at], payload[at + 1])
        r.pos = at + 2
        handler = handlers.get(key)
        if handler is None:
            handler = COMMON.get(key)
        if handler is None:
            message = (
                f"unknown channel 0x{key[0]:02x} type 0x{key[1]:02x} at offset {at}; "
                f"{end - at} byte(s) not decoded"
            )
            if not data:
                raise DecodeError(message)
            warnings.append(message)
            break
        handler(r, data)
    return data


def check_port(f_port: int, warnings: list[str]) -> None:
    if f_port != MILESIGHT_FPORT:
        warnings.append(f"fPort {f_port} is not Milesight's default {MILESIGHT_FPORT}")


class MilesightDecoder(Decoder):
    """A decoder of Milesight channel frames: ``handlers`` holds what its device sends.

    Decoding is the same for every Milesight device (the port check and the walk), so a device
    module gives its table of (id, type) handlers and its own :meth:`normalise`.
    """

    handlers: ClassVar[Mapping[tuple[int, int], Handler]]

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        check_port(uplink.f_port, warnings)
        return walk(uplink.payload, self.handlers, warnings)


def append_history(data: dict[str, Any], point: dict[str, Any]) -> None:
    data.setdefault("history", []).append(point)
