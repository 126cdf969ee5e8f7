"""What the uplinks of NAS devices share, whatever the device that sends them.

NAS (Nordic Automation Systems, now Axioma) builds its CM30xx water meter readers, UM30xx
utility meter readers and UL20xx luminaire controllers on one firmware base, so some codes and
frame parts are the same on every device that has them:

- the error codes of the faulty-downlink report (fPort 99, header 0x13), which the UL20xx
  extends with codes of its own;
- on the CM30xx and UM30xx meter readers: the radio profile codes of the general configuration
  packet, the device-status block of their usage/status packets (battery, internal temperature
  and its spread, downlink radio quality), the start of the boot packet (serial, firmware
  version, MCU wakeup reasons), the local time command, the location configuration packet, the
  one-byte logarithmic meter actuality scale and the 0xFFFFFFFF "no serial" sentinel.

The device modules keep what differs: their enumerations (boot reasons, hardware), how an
undocumented value is reported, and their labels for the fields not listed here. Numbers are
rounded like the vendor codec's ``toFixed``, so decoded data matches its output.
Source: nasys/nas-codecs, src/cm30xx_decoder.js and src/um30xx_decoder.js (serialFormat,
actualityDurationToMinutesFormat, lorawanProfileFormat, wmbusProfileFormat,
packetErrorReasonFormatter, the device status block of the usage parsers, sysMessagesParser,
commandParser, locationConfigurationParser); NAS UL20xx payload description FW 1.1.x.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lorawatch.decoders.binary import ByteReader

# Error codes of the faulty-downlink report: why the device rejected a downlink.
DOWNLINK_ERRORS: Mapping[int, str] = {
    0x00: "n/a",
    0x01: "n/a",
    0x02: "unknown_fport",
    0x03: "packet_size_short",
    0x04: "packet_size_long",
    0x05: "value_error",
    0x06: "protocol_parse_error",
    0x07: "reserved_flag_set",
    0x08: "invalid_flag_combination",
    0x09: "unavailable_feature_request",
    0x0A: "unsupported_header",
    0x0B: "unreachable_hw_request",
    0x0C: "address_not_available",
    0x0D: "internal_error",
}
LORAWAN_PROFILES: Mapping[int, str] = {
    0x00: "lorawan_disabled",
    0x01: "lorawan_24_h_privacy",
    0x02: "lorawan_24_h",
    0x03: "lorawan_12_h",
    0x07: "lorawan_1_h_static",
    0x08: "lorawan_15_min_static",
    0x17: "lorawan_1_h_dynamic",
    0x18: "lorawan_15_min_dynamic",
}
WMBUS_PROFILES: Mapping[int, str] = {
    0: "wmbus_disabled",
    1: "wmbus_privacy",
    2: "wmbus_driveby",
    3: "wmbus_fixnet",
}
# Bits of the boot packet's MCU wakeup byte; the unnamed ones keep their bit number.
WAKEUP_REASONS = (
    "reason_0",
    "watchdog_reset",
    "soft_reset",
    "reason_3",
    "magnet_wakeup",
    "reason_5",
    "reason_6",
    "nfc_wakeup",
)
_NO_SERIAL = 0xFFFFFFFF
# The device clock counts from 2020 once set; an earlier time means it was never set.
_START_OF_2020 = 1577836800


def js_fixed(value: float, places: int) -> float:
    """JavaScript ``toFixed`` rounding (half up on the exact binary value), as the vendor codec."""
    return float(Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def serial(value: int) -> str:
    """A meter or device serial as the vendor prints it; all ones means there is none."""
    return "not_available" if value == _NO_SERIAL else f"{value:08X}"


def version(raw: bytes) -> str:
    """A firmware version, one byte per part (major.minor.patch)."""
    return ".".join(str(part) for part in raw)


def actuality_minutes(raw: int) -> int | None:
    """How old the meter reading is, from the one-byte logarithmic actuality scale.

    Minutes up to 59, then quarter hours, days and weeks; 253 is a year, above is unknown.
    """
    if raw < 60:
        return raw
    if raw < 156:
        return (raw - 60) * 15
    if raw < 200:
        return (raw - 156) * 24 * 60
    if raw < 253:
        return (raw - 200) * 7 * 24 * 60
    return 365 * 24 * 60 if raw == 253 else None


def device_status(r: ByteReader, data: dict[str, Any]) -> None:
    """The device-status block of a meter reader's usage or status packet.

    Battery life in months and voltage above 1.5 V, the internal temperature with its spread
    over the period (two nibbles of 2 °C steps), and the radio quality of the last downlink.
    """
    data["battery_remaining__years"] = js_fixed(r.u8("battery remaining") / 12, 1)
    data["battery_voltage__V"] = js_fixed(r.u8("battery voltage") / 100 + 1.5, 2)
    temperature = r.i8("internal temperature")
    spread = r.u8("temperature spread")
    data["internal_temperature__C"] = temperature
    data["internal_temperature_min__C"] = temperature - 2 * (spread & 0x0F)
    data["internal_temperature_max__C"] = temperature + 2 * (spread >> 4)
    data["radio_downlink_rssi__dBm"] = -r.u8("downlink rssi")
    radio = r.u8("radio quality")
    data["radio_downlink_snr__dB"] = (radio & 0x0F) * 2 - 20
    data["radio_uplink_power__dBm"] = (radio >> 4) * 2


def boot_header(r: ByteReader, data: dict[str, Any]) -> None:
    """The start of a meter reader's boot packet: device serial, firmware, wakeup reasons."""
    data["device_serial"] = serial(r.u32le("device serial"))
    data["device_firmware_version"] = version(r.take(3, "firmware version"))
    wakeup = r.u8("wakeup reason")
    data["wakeup_reason_mcu"] = [
        name for bit, name in enumerate(WAKEUP_REASONS) if wakeup >> bit & 1
    ]


def local_time(r: ByteReader, data: dict[str, Any], what: str) -> None:
    """The local time command (0x03) after its header: a bare header asks for the time."""
    if not r.remaining:
        data["packet_type"] = "local_time_request"
        return
    data["packet_type"] = "local_time_response"
    seconds = r.u32le(what)
    data["device_local_time__s"] = seconds
    data["device_local_time_formatted"] = (
        datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if seconds >= _START_OF_2020
        else "invalid"
    )


def location_config(r: ByteReader, sent: int, data: dict[str, Any], *, strict_text: bool) -> None:
    """The location configuration packet (0x21) after its byte of flags ``sent``.

    Texts are length-prefixed UTF-8; with ``strict_text`` (the UM30xx vendor codec) one that is
    not valid UTF-8 becomes None, else (CM30xx) its bad bytes become replacement characters.
    """
    if sent & 0x01:
        data["gps_position_latitude__deg"] = r.i32le("latitude") / 1e7
        data["gps_position_longitude__deg"] = r.i32le("longitude") / 1e7
    if sent & 0x02:
        data["time_zone__h"] = r.i8("time zone") / 4
    for bit, key in ((0x04, "address"), (0x08, "id_customer"), (0x10, "id_location")):
        if sent & bit:
            raw = r.take(r.u8(f"{key} length"), key)
            data[key] = _text(raw) if strict_text else raw.decode("utf-8", errors="replace")


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
