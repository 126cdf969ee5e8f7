"""Wired M-Bus variable data records (EN 13757-3), as relayed by LoRaWAN M-Bus readers.

A LoRaWAN M-Bus reader (NAS UM30xx...) reads the meter over the bus and forwards its data
records unchanged: ``DIF [DIFE...] VIF [VIFE...] data``. This module names each record the way
the nas-codecs decoder does (``[storageN_][subunitN_][tariffN_]<type>[_max|_min]__<unit>``, e.g.
``volume__m3``, ``storage1_energy__Wh``), so the plain keys of the current value of a meter are
stable and a normaliser can pick them. Only the primary VIF table and the common 0xFB/0xFD
extensions get names; other records keep a ``vif_..`` key with their raw value.
Source: EN 13757-3:2018 annexes (data field, VIF tables); nas-codecs src/util/tmbus_wrapper.js
for the key names.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lorawatch.core.errors import DecodeError
from lorawatch.decoders.binary import ByteReader

Value = int | float | str | None

_TIME_UNITS = ("seconds", "minutes", "hours", "days")
_FUNCTIONS = ("", "_max", "_min", "_during_error")
# Data field (low nibble of the DIF) -> data length in bytes; 0x0D is variable, 0x0F special.
_LENGTHS = {0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8, 0x8: 0}
_BCD_LENGTHS = {0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
_MAX_EXTENSIONS = 10


@dataclass(frozen=True, slots=True)
class Quantity:
    """What a VIF says: a type name, a unit and the power of ten of one raw step."""

    type: str
    unit: str = ""
    exponent: int = 0
    date: bool = False


def primary(vif: int) -> Quantity:
    """What a primary VIF (extension bit cleared) says; unnamed ones give ``vif_..``."""
    n = vif & 0x07
    nn = vif & 0x03
    ranges: list[tuple[int, int, Callable[[], Quantity]]] = [
        (0x00, 0x07, lambda: Quantity("energy", "Wh", n - 3)),
        (0x08, 0x0F, lambda: Quantity("energy", "J", n)),
        (0x10, 0x17, lambda: Quantity("volume", "m3", n - 6)),
        (0x18, 0x1F, lambda: Quantity("mass", "kg", n - 3)),
        (0x20, 0x23, lambda: Quantity("on_time", _TIME_UNITS[nn])),
        (0x24, 0x27, lambda: Quantity("operating_time", _TIME_UNITS[nn])),
        (0x28, 0x2F, lambda: Quantity("power", "W", n - 3)),
        (0x30, 0x37, lambda: Quantity("power", "J_per_h", n)),
        (0x38, 0x3F, lambda: Quantity("volume_flow", "m3_per_h", n - 6)),
        (0x40, 0x47, lambda: Quantity("volume_flow_ext.", "m3_per_min", n - 7)),
        (0x48, 0x4F, lambda: Quantity("volume_flow_ext.", "m3_per_s", n - 9)),
        (0x50, 0x57, lambda: Quantity("mass_flow", "kg_per_h", n - 3)),
        (0x58, 0x5B, lambda: Quantity("flow_temperature", "degC", nn - 3)),
        (0x5C, 0x5F, lambda: Quantity("return_temperature", "degC", nn - 3)),
        (0x60, 0x63, lambda: Quantity("temperature_difference", "K", nn - 3)),
        (0x64, 0x67, lambda: Quantity("external_temperature", "degC", nn - 3)),
        (0x68, 0x6B, lambda: Quantity("pressure", "bar", nn - 3)),
        (0x6C, 0x6D, lambda: Quantity("time_point", date=True)),
        (0x6E, 0x6E, lambda: Quantity("units_for_h.c.a.")),
        (0x70, 0x73, lambda: Quantity("averaging_duration", _TIME_UNITS[nn])),
        (0x74, 0x77, lambda: Quantity("actuality_duration", _TIME_UNITS[nn])),
        (0x78, 0x78, lambda: Quantity("fabrication_no")),
        (0x79, 0x79, lambda: Quantity("enhanced_identification")),
        (0x7A, 0x7A, lambda: Quantity("bus_address")),
        (0x7E, 0x7E, lambda: Quantity("any_vif")),
        (0x7F, 0x7F, lambda: Quantity("manufacturer_specific")),
    ]
    for low, high, make in ranges:
        if low <= vif <= high:
            return make()
    return Quantity(f"vif_{vif:02x}")


_FD_NAMES = {
    0x08: "access_number",
    0x09: "medium",
    0x0A: "manufacturer",
    0x0C: "model/version",
    0x0D: "hardware_version_#",
    0x0E: "firmware_version_#",
    0x0F: "software_version_#",
    0x17: "error_flags",
    0x1A: "digital_output",
    0x1B: "digital_input",
    0x3A: "dimensionless",
}


def _extension_fd(vife: int) -> Quantity:
    if 0x40 <= vife <= 0x4F:
        return Quantity("voltage", "V", (vife & 0x0F) - 9)
    if 0x50 <= vife <= 0x5F:
        return Quantity("current", "A", (vife & 0x0F) - 12)
    return Quantity(_FD_NAMES.get(vife, f"vif_fd{vife:02x}"))


def _extension_fb(vife: int) -> Quantity:
    n = vife & 0x01
    table = {
        0x00: Quantity("energy", "MWh", n - 1),
        0x08: Quantity("energy", "GJ", n - 1),
        0x10: Quantity("volume", "m3", n + 2),
        0x18: Quantity("mass", "t", n + 2),
        0x28: Quantity("power", "MW", n - 1),
        0x30: Quantity("power", "GJ_per_h", n - 1),
    }
    return table.get(vife & 0x7E, Quantity(f"vif_fb{vife:02x}"))


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded data record: its nas-codecs style key and its value in the unit of the key."""

    key: str
    value: Value


