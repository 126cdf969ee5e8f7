"""The décret tertiaire figures of a building and a year, ready to declare on OPERAT.

French public buildings of more than 1,000 m² declare each year their final energy
consumption by type, and are judged on its reduction against a reference year (-40 % by
2030), with the effect of the climate taken out. The figures here:

- **final energy by type**: the sum of the building's ``energy_delta_kwh`` over the local
  calendar year, per kind of meter (electricity, gas, heat);
- **DJU, base 18 °C** (degrés-jours unifiés, Météo-France's "méthode météo"): for each local
  day, ``max(0, 18 - (Tmin + Tmax) / 2)`` with Tmin and Tmax the extremes of the commune's
  ``outdoor_temperature_c`` that day, summed over the year. Days without a temperature are
  filled with the mean DJU of the covered days of the same month, and counted
  (``dju_days_estimated``);
- **climate adjustment**: the daily consumption is regressed on the daily DJU over the year
  (``kWh_day = a + b × DJU_day``, least squares); ``b × DJU`` is the heating-sensitive part.
  The adjusted consumption is the year's consumption with that part rescaled to the
  reference climate: ``total + b × (DJU_reference - DJU_year)``, where DJU_reference is the
  reference year's DJU. A building whose slope comes out negative or insignificant (no
  heating on these meters) is not adjusted (``b`` = 0);
- **intensity**: adjusted kWh per m² of the inventory's ``surface_m2``;
- **change** against the reference year: both years adjusted to the reference year's
  climate, in percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from lorawatch.core.readings import OUTDOOR
from lorawatch.inventory import Inventory
from lorawatch.pipeline.store import Store

BASE_C = 18.0
KINDS = ("electricity", "gas", "heat")


def dju(t_min: float, t_max: float) -> float:
    return max(0.0, BASE_C - (t_min + t_max) / 2)


@dataclass(frozen=True, slots=True)
class Year:
    """One building's year from its daily figures."""

    kwh_by_kind: dict[str, float]
    days_with_energy: int
    dju: float
    dju_days_estimated: int
    slope_kwh_per_dju: float

    @property
    def total_kwh(self) -> float:
        return sum(self.kwh_by_kind.values())


def year_of(
    daily_kwh: Mapping[date, Mapping[str, float]],
    daily_extremes: Mapping[date, tuple[float, float]],
    year: int,
) -> Year:
    """Sum a year's energy per kind, its DJU, and the consumption's slope against DJU."""
    days = [
        date.fromordinal(o)
        for o in range(date(year, 1, 1).toordinal(), date(year + 1, 1, 1).toordinal())
    ]
    by_kind = dict.fromkeys(KINDS, 0.0)
    for d in days:
        for kind, v in daily_kwh.get(d, {}).items():
            by_kind[kind] = by_kind.get(kind, 0.0) + v
    per_day = {d: dju(*daily_extremes[d]) for d in days if d in daily_extremes}
    estimated = 0
    total_dju = 0.0
    for d in days:
        if d in per_day:
            total_dju += per_day[d]
            continue
        month = [v for k, v in per_day.items() if k.month == d.month]
        total_dju += sum(month) / len(month) if month else 0.0
        estimated += 1
    both = [d for d in days if d in per_day and d in daily_kwh]
    slope = 0.0
    if len(both) >= 30:
        x = np.array([per_day[d] for d in both])
        y = np.array([sum(daily_kwh[d].values()) for d in both])
        if float(x.std()) > 0:
            design = np.stack([np.ones_like(x), x], axis=1)
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            resid = y - design @ coef
            se = math.sqrt(
                float(resid @ resid) / max(len(both) - 2, 1) / float(((x - x.mean()) ** 2).sum())
            )
            slope = float(coef[1]) if coef[1] > 2 * se else 0.0
    return Year(by_kind, sum(1 for d in days if d in daily_kwh), total_dju, estimated, slope)


