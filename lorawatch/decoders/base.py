"""The decoder contract, shaped like LoRa Alliance TS013 (The Things Stack, ChirpStack v4).

A decoder turns one uplink's bytes into vendor ``data`` (JSON-like, the vendor's own names and
units) plus ``warnings`` and ``errors``, then :meth:`Decoder.normalise` maps that data onto the
canonical readings of :mod:`lorawatch.core.readings`, using the device's parameters from the
inventory (pulses per kWh, bin geometry, meter index offset...).

Two promises hold for every decoder, whatever the bytes: :meth:`Decoder.decode_uplink` and
:func:`readings_of` never raise (payloads are hostile; an exception becomes an error result),
and an ``errors`` list that is not empty means the uplink yielded nothing.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic_core import PydanticCustomError

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import Reading, keep_valid
from lorawatch.core.reasons import Items, OneOf, Reason
from lorawatch.decoders.normalized import readings as normalized_readings

Family = Literal["energy", "water", "waste", "lighting", "environment", "generic"]
ParamValue = float | str | bool
Params = Mapping[str, ParamValue]


@dataclass(slots=True)
class Uplink:
    """The TS013 ``decodeUplink`` input: bytes, fPort, receive time and device variables."""

    payload: bytes
    f_port: int
    recv_time: datetime
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class DecodeResult:
    """The TS013 ``decodeUplink`` output."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The measurements of a TTN ``normalizeUplink`` when the codec has one (see normalized.py).
    normalized: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class Param:
    """A per-device parameter a decoder accepts from the inventory (or ChirpStack tags)."""

    description: str
    type: type[float] | type[str] | type[bool] = float
    default: ParamValue | None = None
    choices: tuple[str, ...] = ()
    # False for what only the operator may set (a file to run, a sandbox limit): a ChirpStack
    # device tag of that name is ignored, since whoever edits tags is not trusted with it.
    from_tags: bool = True
    # A file or folder: a relative value is resolved from the inventory file's folder.
    path: bool = False

    def coerce(self, raw: object) -> ParamValue:
        """Turn an inventory value (ChirpStack tags are all strings) into the declared type."""
        if self.type is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"true", "1", "yes", "on"}:
                return True
            if text in {"false", "0", "no", "off"}:
                return False
            raise _refused("bool_expected", "expected true or false, got {value}", raw)
        if self.type is float:
            if isinstance(raw, bool):
                raise _refused("number_expected", "expected a number, got {value}", raw)
            try:
                value = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise _refused("number_expected", "expected a number, got {value}", raw) from None
            if not math.isfinite(value):
                raise _refused("finite_expected", "expected a finite number, got {value}", raw)
            return value
        text = str(raw)
        if self.choices and text not in self.choices:
            raise _refused(
                "choice_expected",
                "expected {choices}, got {value}",
                raw,
                choices=OneOf(repr(c) for c in self.choices),
            )
        return text


def _refused(kind: str, template: str, raw: object, **values: object) -> PydanticCustomError:
    """A parameter's value refused: ``kind`` names the catalogue's ``invalid.<kind>``."""
    return PydanticCustomError(kind, template, {"value": repr(raw), **values})


