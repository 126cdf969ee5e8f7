"""NAS UL20xx: LoRaWAN luminaire controller (UL2002, UL2014, UL2020, UL2030...), DALI or 0-10 V.

Fitted in or under a streetlight, it switches the lamp with its relay, dims it over DALI or
0-10 V along calendar, dusk/dawn and sensor profiles, and reports the dim level, the DALI lamp
and driver status and the metered energy, power, power factor, mains voltage and burning
hours: what a commune needs to check its night dimming plan, find dead lamps without a night
patrol and follow the street lighting's share of the energy bill.

Firmware 1.1.x uses fPort 23 (status), 26 (usage), 50 (configuration echoes), 60 (command
responses), 61 (notifications) and 99 (boot, rejected downlinks). Firmware 1.0.x sent status
and usage on 24 and 25; its other frames share ports with 1.1.x under headers that do not
collide, so both generations decode side by side.

DALI short addresses become reading channels ("9" for ``dali_single_9``): the address is the
luminaire's identity on the bus, unlike the position of its record in a frame. Broadcast,
0-10 V and the controller's own meter are channel "". Group addresses give no readings.

Source: NAS payload description FW 1.1.x, https://docs.nasys.no/en/lcu/payloads-uplinks and
https://docs.nasys.no/en/lcu/payloads-configs; "Luminaire controller UL20xx FW 1.0.x
communication protocols" (NAS, PDF); example vectors from the tests of nasys/nas-codecs (MIT).

One module on purpose (over 1,000 lines): one decoder is one module beside its vectors, and
this controller speaks six ports and two firmware generations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import CANONICAL, Reading
from lorawatch.decoders import nas
from lorawatch.decoders.base import Decoder, Params, Uplink
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.registry import register

Data = dict[str, Any]
Parser = Callable[[ByteReader, Data, list[str]], None]

# Clocks not yet set by DeviceTimeReq count from 2000; NAS treats anything before 2015 as unset.
_CLOCK_SET_AFTER = 1_420_070_400
ENERGY_MODULUS_KWH = 2**32 / 1000  # uint32 Wh register
LAMP_HOURS_MODULUS = 2**32 / 3600  # uint32 seconds register

_DALI_BITS = (
    "driver_error",
    "lamp_failure",
    "lamp_on",
    "limit_error",
    "fade_running",
    "reset_state",
    "missing_short_address",
    "power_failure",
)
_DALI_WARNED = {"driver_error", "lamp_failure", "limit_error", "reset_state", "power_failure"}
_DAYS = ("holiday", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ALERTS = (
    "voltage_alert_in_24h",
    "lamp_error_alert_in_24h",
    "power_alert_in_24h",
    "power_factor_alert_in_24h",
)
_REASONS_V11 = {
    0x21: "calendar_day",
    0x22: "calendar_night",
    0x70: "dig_inactive",
    0x71: "dig_active",
    245: "relay_off",
    246: "driver_not_found",
    248: "fallback_active",
    250: "ldr_input_active",
    252: "dig_input_active",
    253: "manual_active",
}
_REASONS_V10 = {
    246: "driver_not_found",
    247: "calendar_active",
    248: "init_active",
    249: "profile_not_active",
    250: "ldr_input_active",
    252: "dig_input_active",
    253: "manual_active",
    254: "value_differ",
}
_DEVICE_CONFIGS = (
    "dali",
    "dali_nc",
    "dali_no",
    "analog_nc",
    "analog_no",
    "dali_analog_nc",
    "dali_analog_no",
    "dali_analog_nc_no",
)
_RESET_REASONS = (
    "reset_0",
    "watchdog_reset",
    "soft_reset",
    "reset_3",
    "reset_4",
    "reset_5",
    "reset_6",
    "reset_7",
)
# The NAS codes, plus those of the UL20xx's own downlinks (profiles).
_DOWNLINK_ERRORS = {
    **nas.DOWNLINK_ERRORS,
    0x0E: "packet_size_error",
    0x81: "profile_id_seq_error",
    0x82: "profile_destination_eror",
    0x83: "profile_days_error",
    0x84: "profile_step_count_error",
    0x85: "profile_step_value_error",
    0x86: "profile_step_unsorted_error",
}
# DALI fade times: code n lasts 0.5 * sqrt(2)**n seconds, rounded as in the NAS table.
_FADE_S = tuple(round(0.5 * 2 ** (n / 2), 2) for n in range(16))
_LUMALINK_MODES = ("never_advertise", "first_commission", "every_boot", "always")
_LOCATION_STATUS = {0x01: "no_fix", 0x02: "internal_error", 0xFF: "internal_error"}


# ---- field helpers -----------------------------------------------------------------------


def _bit(value: int, n: int) -> bool:
    return bool(value >> n & 1)


def _js_round(value: float) -> int:
    """Math.round of the vendor codec (halves go up), so data matches nas-codec's output."""
    return math.floor(value + 0.5)


def _epoch(seconds: int, warnings: list[str]) -> str:
    if seconds < _CLOCK_SET_AFTER:
        warnings.append("invalid_timestamp")
        return "invalid_timestamp"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _address(raw: int, ff_name: str | None, warnings: list[str]) -> str:
    """DALI address byte: 0AAAAAA0 single, 100GGGG0 group, 0xFE broadcast, 0x01 analog."""
    if raw == 0x01:
        return "analog_0_10v"
    if raw == 0xFE:
        return "dali_broadcast"
    if raw == 0xFF and ff_name is not None:
        return ff_name
    if raw & 0x01 or raw >= 0xA0:
        warnings.append("invalid_address")
        return "invalid"
    if raw & 0x80:
        return f"dali_group_{raw >> 1 & 0x0F}"
    return f"dali_single_{raw >> 1 & 0x3F}"


def _level(raw: int, ff_name: str) -> int | str:
    return ff_name if raw == 0xFF else raw


