"""The device inventory: communes, buildings and devices, and which decoder reads each device.

A device is found by its dev_eui; failing that, by its ChirpStack device-profile name
(``[[profiles]]``), taking commune, building and parameters from the device's ChirpStack tags
(the reference events carry ``building``, ``commune``, ``pulses_per_kwh`` tags). A device with
no decoder may still be read through a declarative mapping of ChirpStack's decoded ``object``.

The whole file is checked at start: an unknown decoder, a parameter the decoder does not
know, a device in an unknown building: each is reported with the entry it is in, all at once.
Scenario files (``scenarios/*.toml``) are inventories with extra ``simulation`` tables.
A metropolis has tens of thousands of alike devices, so ``[[fleets]]`` describes them
compactly (so many bin sensors of this decoder per commune) and :func:`load` expands each
fleet into ordinary devices, with stable dev_euis, before the same checks run on them.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from lorawatch.core.errors import InventoryError
from lorawatch.core.reasons import Items, OneOf, Reason
from lorawatch.core.settings import problems_of
from lorawatch.decoders import registry
from lorawatch.decoders.base import Decoder, ParamValue, Unusable
from lorawatch.decoders.mapping import FieldMapping
from lorawatch.inventory import occupancy

DeviceKind = Literal[
    "electricity", "water", "gas", "heat", "bin", "streetlight", "leak", "environment", "other"
]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Commune(_Entry):
    id: str
    name: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    population: int | None = None
    timezone: str = "Europe/Paris"
    school_zone: str = Field(
        "", description="School holiday zone (A, B, C; 'Corse'...) for the 'fr-school' calendar"
    )
    academy: str = Field(
        "", description="Académie (Rennes, Lyon...): its own calendar, if imported, comes first"
    )


def _weekday(day: str) -> str:
    if day not in occupancy.WEEKDAYS:
        raise PydanticCustomError(
            "weekday",
            "{day} is not a day: {days}",
            {"day": repr(day), "days": OneOf(repr(d) for d in occupancy.WEEKDAYS)},
        )
    return day


def _clock_range(text: str) -> str:
    occupancy.parse_hours(text)
    return text


def _day_range(text: str) -> str:
    occupancy.parse_day_range(text)
    return text


def _iso_date(text: str) -> str:
    try:
        if text:
            date.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "iso_date", "{text} is not a date YYYY-MM-DD", {"text": repr(text)}
        ) from None
    return text


Weekday = Annotated[str, AfterValidator(_weekday)]
ClockRange = Annotated[str, AfterValidator(_clock_range)]
DayRange = Annotated[str, AfterValidator(_day_range)]


class Building(_Entry):
    id: str
    commune: str
    name: str
    usage: str = ""
    surface_m2: float | None = Field(None, gt=0)
    opening_hours: dict[Weekday, list[ClockRange]] = Field(
        default_factory=dict, description="Weekly occupancy: mon..sun -> ['08:00-12:00', ...]"
    )
    calendars: list[str] = Field(
        default_factory=list,
        description="Closure calendars by name; 'fr-school': the commune's school calendar",
    )
    closures: list[DayRange] = Field(default_factory=list, description="Closed days or ranges")
    campaign_start: Annotated[str, AfterValidator(_iso_date)] = ""
    simulation: dict[str, Any] = Field(default_factory=dict)


class Device(_Entry):
    dev_eui: str = Field(pattern=r"^[0-9a-f]{16}$")
    name: str = ""
    decoder: str = ""
    kind: DeviceKind = "other"
    commune: str = ""
    building: str = ""
    site: str = Field("", description="Location inside the commune (bin site, street)")
    params: dict[str, Any] = Field(default_factory=dict)
    mapping: dict[str, FieldMapping] = Field(default_factory=dict)
    simulation: dict[str, Any] = Field(default_factory=dict)
    outdoor: bool = Field(
        False,
        description="The sensor is outside: its temperature_c is the commune's outdoor "
        "temperature (stored as outdoor_temperature_c), which weather-aware baselines use.",
    )

    @field_validator("dev_eui", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Profile(_Entry):
    device_profile: str
    decoder: str = ""
    kind: DeviceKind = "other"
    params: dict[str, Any] = Field(default_factory=dict)
    mapping: dict[str, FieldMapping] = Field(default_factory=dict)


class Fleet(_Entry):
    """Many alike devices per commune, expanded by :func:`expand_fleets`.

    Device ``n`` (0-based) of the commune at position ``c`` in ``communes`` gets the dev_eui
    ``dev_eui_prefix`` + ``c`` (4 hex digits) + ``n`` (the remaining digits), so adding a
    fleet or a device never renumbers the others, and ``simulation.fleet_index = n``.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: DeviceKind = "other"
    decoder: str
    communes: list[str] = Field(default_factory=lambda: ["*"], description="ids, or '*': all")
    count: int = Field(ge=0, le=65536, description="devices per commune")
    counts: dict[str, int] = Field(default_factory=dict, description="per-commune overrides")
    dev_eui_prefix: str = Field(pattern=r"^[0-9a-f]{2,8}$")
    name_pattern: str = "{fleet}-{commune}-{n:05d}"
    per_site: int = Field(1, ge=1, description="devices sharing one site (a drop-off point)")
    params: dict[str, Any] = Field(default_factory=dict)
    simulation: dict[str, Any] = Field(default_factory=dict)
    outdoor: bool = Field(False, description="see Device.outdoor")


