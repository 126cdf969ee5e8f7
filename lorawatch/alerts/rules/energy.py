"""Energy: a building above its usual consumption, consuming while closed, over its budget.

Each building's electricity meters (``energy_delta_kwh`` of devices of kind electricity) are
summed per hour; an hour is judged once every meter still reporting has passed its end.

- ``energy.baseline``: N hours in a row above the building's time-of-week baseline by a
  margin. The baseline of an hour is the highest of the last few values of the same weekday,
  hour *and occupancy*: occupancy, so the first school day after the holidays is compared
  with school days, not with the empty weeks before it; the highest, so the weather swings
  of recent weeks are in it. Hours in an alert are not learnt, so a fault that lasts does
  not become the norm.

There is no outdoor temperature in the data, so a cold snap much colder than the last weeks
can still raise these two on electric-heated buildings; the minimum excess (W/m²) and the
run length keep ordinary weather out.
- ``energy.unoccupied``: N unoccupied hours in a row (opening hours, closures and holiday
  calendars of :mod:`lorawatch.inventory.occupancy`) above a multiple of the building's highest
  consumption when closed at that hour of the day in the last 14 days, or above an absolute
  limit: the heating left on in a closed hall.
- ``energy.daily_budget``: the local day's total passed the building's budget (if it has one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lorawatch.alerts.config import EnergyRules, Severity
from lorawatch.alerts.model import Evidence, Finding
from lorawatch.alerts.rules.base import HOUR, Domain, Hourly, dt, ts
from lorawatch.pipeline.records import Batch, Place

ZERO = timedelta(0)
REFERENCE_DAYS = 14
MIN_REFERENCE_DAYS = 5
"""Unoccupied values of an hour of the day needed before it has a usual level."""
RUN_MAX = 168
"""Hours of a run kept (a week): enough to say since when, bounded for the state."""


@dataclass(slots=True)
class _Building:
    place: Place
    hours: Hourly = field(default_factory=Hourly)
    evaluated: int = 0
    history: dict[str, list[list[float]]] = field(default_factory=dict)
    """Time-of-week key -> [[hour, kWh], ...] most recent last."""
    unoccupied: dict[str, list[list[float]]] = field(default_factory=dict)
    """Local hour of the day -> [[hour, kWh]] of normal unoccupied hours, last 14 days."""
    over: list[list[float]] = field(default_factory=list)
    """Current run of hours over the baseline: [[hour, kWh, baseline]]."""
    closed_over: list[list[float]] = field(default_factory=list)
    days: dict[str, float] = field(default_factory=dict)


class Energy(Domain):
    name = "energy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buildings: dict[str, _Building] = {}

    def dump(self, subject: str) -> Any:
        b = self.buildings[subject]
        p = b.place
        return {
            "place": [p.commune, p.building, p.device, p.kind],
            "hours": b.hours.to_json(),
            "evaluated": b.evaluated,
            "history": b.history,
            "unoccupied": b.unoccupied,
            "over": b.over,
            "closed_over": b.closed_over,
            "days": b.days,
        }

    def load(self, subject: str, state: Any) -> None:
        self.buildings[subject] = _Building(
            Place(*state["place"]),
            Hourly.from_json(state["hours"]),
            int(state["evaluated"]),
            state["history"],
            state["unoccupied"],
            state["over"],
            state["closed_over"],
            state["days"],
        )

    def batch(self, batch: Batch) -> list[Finding]:
        touched: set[str] = set()
        for c in batch.consumption:
            if (
                c.name != "energy_delta_kwh"
                or c.place.kind != "electricity"
                or not c.place.building
            ):
                continue
            b = self.buildings.get(c.place.building)
            if b is None:
                place = Place(c.place.commune, c.place.building, "", "electricity")
                b = self.buildings[c.place.building] = _Building(place)
            if b.hours.add(f"{c.dev_eui}|{c.channel}", ts(c.start), ts(c.end), c.value, c.gap):
                touched.add(c.place.building)
        out: list[Finding] = []
        for building in touched:
            self.dirty.add(building)
            out += self._hours(building, self.buildings[building])
        return out

    def _hours(self, building: str, b: _Building) -> list[Finding]:
        last = int(b.hours.watermark() // HOUR) * HOUR - HOUR
        first = b.evaluated + HOUR if b.evaluated else last
        first = max(first, last - 48 * HOUR)
        out: list[Finding] = []
        for h in range(first, last + 1, HOUR):
            if b.hours.known(h):
                out += self._judge(building, b, h, b.hours.value(h))
        if last >= first:
            b.evaluated = last
        b.hours.prune(last - 30 * HOUR)
        return out

    def _judge(self, building: str, b: _Building, h: int, kwh: float) -> list[Finding]:
        rules = self.places.rules(b.place)
        cfg = rules.set.energy
        zone = self.places.zone(b.place)
        local = dt(h).astimezone(zone)
        at = dt(h + HOUR)
        schedule = self.places.schedule(building)
        occupied = schedule.occupied_seconds(dt(h), at) > 0 if schedule is not None else True
        out: list[Finding] = []
        alerted = self.s.is_open("energy.baseline", building) or self.s.is_open(
            "energy.unoccupied", building
        )

        # Time-of-week baseline.
        key = f"{local.weekday()}-{local.hour}-{int(occupied)}"
        past = b.history.setdefault(key, [])
        over = False
        excess = self._min_excess(building, cfg)
        if len(past) >= cfg.baseline_min_weeks and rules.on("energy.baseline"):
            base = max(v for _, v in past[-cfg.baseline_weeks :])
            limit = base * (1 + cfg.baseline_margin_pct / 100) + excess
            over = kwh > limit
            if over:
                b.over.append([h, kwh, base, 0.0 if occupied else 1.0])
                del b.over[:-RUN_MAX]
                if len(b.over) >= cfg.baseline_hours:
                    out.append(self._baseline(building, b, at, cfg))
            else:
                b.over = []
                half = base * (1 + cfg.baseline_margin_pct / 200) + excess / 2
                if kwh <= half:
                    out += self.clear("energy.baseline", building, at, b.place)
        if not (over and alerted):
            past.append([h, kwh])
            del past[: -cfg.baseline_weeks]

        # Consumption while the building is closed.
        if schedule is not None and not occupied and rules.on("energy.unoccupied"):
            out += self._closed(building, b, h, at, kwh, cfg, excess)
        elif occupied:
            b.closed_over = []

        # Daily budget.
        day = local.date().isoformat()
        b.days[day] = b.days.get(day, 0.0) + kwh
        for old in [d for d in b.days if d < (local.date() - timedelta(days=2)).isoformat()]:
            del b.days[old]
        budget = cfg.daily_budget_kwh
        if budget is not None and rules.on("energy.daily_budget"):
            total = b.days[day]
            if total > budget:
                out.append(
                    Finding(
                        "energy.daily_budget",
                        building,
                        at,
                        True,
                        Severity.WARNING,
                        b.place,
                        evidence=[Evidence(dt(h), "energy_hour_kwh", kwh, "kWh", end=at)],
                        **self.places.say(
                            "energy.daily_budget",
                            where=self.places.where(b.place),
                            day=str(day),
                            time=local.strftime("%H:%M"),
                            day_kwh=total,
                            budget_kwh=float(budget),
                        ),
                    )
                )
            else:
                out += self.clear("energy.daily_budget", building, at, b.place, ZERO)
        return out

    def _min_excess(self, building: str, cfg: EnergyRules) -> float:
        found = self.places.inventory.buildings.get(building)
        surface = found.surface_m2 if found is not None and found.surface_m2 else 0.0
        return max(cfg.min_excess_kwh, cfg.min_excess_w_m2 * surface / 1000)

    def _closed(
        self,
        building: str,
        b: _Building,
        h: int,
        at: datetime,
        kwh: float,
        cfg: EnergyRules,
        excess: float,
    ) -> list[Finding]:
        # The usual unoccupied consumption at this hour of the day: nights are colder than
        # afternoons, so an electric-heated hall at setback draws more at 03:00 than at 15:00.
        hour_of_day = str(dt(h).astimezone(self.places.zone(b.place)).hour)
        past = [x for x in b.unoccupied.get(hour_of_day, []) if x[0] >= h - REFERENCE_DAYS * 86400]
        b.unoccupied[hour_of_day] = past
        ref = max(v for _, v in past) if len(past) >= MIN_REFERENCE_DAYS else None
        absolute = cfg.unoccupied_max_kwh
        too_high = (absolute is not None and kwh > absolute) or (
            ref is not None and kwh > cfg.unoccupied_ratio * ref and kwh - ref > excess
        )
        out: list[Finding] = []
        if too_high:
            b.closed_over.append([h, kwh, ref if ref is not None else -1.0])
            del b.closed_over[:-RUN_MAX]
            if len(b.closed_over) >= cfg.unoccupied_hours:
                out.append(self._unoccupied(building, b, at, absolute))
        else:
            b.closed_over = []
            clear_ratio = (1 + cfg.unoccupied_ratio) / 2
            low = (absolute is None or kwh <= absolute) and (
                ref is None or kwh <= clear_ratio * ref or kwh - ref <= excess / 2
            )
            if low:
                out += self.clear("energy.unoccupied", building, at, b.place)
            if not self.s.is_open("energy.unoccupied", building):
                past.append([h, kwh])
        return out

    def _unoccupied(
        self, building: str, b: _Building, at: datetime, absolute: float | None
    ) -> Finding:
        run = b.closed_over
        mean = sum(x[1] for x in run) / len(run)
        refs = [x[2] for x in run if x[2] >= 0]
        return Finding(
            "energy.unoccupied",
            building,
            at,
            True,
            Severity.WARNING,
            b.place,
            **self.places.say(
                "energy.unoccupied" if refs else "energy.unoccupied_limit",
                where=self.places.where(b.place),
                hours=len(run),
                since=self.places.local(b.place, dt(run[0][0])),
                mean_kwh_h=mean,
                usual_kwh_h=sum(refs) / len(refs) if refs else -1.0,
                limit_kwh_h=float(absolute) if absolute is not None else -1.0,
            ),
            evidence=[
                Evidence(
                    dt(x[0]),
                    "energy_hour_kwh",
                    x[1],
                    "kWh",
                    note=f"usual {x[2]:.2f}" if x[2] >= 0 else "",
                    end=dt(x[0] + HOUR),
                )
                for x in run[-24:]
            ],
        )

    def _baseline(self, building: str, b: _Building, at: datetime, cfg: EnergyRules) -> Finding:
        run = b.over
        _, last_kwh, last_base, _ = run[-1]
        pct = 100 * (last_kwh - last_base) / last_base if last_base > 0 else float("inf")
        return Finding(
            "energy.baseline",
            building,
            at,
            True,
            Severity.WARNING,
            b.place,
            **self.places.say(
                "energy.baseline_closed" if all(x[3] for x in run) else "energy.baseline",
                where=self.places.where(b.place),
                hours=len(run),
                since=self.places.local(b.place, dt(run[0][0])),
                last_kwh=last_kwh,
                baseline_kwh=last_base,
                pct=pct,
            ),
            evidence=[
                Evidence(
                    dt(x[0]),
                    "energy_hour_kwh",
                    x[1],
                    "kWh",
                    note=f"usual {x[2]:.2f}",
                    end=dt(x[0] + HOUR),
                )
                for x in run[-24:]
            ],
        )