def _days(raw: int) -> list[str]:
    return [day for n, day in enumerate(_DAYS) if _bit(raw, n)]


def _dali_status(raw: int, address: str, warnings: list[str]) -> dict[str, bool] | str:
    """The DALI QUERY STATUS answer; 0xFF is "no answer", which says nothing about the lamp."""
    if raw == 0xFF:
        return "n/a"
    status = {name: _bit(raw, n) for n, name in enumerate(_DALI_BITS)}
    warnings.extend(
        f"{address} {name}" for name in _DALI_BITS if status[name] and name in _DALI_WARNED
    )
    return status


def _bad_reason(raw: int, warnings: list[str]) -> str:
    if raw == 0xFF:
        warnings.append("unknown_reason")
        return "unknown"
    warnings.append(f"invalid_reason {raw}")
    return "invalid_reason"


def _reason_v11(raw: int, warnings: list[str]) -> str:
    if raw <= 7:
        return f"profile_{raw}"
    if 0x30 <= raw <= 0x3F:
        return f"calendar_dawn_step_{raw - 0x30}"
    if 0x50 <= raw <= 0x5F:
        return f"calendar_dusk_step_{raw - 0x50}"
    if 0x80 <= raw <= 0x87:
        return f"light_monitor_step_{raw - 0x80}"
    if raw in _REASONS_V11:
        return _REASONS_V11[raw]
    return _bad_reason(raw, warnings)


def _reason_v10(raw: int, warnings: list[str]) -> int | str:
    if raw < 240:
        return raw
    if raw in _REASONS_V10:
        return _REASONS_V10[raw]
    return _bad_reason(raw, warnings)


def _format_lux(lx: float) -> str:
    """nas-codec's rounding: 4 significant digits up to 1000 lx, whole lux above."""
    if not math.isfinite(lx):
        return str(lx)
    magnitude = min(max(math.log10(lx), 0.0), 3.0) if lx > 0 else 0.0
    return f"{lx:.{3 - int(magnitude)}f}"


def _lux(raw: int) -> str:
    if raw == 0xFFFF:
        return "unavailable"
    return _format_lux(10 ** ((raw & 0x7FFF) / 4000) / 1000)


def _step_time(raw: int) -> str:
    minutes = raw * 10
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _fade(raw: int, warnings: list[str]) -> float | str:
    if raw == 0xFF:
        return "ignore"
    if raw >= len(_FADE_S):
        warnings.append("invalid_fade")
        return "invalid_fade"
    return _FADE_S[raw]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


# ---- fPort 23/24: status -------------------------------------------------------------------


def _radio(r: ByteReader, data: Data) -> None:
    data["downlink_rssi__dBm"] = -r.u8("downlink_rssi")
    data["downlink_snr__dB"] = r.i8("downlink_snr")
    data["mcu_temperature__C"] = r.i8("mcu_temperature")


def _alerts(raw: int) -> dict[str, bool]:
    return {name: _bit(raw, 4 + n) for n, name in enumerate(_ALERTS)}


def _sensor_source(block: ByteReader, warnings: list[str]) -> Data:
    """Length-prefixed type/value records, so a type we do not know is skipped, not fatal."""
    source: Data = {}
    while block.remaining:
        kind = block.u8("sensor_source type")
        if kind == 0x01:
            source["ldr_input"] = block.u8("ldr_input")
        elif kind == 0x02:
            source["light_sensor__lx"] = _lux(block.u16le("light_sensor"))
        elif kind == 0x03:
            source["d4i_light_sensor__lx"] = _lux(block.u16le("d4i_light_sensor"))
        elif kind == 0x04:
            source["dig_input_1_on"] = _bit(block.u8("dig_input_1"), 0)
        elif kind == 0x08:
            tilt = block.u8("tilt_sensor")
            source["tilt_sensor__deg"] = None if tilt == 0xFF else tilt
        else:
            warnings.append(
                f"unsupported_sensor_source 0x{kind:02x}, {block.remaining} byte(s) skipped"
            )
            break
    return source


def _dimming_source(r: ByteReader, warnings: list[str]) -> Data:
    address = _address(r.u8("dimming_source address"), None, warnings)
    return {
        "address": address,
        "reason": _reason_v11(r.u8("dimming_source reason"), warnings),
        "dimming_level__percent": _level(r.u8("dimming_source level"), "n/a"),
        "status": _dali_status(r.u8("dimming_source status"), address, warnings),
    }


def _status_v11(r: ByteReader, data: Data, warnings: list[str]) -> None:
    header = r.u8("status header")
    if header not in (0x00, 0x01):
        raise DecodeError(f"status_packet: unknown header 0x{header:02x}")
    before_1_1_4 = header == 0x00
    data["packet_type"] = "status_packet"
    data["device_unix_epoch"] = _epoch(r.u32le("device_unix_epoch"), warnings)
    bits = r.u8("status")
    status: Data = {
        "dali_connection_error": _bit(bits, 1),
        "metering_com_error": _bit(bits, 5),
        "ext_rtc_warning": _bit(bits, 6),
        "internal_relay_closed": _bit(bits, 7),
    }
    warnings.extend(
        n for n in ("dali_connection_error", "metering_com_error", "ext_rtc_warning") if status[n]
    )
    if before_1_1_4:
        status["ldr_input_on"] = _bit(bits, 2)
        status["dig_input_on"] = _bit(bits, 4)
    else:
        more = r.u8("status 2")
        status["open_drain_output_on"] = _bit(more, 2)
        status["lumalink_connected"] = _bit(more, 6)
        status["lumalink_connected_after_boot"] = _bit(more, 7)
    data["status"] = status
    _radio(r, data)
    alerts_sent = True
    if before_1_1_4:
        flags = r.u8("reported fields")
        status["open_drain_output_on"] = _bit(flags, 2)
        alerts_sent = _bit(flags, 4)
        if _bit(flags, 1):
            data["ldr_input_value"] = r.u8("ldr_input_value")
    if alerts_sent:
        alerts = _alerts(r.u8("active_alerts"))
        data["active_alerts"] = alerts
        warnings.extend(name for name in _ALERTS if alerts[name])
    if not before_1_1_4:
        length = r.u8("sensor_source length")
        data["sensor_source"] = _sensor_source(
            ByteReader(r.take(length, "sensor_source")), warnings
        )
    data["dimming_source"] = []
    while r.remaining:
        data["dimming_source"].append(_dimming_source(r, warnings))