@dataclass(frozen=True, slots=True)
class Header:
    """The DIF, DIFE, VIF and VIFE bytes of one data record, before its data.

    Kept apart from the naming of values so that a reader which supports only some records
    (the CM30xx OMS frames) reads the same header and builds the same keys as :func:`parse`.
    """

    dif: int
    storage: int
    tariff: int
    subunit: int
    vif: int
    vifes: tuple[int, ...]

    @property
    def coding(self) -> int:
        """The data field: the length and coding of the value (low nibble of the DIF)."""
        return self.dif & 0x0F

    def key(self, name: str, unit: str = "") -> str:
        """``[storageN_][subunitN_][tariffN_]<name>[_max|_min|_during_error][__unit]``."""
        prefix = f"storage{self.storage}_" if self.storage else ""
        prefix += f"subunit{self.subunit}_" if self.subunit else ""
        prefix += f"tariff{self.tariff}_" if self.tariff else ""
        key = f"{prefix}{name}{_FUNCTIONS[(self.dif >> 4) & 0x03]}"
        return f"{key}__{unit}" if unit else key


def read_header(r: ByteReader, dif: int, *, limit: int | None = _MAX_EXTENSIONS) -> Header:
    """The rest of a record's header after its DIF: DIFEs, VIF and VIFEs.

    ``limit`` is the most extension bytes of each kind (EN 13757-3 and tmbus allow ten);
    None reads on while the extension bit is set.
    """
    difes = _chain(r, dif, "DIFE", limit)
    storage = (dif >> 6) & 0x01
    tariff = subunit = 0
    for i, dife in enumerate(difes):
        storage |= (dife & 0x0F) << (1 + 4 * i)
        tariff |= ((dife >> 4) & 0x03) << (2 * i)
        subunit |= ((dife >> 6) & 0x01) << i
    vif = r.u8("VIF")
    vifes = _chain(r, vif, "VIFE", limit)
    return Header(dif, storage, tariff, subunit, vif, tuple(vifes))


def _chain(r: ByteReader, first: int, what: str, limit: int | None) -> list[int]:
    """The extension bytes that follow ``first`` while the extension bit is set."""
    out: list[int] = []
    byte = first
    while byte & 0x80:
        if len(out) == limit:
            raise DecodeError(f"{what}: more than {limit} extension bytes")
        byte = r.u8(what)
        out.append(byte)
    return out


def signed(raw: bytes) -> int:
    """A little-endian two's complement integer (type B)."""
    return int.from_bytes(raw, "little", signed=True)


def bcd(raw: bytes) -> int | None:
    """A BCD number (least significant byte first); an F as the top digit means negative."""
    digits = "".join(f"{b:02X}" for b in reversed(raw))
    negative = digits.startswith("F")
    if negative:
        digits = digits[1:]
    if not digits.isdigit():
        return None
    return -int(digits) if negative else int(digits)


