"""NAS (Nordic Automation Systems, now Axioma) UM30xx pulse and M-Bus utility meter reader.

The UM3080/UM3081/UM3090 family reads the pulse outputs (two inputs) of electricity, water or
gas meters and, on M-Bus variants, the meter itself over wired M-Bus; UM3100/UM3110 read an SSI
pressure probe instead. In a commune it turns an existing meter of a public building into a
LoRaWAN meter without replacing it. Frames by fPort: 24 status, 25 usage, 49 configuration
request, 50 configuration, 60/61 commands, 99 boot, shutdown and faulty-downlink reports.

Pulse inputs become channels "1" and "2": in ``pulses`` mode through the inventory's meter
constant (``pulse_1_pulses_per_kwh``...), in ``Wh_electricity``/``L_water`` mode the device has
already converted the count and the index is used as is (plus ``pulse_N_index_offset``). The
counters are uint32 times the reported multiplier, which gives their modulus. Gas litres and
trigger counts have no canonical index beyond ``pulse_count``. M-Bus data records are mapped
only for the meter's current value (no storage, tariff or sub-unit), and only when the meter is
an electricity or water meter (M-Bus medium, else the ``mbus_meter_kind`` parameter), so heat
meter energy never lands in ``energy_kwh``. ``meter_actuality_duration`` (the age of the
meter reading) stays in the vendor data.
Source: NAS UM30xx 4.0.x payload description and its annex, nasys/nas-codecs
(src/um30xx_decoder.js and test/um30xx_4_0_x_decoder.test.js, MIT).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import Reading
from lorawatch.decoders import mbus, nas
from lorawatch.decoders.base import Decoder, Param, Params, Uplink, plausible
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.counters import PULSE_PARAMETERS, pulse_readings
from lorawatch.decoders.registry import register

FPORT_STATUS = 24
FPORT_USAGE = 25
FPORT_CONFIG_REQUEST = 49
FPORT_CONFIG = 50
FPORT_COMMAND = 60
FPORT_MBUS_RECORDS = 61
FPORT_SYSTEM = 99

_MULTIPLIERS = (1, 10, 100, 1000)
_PULSE_MEDIUM = {0: "triggers", 1: "pulses", 2: "L_water", 3: "Wh_electricity", 4: "L_gas"}
_INPUT_MODE = {
    0: "disabled",
    1: "pulses",
    2: "L_water",
    3: "Wh_electricity",
    4: "L_gas",
    9: "triggers_1_sec",
    10: "triggers_10_sec",
    11: "triggers_1_min",
    12: "triggers_1_h",
}
_MBUS_STATUS = {
    0: "connected",
    1: "nothing_requested",
    2: "bus_unpowered",
    3: "no_response",
    5: "crc_or_len_error",
    6: "parse_error",
    7: "bus_shorted",
}
_MBUS_MEDIUM = {
    0x00: "other",
    0x01: "oil",
    0x02: "electricity",
    0x03: "gas",
    0x04: "heat (outlet vol)",
    0x05: "steam",
    0x06: "hot Water",
    0x07: "water",
    0x08: "heat cost allocator",
    0x09: "compressed air",
    0x0A: "cooling load meter",
    0x0B: "cooling load meter",
    0x0C: "heat (inlet vol)",
    0x0D: "heat / cooling load meter",
    0x0E: "bus / system",
    0x0F: "unknown",
    0x16: "cold water",
    0x17: "dual water",
    0x18: "pressure",
    0x19: "A/D converter",
}
_KIND_OF_MEDIUM = {
    "electricity": "electricity",
    "water": "water",
    "hot Water": "water",
    "cold water": "water",
    "dual water": "water",
    "gas": "gas",
    "heat (outlet vol)": "heat",
    "heat (inlet vol)": "heat",
    "heat / cooling load meter": "heat",
    "cooling load meter": "heat",
}
_SSI_SENSOR = {0: "disconnected", 1: "pressure_30bar_temperature"}
_SSI_CHANNELS = (
    "channel_1",
    "channel_1_avg",
    "channel_2",
    "channel_2_avg",
    "channel_3",
    "channel_3_avg",
    "channel_4",
    "channel_4_avg",
)
_HARDWARE = {
    0x00: "pulse_only",
    0x01: "pulse_analog",
    0x02: "pulse_ssi",
    0x04: "pulse_mbus",
    0x06: "pulse_lbus",
    0x07: "pulse_izar",
}
_SHUTDOWN_REASON = {0x32: "enter_dfu", 0x33: "app_shutdown", 0x34: "switch_to_wmbus"}
# "froced_reset" is the vendor decoder's spelling, kept so both decoders print the same.
_BOOT_REASON = {
    0: "unknown_reset",
    1: "from_shutdown",
    2: "from_dfu",
    3: "froced_reset",
    4: "lorawan_rejoin",
}
_CONFIG_REQUESTS = {
    0x12: "general_configuration_request",
    0x14: "mbus_configuration_request",
    0x21: "location_configuration_request",
}
_COUNTER_MODULUS = float(2**32)


def _enum(table: Mapping[int, str], value: int, invalid: str, warnings: list[str]) -> str:
    """A status-like enumeration: an unknown value is reported, not fatal (vendor behaviour)."""
    if value in table:
        return table[value]
    warnings.append(f"{invalid} ({value})")
    return invalid


def _required(table: Mapping[int, str], value: int, what: str) -> str:
    """An enumeration the meaning of the numbers depends on: unknown values fail the frame."""
    if value not in table:
        raise DecodeError(f"invalid {what} {value}")
    return table[value]


def _actuality_text(raw: int) -> str | None:
    minutes = nas.actuality_minutes(raw)
    if minutes is None:
        return None
    if raw < 60:
        return f"{minutes} minutes"
    for limit, divisor, unit in ((156, 60, "hours"), (200, 1440, "days"), (253, 10080, "weeks")):
        if raw < limit:
            return f"{nas.js_fixed(minutes / divisor, 2):.2f} {unit}"
    return f"{nas.js_fixed(minutes / 525600, 2):.2f} years"


def _pulse_usage(r: ByteReader, n: int) -> dict[str, Any]:
    bits = r.u8(f"pulse_{n} header")
    multiplier = _MULTIPLIERS[(bits >> 2) & 0x03]
    medium = _required(_PULSE_MEDIUM, bits >> 4, f"pulse_{n} medium type")
    # "muliplier" (sic) is the vendor decoder's key.
    out: dict[str, Any] = {
        "input_state": "closed" if bits & 0x01 else "open",
        "muliplier": multiplier,
        "medium_type": medium,
        f"accumulated__{medium}": r.u32le(f"pulse_{n} accumulated") * multiplier,
    }
    if bits & 0x02:
        out["serial"] = nas.serial(r.u32le(f"pulse_{n} serial"))
    return out


def _mbus_usage(r: ByteReader, warnings: list[str]) -> dict[str, Any]:
    bits = r.u8("mbus header")
    out: dict[str, Any] = {
        "last_bus_status": _enum(_MBUS_STATUS, bits & 0x0F, "invalid_mbus_status", warnings),
        "records_truncated": bool(bits & 0x10),
    }
    if bits & 0x20:
        out["status"] = f"0x{r.u8('mbus status'):02X}"
        out["serial"] = nas.serial(r.u32le("mbus serial"))
    if bits & 0x40:
        out["manufacturer"] = mbus.manufacturer(r.u16le("mbus manufacturer"))
        out["version"] = r.u8("mbus version")
        out["medium"] = _MBUS_MEDIUM.get(r.u8("mbus medium"), "unknown")
    raw = r.take(r.remaining, "mbus data records")
    out["data_records_raw"] = raw.hex().upper()
    out["data_records"] = mbus.parse(raw, warnings)
    return out


def _ssi_usage(r: ByteReader) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sensor": _required(_SSI_SENSOR, r.u8("ssi sensor") & 0x3F, "ssi sensor index")
    }
    present = r.u8("ssi channels")
    for bit, name in enumerate(_SSI_CHANNELS):
        if present >> bit & 1:
            out[name] = round(r.f32le(f"ssi {name}"), 5)
    return out


def _usage_body(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    """The usage (0x02) or status (0x82) packet after its header byte."""
    status = data["packet_type"] == "status_packet"
    alerts = r.u8("active alerts")
    data["active_alerts"] = {
        "pulse_1_trigger_alert": bool(alerts & 0x01),
        "pulse_2_trigger_alert": bool(alerts & 0x02),
        "low_battery": bool(alerts & 0x40),
    }
    data["app_connected_within_a_day"] = bool(alerts & 0x80)
    if status:
        nas.device_status(r, data)
    actuality = r.u8("meter actuality")
    data["meter_actuality_duration__minutes"] = nas.actuality_minutes(actuality)
    data["meter_actuality_duration_formatted"] = _actuality_text(actuality)
    content = r.u8("content flags")
    if content & 0x01:
        data["pulse_1"] = _pulse_usage(r, 1)
    if content & 0x02:
        data["pulse_2"] = _pulse_usage(r, 2)
    interface = (content >> 2) & 0x0F
    if interface == 0x08:
        data["mbus"] = _mbus_usage(r, warnings)
    elif interface == 0x04:
        data["ssi"] = _ssi_usage(r)
    elif interface:
        warnings.append(f"unknown main interface {interface}; its data is not decoded")


def _usage_or_status(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    header = r.u8("packet type")
    if header not in (0x02, 0x82):
        raise DecodeError(f"packet type 0x{header:02x} is neither usage (0x02) nor status (0x82)")
    data["packet_type"] = "status_packet" if header == 0x82 else "usage_packet"
    _usage_body(r, data, warnings)


def _pulse_config(r: ByteReader, n: int) -> dict[str, Any]:
    mode = _required(_INPUT_MODE, r.u8(f"pulse_{n} mode") & 0x0F, f"pulse_{n} input mode")
    flags = r.u8(f"pulse_{n} flags")
    multiplier = _MULTIPLIERS[flags >> 6]
    out: dict[str, Any] = {"input_mode_and_unit": mode}
    if flags & 0x01:
        out["multiplier_numerator"] = r.u16le(f"pulse_{n} multiplier numerator")
        out["multiplier_denominator"] = r.u8(f"pulse_{n} multiplier denominator")
    if flags & 0x02:
        out["accumulated_absolute"] = r.u32le(f"pulse_{n} absolute") * multiplier
    if flags & 0x04:
        out["accumulated_offset"] = r.i32le(f"pulse_{n} offset") * multiplier
    if flags & 0x08:
        out["serial"] = nas.serial(r.u32le(f"pulse_{n} serial"))
    return out


def _configuration(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    header = r.u8("packet type")
    flags = r.u8("configuration flags")
    if header == 0x12:
        data["packet_type"] = "general_configuration_packet"
        if flags & 0x01:
            profile = r.u8("lorawan profile")
            data["radio_lorawan_profile"] = _enum(
                nas.LORAWAN_PROFILES, profile, "invalid_lorawan_profile", warnings
            )
        if flags & 0x02:
            profile = r.u8("wmbus profile")
            data["radio_wmbus_profile"] = _enum(
                nas.WMBUS_PROFILES, profile, "invalid_wmbus_profile", warnings
            )
        for n, bit in ((1, 0x10), (2, 0x20)):
            if flags & bit:
                data[f"pulse_{n}"] = _pulse_config(r, n)
    elif header == 0x14:
        data["packet_type"] = "mbus_configuration_packet"
        if flags & 0x0F > 10 or flags >> 4 > 10:
            raise DecodeError("invalid M-Bus usage or status record count")
        data["mbus_data_record_header_raw"] = r.take(r.remaining, "headers").hex().upper()
    elif header == 0x21:
        data["packet_type"] = "location_configuration_packet"
        nas.location_config(r, flags, data, strict_text=True)
    else:
        raise DecodeError(f"packet type 0x{header:02x} is not a configuration packet")


def _configuration_request(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    header = r.u8("packet type")
    data["packet_type"] = _required(_CONFIG_REQUESTS, header, "configuration request type")


def _command(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    header = r.u8("packet type")
    if header == 0x03:
        nas.local_time(r, data, "local time")
    elif header == 0x81:
        if not r.remaining:
            data["packet_type"] = "mbus_available_data_records_request"
            return
        _available_records(r, data)
    elif header == 0xFF:
        data["packet_type"] = "enter_dfu_command"
    else:
        raise DecodeError(f"packet type 0x{header:02x} is not a command")


def _available_records(r: ByteReader, data: dict[str, Any]) -> None:
    data["packet_type"] = "mbus_available_data_records"
    bits = r.u8("packet flags")
    data["packet_number"] = bits & 0x07
    data["more_packets_following"] = bool(bits & 0x08)
    if bits & 0x40:
        data["mbus_header"] = {
            "serial": nas.serial(r.u32le("mbus serial")),
            "manufacturer": mbus.manufacturer(r.u16le("mbus manufacturer")),
            "version": f"0x{r.u8('mbus version'):02X}",
            "medium": _MBUS_MEDIUM.get(r.u8("mbus medium"), "unknown"),
            "access_number": r.u8("mbus access number"),
            "status": f"0x{r.u8('mbus status'):02X}",
            "signature": r.take(2, "mbus signature").hex().upper(),
        }
    data["mbus_data_record_header_raw"] = r.take(r.remaining, "headers").hex().upper()


def _records_command(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    header = r.u8("packet type")
    if header != 0x81 or not r.remaining:
        raise DecodeError(f"packet type 0x{header:02x} is not an M-Bus data record list")
    _available_records(r, data)


def _system(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
    header = r.u8("packet type")
    if header == 0x13:
        data["packet_type"] = "faulty_downlink_packet"
        data["packet_fport"] = r.u8("faulty fPort")
        reason = _enum(nas.DOWNLINK_ERRORS, r.u8("error reason"), "invalid_error_code", warnings)
        data["packet_error_reason"] = reason
        warnings.append(f"faulty_downlink_packet {reason}")
    elif header == 0x00:
        data["packet_type"] = "boot_packet"
        nas.boot_header(r, data)
        boot = r.u8("boot reason")
        data["packet_reason"] = _enum(
            _BOOT_REASON, (boot >> 4) & 0x07, "invalid_boot_packet_reason", warnings
        )
        data["configuration_restored"] = bool(boot & 0x80)
        data["hardware_configuration"] = _enum(
            _HARDWARE, r.u8("hardware"), "invalid_hardware_config", warnings
        )
        data["device_uptime_accumulated__days"] = nas.js_fixed(r.u24le("uptime") / 24, 2)
    elif header == 0x01:
        shutdown = _required(_SHUTDOWN_REASON, r.u8("shutdown reason"), "shutdown reason")
        _usage_or_status(r, data, warnings)
        data["packet_type"] = "shutdown_packet"
        data["shutdown_reason"] = shutdown
    else:
        raise DecodeError(f"packet type 0x{header:02x} is not a system packet")


Parser = Callable[[ByteReader, dict[str, Any], list[str]], None]


def _only(header: int) -> Parser:
    def parse(r: ByteReader, data: dict[str, Any], warnings: list[str]) -> None:
        if r.data[0] != header:
            raise DecodeError(f"packet type 0x{r.data[0]:02x} is not valid on this fPort")
        _usage_or_status(r, data, warnings)

    return parse


_PARSERS: Mapping[int, Parser] = {
    FPORT_STATUS: _only(0x82),
    FPORT_USAGE: _only(0x02),
    FPORT_CONFIG_REQUEST: _configuration_request,
    FPORT_CONFIG: _configuration,
    FPORT_COMMAND: _command,
    FPORT_MBUS_RECORDS: _records_command,
    FPORT_SYSTEM: _system,
}


def _input_parameters(n: int) -> dict[str, Param]:
    return {
        f"pulse_{n}_{key}": replace(spec, description=f"input {n}: {spec.description}")
        for key, spec in PULSE_PARAMETERS.items()
    }


def _scaled_modulus(readings: list[Reading], factor: int) -> list[Reading]:
    return [
        replace(r, modulus=r.modulus * factor if r.modulus is not None else None) for r in readings
    ]


@register
class NasUM30xx(Decoder):
    name = "nas-um30xx"
    vendor = "NAS (Nordic Automation Systems) / Axioma"
    device = "UM30xx (UM3080, UM3081, UM3090...) pulse and M-Bus reader"
    family = "energy"
    readings = (
        "battery_v",
        "temperature_c",
        "pulse_count",
        "energy_kwh",
        "volume_m3",
        "power_w",
        "voltage_v",
        "current_a",
        "flow_l_h",
    )
    parameters: ClassVar[Mapping[str, Param]] = {
        **_input_parameters(1),
        **_input_parameters(2),
        "mbus_meter_kind": Param(
            "what the M-Bus meter measures, when its frames do not say",
            str,
            None,
            ("electricity", "water", "heat", "gas", "other"),
        ),
    }
    documentation = "https://github.com/nasys/nas-codecs"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        if not uplink.payload:
            raise DecodeError("empty payload")
        parser = _PARSERS.get(uplink.f_port)
        if parser is None:
            raise DecodeError(
                f"unknown fPort {uplink.f_port} (UM30xx uses 24, 25, 49, 50, 60, 61, 99)"
            )
        r = ByteReader(uplink.payload)
        data: dict[str, Any] = {}
        parser(r, data, warnings)
        if r.remaining:
            warnings.append(f"{r.remaining} trailing byte(s) ignored")
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "battery_voltage__V" in data:
            out.append(Reading("battery_v", float(data["battery_voltage__V"]), time))
        if "internal_temperature__C" in data:
            out.append(Reading("temperature_c", float(data["internal_temperature__C"]), time))
        for n in (1, 2):
            pulse = data.get(f"pulse_{n}")
            if isinstance(pulse, Mapping) and "medium_type" in pulse:
                out.extend(self._pulse(pulse, params, n, time))
        bus = data.get("mbus")
        if isinstance(bus, Mapping) and bus.get("last_bus_status") == "connected":
            out.extend(self._mbus(bus, params, time))
        # Out-of-range values (a frozen probe, a meter constant off by 1000) stay in the vendor
        # data only: a canonical reading must be plausible.
        return plausible(*out)

    @staticmethod
    def _pulse(pulse: Mapping[str, Any], params: Params, n: int, time: datetime) -> list[Reading]:
        medium = str(pulse["medium_type"])
        count = int(pulse[f"accumulated__{medium}"])
        multiplier = int(pulse.get("muliplier", 1))
        prefix = f"pulse_{n}_"
        own = {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}
        channel = str(n)
        modulus = _COUNTER_MODULUS * multiplier
        offset = float(own.get("index_offset", 0.0))
        if medium == "pulses":
            found = pulse_readings(count, own, time, width_bits=32, channel=channel)
            return _scaled_modulus(found, multiplier)
        if medium == "triggers":
            return [Reading("pulse_count", count, time, channel, modulus)]
        if medium == "Wh_electricity":
            return [Reading("energy_kwh", count / 1000 + offset, time, channel, modulus / 1000)]
        if medium == "L_water":
            return [Reading("volume_m3", count / 1000 + offset, time, channel, modulus / 1000)]
        return []

    @staticmethod
    def _mbus(bus: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        kind = _KIND_OF_MEDIUM.get(str(bus.get("medium", ""))) or params.get("mbus_meter_kind")
        records = bus.get("data_records")
        if not isinstance(records, Mapping):
            return []
        scales: dict[str, tuple[str, float]] = {}
        if kind == "electricity":
            scales = {
                "energy__Wh": ("energy_kwh", 0.001),
                "energy__MWh": ("energy_kwh", 1000.0),
                "power__W": ("power_w", 1.0),
                "power__MW": ("power_w", 1e6),
                "voltage__V": ("voltage_v", 1.0),
                "current__A": ("current_a", 1.0),
            }
        elif kind == "water":
            scales = {
                "volume__m3": ("volume_m3", 1.0),
                "volume_flow__m3_per_h": ("flow_l_h", 1000.0),
            }
        out: list[Reading] = []
        for key, (name, factor) in scales.items():
            value = records.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append(Reading(name, value * factor, time))
        return out
