"""A bounds-checked byte reader shared by the native decoders.

Payloads are hostile: every read names what it was reading when the frame ran short, so a
truncated uplink becomes a clear error ("temperature: needs 2 bytes at offset 5, 1 left").
"""

from __future__ import annotations

import struct

from lorawatch.errors import DecodeError

_FORMATS = {
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
}


class ByteReader:
    """Sequential reader over a payload with named, bounds-checked reads."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.remaining < n:
            raise DecodeError(
                f"{what}: needs {n} byte(s) at offset {self.pos}, {self.remaining} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read(self, fmt: str, what: str) -> int | float:
        code = _FORMATS[fmt]
        size = struct.calcsize(code)
        value: int | float = struct.unpack(code, self.take(size, what))[0]
        return value

    def u8(self, what: str) -> int:
        return int(self.read("u8", what))

    def u16le(self, what: str) -> int:
        return int(self.read("u16le", what))

    def i16le(self, what: str) -> int:
        return int(self.read("i16le", what))

    def u16be(self, what: str) -> int:
        return int(self.read("u16be", what))

    def i16be(self, what: str) -> int:
        return int(self.read("i16be", what))

    def u24le(self, what: str) -> int:
        return int.from_bytes(self.take(3, what), "little")

    def u24be(self, what: str) -> int:
        return int.from_bytes(self.take(3, what), "big")

    def u32le(self, what: str) -> int:
        return int(self.read("u32le", what))

    def i32le(self, what: str) -> int:
        return int(self.read("i32le", what))

    def u32be(self, what: str) -> int:
        return int(self.read("u32be", what))

    def i32be(self, what: str) -> int:
        return int(self.read("i32be", what))

    def f32le(self, what: str) -> float:
        return float(self.read("f32le", what))


def expect_length(payload: bytes, allowed: set[int] | int, what: str) -> None:
    """Raise a DecodeError naming the frame when the payload length is not an allowed one."""
    lengths = {allowed} if isinstance(allowed, int) else allowed
    if len(payload) not in lengths:
        want = " or ".join(str(n) for n in sorted(lengths))
        raise DecodeError(f"{what}: expected {want} bytes, got {len(payload)}")