class Decoder(ABC):
    """Base class of every decoder. Subclasses set the class attributes and two methods.

    ``name`` is the registry key used in the inventory (``milesight-em300-di``); ``readings``
    lists the canonical names :meth:`normalise` can produce; ``parameters`` declares the
    per-device parameters it understands, so the inventory is checked at start.
    """

    name: ClassVar[str]
    vendor: ClassVar[str]
    device: ClassVar[str]
    family: ClassVar[Family]
    readings: ClassVar[tuple[str, ...]]
    parameters: ClassVar[Mapping[str, Param]] = {}
    documentation: ClassVar[str] = ""

    def decode_uplink(self, uplink: Uplink) -> DecodeResult:
        """Decode one uplink; never raises."""
        warnings: list[str] = []
        try:
            data = self.decode(uplink, warnings)
        except Exception as exc:  # noqa: BLE001 - hostile payloads must never crash the caller
            return self.failed(exc, warnings)
        return DecodeResult(data, warnings, [])

    @staticmethod
    def failed(exc: Exception, warnings: list[str]) -> DecodeResult:
        """The result of a decode that raised: a DecodeError says why, anything else is a bug
        in the decoder, reported as such."""
        if isinstance(exc, DecodeError):
            return DecodeResult({}, warnings, [str(exc)])
        return DecodeResult({}, warnings, [f"decoder failed: {type(exc).__name__}: {exc}"])

    @abstractmethod
    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        """Return the vendor data of one uplink; raise DecodeError when it cannot be decoded."""

    @abstractmethod
    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        """Map vendor data onto canonical readings at ``time`` (history records at their own)."""

    def bind(self, params: Params) -> Decoder:
        """The decoder to use for a device with these parameters (a JS codec binds its file).

        Native decoders get their parameters in :meth:`normalise` and return themselves.
        """
        return self

    def check(self) -> str | None:
        """Why this decoder cannot run (e.g. an unreadable JS codec), or None; checked at start."""
        return None

    def resolve_params(
        self, raw: Mapping[str, object]
    ) -> tuple[dict[str, ParamValue], list[Reason]]:
        """Coerce raw inventory parameters; return (params with defaults, problems)."""
        problems: list[Reason] = []
        params: dict[str, ParamValue] = {}
        for key, value in raw.items():
            spec = self.parameters.get(key)
            if spec is None:
                values = {"key": repr(key), "decoder": self.name}
                if self.parameters:
                    known = Items(repr(k) for k in sorted(self.parameters))
                    problems.append(Reason("unknown_parameter", {**values, "known": known}))
                else:
                    problems.append(Reason("no_parameters", values))
                continue
            try:
                params[key] = spec.coerce(value)
            except ValueError as exc:
                problems.append(Reason("parameter", {"key": repr(key), "reason": Reason.of(exc)}))
        for key, spec in self.parameters.items():
            if key not in params and spec.default is not None:
                params[key] = spec.default
        return params, problems


def readings_of(
    decoder: Decoder, result: DecodeResult, params: Params, time: datetime
) -> list[Reading]:
    """Normalise a decode result; never raises, drops (with a warning) what breaks the vocabulary.

    Invalid readings are dropped rather than stored because a canonical field must be
    trustworthy; the raw payload is kept by the pipeline, so nothing is lost for good.
    """
    if not result.ok:
        return []
    try:
        produced = decoder.normalise(result.data, params, time)
    except Exception as exc:  # noqa: BLE001 - same promise as decode_uplink
        result.errors.append(f"normalise failed: {type(exc).__name__}: {exc}")
        return []
    if produced.__class__ is Plausible and not result.normalized:
        return produced  # checked by plausible() already
    if result.normalized:
        extra, problems = normalized_readings(result.normalized, time)
        result.warnings.extend(problems)
        seen = {(r.name, r.channel, r.time) for r in produced}
        produced += [r for r in extra if (r.name, r.channel, r.time) not in seen]
    kept: list[Reading] = []
    for reading in produced:
        problem = reading.problem()
        if problem is None:
            kept.append(reading)
        else:
            result.warnings.append(f"dropped reading: {problem}")
    return kept


class Plausible(list[Reading]):
    """Readings :func:`plausible` kept: :func:`readings_of` need not check them again."""


def plausible(*readings: Reading) -> list[Reading]:
    """The readings that keep to the vocabulary (their ``problem()`` is None).

    For decoders whose registers hold values no sensor measures (sentinels, fields wider than
    the physical range): they drop those readings themselves, because such a value is not news
    and :func:`readings_of` would warn about each; the raw value stays in the vendor data.
    """
    kept = Plausible()
    keep_valid(readings, kept)
    return kept


class Unusable(Decoder):
    """Stands in for a decoder that cannot be bound for one device (a ChirpStack tag naming a
    model the operator's repository lacks): each uplink fails with the reason, so it becomes
    a dead letter that says why, and the service goes on."""

    name = "unusable"
    vendor = ""
    device = ""
    family = "generic"
    readings = ()

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        raise DecodeError(self.reason)

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        return []
