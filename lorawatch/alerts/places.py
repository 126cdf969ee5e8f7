"""What the rules need to know about a place: its thresholds, clock, sun and occupancy.

Thresholds are resolved once per (commune, building, kind, device) from the defaults and the
matching ``[[alerts.overrides]]`` (least specific first, so the most specific wins), and
cached: rules ask for them on every reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from lorawatch.alerts.config import DOMAINS, AlertsConfig, RuleOverride, RuleSet
from lorawatch.alerts.texts import Say
from lorawatch.inventory import Commune, Inventory
from lorawatch.inventory.occupancy import Schedule
from lorawatch.inventory.sun import SunTimes, sun_times
from lorawatch.pipeline.records import Place

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Rules:
    """The thresholds in force for one place, and which rules are on there."""

    set: RuleSet

    def on(self, rule: str) -> bool:
        return rule not in self.set.disabled


def _matches(o: RuleOverride, place: Place, dev_eui: str) -> bool:
    return (
        (not o.commune or o.commune == place.commune)
        and (not o.building or o.building == place.building)
        and (not o.kind or o.kind == place.kind)
        and (not o.device or o.device in (place.device, dev_eui))
    )


def resolve_rules(config: AlertsConfig, place: Place, dev_eui: str = "") -> RuleSet:
    """The defaults with every matching override applied, least specific first."""
    chosen = sorted(
        (o for o in config.overrides if _matches(o, place, dev_eui)), key=lambda o: o.specificity
    )
    if not chosen:
        return config.rules
    merged: dict[str, Any] = config.rules.model_dump()
    for o in chosen:
        for domain in DOMAINS:
            merged[domain].update(getattr(o, domain))
        if o.disabled is not None:
            merged["disabled"] = list(o.disabled)
        merged["disabled"] = [r for r in merged["disabled"] if r not in o.enabled]
    return RuleSet.model_validate(merged)


class Places:
    def __init__(self, inventory: Inventory, config: AlertsConfig) -> None:
        self.inventory = inventory
        self.config = config
        self.say = Say(config.language or "fr")
        self.sites = {d.dev_eui: d.site for d in inventory.doc.devices if d.site}
        self._schedules: dict[str, Schedule | None] = {}
        self._rules: dict[tuple[str, str, str, str, str], Rules] = {}

    def rules(self, place: Place, dev_eui: str = "") -> Rules:
        key = (place.commune, place.building, place.kind, place.device, dev_eui)
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = Rules(resolve_rules(self.config, place, dev_eui))
        return found

    def commune(self, place: Place) -> Commune | None:
        return self.inventory.communes.get(place.commune)

    def zone(self, place: Place) -> ZoneInfo:
        commune = self.commune(place)
        return _zone(commune.timezone if commune else self.config.timezone)

    def schedule(self, building: str) -> Schedule | None:
        """The building's occupancy, or None when it has no opening hours (always unknown)."""
        if building not in self._schedules:
            b = self.inventory.buildings.get(building)
            schedule = None
            if b is not None and b.opening_hours:
                commune = self.inventory.communes.get(b.commune)
                try:
                    schedule = Schedule.of(
                        b,
                        commune.timezone if commune else self.config.timezone,
                        self.inventory,
                    )
                except ValueError as exc:
                    log.warning("building schedule unusable", building=building, error=str(exc))
            self._schedules[building] = schedule
        return self._schedules[building]

    def sun(self, place: Place, day: date) -> SunTimes | None:
        commune = self.commune(place)
        if commune is None:
            return None
        return _sun(day, commune.latitude, commune.longitude)

    def where(self, place: Place, dev_eui: str = "") -> str:
        """Where, in names an operator on call can act on: building or site, commune, device
        (names only, no word of a language: the alert texts are translated)."""
        parts = []
        building = self.inventory.buildings.get(place.building)
        site = self.sites.get(dev_eui, "")
        if building is not None:
            parts.append(building.name)
        if site:
            parts.append(site)
        commune = self.commune(place)
        head = ", ".join(parts) if parts else (place.building or "")
        if commune is not None:
            head = f"{head} ({commune.name})" if head else commune.name
        if place.device:
            head = f"{head} · {place.device}" if head else place.device
        return head or dev_eui or "?"

    def local(self, place: Place, t: datetime) -> str:
        return t.astimezone(self.zone(place)).strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _sun(day: date, latitude: float, longitude: float) -> SunTimes:
    return sun_times(day, latitude, longitude)