def _status_v10(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "status_packet"
    data["device_unix_epoch"] = _epoch(r.u32le("device_unix_epoch"), warnings)
    bits = r.u8("status")
    status: Data = {
        "dali_error_external": _bit(bits, 0),
        "dali_connection_error": _bit(bits, 1),
        "ldr_input_on": _bit(bits, 2),
        "dig_input_on": _bit(bits, 4),
        "hardware_error": _bit(bits, 5),
        "internal_relay_closed": _bit(bits, 7),
    }
    for name, warning in (
        ("dali_error_external", "dali_external_error"),
        ("dali_connection_error", "dali_connection_error"),
        ("hardware_error", "hardware_error"),
    ):
        if status[name]:
            warnings.append(warning)
    data["status"] = status
    _radio(r, data)
    flags = r.u8("reported fields")
    status["open_drain_output_on"] = _bit(flags, 2)
    data["analog_interfaces"] = _alerts(flags)
    if _bit(flags, 1):
        data["ldr_input_value"] = r.u8("ldr_input_value")
    data["profiles"] = []
    while r.remaining:
        profile_id = r.u8("profile_id")
        data["profiles"].append(
            {
                "profile_id": "no_profile" if profile_id == 0xFF else profile_id,
                "profile_version": _reason_v10(r.u8("profile_version"), warnings),
                "address": _address(r.u8("profile address"), "all_devices", warnings),
                "days_active": _days(r.u8("days_active")),
                "dimming_level__percent": _level(r.u8("profile level"), "resume"),
            }
        )


# ---- fPort 25/26: usage --------------------------------------------------------------------


def _consumption(r: ByteReader, warnings: list[str]) -> Data:
    entry: Data = {"address": _address(r.u8("usage address"), "internal_measurement", warnings)}
    fields = r.u8("usage fields")
    if _bit(fields, 0):
        entry["active_energy__Wh"] = r.u32le("active_energy")
    if _bit(fields, 1):
        entry["active_power__W"] = r.u16le("active_power")
    if _bit(fields, 2):
        entry["load_side_energy__Wh"] = r.u32le("load_side_energy")
    if _bit(fields, 3):
        entry["load_side_power__W"] = r.u16le("load_side_power")
    if _bit(fields, 4):
        pf = r.u8("power_factor")
        entry["power_factor"] = "unknown" if pf == 0xFF else pf / 100
    if _bit(fields, 5):
        entry["mains_voltage__V"] = r.u8("mains_voltage")
    if _bit(fields, 6):
        entry["driver_operating_time__h"] = _js_round(r.u32le("driver_operating_time") / 3600)
    if _bit(fields, 7):
        entry["lamp_on_time__h"] = _js_round(r.u32le("lamp_on_time") / 360) / 10
    return entry


def _usage(r: ByteReader, data: Data, warnings: list[str], *, header: bool) -> None:
    if header and (value := r.u8("usage header")) != 0x00:
        raise DecodeError(f"usage_packet: unknown header 0x{value:02x}")
    data["packet_type"] = "usage_packet"
    data["consumption"] = []
    while r.remaining:
        data["consumption"].append(_consumption(r, warnings))


# ---- fPort 50: configuration echoes --------------------------------------------------------


def _cfg_ldr(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "deprecated_ldr_input_config_packet"
    data["ldr_off_threshold_high"] = _level(r.u8("ldr_off_threshold_high"), "disabled")
    data["ldr_on_threshold_low"] = _level(r.u8("ldr_on_threshold_low"), "disabled")
    data["trigger_alert_enabled"] = _bit(r.u8("ldr behaviour"), 2)


def _cfg_dig_old(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "deprecated_dig_input_config_packet"
    duration = r.u16le("light_on_duration")
    data["light_on_duration__s"] = "dig_input_disabled" if duration == 0xFFFF else duration
    behaviour = r.u8("dig behaviour")
    data["signal_edge_rising"] = _bit(behaviour, 1)
    data["trigger_alert_enabled"] = _bit(behaviour, 2)
    data["address"] = _address(r.u8("address"), "all_devices", warnings)
    data["dimming_level__percent"] = _level(r.u8("dimming_level"), "disabled")


def _cfg_open_drain(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "open_drain_output_config_packet"
    data["switching_steps"] = []
    while r.remaining:
        step = _step_time(r.u8("step_time"))
        data["switching_steps"].append(
            {"step_time": step, "open_drain_output_on": r.u8("state") != 0}
        )


def _cfg_calendar_v10(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "calendar_config_packet"
    sunrise, sunset = r.i8("sunrise_offset"), r.i8("sunset_offset")
    cleared = sunrise == -1 and sunset == -1
    data["sunrise_offset__minutes"] = "disabled" if cleared else sunrise
    data["sunset_offset__minutes"] = "disabled" if cleared else sunset
    data["latitude__deg"] = r.i16le("latitude") / 100
    data["longitude__deg"] = r.i16le("longitude") / 100


def _zenith_step(r: ByteReader) -> Data:
    angle = r.i8("zenith_angle") / 6 + 90
    return {
        "zenith_angle__deg": f"{angle:.2f}",
        "dimming_level__percent": _level(r.u8("dimming_level"), "disabled"),
    }


def _cfg_calendar_v11(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "calendar_config_packet"
    steps = r.u8("step counts")
    flags = r.u8("calendar flags")
    data["calendar_prefers_meta_pos"] = _bit(flags, 0)
    data["calendar_clamps_profiles"] = _bit(flags, 1)
    data["calendar_clamps_dig"] = _bit(flags, 2)
    data["ignore_gnss"] = _bit(flags, 3)
    data["latitude__deg"] = r.i16le("latitude") / 100
    data["longitude__deg"] = r.i16le("longitude") / 100
    data["sunrise_steps"] = [_zenith_step(r) for _ in range(steps & 0x0F)]
    data["sunset_steps"] = [_zenith_step(r) for _ in range(steps >> 4)]


def _cfg_status(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "status_config_packet"
    data["status_interval__s"] = r.u32le("status_interval")


def _dimming_step(r: ByteReader) -> Data:
    step = _step_time(r.u8("step_time"))
    return {"step_time": step, "dimming_level__percent": _level(r.u8("dimming_level"), "inactive")}


def _profile_head(r: ByteReader, data: Data, warnings: list[str], *, v10: bool) -> int:
    data["packet_type"] = "profile_config_packet"
    profile_id = r.u8("profile_id")
    data["profile_id"] = "no_profile" if profile_id == 0xFF else profile_id
    length = 0
    if v10:
        data["profile_version"] = _reason_v10(r.u8("profile_version"), warnings)
    else:
        length = r.u8("step count")
    data["address"] = _address(r.u8("address"), "all_devices", warnings)
    data["days_active"] = _days(r.u8("days_active"))
    if not v10:
        r.u8("reserved")
    return length


def _cfg_profile_v10(r: ByteReader, data: Data, warnings: list[str]) -> None:
    _profile_head(r, data, warnings, v10=True)
    data["dimming_steps"] = []
    while r.remaining:
        data["dimming_steps"].append(_dimming_step(r))


def _cfg_profile_v11(r: ByteReader, data: Data, warnings: list[str]) -> None:
    length = _profile_head(r, data, warnings, v10=False)
    data["dimming_steps"] = [_dimming_step(r) for _ in range(length)]


def _cfg_time(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "time_config_packet"
    epoch = r.u32le("device_unix_epoch")
    data["device_unix_epoch"] = (
        "force_lorawan_devicetimereq" if epoch == 0 else _epoch(epoch, warnings)
    )


def _cfg_legacy_defaults(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "legacy_defaults_config_packet"
    data["default_dim__percent"] = r.u8("default_dim")
    alerts = r.u8("alerts")
    data["ldr_alert_enabled"] = _bit(alerts, 0)
    data["dig_alert_enabled"] = _bit(alerts, 2)
    data["dali_alert_enabled"] = _bit(alerts, 3)


def _cfg_usage(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "usage_config_packet"
    data["usage_interval__s"] = r.u32le("usage_interval")
    volts = r.u8("mains_voltage")
    if volts != 0xFF:
        data["mains_voltage__V"] = volts


def _month_day(r: ByteReader) -> str:
    month = r.u8("holiday month")
    return f"{month:02d}/{r.u8('holiday day'):02d}"


def _cfg_holiday_v10(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "holiday_config_packet"
    data["holidays"] = []
    while r.remaining:
        data["holidays"].append(_month_day(r))


def _cfg_holiday_v11(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "holiday_config_packet"
    data["holidays"] = [_month_day(r) for _ in range(r.u8("holiday count"))]


def _cfg_boot_delay(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "boot_delay_config_packet"
    legacy = r.remaining == 1
    data["boot_delay_range__s"] = (
        r.u8("boot_delay_range") if legacy else r.u16le("boot_delay_range")
    )


def _cfg_defaults(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "defaults_config_packet"
    present = r.u8("defaults fields")
    if _bit(present, 0):
        data["default_dim__percent"] = r.u8("default_dim")
    if _bit(present, 1):
        data["max_dim__percent"] = _level(r.u8("max_dim"), "default")
    if _bit(present, 2):
        data["fade_duration__s"] = _fade(r.u8("fade_duration"), warnings)
    if _bit(present, 3):
        data["switch_point_sunset"] = "sunset" if _bit(r.u8("switch_point"), 0) else "twilight"
    if _bit(present, 4):
        data["legacy_mode_enabled"] = _bit(r.u8("legacy_mode"), 0)


def _cfg_location_v10(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "location_config_packet"
    sent = r.u8("location fields")
    if _bit(sent, 0):
        data["latitude__deg"] = r.i32le("latitude") / 1e7
        data["longitude__deg"] = r.i32le("longitude") / 1e7
    if _bit(sent, 1):
        data["address"] = _text(r.take(r.u8("address length"), "address"))


def _cfg_location_v11(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "location_config_packet"
    length = r.u8("address length")
    data["latitude__deg"] = r.i32le("latitude") / 1e7
    data["longitude__deg"] = r.i32le("longitude") / 1e7
    data["address"] = _text(r.take(length, "address"))


def _cfg_led(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "onboard_led_config_packet"
    data["status_led_enabled"] = _bit(r.u8("status_led"), 0)


def _alert_limit(raw: int, off: int) -> int | str:
    return "alert_off" if raw == off else raw


def _cfg_metering_alert(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "metering_alert_config_packet"
    if (version := r.u8("metering alert version")) != 0x01:
        raise DecodeError(f"metering_alert_config_packet: unknown version 0x{version:02x}")
    for key in ("min_power__W", "max_power__W", "min_voltage__V", "max_voltage__V"):
        data[key] = _alert_limit(r.u16le(key), 0xFFFF)
    pf = r.u8("min_power_factor")
    data["min_power_factor"] = "alert_off" if pf == 0xFF else pf / 100


def _cfg_fade(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "fade_config_packet"
    data["fade_duration__s"] = _fade(r.u8("fade_duration"), warnings)


def _cfg_dali_monitor(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "dali_monitor_config_packet"
    flags = r.u8("dali monitor flags")
    data["send_dali_alert"] = _bit(flags, 0)
    data["correct_dali_dimming_level"] = _bit(flags, 1)
    data["periodic_bus_scan_enabled"] = _bit(flags, 2)
    interval = r.u16le("monitoring_interval")
    data["monitoring_interval__s"] = "disabled" if interval == 0 else interval


def _cfg_fallback(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "fallback_dim_config_packet"
    data["fallback_dimming_level__percent"] = r.u8("fallback_dimming_level")


def _cfg_lumalink(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "lumalink_config_packet"
    mode = r.u8("access_mode")
    if mode < len(_LUMALINK_MODES):
        data["access_mode"] = _LUMALINK_MODES[mode]
    else:
        warnings.append("invalid_mode")
        data["access_mode"] = "invalid_mode"


def _cfg_dig_input(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "dig_input_config_packet"
    index = r.u8("dig_enabled")
    if index == 0xFF:
        return
    data["dig_enabled"] = index
    flags = r.u8("dig flags")
    data["dig_mode_button"] = _bit(flags, 0)
    data["polarity_high_or_rising"] = _bit(flags, 1)
    data["notification_on_activation"] = _bit(flags, 2)
    data["notification_on_inactivation"] = _bit(flags, 3)
    data["source_d4i_motion_sensor"] = _bit(flags, 7)
    data["address"] = _address(r.u8("address"), "all_devices", warnings)
    data["active_dimming_level__percent"] = _level(r.u8("active level"), "inactive")
    data["inactive_dimming_level__percent"] = _level(r.u8("inactive level"), "inactive")
    data["on_delay__s"] = r.u16le("on_delay")
    data["off_delay__s"] = r.u16le("off_delay")


def _cfg_light_sensor(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "light_sensor_config_packet"
    if r.u8("light sensor enabled") == 0xFF:
        return
    flags = r.u8("light sensor flags")
    data["notification_on_every_step"] = _bit(flags, 0)
    data["light_sensor_clamps_profile"] = _bit(flags, 1)
    data["light_sensor_clamps_dig"] = _bit(flags, 2)
    data["interpolate_steps"] = _bit(flags, 3)
    data["measurement_duration__s"] = r.u8("measurement_duration")
    data["address"] = _address(r.u8("address"), "all_devices", warnings)
    data["dim_steps"] = []
    while r.remaining:
        lx = _format_lux(r.f32le("light_level"))
        level = _level(r.u8("dimming_level"), "inactive")
        data["dim_steps"].append({"light_level__lx": lx, "dimming_level__percent": level})


def _cfg_dim_notify(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "dim_notify_config_packet"
    delay = r.u8("random_delay")
    data["random_delay__s"] = "disabled" if delay == 0xFF else delay * 5
    data["packet_limit__s"] = r.u8("packet_limit") * 60


def _cfg_interface_type(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "interface_type_config_packet"
    name = {0: "dali", 1: "analog_0_10v", 254: "not_supported"}.get(
        r.u8("interface_type"), "invalid_value"
    )
    if name in {"not_supported", "invalid_value"}:
        warnings.append(name)
    data["interface_type"] = name


def _cfg_multicast(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "multicast_config_packet"
    device = r.u8("multicast_device")
    if device > 4:
        raise DecodeError(f"multicast_config_packet: invalid multicast device {device}")
    data["multicast_device"] = device
    data["devaddr"] = r.take(4, "devaddr")[::-1].hex().upper()
    # Session keys are secrets: they stay in the raw payload, never in stored vendor data.
    r.take(32, "multicast session keys")
    data["nwkskey"] = "redacted"
    data["appskey"] = "redacted"


def _cfg_multicast_fcnt(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "multicast_fcnt_config_packet"
    data["multicast_device"] = r.u8("multicast_device")
    data["multicast_fcnt"] = r.u32le("multicast_fcnt")


def _cfg_clear(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "clear_config_packet"
    target = r.u8("reset_target")
    simple = {
        0x01: "ldr_input_config",
        0x03: "dig_input_config",
        0x06: "holiday_config",
        0x23: "holiday_config",
        0x28: "dig_input_config",
        0x29: "light_sensor_config",
    }
    if target in simple:
        data["reset_target"] = simple[target]
    elif target in (0x04, 0x21):
        data["reset_target"] = "profile_config"
        data["address"] = _address(r.u8("address"), "all_profiles", warnings)
        if target == 0x04 and r.remaining:
            data["profile_id"] = r.u8("profile_id")
    elif target == 0x52:
        data["reset_target"] = "multicast_config"
        device = r.u8("multicast_device")
        data["multicast_device"] = (
            "all_multicast_devices" if device == 0xFF else f"multicast_device_{device}"
        )
    elif target == 0xFF:
        data["reset_target"] = "factory_reset"
        data["device_serial"] = f"{r.u32le('device_serial'):08X}"
    else:
        raise DecodeError(f"clear_config_packet: unknown reset target 0x{target:02x}")


def _cfg_chained(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "chained_config_packet"
    data["payloads"] = []
    while r.remaining:
        packet: Data = {}
        _config(r, packet, warnings, chained=True)
        data["payloads"].append(packet)


_CONFIGS: Mapping[int, Parser] = {
    0x01: _cfg_ldr,
    0x03: _cfg_dig_old,
    0x05: _cfg_open_drain,
    0x06: _cfg_calendar_v10,
    0x07: _cfg_status,
    0x08: _cfg_profile_v10,
    0x09: _cfg_time,
    0x0A: _cfg_legacy_defaults,
    0x0B: _cfg_usage,
    0x0C: _cfg_holiday_v10,
    0x0D: _cfg_boot_delay,
    0x0E: _cfg_defaults,
    0x13: _cfg_location_v10,
    0x15: _cfg_led,
    0x16: _cfg_metering_alert,
    0x20: _cfg_calendar_v11,
    0x21: _cfg_profile_v11,
    0x22: _cfg_fade,
    0x23: _cfg_holiday_v11,
    0x24: _cfg_dali_monitor,
    0x25: _cfg_fallback,
    0x26: _cfg_location_v11,
    0x27: _cfg_lumalink,
    0x28: _cfg_dig_input,
    0x29: _cfg_light_sensor,
    0x2A: _cfg_dim_notify,
    0x2B: _cfg_interface_type,
    0x52: _cfg_multicast,
    0x53: _cfg_multicast_fcnt,
    0xFF: _cfg_clear,
}


def _config(r: ByteReader, data: Data, warnings: list[str], *, chained: bool = False) -> None:
    header = r.u8("config header")
    if header == 0xFE and not chained:
        _cfg_chained(r, data, warnings)
        return
    parser = _CONFIGS.get(header)
    if parser is None:
        raise DecodeError(f"fPort 50: unknown configuration header 0x{header:02x}")
    parser(r, data, warnings)


# ---- fPort 60: command responses -----------------------------------------------------------


def _cmd_dali_status(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "dali_status_request"
    if r.remaining == 1:
        raw = r.u8("address")
        data["address"] = "all_drivers" if raw == 0xFE else _address(raw, None, warnings)
        return
    data["dali_statuses"] = []
    while r.remaining:
        data["dali_statuses"].append(_driver_status(r, warnings))


def _driver_status(r: ByteReader, warnings: list[str]) -> Data:
    address = _address(r.u8("driver address"), None, warnings)
    return {"address": address, "status": _dali_status(r.u8("driver status"), address, warnings)}


def _cmd_dimming(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "manual_dimming"
    data["destination"] = []
    while r.remaining:
        address = _address(r.u8("address"), "all_devices", warnings)
        level = _level(r.u8("dimming_level"), "resume")
        data["destination"].append({"address": address, "dimming_level__percent": level})


def _cmd_custom_request(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "custom_dali_request"
    rest = r.take(r.remaining, "query_data")
    data["query_data_raw"] = rest.hex().upper()
    if len(rest) > 3:
        return  # several queries: the split of question and answer is not knowable
    q = ByteReader(rest)
    data["address"] = _address(q.u8("address"), None, warnings)
    data["dali_query"] = q.u8("dali_query")
    if q.remaining:
        data["dali_response"] = q.u8("dali_response")


def _cmd_custom_command(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "custom_dali_command"
    data["dali_command"] = r.take(r.remaining, "dali_command").hex().upper()


def _cmd_status_request(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "status_usage_request"
    flags = r.u8("requests")
    data["usage_requested"] = _bit(flags, 0)
    data["status_requested"] = _bit(flags, 1)
    data["dim_map_report_requested"] = _bit(flags, 2)
    data["request_gnss_notification"] = _bit(flags, 3)
    if data["dim_map_report_requested"] and r.remaining:
        data["drivers"] = []
        while r.remaining:
            address = _address(r.u8("address"), None, warnings)
            low, high = r.u8("dali_min_level"), r.u8("dali_max_level")
            curve = "logarithmic" if r.u8("dimming_curve") == 0 else "linear"
            data["drivers"].append(
                {
                    "address": address,
                    "dali_min_level": low,
                    "dali_max_level": high,
                    "dimming_curve": curve,
                }
            )


def _switch_value(raw: int) -> str:
    return {0x00: "off", 0x01: "on", 0xFF: "n/a"}.get(raw, "invalid_value")


def _cmd_interfaces(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "interface_request"
    if r.remaining == 1:
        r.u8("request")
        return
    ids = []
    values = []
    for name in ("dig", "ldr", "thr", "relay"):
        ids.append(r.u8(f"{name} id"))
        values.append(r.u8(name))
    if ids != [0x01, 0x02, 0x03, 0x04]:
        raise DecodeError("interface_request: unexpected interface ids")
    data["dig"] = _switch_value(values[0])
    data["ldr"] = "n/a" if values[1] == 0xFF else values[1]
    data["internal_relay_closed"] = _bit(values[3], 0)
    data["open_drain_output_on"] = _bit(values[3], 1)


def _memory_head(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["address"] = _address(r.u8("address"), None, warnings)
    data["memory_bank"] = r.u8("memory_bank")
    data["memory_address"] = r.u8("memory_address")


def _cmd_memory_read(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "driver_memory_read"
    if not r.remaining:
        warnings.append("driver_memory_read_failed")
        return
    _memory_head(r, data, warnings)
    size = r.u8("read_size")
    data["read_size__bytes"] = size
    if r.remaining:
        data["memory_value"] = r.take(size, "memory_value").hex().upper()


def _cmd_memory_write(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "driver_memory_write"
    if not r.remaining:
        warnings.append("driver_memory_write_failed")
        return
    _memory_head(r, data, warnings)
    data["memory_value"] = r.take(r.remaining, "memory_value").hex().upper()


def _cmd_timed_dimming(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "manual_timed_dimming"
    data["destination"] = []
    while r.remaining:
        address = _address(r.u8("address"), "all_devices", warnings)
        level = _level(r.u8("dimming_level"), "resume")
        minutes = r.u8("duration")
        data["destination"].append(
            {"address": address, "dimming_level__percent": level, "duration__minutes": minutes}
        )


def _cmd_address_driver(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "address_dali_driver"
    data["address"] = _address(r.u8("address"), "rescan_dali_bus", warnings)


def _cmd_identify(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "dali_identify"


def _cmd_open_drain(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "open_drain_output_control"
    data["open_drain_output_on"] = _bit(r.u8("open_drain_output"), 0)


_COMMANDS: Mapping[int, Parser] = {
    0x00: _cmd_dali_status,
    0x01: _cmd_dimming,
    0x03: _cmd_custom_request,
    0x04: _cmd_custom_command,
    0x05: _cmd_status_request,
    0x06: _cmd_interfaces,
    0x07: _cmd_memory_read,
    0x08: _cmd_memory_write,
    0x09: _cmd_timed_dimming,
    0x0A: _cmd_address_driver,
    0x0B: _cmd_identify,
    0x0C: _cmd_open_drain,
}


# ---- fPort 61: notifications ---------------------------------------------------------------


def _notification(r: ByteReader, data: Data, warnings: list[str]) -> None:
    header = r.u8("notification header")
    info = r.u8("notification info")
    length = info >> 4
    if header == 0x80:
        data["packet_type"] = "dig_input_notification"
        if length == 2:
            data["dig_input_event_counter"] = r.u16le("dig_input_event_counter")
        elif length == 4:
            data["dig_input_on"] = _bit(info, 0)
            data["dig_input_event_counter"] = r.u32le("dig_input_event_counter")
        else:
            raise DecodeError(f"dig_input_notification: invalid length {length}")
    elif header == 0x81:
        data["packet_type"] = "ldr_input_notification"
        if length != 2:
            raise DecodeError(f"ldr_input_notification: invalid length {length}")
        data["ldr_input_on"] = _bit(r.u8("ldr_input_on"), 0)
        data["ldr_input_value"] = r.u8("ldr_input_value")
    elif header == 0x83:
        data["packet_type"] = "dali_driver_alert"
        data["drivers"] = []
        while r.remaining:
            data["drivers"].append(_driver_status(r, warnings))
    elif header == 0x84:
        _metering_alert(r, info, data, warnings)
    elif header == 0x85:
        data["packet_type"] = "deprecated_light_sensor_notification"
        data["active_dim_step"] = info
    elif header == 0x86:
        _location(r, info, data, warnings)
    else:
        raise DecodeError(f"fPort 61: unknown notification header 0x{header:02x}")


_METERING_CONDITIONS = (
    ("lamp_error_alert", "metering_lamp_error"),
    ("over_current_alert", "metering_over_current"),
    ("under_voltage_alert", "metering_under_voltage"),
    ("over_voltage_alert", "metering_over_voltage"),
    ("low_power_factor_alert", "metering_low_power_factor"),
)


def _metering_alert(r: ByteReader, conditions: int, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "metering_alert"
    for n, (key, warning) in enumerate(_METERING_CONDITIONS):
        data[key] = _bit(conditions, n)
        if data[key]:
            warnings.append(warning)
    data["power__W"] = r.u16le("power")
    data["voltage__V"] = r.u16le("voltage")
    data["power_factor"] = r.u8("power_factor") / 100


def _location(r: ByteReader, status: int, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "location_notification"
    if status == 0x00:
        data["location_status"] = "good_fix"
        data["latitude__deg"] = f"{r.f32le('latitude'):.6f}"
        data["longitude__deg"] = f"{r.f32le('longitude'):.6f}"
        data["last_fix_utc_time"] = _epoch(r.u32le("last_fix_utc_time"), warnings)
    else:
        data["location_status"] = _LOCATION_STATUS.get(status, "invalid_status")


# ---- fPort 99: system ------------------------------------------------------------------------


def _system(r: ByteReader, data: Data, warnings: list[str]) -> None:
    header = r.u8("system header")
    if header == 0x00:
        _boot(r, data, warnings)
    elif header == 0x13:
        data["packet_type"] = "invalid_downlink_packet"
        data["downlink_from_fport"] = r.u8("downlink_from_fport")
        reason = _DOWNLINK_ERRORS.get(r.u8("error_reason"), "invalid_error_code")
        data["error_reason"] = reason
        warnings.append(f"downlink_error {reason}")
    else:
        raise DecodeError(f"fPort 99: unknown system header 0x{header:02x}")


def _boot(r: ByteReader, data: Data, warnings: list[str]) -> None:
    data["packet_type"] = "boot_packet"
    data["device_serial"] = f"{r.u32le('device_serial'):08X}"
    data["firmware_version"] = nas.version(r.take(3, "firmware_version"))
    data["device_unix_epoch"] = _epoch(r.u32le("device_unix_epoch"), warnings)
    config = r.u8("device_config")
    if config < len(_DEVICE_CONFIGS):
        data["device_config"] = _DEVICE_CONFIGS[config]
    else:
        warnings.append("invalid_device_config")
        data["device_config"] = "invalid_config"
    features = r.u8("optional_features")
    data["optional_features"] = {
        "dig_input": _bit(features, 2),
        "ldr_input": _bit(features, 3),
        "open_drain_output": _bit(features, 4),
        "metering": _bit(features, 5),
    }
    dali = r.u8("dali supply")
    supply = dali & 0x7F
    if supply < 0x70:
        data["dali_supply_state__V"] = supply
    elif supply == 0x7E:
        data["dali_supply_state__V"] = "bus_high"
    elif supply == 0x7F:
        warnings.append("dali_bus_error")
        data["dali_supply_state__V"] = "bus_error"
    else:
        data["dali_supply_state__V"] = "invalid_value"
    data["dali_power_source_external"] = "external" if _bit(dali, 7) else "internal"
    drivers = r.u8("dali drivers")
    data["dali_addressed_driver_count"] = drivers & 0x7F
    data["dali_unaddressed_driver_found"] = _bit(drivers, 7)
    if _bit(drivers, 7):
        warnings.append("unadressed_dali_driver_on_bus")
    if r.remaining:
        reasons = r.u8("reset_reason")
        data["reset_reason"] = [name for n, name in enumerate(_RESET_REASONS) if _bit(reasons, n)]
        if _bit(reasons, 1):
            warnings.append("watchdog_reset")


# ---- dispatch and normalisation ------------------------------------------------------------

_DOWNLINK_ONLY = {49: "configuration requests", 51: "update mode commands"}


def _by_header(table: Mapping[int, Parser], port: int) -> Parser:
    def parse(r: ByteReader, data: Data, warnings: list[str]) -> None:
        header = r.u8("header")
        parser = table.get(header)
        if parser is None:
            raise DecodeError(f"fPort {port}: unknown header 0x{header:02x}")
        parser(r, data, warnings)

    return parse


def _usage_v10(r: ByteReader, data: Data, warnings: list[str]) -> None:
    _usage(r, data, warnings, header=False)


def _usage_v11(r: ByteReader, data: Data, warnings: list[str]) -> None:
    _usage(r, data, warnings, header=True)


def _config_port(r: ByteReader, data: Data, warnings: list[str]) -> None:
    _config(r, data, warnings)


_PORTS: Mapping[int, Parser] = {
    23: _status_v11,
    24: _status_v10,
    25: _usage_v10,
    26: _usage_v11,
    50: _config_port,
    60: _by_header(_COMMANDS, 60),
    61: _notification,
    99: _system,
}


def _channel(address: object) -> str | None:
    """The reading channel of a vendor address; None for groups and invalid addresses."""
    text = str(address)
    if text in {"dali_broadcast", "analog_0_10v", "internal_measurement", "all_devices"}:
        return ""
    if text.startswith("dali_single_"):
        return text.removeprefix("dali_single_")
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _gauge(name: str, value: object, time: datetime, channel: str = "") -> list[Reading]:
    """A reading of a numeric value, unless it is outside what the quantity can be."""
    number = _number(value)
    spec = CANONICAL[name]
    if number is None or not spec.low <= number <= spec.high:
        return []
    return [Reading(name, number, time, channel)]


def _percent(value: object) -> float | None:
    number = _number(value)
    return number if number is not None and 0 <= number <= 100 else None


def _lamp(entry: Mapping[str, Any], time: datetime) -> list[Reading]:
    """dim_pct, lamp_on and lamp_failure of one address from a status or command record."""
    channel = _channel(entry.get("address"))
    if channel is None:
        return []
    out: list[Reading] = []
    level = _percent(entry.get("dimming_level__percent"))
    if level is not None:
        out.append(Reading("dim_pct", level, time, channel))
    status = entry.get("status")
    if isinstance(status, Mapping) and str(entry.get("address")).startswith("dali_"):
        out.append(Reading("lamp_on", bool(status.get("lamp_on")), time, channel))
        failed = bool(status.get("lamp_failure")) or bool(status.get("driver_error"))
        out.append(Reading("lamp_failure", failed, time, channel))
    elif entry.get("reason") == "relay_off":
        out.append(Reading("lamp_on", False, time, channel))
    return out


def _usage_readings(entry: Mapping[str, Any], time: datetime) -> list[Reading]:
    channel = _channel(entry.get("address"))
    if channel is None:
        return []
    out: list[Reading] = []
    energy = _number(entry.get("active_energy__Wh"))
    if energy is not None:
        out.append(Reading("energy_kwh", energy / 1000, time, channel, ENERGY_MODULUS_KWH))
    out += _gauge("power_w", entry.get("active_power__W"), time, channel)
    out += _gauge("power_factor", entry.get("power_factor"), time, channel)
    out += _gauge("voltage_v", entry.get("mains_voltage__V"), time, channel)
    hours = _number(entry.get("lamp_on_time__h"))
    if hours is not None:
        out.append(Reading("lamp_hours", hours, time, channel, LAMP_HOURS_MODULUS))
    return out


def _metering_readings(data: Mapping[str, Any], time: datetime) -> list[Reading]:
    return [
        Reading("lamp_failure", bool(data.get("lamp_error_alert")), time),
        *_gauge("power_w", data.get("power__W"), time),
        *_gauge("voltage_v", data.get("voltage__V"), time),
        *_gauge("power_factor", data.get("power_factor"), time),
    ]


@register
class NasUL20xx(Decoder):
    name = "nas-ul20xx"
    vendor = "NAS (Nordic Automation Systems)"
    device = "UL20xx luminaire controller (UL2002, UL2014, UL2020, UL2030...)"
    family = "lighting"
    readings = (
        "dim_pct",
        "lamp_on",
        "lamp_failure",
        "energy_kwh",
        "power_w",
        "power_factor",
        "voltage_v",
        "lamp_hours",
    )
    documentation = "https://docs.nasys.no/en/lcu/payloads-uplinks"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        port = uplink.f_port
        if port in _DOWNLINK_ONLY:
            raise DecodeError(f"fPort {port} carries {_DOWNLINK_ONLY[port]}, downlink only")
        parser = _PORTS.get(port)
        if parser is None:
            raise DecodeError(f"fPort {port} is not a UL20xx uplink port")
        if not uplink.payload:
            raise DecodeError("empty payload")
        r = ByteReader(uplink.payload)
        data: Data = {}
        parser(r, data, warnings)
        if r.remaining:
            kind = data.get("packet_type", "frame")
            raise DecodeError(f"{kind}: {r.remaining} unexpected byte(s) at offset {r.pos}")
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        kind = data.get("packet_type")
        records: list[Mapping[str, Any]] = []
        if kind == "status_packet":
            records = [*data.get("dimming_source", ()), *data.get("profiles", ())]
        elif kind == "dali_driver_alert":
            records = list(data.get("drivers", ()))
        elif kind == "dali_status_request":
            records = list(data.get("dali_statuses", ()))
        elif kind in {"manual_dimming", "manual_timed_dimming"}:
            records = list(data.get("destination", ()))
        elif kind == "usage_packet":
            return [
                r for entry in data.get("consumption", ()) for r in _usage_readings(entry, time)
            ]
        elif kind == "metering_alert":
            return _metering_readings(data, time)
        return [reading for record in records for reading in _lamp(record, time)]
