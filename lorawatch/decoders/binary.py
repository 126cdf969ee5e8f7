"""A bounds-checked byte reader shared by the native decoders.

Payloads are hostile: every read names what it was reading when the frame ran short, so a
truncated uplink becomes a clear error ("temperature: needs 2 bytes at offset 5, 1 left").
"""

from __future__ import annotations

import struct
from typing import Any

from lorawatch.core.errors import DecodeError

STRUCTS = {
    name: struct.Struct(code)
    for name, code in {
        "u8": "B",
        "i8": "b",
        "u16le": "<H",
        "i16le": "<h",
        "u16be": ">H",
        "i16be": ">h",
        "u32le": "<I",
        "i32le": "<i",
        "u32be": ">I",
        "i32be": ">i",
        "f32le": "<f",
        "f32be": ">f",
        "u64le": "<Q",
    }.items()
}


_U16LE = STRUCTS["u16le"].unpack_from
_I16LE = STRUCTS["i16le"].unpack_from
_U32LE = STRUCTS["u32le"].unpack_from
_F32LE = STRUCTS["f32le"].unpack_from


class ByteReader:
    """Sequential reader over a payload with named, bounds-checked reads.

    Reads use precompiled ``struct.Struct.unpack_from`` without slicing: decoding runs on the
    ingest hot path, once per uplink.
    """

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _short(self, n: int, what: str) -> DecodeError:
        return DecodeError(f"{what}: needs {n} byte(s) at offset {self.pos}, {self.remaining} left")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or len(self.data) - self.pos < n:
            raise self._short(n, what)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read(self, fmt: str, what: str) -> int | float:
        st = STRUCTS[fmt]
        pos = self.pos
        if len(self.data) - pos < st.size:
            raise self._short(st.size, what)
        self.pos = pos + st.size
        value: int | float = st.unpack_from(self.data, pos)[0]
        return value

    def u8(self, what: str) -> int:
        pos = self.pos
        if pos >= len(self.data):
            raise self._short(1, what)
        self.pos = pos + 1
        return self.data[pos]

    def i8(self, what: str) -> int:
        return int(self.read("i8", what))

    def u16le(self, what: str) -> int:
        pos = self.pos
        if len(self.data) - pos < 2:
            raise self._short(2, what)
        self.pos = pos + 2
        value: int = _U16LE(self.data, pos)[0]
        return value

    def i16le(self, what: str) -> int:
        pos = self.pos
        if len(self.data) - pos < 2:
            raise self._short(2, what)
        self.pos = pos + 2
        value: int = _I16LE(self.data, pos)[0]
        return value

    def u16be(self, what: str) -> int:
        return int(self.read("u16be", what))

    def i16be(self, what: str) -> int:
        return int(self.read("i16be", what))

    def u24le(self, what: str) -> int:
        return int.from_bytes(self.take(3, what), "little")

    def u24be(self, what: str) -> int:
        return int.from_bytes(self.take(3, what), "big")

    def u32le(self, what: str) -> int:
        pos = self.pos
        if len(self.data) - pos < 4:
            raise self._short(4, what)
        self.pos = pos + 4
        value: int = _U32LE(self.data, pos)[0]
        return value

    def i32le(self, what: str) -> int:
        return int(self.read("i32le", what))

    def u32be(self, what: str) -> int:
        return int(self.read("u32be", what))

    def i32be(self, what: str) -> int:
        return int(self.read("i32be", what))

    def f32le(self, what: str) -> float:
        pos = self.pos
        if len(self.data) - pos < 4:
            raise self._short(4, what)
        self.pos = pos + 4
        value: float = _F32LE(self.data, pos)[0]
        return value


class Group:
    """Several values read by one ``struct`` call (a history record), since decoding runs on
    the hot path; a frame that runs short still names the value that ran out."""

    __slots__ = ("fields", "struct")

    def __init__(self, fmt: str, *names: str) -> None:
        """``fmt`` is a ``struct`` format with an explicit byte order and one code per name."""
        self.struct = struct.Struct(fmt)
        codes = fmt[1:]
        if len(codes) != len(names):
            raise ValueError(f"{fmt!r} has {len(codes)} values for {len(names)} names")
        offset = 0
        self.fields: list[tuple[str, int, int]] = []
        for code, name in zip(codes, names, strict=True):
            size = struct.calcsize(fmt[0] + code)
            self.fields.append((name, offset, size))
            offset += size

    def read(self, r: ByteReader) -> tuple[Any, ...]:
        pos = r.pos
        left = len(r.data) - pos
        if left < self.struct.size:
            for name, offset, size in self.fields:
                if left < offset + size:
                    raise DecodeError(
                        f"{name}: needs {size} byte(s) at offset {pos + offset}, "
                        f"{left - offset} left"
                    )
        r.pos = pos + self.struct.size
        return self.struct.unpack_from(r.data, pos)


def expect_length(payload: bytes, allowed: set[int] | int, what: str) -> None:
    """Raise a DecodeError naming the frame when the payload length is not an allowed one."""
    lengths = {allowed} if isinstance(allowed, int) else allowed
    if len(payload) not in lengths:
        want = " or ".join(str(n) for n in sorted(lengths))
        raise DecodeError(f"{what}: expected {want} bytes, got {len(payload)}")