@dataclass(frozen=True, slots=True)
class Declaration:
    building: str
    name: str
    commune: str
    year: int
    surface_m2: float | None
    electricity_kwh: float
    gas_kwh: float
    heat_kwh: float
    total_kwh: float
    days_with_energy: int
    dju_18: float
    dju_days_estimated: int
    heating_slope_kwh_per_dju: float
    reference_year: int
    dju_18_reference: float
    adjusted_kwh: float
    intensity_kwh_m2: float | None
    reference_adjusted_kwh: float
    change_pct: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FIELDS = tuple(Declaration.__dataclass_fields__)


def declare(
    building: str,
    name: str,
    commune: str,
    surface_m2: float | None,
    this: Year,
    year: int,
    reference: Year,
    reference_year: int,
) -> Declaration:
    """Both years adjusted to the reference year's climate, each with its own slope."""
    adjusted = this.total_kwh + this.slope_kwh_per_dju * (reference.dju - this.dju)
    ref_adjusted = reference.total_kwh
    return Declaration(
        building=building,
        name=name,
        commune=commune,
        year=year,
        surface_m2=surface_m2,
        electricity_kwh=round(this.kwh_by_kind.get("electricity", 0.0), 1),
        gas_kwh=round(this.kwh_by_kind.get("gas", 0.0), 1),
        heat_kwh=round(this.kwh_by_kind.get("heat", 0.0), 1),
        total_kwh=round(this.total_kwh, 1),
        days_with_energy=this.days_with_energy,
        dju_18=round(this.dju, 1),
        dju_days_estimated=this.dju_days_estimated,
        heating_slope_kwh_per_dju=round(this.slope_kwh_per_dju, 3),
        reference_year=reference_year,
        dju_18_reference=round(reference.dju, 1),
        adjusted_kwh=round(adjusted, 1),
        intensity_kwh_m2=round(adjusted / surface_m2, 2) if surface_m2 else None,
        reference_adjusted_kwh=round(ref_adjusted, 1),
        change_pct=round(100 * (adjusted - ref_adjusted) / ref_adjusted, 2)
        if ref_adjusted > 0
        else None,
    )


def _local_day(t_s: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(t_s, UTC).astimezone(zone).date()


def declarations(
    store: Store, inventory: Inventory, year: int, reference_year: int, building: str = ""
) -> list[Declaration]:
    """The declaration of every building with energy in ``year`` (or of ``building``),
    read through the store protocol, so SQLite and InfluxDB deployments answer alike.

    A delta counts in the local day of its end; a day's extremes are those of the hourly
    minima and maxima of the commune's outdoor temperature (hours nest in local days).
    """
    rows: list[Declaration] = []
    extremes_of: dict[str, dict[date, tuple[float, float]]] = {}
    for b in inventory.buildings.values():
        if building and b.id != building:
            continue
        commune = inventory.communes[b.commune]
        zone = ZoneInfo(commune.timezone)
        start = datetime(min(year, reference_year), 1, 1, tzinfo=zone)
        end = datetime(max(year, reference_year) + 1, 1, 1, tzinfo=zone)
        daily: dict[date, dict[str, float]] = {}
        for d in store.deltas("energy_delta_kwh", b.id, start, end):
            day = daily.setdefault(_local_day(d.end_s, zone), {})
            day[d.kind] = day.get(d.kind, 0.0) + d.value
        if b.commune not in extremes_of:
            extremes: dict[date, tuple[float, float]] = {}
            for h in store.reading_hours(OUTDOOR, b.commune, start, end):
                day_ = _local_day(h.hour_s, zone)
                lo, hi = extremes.get(day_, (h.low, h.high))
                extremes[day_] = (min(lo, h.low), max(hi, h.high))
            extremes_of[b.commune] = extremes
        this = year_of(daily, extremes_of[b.commune], year)
        if not this.days_with_energy:
            continue
        ref = year_of(daily, extremes_of[b.commune], reference_year)
        rows.append(declare(b.id, b.name, b.commune, b.surface_m2, this, year, ref, reference_year))
    return rows
