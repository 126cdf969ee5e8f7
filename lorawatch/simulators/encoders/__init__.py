"""Device encoders: the inverse of each decoder, producing the real vendor frame.

A simulated device knows its state in canonical readings (``energy_kwh``, ``battery_pct``...),
like the physical models that drive it; its encoder turns that state into the bytes the real
device would send, using the same inventory parameters the decoder uses to normalise. One
module per decoder, same module name as in :mod:`lorawatch.decoders.devices`; the round-trip
property (decode + normalise of an encoded frame gives the state back) is tested per device.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lorawatch.decoders.base import Params


@dataclass(frozen=True, slots=True)
class Frame:
    f_port: int
    payload: bytes


State = Mapping[str, float | bool]
Encoder = Callable[[State, Params, str], Frame]
"""``encode(state, params, kind)``: ``kind`` picks the frame type ("report", "alarm"...)."""

_encoders: dict[str, Encoder] = {}
_frame_kinds: dict[str, tuple[str, ...]] = {}
_loaded = False


def encoder(
    decoder_name: str, kinds: tuple[str, ...] = ("report",)
) -> Callable[[Encoder], Encoder]:
    """Register the encoder of ``decoder_name``; ``kinds`` lists the frame types it produces."""

    def wrap(fn: Encoder) -> Encoder:
        if decoder_name in _encoders:
            raise ValueError(f"an encoder for {decoder_name!r} is already registered")
        _encoders[decoder_name] = fn
        _frame_kinds[decoder_name] = kinds
        return fn

    return wrap


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in pkgutil.iter_modules(__path__, __name__ + "."):
            importlib.import_module(module.name)


def get(decoder_name: str) -> Encoder:
    _load()
    try:
        return _encoders[decoder_name]
    except KeyError:
        raise KeyError(f"no encoder for decoder {decoder_name!r}") from None


def kinds(decoder_name: str) -> tuple[str, ...]:
    _load()
    return _frame_kinds[decoder_name]


def names() -> list[str]:
    _load()
    return sorted(_encoders)
