"""The Milesight channel/type frame format shared by the EM300, EM310, CT and WS series.

A Milesight uplink (fPort 85 by default) is a run of ``channel id, channel type, value``
records whose value length is fixed by the (id, type) pair. Each device module gives a table
of the pairs it documents; the device-information pairs under id 0xFF are common to all.
Source: Milesight user guides, "Uplink Packets" chapter of each device, and the payload
tables of the Milesight-IoT SensorDecoders READMEs.
"""

from __future__ import annotations

import functools
import operator
import struct
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from lorawatch.core.errors import DecodeError
from lorawatch.decoders.base import Decoder, DecodeResult, Uplink
from lorawatch.decoders.binary import STRUCTS, ByteReader

Handler = Callable[[ByteReader, dict[str, Any]], None]


Post = int | dict[int, str] | Callable[[Any], Any] | None
"""What becomes of a raw number: nothing, a division by an int, a name from a table (see
:func:`lookup`), or a function of it."""


def _apply(post: int | dict[int, str] | Callable[[Any], Any], value: Any) -> Any:
    if post.__class__ is int:
        return value / post
    if post.__class__ is dict:
        name = post.get(value)
        return name if name is not None else f"unknown ({value})"
    return post(value)  # type: ignore[operator]


class Scalar:
    """One number of a record, optionally divided (temperature in 0.1 °C), rounded, or named
    (an enumerated state): the records of a periodic report are made of these.

    Records declared as scalars, rather than as handler functions, are read by :func:`walk`
    without a call per record, and a frame made only of them is decoded by one ``Struct``
    call once its shape is known (:class:`Table`): decoding runs once per uplink.
    """

    __slots__ = ("fmt", "key", "post", "size", "unpack")

    def __init__(
        self,
        key: str,
        fmt: str,
        divisor: int = 1,
        *,
        choices: Mapping[int, str] | None = None,
        digits: int | None = None,
        convert: Callable[[Any], Any] | None = None,
    ) -> None:
        st = STRUCTS[fmt]
        self.key, self.fmt, self.size, self.unpack = key, fmt, st.size, st.unpack_from
        self.post: Post = divisor if divisor != 1 else None
        if choices is not None:
            self.post = dict(choices)
        elif digits is not None:
            self.post = functools.partial(round, ndigits=digits)
        elif convert is not None:
            self.post = convert

    def compiled(self) -> _Value:
        return (self.key, self.size, self.unpack, self.post, self.fmt)

    def read(self, r: ByteReader, into: dict[str, Any]) -> None:
        """Read the value with a reader, for a handler that reads it inside a bigger record."""
        if r.remaining < self.size:
            raise DecodeError(
                f"{self.key}: needs {self.size} byte(s) at offset {r.pos}, {r.remaining} left"
            )
        value = self.unpack(r.data, r.pos)[0]
        r.pos += self.size
        into[self.key] = value if self.post is None else _apply(self.post, value)


class Fields:
    """A record of several numbers in a row (a water index with its conversion factors)."""

    __slots__ = ("values",)

    def __init__(self, *values: Scalar) -> None:
        self.values = values

    def read(self, r: ByteReader, into: dict[str, Any]) -> None:
        """Read the values with a reader, for a handler that reads them inside a bigger record."""
        for value in self.values:
            value.read(r, into)


_Value = tuple[str, int, Callable[[bytes, int], tuple[Any, ...]], Post, str]
"""A compiled Scalar, read by walk(): key, size, unpack_from, post, format name."""
_Compiled = tuple[_Value, ...]

Record = Handler | Scalar | Fields
MILESIGHT_FPORT = 85
# Alarm conditions of the threshold settings, and the enable flag of the settings' replies.
CONDITIONS: Mapping[int, str] = {0: "disable", 1: "below", 2: "above", 3: "between", 4: "outside"}
ENABLE: Mapping[int, str] = {0: "disable", 1: "enable"}


def lookup(table: Mapping[int, str], value: int) -> str:
    """An enumerated value by name; an undocumented one stays visible as ``unknown (n)``."""
    name = table.get(value)
    return name if name is not None else f"unknown ({value})"


# Versions are hex digits: the user guides read 0110 as v1.10. Two-byte fields are read
# little-endian, so their first byte is the low one.
_CLASSES = {0: "Class A", 1: "Class B", 2: "Class C", 3: "Class CtoB"}

