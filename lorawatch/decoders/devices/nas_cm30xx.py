"""NAS (Nordic Automation Systems / Axioma) CM30xx water meter readers, firmware 1.3.x and 2.3.x.

The CM3011, CM3013, CM3021, CM3022, CM3030, CM3040, CM3061, CM3080, CM3120 and CM3130 clip onto
a mechanical water meter (Itron Cyble, Falcon, Picoflux, Modularis...) and report its index:
for a commune, the water meter of each public building, with the meter's own leak (continuous
flow) and burst (broken pipe) alerts. Frame families, told apart by their first byte and fPort:
usage (fPort 25), shutdown, boot and faulty-downlink system messages (fPort 99), configuration
(fPort 50, requests on 49), local time and DFU commands (fPort 60), and OMS / wireless M-Bus
application frames with a short header (fPort 20).
Source: NAS "CM30xx Payload Description" as annexed by the vendor codec nasys/nas-codecs
(src/cm30xx_decoder.js, test/cm30xx_2_3_x_decoder.test.js); EN 13757-3 (M-Bus data records,
date types F and G) for the OMS records and the readout date.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import Reading
from lorawatch.decoders import mbus, nas
from lorawatch.decoders.base import Decoder, Param, Params, Uplink, plausible
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.registry import register

USAGE, CONFIG_REQUEST, CONFIG, COMMAND, SYSTEM, OMS = 25, 49, 50, 60, 99, 20

_ALERTS = (
    "backflow_pending",
    "broken_pipe_pending",
    "continuous_flow_pending",
    "tamper_pending",
    "temperature_pending",
    "low_battery",
    "no_usage",
)
# A burst (broken pipe) and water that never stops flowing (continuous flow) are leaks.
_LEAK_ALERTS = ("broken_pipe_pending", "continuous_flow_pending")
_METER_STATUS = {
    0: "connected",
    1: "no_response",
    2: "protocol_error",
    3: "meter_damaged",
    4: "protocol_error",
    5: "bus_shorted",
}
_MEDIUM = {0: "water", 1: "warm_water", 2: "gas"}
_UNIT = {0: "m3", 1: "gal", 2: "ft3"}
_M3_PER_UNIT = {"m3": 1.0, "gal": 0.003785411784, "ft3": 0.028316846592}
_HARDWARE = {
    0x00: "Modularis",
    0x01: "Cyble",
    0x02: "Falcon_PR",
    0x03: "Picoflux",
    0x04: "Falcon_MJ",
    0x06: "RCM_LMx",
    0x20: "BK_G",
}
_SHUTDOWN = {
    0x10: "calibration_timeout",
    0x31: "magnet_shutdown",
    0x32: "enter_dfu",
    0x33: "app_shutdown",
    0x34: "switch_to_wmbus",
}
_BOOT_REASON = {
    0: "unknown_reset",
    1: "from_shutdown",
    2: "from_dfu",
    3: "forced_reset",
    4: "lorawan_rejoin",
}


def _lookup(table: Mapping[int, str], value: int, what: str, warnings: list[str]) -> str:
    if value in table:
        return table[value]
    warnings.append(f"{what}: undocumented value {value}")
    return f"unknown ({value})"


def _meter_setup(r: ByteReader, data: dict[str, Any]) -> tuple[str, bool]:
    """Multiplier, medium and unit of the meter; returns the unit and the privacy-mode bit.

    Raises on an undocumented multiplier, medium or unit: the volume would be meaningless.
    """
    setup = r.u8("meter setup")
    exponent = setup & 0x07
    if not 3 <= exponent <= 7:
        raise DecodeError(f"meter multiplier exponent {exponent} is undocumented (3 to 7)")
    medium, unit = (setup >> 3) & 0x03, (setup >> 5) & 0x03
    if medium not in _MEDIUM or unit not in _UNIT:
        raise DecodeError(f"meter medium {medium} or unit {unit} is undocumented")
    data["meter_multiplier"] = 10.0 ** (exponent - 6)
    data["meter_medium"] = _MEDIUM[medium]
    data["meter_unit"] = _UNIT[unit]
    return _UNIT[unit], bool(setup >> 7)


def _date_g(raw: bytes) -> str | None:
    """EN 13757-3 type G date (day, month 1-12, year in two parts), ISO text or None."""
    day, month = raw[0] & 0x1F, raw[1] & 0x0F
    year = 2000 + (raw[0] >> 5) + 8 * (raw[1] >> 4)
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _usage(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    alerts = r.u8("active alerts")
    data["active_alerts"] = {name: bool(alerts >> i & 1) for i, name in enumerate(_ALERTS)}
    data["meter_status"] = _lookup(_METER_STATUS, r.u8("meter status"), "meter_status", warnings)
    unit, privacy = _meter_setup(r, data)
    actuality = r.u8("meter actuality")
    data["meter_actuality_duration__minutes"] = nas.actuality_minutes(actuality)
    count = r.u32le("meter accumulated volume")
    data[f"meter_accumulated_volume__{unit}"] = round(count * data["meter_multiplier"], 3)
    if privacy:
        readout = _date_g(r.take(2, "meter readout date"))
        if readout is None:
            warnings.append("meter readout date is not a valid date")
        data["meter_readout_date"] = readout or "invalid"
    flags = r.u8("usage flags")
    data["app_connected_within_a_day"] = bool(flags & 0x01)
    if flags & 0x02:
        nas.device_status(r, data)
        data["meter_serial"] = nas.serial(r.u32le("meter serial"))


def _general_config(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    sent = r.u8("configured parameters") | r.u8("configured parameters 2") << 8
    unit = ""
    if sent & 1 << 0:
        profile = r.u8("lorawan profile")
        data["radio_lorawan_profile"] = _lookup(nas.LORAWAN_PROFILES, profile, "lorawan", warnings)
    if sent & 1 << 1:
        profile = r.u8("wmbus profile")
        data["radio_wmbus_profile"] = _lookup(nas.WMBUS_PROFILES, profile, "wmbus", warnings)
    if sent & 1 << 2:
        data["meter_serial"] = nas.serial(r.u32le("meter serial"))
    if sent & 1 << 3:
        unit = "__" + _meter_setup(r, data)[0]
    if sent & 1 << 4:
        volume = r.u32le("meter volume") + (r.u32le("meter volume high") << 32)
        data[f"meter_accumulated_volume{unit}"] = volume / 1000
    if sent & 1 << 5:
        data[f"meter_accumulated_volume_offset{unit}"] = r.i32le("meter volume offset") / 1000
    per_hour = f"{unit}_per_h" if unit else ""
    if sent & 1 << 6:
        data[f"meter_nominal_flow{per_hour}"] = r.u16le("nominal flow") / 10
    if sent & 1 << 7:
        threshold = r.u16le("backflow threshold")
        data["alert_backflow_threshold"] = threshold / 1000 if threshold else "disabled"
    if sent & 1 << 8:
        threshold = r.u32le("broken pipe threshold")
        key = f"alert_broken_pipe_threshold{per_hour}"
        data[key] = threshold / 1000 if threshold else "disabled"
    if sent & 1 << 9:
        data["alert_continuous_flow_enabled"] = bool(r.u8("continuous flow alert"))
    if sent & 1 << 10:
        days = r.u16le("no usage interval")
        data["alert_no_usage_interval__days"] = days if days else "disabled"
    if sent & 1 << 11:
        data["alert_tamper_enabled"] = bool(r.u8("tamper alert"))
    if sent & 1 << 12:
        low, high = r.i8("temperature low"), r.i8("temperature high")
        data["alert_temperature_threshold_low__C"] = "disabled" if low == -128 else low
        data["alert_temperature_threshold_high__C"] = "disabled" if high == -128 else high


def _location_config(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    nas.location_config(r, r.u8("configured parameters"), data, strict_text=False)


def _boot(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    nas.boot_header(r, data)
    flags = r.u8("boot flags")
    data["packet_reason"] = _lookup(_BOOT_REASON, flags >> 4 & 0x07, "packet_reason", warnings)
    data["configuration_restored"] = bool(flags >> 7)
    hardware = r.u8("hardware configuration")
    data["hardware_configuration"] = _lookup(_HARDWARE, hardware, "hardware", warnings)
    r.take(2, "reserved")
    data["device_uptime_accumulated__days"] = nas.js_fixed(r.u24le("uptime hours") / 24, 2)


def _system(r: ByteReader, kind: int, data: dict[str, Any], warnings: list[str]) -> None:
    if kind == 0x00:
        data["packet_type"] = "boot_packet"
        _boot(r, data, warnings)
    elif kind == 0x01:
        data["packet_type"] = "shutdown_packet"
        reason = _lookup(_SHUTDOWN, r.u8("shutdown reason"), "shutdown_reason", warnings)
        data["shutdown_reason"] = reason
        if r.u8("usage header") != 0x04:
            raise DecodeError("shutdown packet: no usage header (0x04) after the reason")
        _usage(r, data, warnings)
    else:
        data["packet_type"] = "faulty_downlink_packet"
        data["packet_fport"] = r.u8("packet fport")
        reason = nas.DOWNLINK_ERRORS.get(r.u8("error reason"), "invalid_error_code")
        data["packet_error_reason"] = reason
        warnings.append(f"faulty_downlink_packet {reason}")


def _command(r: ByteReader, kind: int, data: dict[str, Any], warnings: list[str]) -> None:
    if kind == 0xFF:
        data["packet_type"] = "enter_dfu_command"
    else:
        nas.local_time(r, data, "device local time")


# --- OMS: EN 13757-3 data records, the subset a water meter reader sends -------------------

_BCD_SIZE = {0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
_INT_SIZE = {0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x6: 6, 0x7: 8}
_COUNTERS = ("energy", "volume")
# The primary VIFs a water meter reader sends, as (type, unit) of mbus.primary.
_QUANTITIES = {
    ("energy", "Wh"),
    ("volume", "m3"),
    ("volume_flow", "m3_per_h"),
    ("flow_temperature", "degC"),
    ("return_temperature", "degC"),
    ("external_temperature", "degC"),
}


def _bcd(raw: bytes) -> int:
    """A BCD value; unlike mbus.parse, which gives None, a bad digit fails the frame."""
    number = mbus.bcd(raw)
    if number is None:
        raise DecodeError(f"OMS record: {raw.hex()} is not a BCD number")
    return number


def _scaled(value: int, exponent: int) -> float:
    return value / 10**-exponent if exponent < 0 else float(value * 10**exponent)


def _date_f(raw: bytes) -> str:
    """EN 13757-3 type F date and time (minute resolution) as ISO text, unchecked."""
    year = 2000 + ((raw[2] >> 5) | (raw[3] >> 4) << 3)
    return (
        f"{year:04d}-{raw[3] & 0x0F:02d}-{raw[2] & 0x1F:02d}"
        f"T{raw[1] & 0x1F:02d}:{raw[0] & 0x3F:02d}"
    )


def _oms_records(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    """Decode data records until the end; an unsupported record ends the walk with a warning.

    Headers and keys are those of :mod:`~lorawatch.decoders.mbus`; values differ from
    mbus.parse on purpose: floats, "invalid" dates, hex error flags and register moduli.
    """
    decoded = 0
    while r.remaining:
        at = r.pos
        dif = r.u8("DIF")
        if dif == 0x2F:
            continue
        # No limit on extension bytes (mbus.parse stops at ten), so frames decode as before.
        head = mbus.read_header(r, dif, limit=None)
        coding, vif, vifes = head.coding, head.vif, list(head.vifes)
        name, unit, exponent = "", "", 0
        primary = vif & 0x7F
        quantity = mbus.primary(primary)
        if vif == 0xFD and vifes and vifes[0] & 0x7F in (0x17, 0x61):
            name = "error_flags" if vifes.pop(0) & 0x7F == 0x17 else "cumulation_counter"
            unit = "binary" if name == "error_flags" else ""
        elif (primary, coding) in ((0x6C, 0x2), (0x6D, 0x4)):
            # Type G dates are 16-bit, type F date-times 32-bit; other widths are not dates.
            name = "time_point"
        elif (quantity.type, quantity.unit) in _QUANTITIES:
            name, unit, exponent = quantity.type, quantity.unit, quantity.exponent
        extra = ""
        for vife in vifes:
            if vife & 0x7F == 0x3B:
                extra = "_accumulated_pos"
            elif vife & 0x7F == 0x3C:
                extra = "_accumulated_neg"
            else:
                name = ""
        size = _BCD_SIZE.get(coding) or _INT_SIZE.get(coding) or (4 if coding == 0x5 else 0)
        if not name or not size:
            message = (
                f"OMS record at offset {at} (DIF 0x{dif:02x}, VIF 0x{vif:02x}) not decoded; "
                f"{len(r.data) - at} byte(s) left"
            )
            if not decoded:
                raise DecodeError(message)
            warnings.append(message)
            r.pos = len(r.data)
            return
        raw = r.take(size, f"OMS {name}")
        key = head.key(name + extra, unit)
        value: Any
        if name == "time_point":
            value = _date_g(raw) if primary == 0x6C else _date_f(raw)
            if value is None:
                value = "invalid"
        elif unit == "binary":
            value = f"0x{int.from_bytes(raw, 'little'):0{2 * size}X}"
        elif coding == 0x5:
            value = _real(raw) * 10.0**exponent
        else:
            number = _bcd(raw) if coding in _BCD_SIZE else mbus.signed(raw)
            value = _scaled(number, exponent) if unit else number
            if coding in _BCD_SIZE and name in _COUNTERS and unit:
                moduli = data.setdefault("oms_register_modulus", {})
                moduli[f"oms_{key}"] = _scaled(10 ** (2 * size), exponent)
        data[f"oms_{key}"] = value
        decoded += 1


def _real(raw: bytes) -> float:
    value: float = struct.unpack("<f", raw)[0]
    return value


def _oms(r: ByteReader, kind: int, data: dict[str, Any], warnings: list[str]) -> None:
    if kind != 0x7A:
        raise DecodeError("OMS frame with a long header (0x72) is not documented for the CM30xx")
    data["packet_type"] = "oms_usage_packet"
    data["header_access_num"] = r.u8("access number")
    data["header_status"] = r.u8("status")
    config = r.u16le("configuration word")
    data["header_packet_synchronous"] = config == 0x2000
    mode = config >> 8 & 0x1F
    if mode:
        raise DecodeError(f"OMS records are encrypted (security mode {mode}), no key here")
    _oms_records(r, data, warnings)


Parser = Callable[[ByteReader, int, dict[str, Any], list[str]], None]


def _usage_packet(r: ByteReader, kind: int, data: dict[str, Any], warnings: list[str]) -> None:
    data["packet_type"] = "usage_packet"
    _usage(r, data, warnings)


def _config_packet(r: ByteReader, kind: int, data: dict[str, Any], warnings: list[str]) -> None:
    general = kind == 0x20
    data["packet_type"] = ("general" if general else "location") + "_configuration_packet"
    (_general_config if general else _location_config)(r, data, warnings)


# packet type -> (fPort, parser); configuration requests are the bare header on fPort 49.
_PACKETS: dict[int, tuple[int, Parser]] = {
    0x04: (USAGE, _usage_packet),
    0x20: (CONFIG, _config_packet),
    0x21: (CONFIG, _config_packet),
    0x03: (COMMAND, _command),
    0xFF: (COMMAND, _command),
    0x00: (SYSTEM, _system),
    0x01: (SYSTEM, _system),
    0x13: (SYSTEM, _system),
    0x7A: (OMS, _oms),
    0x72: (OMS, _oms),
}


@register
class NasCM30xx(Decoder):
    name = "nas-cm30xx"
    vendor = "NAS (Nordic Automation Systems)"
    device = "CM30xx water meter reader (CM3011/3013/3021/3022/3030/3040/3061/3080/3120/3130)"
    family = "water"
    readings = ("volume_m3", "flow_l_h", "leak", "battery_v", "temperature_c")
    parameters: ClassVar[Mapping[str, Param]] = {
        "oms_medium": Param(
            "medium of the meter, for OMS frames whose short header does not say it",
            str,
            "water",
            ("water", "warm_water", "gas"),
        ),
    }
    documentation = "https://github.com/nasys/nas-codecs"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        payload = uplink.payload
        if not payload:
            raise DecodeError("empty payload")
        kind = payload[0]
        if kind not in _PACKETS:
            raise DecodeError(f"invalid packet type 0x{kind:02x}")
        port, parser = _PACKETS[kind]
        if kind in (0x20, 0x21) and len(payload) == 1:
            port = CONFIG_REQUEST
        if uplink.f_port != port:
            raise DecodeError(
                f"wrong fPort {uplink.f_port} for packet type 0x{kind:02x} (expected {port})"
            )
        data: dict[str, Any] = {}
        r = ByteReader(payload, 1)
        if port == CONFIG_REQUEST:
            data["packet_type"] = ("general" if kind == 0x20 else "location") + (
                "_configuration_request"
            )
        else:
            parser(r, kind, data, warnings)
        if r.remaining:
            raise DecodeError(f"packet too long: {r.remaining} byte(s) after the last field")
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        alerts = data.get("active_alerts")
        if isinstance(alerts, Mapping):
            out.append(Reading("leak", any(bool(alerts.get(a)) for a in _LEAK_ALERTS), time))
        unit, medium = data.get("meter_unit"), data.get("meter_medium")
        key = f"meter_accumulated_volume__{unit}"
        if "active_alerts" in data and key in data and medium in ("water", "warm_water"):
            to_m3 = _M3_PER_UNIT[str(unit)]
            minutes = data.get("meter_actuality_duration__minutes")
            at = time - timedelta(minutes=int(minutes)) if minutes is not None else time
            modulus = 2.0**32 * float(data["meter_multiplier"]) * to_m3
            out += plausible(Reading("volume_m3", float(data[key]) * to_m3, at, modulus=modulus))
        if "battery_voltage__V" in data:
            out += plausible(Reading("battery_v", float(data["battery_voltage__V"]), time))
        if "internal_temperature__C" in data:
            out += plausible(Reading("temperature_c", float(data["internal_temperature__C"]), time))
        if params.get("oms_medium", "water") != "gas" and "oms_volume__m3" in data:
            moduli = data.get("oms_register_modulus") or {}
            volume = float(data["oms_volume__m3"])
            out += plausible(
                Reading("volume_m3", volume, time, modulus=moduli.get("oms_volume__m3"))
            )
        if "oms_volume_flow__m3_per_h" in data:
            litres_per_hour = float(data["oms_volume_flow__m3_per_h"]) * 1000
            out += plausible(Reading("flow_l_h", litres_per_hour, time))
        return out