class InventoryFile(_Entry):
    communes: list[Commune] = Field(default_factory=list)
    buildings: list[Building] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    profiles: list[Profile] = Field(default_factory=list)
    fleets: list[Fleet] = Field(default_factory=list)
    calendar_files: list[str] = Field(
        default_factory=list,
        description="Calendar files (written by `lorawatch calendars import`), relative to "
        "this file; their calendars add to the built-in ones, or update those of that name "
        "(their data within their coverage, the older data outside it).",
    )
    scenario: dict[str, Any] = Field(default_factory=dict)
    anomalies: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ResolvedDevice:
    """What the pipeline needs to read one device: decoder, parameters, location."""

    dev_eui: str
    name: str
    kind: str
    commune: str
    building: str
    decoder: Decoder | None
    params: Mapping[str, ParamValue]
    mapping: Mapping[str, FieldMapping] = field(default_factory=dict)
    outdoor: bool = False


class Inventory:
    """The validated inventory with fast lookups."""

    def __init__(self, doc: InventoryFile, source: str = "") -> None:
        self.doc = doc
        self.source = source
        self.communes = {c.id: c for c in doc.communes}
        self.buildings = {b.id: b for b in doc.buildings}
        self.devices: dict[str, ResolvedDevice] = {}
        self._profiles = {p.device_profile: p for p in doc.profiles}
        problems: list[tuple[str, Reason]] = []
        self.calendars = self._calendars(problems)
        problems += self._check()
        if problems:
            raise InventoryError(problems, source)

    def _check(self) -> list[tuple[str, Reason]]:
        problems: list[tuple[str, Reason]] = []
        for kind, items in (("communes", self.doc.communes), ("buildings", self.doc.buildings)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    problems.append((f"{kind}[{item.id}]", Reason("duplicate_id")))
                seen.add(item.id)
        for b in self.doc.buildings:
            if b.commune not in self.communes:
                problems.append((f"buildings[{b.id}]", _unknown("commune", b.commune)))
                continue
            try:
                names = self.calendar_names(b)
            except KeyError:
                problems.append((f"buildings[{b.id}].calendars", Reason("school_zone_needed")))
                continue
            unknown = [n for n in names if n not in self.calendars]
            if unknown:
                values = {"names": Items(unknown), "known": Items(sorted(self.calendars))}
                problems.append((f"buildings[{b.id}].calendars", Reason("calendars", values)))
        for i, d in enumerate(self.doc.devices):
            where = f"devices[{i}] ({d.dev_eui}{' ' + d.name if d.name else ''})"
            if d.dev_eui in self.devices:
                problems.append((where, Reason("duplicate_dev_eui")))
                continue
            building = self.buildings.get(d.building) if d.building else None
            if d.building and building is None:
                problems.append((where, _unknown("building", d.building)))
            commune = d.commune or (building.commune if building else "")
            if commune and commune not in self.communes:
                problems.append((where, _unknown("commune", commune)))
            decoder, params = self._decoder(where, d.decoder, d.params, problems)
            if not d.decoder and not d.mapping:
                problems.append((where, Reason("decoder_or_mapping")))
            self.devices[d.dev_eui] = ResolvedDevice(
                d.dev_eui,
                d.name or d.dev_eui,
                d.kind,
                commune,
                d.building,
                decoder,
                params,
                d.mapping,
                d.outdoor,
            )
        for p in self.doc.profiles:
            self._decoder(f"profiles[{p.device_profile}]", p.decoder, p.params, problems)
        for f in self.doc.fleets:
            for commune in [*f.communes, *f.counts]:
                if commune != "*" and commune not in self.communes:
                    problems.append((f"fleets[{f.name}]", _unknown("commune", commune)))
            serial_digits = 12 - len(f.dev_eui_prefix)
            if max([f.count, *f.counts.values()]) > 16**serial_digits:
                reason = Reason("fleet_count", {"most": 16**serial_digits})
                problems.append((f"fleets[{f.name}]", reason))
        return problems

    def _calendars(self, problems: list[tuple[str, Reason]]) -> dict[str, occupancy.Calendar]:
        known = dict(occupancy.calendars())
        base = Path(self.source).parent if self.source else Path()
        for i, name in enumerate(self.doc.calendar_files):
            path = Path(name) if Path(name).is_absolute() else base / name
            try:
                loaded = occupancy.load_calendar_file(path)
            except ValueError as exc:
                problems.append((f"calendar_files[{i}]", Reason.of(exc)))
                continue
            for name, cal in loaded.items():
                known[name] = known[name].updated_by(cal) if name in known else cal
        return known

    def calendar_names(self, building: Building | occupancy.BuildingLike) -> list[str]:
        """The building's calendars, ``fr-school`` resolved to its commune's: the academy's
        calendar when one was imported, else the zone's. KeyError saying what is missing."""
        if occupancy.SCHOOL not in building.calendars:
            return list(building.calendars)
        commune = self.communes.get(getattr(building, "commune", ""))
        if commune is None or not (commune.academy or commune.school_zone):
            raise KeyError(
                f"{occupancy.SCHOOL!r} needs the commune's school_zone (A, B, C) or academy"
            )
        candidates = []
        if commune.academy:
            candidates.append(school_calendar_name(academy=commune.academy))
        if commune.school_zone:
            candidates.append(school_calendar_name(zone=commune.school_zone))
        chosen = next((c for c in candidates if c in self.calendars), candidates[-1])
        return [chosen if n == occupancy.SCHOOL else n for n in building.calendars]

    def _decoder(
        self, where: str, name: str, raw: Mapping[str, Any], problems: list[tuple[str, Reason]]
    ) -> tuple[Decoder | None, dict[str, ParamValue]]:
        if not name:
            return None, {}
        try:
            decoder = registry.get(name)
        except InventoryError as exc:
            problems.extend((where, r) for r in exc.reasons if r is not None)
            return None, {}
        params, bad = decoder.resolve_params(raw)
        problems.extend((where, b) for b in bad)
        self._paths(decoder, params)
        try:
            decoder = decoder.bind(params)
        except ValueError as exc:
            problems.append((where, _unusable(exc)))
            return None, params
        problem = decoder.check()
        if problem:
            problems.append((where, Reason("decoder_unusable", {"why": problem})))
        return decoder, params

    def _paths(self, decoder: Decoder, params: dict[str, ParamValue]) -> None:
        """Relative file parameters (a codec, a repository) are relative to the inventory
        file, not to the working directory."""
        for key, spec in decoder.parameters.items():
            value = params.get(key)
            if spec.path and isinstance(value, str) and value and self.source:
                path = Path(value).expanduser()
                if not path.is_absolute():
                    params[key] = str(Path(self.source).parent / path)

    def resolve(
        self,
        dev_eui: str,
        device_profile: str = "",
        tags: Mapping[str, str] | None = None,
        name: str = "",
    ) -> ResolvedDevice | None:
        """The device by dev_eui, else by its ChirpStack profile and tags; None when unknown."""
        found = self.devices.get(dev_eui)
        if found is not None:
            return found
        profile = self._profiles.get(device_profile)
        if profile is None:
            return None
        tags = tags or {}
        decoder = registry.get(profile.decoder) if profile.decoder else None
        params: dict[str, ParamValue] = {}
        if decoder is not None:
            # Tags refine what the profile declares, but never name a file nor a sandbox limit.
            allowed = {k for k, spec in decoder.parameters.items() if spec.from_tags}
            raw = {**profile.params, **{k: v for k, v in tags.items() if k in allowed}}
            params, _ = decoder.resolve_params(raw)
            self._paths(decoder, params)
            try:
                decoder = decoder.bind(params)
            except ValueError as exc:
                # A tag selecting a device the repository lacks: the uplinks of this device
                # are dead-lettered as undecodable, with the reason, instead of crashing.
                decoder = Unusable(f"profile {device_profile!r}: {exc}")
        building = tags.get("building", "")
        commune = tags.get("commune", "") or (
            self.buildings[building].commune if building in self.buildings else ""
        )
        resolved = ResolvedDevice(
            dev_eui,
            name or dev_eui,
            tags.get("meter_kind", profile.kind),
            commune,
            building,
            decoder,
            params,
            profile.mapping,
        )
        self.devices[dev_eui] = resolved
        return resolved


def _unknown(kind: str, name: str) -> Reason:
    return Reason(f"unknown_{kind}", {"name": repr(name)})


def _unusable(exc: ValueError) -> Reason:
    """A decoder refusing a device's parameters: our own reason, or the decoder's words."""
    reason = Reason.of(exc)
    return reason if reason.type else Reason("decoder_unusable", {"why": exc})


def expand_fleets(doc: InventoryFile) -> list[Device]:
    """The devices of every fleet, in a stable order (fleet, commune, number)."""
    out: list[Device] = []
    index = {c.id: i for i, c in enumerate(doc.communes)}
    for f in doc.fleets:
        ids = [c.id for c in doc.communes] if "*" in f.communes else f.communes
        digits = 12 - len(f.dev_eui_prefix)
        for commune in ids:
            if commune not in index:
                continue  # reported by Inventory._check
            count = f.counts.get(commune, f.count)
            for n in range(min(count, 16**digits)):
                out.append(
                    Device(
                        dev_eui=f"{f.dev_eui_prefix}{index[commune]:04x}{n:0{digits}x}",
                        name=f.name_pattern.format(fleet=f.name, commune=commune, n=n),
                        decoder=f.decoder,
                        kind=f.kind,
                        commune=commune,
                        site=f"{commune}-{f.name}-{n // f.per_site:04d}",
                        params=f.params,
                        simulation={**f.simulation, "fleet_index": n},
                        outdoor=f.outdoor,
                    )
                )
    return out


def load(path: Path) -> Inventory:
    """Read and check an inventory file; raise InventoryError naming every bad entry."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InventoryError([(str(path), Reason("file_missing"))]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError([(str(path), Reason("toml", {"why": exc}))]) from None
    try:
        doc = InventoryFile(**raw)
        if doc.fleets:
            doc.devices.extend(expand_fleets(doc))
    except ValidationError as exc:
        raise InventoryError(problems_of(exc), str(path)) from None
    except (KeyError, IndexError, ValueError) as exc:  # a bad name_pattern
        reason = Reason("name_pattern", {"why": exc})
        raise InventoryError([(str(path), reason)], str(path)) from None
    return Inventory(doc, str(path))


def school_calendar_name(zone: str = "", academy: str = "") -> str:
    """``fr-school-zone-b`` for zone "B" (or "Zone B"), ``fr-school-rennes`` for an academy."""
    if academy:
        slug = unicodedata.normalize("NFKD", academy).encode("ascii", "ignore").decode()
        return "fr-school-" + "-".join(re.findall(r"[a-z0-9]+", slug.lower()))
    letter = zone.strip().lower().removeprefix("zone").strip()
    return f"fr-school-zone-{'-'.join(re.findall(r'[a-z0-9]+', letter))}"