COMMON: Mapping[tuple[int, int], Record] = {
    (0xFF, 0x01): Scalar("ipso_version", "u8", convert=lambda b: f"v{b >> 4}.{b & 0x0F}"),
    (0xFF, 0x09): Scalar(
        "hardware_version", "u16le", convert=lambda v: f"v{v & 0xFF:x}.{v >> 12:x}"
    ),
    (0xFF, 0x0A): Scalar(
        "firmware_version", "u16le", convert=lambda v: f"v{v & 0xFF:x}.{v >> 8:x}"
    ),
    (0xFF, 0xFF): Scalar("tsl_version", "u16le", convert=lambda v: f"v{v & 0xFF}.{v >> 8}"),
    (0xFF, 0x16): Scalar("sn", "u64le", convert=lambda v: v.to_bytes(8, "little").hex()),
    (0xFF, 0x0F): Scalar("lorawan_class", "u8", choices=_CLASSES),
    (0xFF, 0xFE): Scalar("reset_event", "u8", convert=lambda _: "reset"),
    (0xFF, 0x0B): Scalar("device_status", "u8", convert=lambda _: "on"),
    (0x01, 0x75): Scalar("battery", "u8"),
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


def replies(handlers: Mapping[int, Record]) -> dict[tuple[int, int], Record]:
    """Handlers of the replies to downlink commands, by the command's type.

    Replies come under channel 0xFF, or 0xFE on newer firmware, with the type of the command.
    """
    return {(channel, kind): h for channel in (0xFF, 0xFE) for kind, h in handlers.items()}


HISTORY_START = ("<IhB", "history timestamp", "history temperature", "history humidity")
"""The timestamp, temperature and humidity that start a stored EM300 record (type 0xCE):
the start of a device's :class:`~lorawatch.decoders.binary.Group` for its records."""


def history_point(timestamp: int, temperature: int, humidity: int) -> dict[str, Any]:
    """The point of a stored EM300 record, from the values of :data:`HISTORY_START`."""
    return {"timestamp": timestamp, "temperature": temperature / 10, "humidity": humidity / 2}


temperature = Scalar("temperature", "i16le", 10)
humidity = Scalar("humidity", "u8", 2)


_STRUCT_CODES = {
    name: st.format[-1] for name, st in STRUCTS.items() if st.size == 1 or st.format[0] == "<"
}
"""The formats a frame's one little-endian Struct can hold, by name, without byte order."""
_MAX_LAYOUTS = 256
_Step = tuple[int, int, int, _Compiled]
"""One record of a walked frame: its offset, channel id, channel type and values."""


class _Layout:
    """A frame shape seen before: where its headers are, and one function that reads all its
    values with one Struct call and returns the decoded dict."""

    __slots__ = ("decode", "expected", "headers")

    def __init__(self, steps: list[_Step]) -> None:
        self.headers = operator.itemgetter(*(p for at, _, _, _ in steps for p in (at, at + 1)))
        self.expected = tuple(b for _, channel, kind, _ in steps for b in (channel, kind))
        values = [value for _, _, _, record in steps for value in record]
        codes = "".join(
            ("xx" if i == 0 else "") + _STRUCT_CODES[value[4]]
            for _, _, _, record in steps
            for i, value in enumerate(record)
        )
        self.decode = _reader(struct.Struct("<" + codes).unpack_from, values)


def _reader(unpack: Callable[[bytes], tuple[Any, ...]], values: list[_Value]) -> _FrameReader:
    """The function that decodes a frame of a known shape, written out and compiled once, as
    the standard library does for dataclasses and named tuples: one call, one Struct call and
    one dict display per uplink. Keys enter the source as literals (``repr``); tables and
    functions are passed in, never written into it."""
    env: dict[str, Any] = {"unpack": unpack}
    items = []
    for i, (key, _, _, post, _) in enumerate(values):
        if post is None:
            expr = f"v{i}"
        elif isinstance(post, int):
            expr = f"v{i} / {post!r}"
        elif isinstance(post, functools.partial) and post.func is round:
            expr = f"round(v{i}, {post.keywords['ndigits']!r})"
        elif isinstance(post, dict):
            env[f"t{i}"] = post
            expr = f"(n if (n := t{i}.get(v{i})) is not None else f'unknown ({{v{i}}})')"
        else:
            env[f"f{i}"] = post
            expr = f"f{i}(v{i})"
        items.append(f"{key!r}: {expr}")
    names = "".join(f"v{i}, " for i in range(len(values)))
    source = (
        f"def decode(payload):\n    {names}= unpack(payload)\n    return {{{', '.join(items)}}}\n"
    )
    exec(source, env)  # noqa: S102 - source built above from literals, see the docstring
    reader: _FrameReader = env["decode"]
    return reader


_FrameReader = Callable[[bytes], dict[str, Any]]


class Table:
    """A device's records and the common ones in one lookup, keyed by ``id << 8 | type``.

    It also remembers the shapes of the frames made only of :class:`Scalar` records that it
    has decoded (a device sends the same periodic report all its life): a frame of a known
    shape, recognised by its length and header bytes, is decoded by one ``Struct`` call
    instead of a record-by-record walk. Walking a frame depends on nothing but those header
    bytes, so the result is the same.
    """

    def __init__(self, handlers: Mapping[tuple[int, int], Record]) -> None:
        merged = {**COMMON, **handlers}
        self.records: dict[int, Handler | _Compiled] = {
            channel << 8 | kind: _compile(record) for (channel, kind), record in merged.items()
        }
        self.layouts: dict[int, list[_Layout]] = {}
        self.learned = 0

    def learn(self, length: int, steps: list[_Step]) -> None:
        keys = [value[0] for _, _, _, record in steps for value in record]
        if self.learned >= _MAX_LAYOUTS or len(set(keys)) != len(keys):
            return
        if any(value[4] not in _STRUCT_CODES for _, _, _, record in steps for value in record):
            return
        self.layouts.setdefault(length, []).append(_Layout(steps))
        self.learned += 1


def _compile(record: Record) -> Handler | _Compiled:
    if isinstance(record, Scalar):
        return (record.compiled(),)
    if isinstance(record, Fields):
        return tuple(value.compiled() for value in record.values)
    return record


def walk(payload: bytes, records: Table, warnings: list[str]) -> dict[str, Any]:
    """Decode every channel record of a Milesight frame; raise DecodeError when it cannot be.

    An unknown (id, type) pair ends the walk, since its length is unknown: with records
    already decoded it is a warning (the rest is reported, not guessed), alone an error.
    """
    for layout in records.layouts.get(len(payload), ()):
        if layout.headers(payload) == layout.expected:
            return layout.decode(payload)
    errors: list[str] = []
    data = _walk(payload, records, warnings, errors)
    if errors:
        raise DecodeError(errors[0])
    return data


def _walk(payload: bytes, records: Table, warnings: list[str], errors: list[str]) -> dict[str, Any]:
    """:func:`walk` record by record, for a frame of no known shape; it reports its own errors
    in ``errors`` instead of raising (a handler may still raise): bad frames are frequent
    enough on a big fleet to be worth the care."""
    end = len(payload)
    if not end:
        errors.append("empty payload")
        return {}
    data: dict[str, Any] = {}
    reader: ByteReader | None = None
    steps: list[_Step] | None = []
    table = records.records
    pos = 0
    while pos < end:
        if end - pos < 2:
            errors.append(f"dangling byte at offset {pos}: a record needs id and type")
            return {}
        channel, kind = payload[pos], payload[pos + 1]
        record = table.get(channel << 8 | kind)
        if record is None:
            message = (
                f"unknown channel 0x{channel:02x} type 0x{kind:02x} at offset {pos}; "
                f"{end - pos} byte(s) not decoded"
            )
            if not data:
                errors.append(message)
                return {}
            warnings.append(message)
            return data
        if type(record) is tuple:
            if steps is not None:
                steps.append((pos, channel, kind, record))
            pos += 2
            for key, size, unpack, then, _ in record:
                if end - pos < size:
                    errors.append(f"{key}: needs {size} byte(s) at offset {pos}, {end - pos} left")
                    return {}
                value = unpack(payload, pos)[0]
                if then is not None:
                    value = _apply(then, value)
                data[key] = value
                pos += size
        else:
            steps = None
            if reader is None:
                reader = ByteReader(payload)
            reader.pos = pos + 2
            cast(Handler, record)(reader, data)
            pos = reader.pos
    if steps:
        records.learn(end, steps)
    return data


def check_port(f_port: int, warnings: list[str]) -> None:
    if f_port != MILESIGHT_FPORT:
        warnings.append(f"fPort {f_port} is not Milesight's default {MILESIGHT_FPORT}")


class MilesightDecoder(Decoder):
    """A decoder of Milesight channel frames: ``handlers`` holds what its device sends.

    Decoding is the same for every Milesight device (the port check and the walk), so a device
    module gives its table of (id, type) handlers and its own :meth:`normalise`.
    """

    handlers: ClassVar[Mapping[tuple[int, int], Record]]
    records: ClassVar[Table]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "handlers" in cls.__dict__:
            cls.records = Table(cls.handlers)
        if "decode" in cls.__dict__ and "decode_uplink" not in cls.__dict__:
            # A device that adds to decode() must be decoded through it.
            cls.decode_uplink = Decoder.decode_uplink  # type: ignore[method-assign]

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        if uplink.f_port != MILESIGHT_FPORT:
            check_port(uplink.f_port, warnings)
        return walk(uplink.payload, self.records, warnings)

    def decode_uplink(self, uplink: Uplink) -> DecodeResult:
        """:meth:`Decoder.decode_uplink` without the call to :meth:`decode`: the periodic
        report of a Milesight sensor is the most frequent uplink of a fleet."""
        warnings: list[str] = []
        if uplink.f_port != MILESIGHT_FPORT:
            check_port(uplink.f_port, warnings)
        payload = uplink.payload
        for layout in self.records.layouts.get(len(payload), ()):
            if layout.headers(payload) == layout.expected:
                return DecodeResult(layout.decode(payload), warnings, [])
        errors: list[str] = []
        try:
            return DecodeResult(_walk(payload, self.records, warnings, errors), warnings, errors)
        except Exception as exc:  # noqa: BLE001 - as in Decoder.decode_uplink
            return self.failed(exc, warnings)


def append_history(data: dict[str, Any], point: dict[str, Any]) -> None:
    data.setdefault("history", []).append(point)