def _date(raw: bytes) -> str | None:
    """Type G (date) or type F (date and time) as ISO text, like the nas-codecs output."""
    if len(raw) == 2:
        day, month = raw[0] & 0x1F, raw[1] & 0x0F
        year = ((raw[0] & 0xE0) >> 5) | ((raw[1] & 0xF0) >> 1)
        text = ""
    elif len(raw) == 4:
        day, month = raw[2] & 0x1F, raw[3] & 0x0F
        year = ((raw[2] & 0xE0) >> 5) | ((raw[3] & 0xF0) >> 1)
        text = f"T{raw[1] & 0x1F:02d}:{raw[0] & 0x3F:02d}"
    else:
        return None
    if not any(raw):
        return None
    year += 2000 if year < 100 else 1900
    return f"{year:04d}-{month:02d}-{day:02d}{text}"


def _scaled(raw: int, exponent: int) -> int | float:
    if exponent >= 0:
        return raw * int(10**exponent)
    return round(raw * 10.0**exponent, -exponent)


def _value(r: ByteReader, dif: int, quantity: Quantity, exponent: int) -> Value:
    field = dif & 0x0F
    if field == 0x0D:
        lvar = r.u8("variable length")
        if lvar < 0xC0:
            text = bytes(reversed(r.take(lvar, "text value"))).decode("latin-1")
            return text
        if lvar < 0xE0:
            number = bcd(r.take(lvar & 0x0F, "BCD value"))
            if number is None:
                return None
            return _scaled(-number if lvar >= 0xD0 else number, exponent)
        if lvar < 0xF0:
            return r.take(lvar - 0xE0, "binary value")[::-1].hex().upper()
        raise DecodeError(f"unsupported variable length code 0x{lvar:02x}")
    if field in _BCD_LENGTHS:
        number = bcd(r.take(_BCD_LENGTHS[field], "BCD value"))
        return None if number is None else _scaled(number, exponent)
    if field == 0x05:
        real = float(struct.unpack("<f", r.take(4, "real value"))[0])
        return real * 10.0**exponent
    raw = r.take(_LENGTHS[field], "integer value")
    if not raw:
        return None
    if quantity.date:
        return _date(raw)
    if not quantity.unit:
        return signed(raw)
    return _scaled(signed(raw), exponent)


def _vife_effect(vife: int) -> tuple[str, int]:
    """A VIFE's name suffix and exponent change; unknown ones mark the key as not plain."""
    code = vife & 0x7F
    if code == 0x3A:
        return "_vif", 0
    if code == 0x3B:
        return "_accumulated_pos", 0
    if code == 0x3C:
        return "_accumulated_neg", 0
    if 0x70 <= code <= 0x77:
        return "", (code & 0x07) - 6
    if code == 0x7D:
        return "", 3
    return f"_vife{code:02x}", 0


def _record(r: ByteReader, dif: int) -> Record:
    head = read_header(r, dif)
    vif, vifes = head.vif, list(head.vifes)
    if vif & 0x7F == 0x7C:
        raise DecodeError("plain-text VIF is not supported")
    if vif in (0xFB, 0xFD):
        if not vifes:
            raise DecodeError("VIF extension byte missing")
        first = vifes.pop(0)
        quantity = (_extension_fb if vif == 0xFB else _extension_fd)(first & 0x7F)
    else:
        quantity = primary(vif & 0x7F)
    suffix = ""
    exponent = quantity.exponent
    if quantity.type != "manufacturer_specific":
        for vife in vifes:
            name, change = _vife_effect(vife)
            suffix += name
            exponent += change
    value = _value(r, dif, quantity, exponent)
    return Record(head.key(quantity.type + suffix, quantity.unit), value)


def parse(payload: bytes, warnings: list[str]) -> dict[str, Any]:
    """Every data record of ``payload`` by key; a broken record ends the walk with a warning."""
    out: dict[str, Any] = {}
    r = ByteReader(payload)
    while r.remaining:
        at = r.pos
        dif = r.u8("DIF")
        if dif == 0x2F:
            continue
        if dif in (0x0F, 0x1F):
            out["manufacturer_specific_data"] = r.take(r.remaining, "data").hex().upper()
            break
        if dif == 0x7F:
            continue
        if dif & 0x0F == 0x0F:
            warnings.append(f"M-Bus record at offset {at}: reserved DIF 0x{dif:02x}; rest ignored")
            break
        try:
            record = _record(r, dif)
        except DecodeError as exc:
            warnings.append(f"M-Bus record at offset {at}: {exc}; rest ignored")
            break
        out[record.key] = record.value
    return out


def manufacturer(code: int) -> str:
    """The three-letter FLAG manufacturer id packed in a 15-bit code."""
    return "".join(chr(((code >> shift) & 0x1F) + 64) for shift in (10, 5, 0))
