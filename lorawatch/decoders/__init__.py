"""Decoders: vendor payload -> vendor data -> canonical readings.

See docs/decoders.md for the contract and how to add a decoder with its vectors.
"""

from lorawatch.decoders.base import Decoder, DecodeResult, Param, Params, Uplink, readings_of
from lorawatch.decoders.registry import get, names, register

__all__ = [
    "DecodeResult",
    "Decoder",
    "Param",
    "Params",
    "Uplink",
    "get",
    "names",
    "readings_of",
    "register",
]
