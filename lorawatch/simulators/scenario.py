"""Scenario files: an inventory plus what the simulator needs to bring it to life.

A scenario is an ordinary inventory TOML (communes, buildings, devices, fleets), so the same
file feeds the service and the simulator and they cannot disagree on a dev_eui. On top:

- ``[scenario]``: name, ``timezone``, ``epoch`` (when the sensors were fitted: counters start
  there and nothing is sent before), ``loss_rate`` and ``duplicate_rate`` of uplinks, and
  ``[scenario.weather]`` (climate and ``cold_snaps``);
- per building ``simulation``: loads and usage (see :mod:`lorawatch.simulators.models`);
- per device ``simulation``: reporting interval, bin stream and collection days, lamp power;
- ``[[anomalies]]``: faults injected at an onset time, with their size, so alert rules and
  dashboards can be shown to catch them.

The packaged scenarios live beside this module (``scenarios/``), so an installed lorawatch
finds them by name with :func:`builtin`; the repository's top-level ``scenarios`` is a link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lorawatch import inventory as inventory_mod
from lorawatch.core.errors import InventoryError
from lorawatch.inventory import Device, Inventory
from lorawatch.simulators.weather import to_datetime

if TYPE_CHECKING:
    pass

SCENARIO_DIR: Final = Path(__file__).with_name("scenarios")

AnomalyType = Literal[
    "stuck_flush", "heating_left_on", "bin_full", "lamp_out", "flat_battery", "leak"
]
_NEEDS: Final[dict[str, str]] = {
    "stuck_flush": "building",
    "heating_left_on": "building",
    "bin_full": "device",
    "lamp_out": "device",
    "flat_battery": "device",
    "leak": "device",
}
_DEFAULT_SIZE: Final[dict[str, dict[str, float]]] = {
    "stuck_flush": {"flow_l_h": 400.0, "alert_after_h": 2.0},
    "heating_left_on": {"setpoint_c": 20.0},
    "bin_full": {"fill_pct": 100.0},
    "lamp_out": {"standby_w": 2.0},
    "flat_battery": {"drain_days": 14.0},
    "leak": {},
}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One injected fault: what, where (a device or a building), from when, how big."""

    id: str
    type: AnomalyType
    onset: datetime
    end: datetime | None = None
    device: str = ""
    building: str = ""
    size: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def onset_ts(self) -> float:
        return self.onset.timestamp()

    @property
    def end_ts(self) -> float:
        return self.end.timestamp() if self.end is not None else float("inf")

    def active(self, ts: float) -> bool:
        return self.onset_ts <= ts < self.end_ts

    def overlap_s(self, a: float, b: float) -> float:
        """Seconds of [a, b) (Unix times) during which the anomaly is active."""
        return max(0.0, min(b, self.end_ts) - max(a, self.onset_ts))


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded scenario; ``inventory`` is what the service would load from the same file."""

    name: str
    path: Path
    inventory: Inventory
    timezone: str
    epoch: datetime
    weather: Mapping[str, Any]
    loss_rate: float
    duplicate_rate: float
    anomalies: tuple[Anomaly, ...]
    description: str = ""

    @property
    def devices(self) -> list[Device]:
        """Every device entry, fleets expanded, in file order."""
        return self.inventory.doc.devices

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def anomalies_of_device(self, dev_eui: str) -> list[Anomaly]:
        return [a for a in self.anomalies if a.device == dev_eui]

    def anomalies_of_building(self, building: str) -> list[Anomaly]:
        return [a for a in self.anomalies if a.building == building]


def builtin(name: str) -> Path:
    """The packaged scenario file called ``name`` ("saint-sulpice", "rennes-metropole")."""
    path = SCENARIO_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise InventoryError([(name, f"no built-in scenario of that name (known: {known})")])
    return path


def find(name_or_path: str) -> Path:
    """A scenario given on the command line: an existing file, else a built-in name."""
    path = Path(name_or_path)
    return path if path.is_file() else builtin(name_or_path)


def load(path: Path) -> Scenario:
    """Read a scenario; raise InventoryError naming every bad entry, as the inventory does."""
    inventory = inventory_mod.load(path)
    spec = inventory.doc.scenario
    problems: list[tuple[str, str]] = []
    timezone = str(spec.get("timezone", "Europe/Paris"))
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(("scenario.timezone", f"unknown time zone {timezone!r}"))
        zone = ZoneInfo("UTC")
    try:
        epoch = to_datetime(spec.get("epoch", "2024-09-01"), zone)
    except ValueError as exc:
        problems.append(("scenario.epoch", str(exc)))
        epoch = datetime(2024, 9, 1, tzinfo=UTC)
    rates: dict[str, float] = {}
    for key, default in (("loss_rate", 0.02), ("duplicate_rate", 0.005)):
        value = spec.get(key, default)
        if not isinstance(value, int | float) or not 0 <= value < 0.5:
            problems.append((f"scenario.{key}", "must be a number in [0, 0.5)"))
            value = default
        rates[key] = float(value)
    anomalies = tuple(_anomalies(inventory, zone, problems))
    if problems:
        raise InventoryError(problems, str(path))
    return Scenario(
        name=str(spec.get("name", path.stem)),
        path=path,
        inventory=inventory,
        timezone=timezone,
        epoch=epoch,
        weather=dict(spec.get("weather", {})),
        loss_rate=rates["loss_rate"],
        duplicate_rate=rates["duplicate_rate"],
        anomalies=anomalies,
        description=str(spec.get("description", "")),
    )


def _anomalies(
    inventory: Inventory, zone: ZoneInfo, problems: list[tuple[str, str]]
) -> list[Anomaly]:
    by_name = {d.name: d.dev_eui for d in inventory.doc.devices if d.name}
    out: list[Anomaly] = []
    for i, raw in enumerate(inventory.doc.anomalies):
        where = f"anomalies[{i}] ({raw.get('id', '?')})"
        kind = _anomaly_type(raw.get("type"))
        if kind is None:
            problems.append((where, f"type must be one of {', '.join(get_args(AnomalyType))}"))
            continue
        device = str(raw.get("device", ""))
        device = by_name.get(device, device.lower())
        building = str(raw.get("building", ""))
        if _NEEDS[kind] == "device" and device not in inventory.devices:
            problems.append(
                (where, f"{kind} needs a known device (dev_eui or name), got {device!r}")
            )
            continue
        if _NEEDS[kind] == "building" and building not in inventory.buildings:
            problems.append((where, f"{kind} needs a known building, got {building!r}"))
            continue
        try:
            onset = to_datetime(raw["onset"], zone)
            end = to_datetime(raw["end"], zone) if "end" in raw else None
        except (KeyError, ValueError) as exc:
            problems.append((where, f"needs an onset (and optional end) date-time: {exc}"))
            continue
        if end is not None and end <= onset:
            problems.append((where, "end must come after onset"))
            continue
        size = dict(_DEFAULT_SIZE[kind])
        for key, value in raw.items():
            if key in size:
                if not isinstance(value, int | float) or isinstance(value, bool):
                    problems.append((where, f"{key} must be a number"))
                    continue
                size[key] = float(value)
            elif key not in {"id", "type", "device", "building", "onset", "end", "description"}:
                problems.append(
                    (where, f"unknown key {key!r} for {kind} (known: {', '.join(size) or 'none'})")
                )
        out.append(
            Anomaly(
                id=str(raw.get("id", f"anomaly-{i}")),
                type=kind,
                onset=onset,
                end=end,
                device=device,
                building=building,
                size=size,
                description=str(raw.get("description", "")),
            )
        )
    return out


def _anomaly_type(value: object) -> AnomalyType | None:
    for known in get_args(AnomalyType):
        if value == known:
            return cast(AnomalyType, known)
    return None


__all__ = ["Anomaly", "Scenario", "builtin", "find", "load"]
