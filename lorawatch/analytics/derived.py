"""Figures InfluxQL cannot compute, worked out by the service and written for Grafana.

InfluxQL has no notion of opening hours, holidays or weather models, so two series are
computed here from the store (through the store protocol) and written to InfluxDB as
ordinary points, where the dashboards read them with plain queries:

- ``typical_day`` (tags ``building``, ``commune``; fields ``energy_delta_kwh``,
  ``volume_delta_m3``), one point per building at local midnight: the whole-day total a
  typical day *of the same kind as today* costs, the sum of each hour's typical value of
  :func:`lorawatch.analytics.aggregates.baseline` with the buildings' open days, which is
  exactly what the web's hall screen draws. An open day is compared with the same weekday
  of the last four open weeks, a closed one (weekend, holiday, closure) with closed days;
  a building without opening hours with the same weekday of the last four weeks.
- ``expected`` (tags ``building``, ``commune``; field ``energy_kwh``), one point per UTC
  hour (stamped at its start, the hour of the deltas *ending* in it, as Grafana's hourly
  consumption buckets them, so the two line up): what the weather- and calendar-aware model of
  :mod:`lorawatch.analytics.baseline`, fitted on the :data:`FIT_WEEKS` weeks *before* that
  day (never on the day itself), expects the building to use in that hour with the hour's
  actual outdoor temperature. Days of the last :data:`EXPECTED_DAYS` are computed, each
  from its own fit; a day needs :data:`MIN_FIT_DAYS` of history with a temperature before
  it, or it has no point (not a guess).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from lorawatch.analytics import aggregates, savings
from lorawatch.core import timeutil
from lorawatch.core.readings import OUTDOOR
from lorawatch.inventory import Inventory
from lorawatch.inventory.occupancy import Schedule
from lorawatch.pipeline.store import Store

if TYPE_CHECKING:
    from lorawatch.analytics import baseline as towt

TYPICAL = "typical_day"
EXPECTED = "expected"
EXPECTED_FIELD = "energy_kwh"
FIT_WEEKS = 8
EXPECTED_DAYS = 8
"""Today and the seven days before it: what a week's dashboard shows."""
MIN_FIT_DAYS = 7
BASELINE_WEEKS = 4
"""As the web's typical day (``lorawatch.web.figures.BASELINE_WEEKS``)."""
HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    building: str
    commune: str
    fields: dict[str, float]
    time: datetime


def typical_days(store: Store, inventory: Inventory, now: datetime) -> list[Point]:
    """Today's typical day of each building with data, per quantity, like with like."""
    open_days = aggregates.open_days(inventory)
    by_zone: dict[str, list[str]] = defaultdict(list)
    for b in inventory.buildings.values():
        commune = inventory.communes.get(b.commune)
        by_zone[commune.timezone if commune else aggregates.DEFAULT_TZ].append(b.id)
    sums: dict[tuple[str, datetime], dict[str, float]] = defaultdict(dict)
    for tz, buildings in by_zone.items():
        midnight = timeutil.period_start(now, "day", tz)
        tomorrow = timeutil.next_period(midnight, "day", tz)
        wanted = set(buildings)
        for quantity in aggregates.QUANTITIES:
            hours: dict[str, list[float]] = defaultdict(list)
            for p in aggregates.baseline(
                store,
                quantity,  # type: ignore[arg-type]
                midnight,
                tomorrow,
                interval="hour",
                weeks=BASELINE_WEEKS,
                tz=tz,
                open_days=open_days,
            ):
                if p.group in wanted and p.typical is not None:
                    hours[p.group].append(p.typical)
            day_hours = len(timeutil.periods(midnight, tomorrow, "hour", tz))
            for building, values in hours.items():
                # As the web's baselines: under half of the day typical is no typical day.
                if 2 * len(values) >= day_hours:
                    total = sum(values) * day_hours / len(values)
                    sums[(building, midnight)][quantity] = total
    return [
        Point(TYPICAL, b, inventory.buildings[b].commune, fields, at)
        for (b, at), fields in sorted(sums.items())
    ]


CLOCK_DAYS = 8
"""History the schedule terms of an hour need: the closure before it, capped at a week."""


@dataclass(slots=True)
class ExpectedDays:
    """Expected hours per building. A day complete is written once (``done``); today's fit
    is kept (``fits``), so the runs after the first of the day read eight days, not nine
    weeks, and fit nothing."""

    done: set[tuple[str, date]] = field(default_factory=set)
    fits: dict[str, tuple[date, towt.Fit]] = field(default_factory=dict)

    def points(self, store: Store, inventory: Inventory, now: datetime) -> list[Point]:
        """One consumption question (hourly sums of every building, the stores' fast
        rollups) and one temperature question per commune per run, then each building."""
        plans: dict[str, tuple[str, datetime, list[datetime], bool]] = {}
        for b in inventory.buildings.values():
            commune = inventory.communes.get(b.commune)
            if commune is not None:
                plan = self._plan(b.id, commune.timezone, now)
                if plan is not None:
                    plans[b.id] = (commune.timezone, *plan)
        if not plans:
            return []
        first = min(p[1] for p in plans.values())
        energy: dict[str, dict[int, float]] = defaultdict(dict)
        for bucket in store.consumption("energy_delta_kwh", first, now, "hour", "UTC"):
            energy[bucket.group][int(bucket.start.timestamp())] = bucket.value
        temps: dict[str, dict[int, float]] = {}
        out: list[Point] = []
        for building, (tz, since, todo, fitted) in plans.items():
            commune_id = inventory.buildings[building].commune
            if commune_id not in temps:
                temps[commune_id] = {
                    h.hour_s: h.mean for h in store.reading_hours(OUTDOOR, commune_id, first, now)
                }
            lo = since.timestamp()
            out += self._building(
                inventory,
                building,
                tz,
                now,
                todo,
                fitted,
                {h: v for h, v in energy.get(building, {}).items() if h >= lo},
                {h: t for h, t in temps[commune_id].items() if h >= lo},
            )
        return out

    def _plan(
        self, building: str, tz: str, now: datetime
    ) -> tuple[datetime, list[datetime], bool] | None:
        """The days to compute, from when data is needed, and whether today's fit is kept."""
        today = timeutil.period_start(now, "day", tz)
        days = [_back(today, k) for k in range(EXPECTED_DAYS - 1, -1, -1)]
        self.done = {k for k in self.done if k[1] >= days[0].date()}
        todo = [d for d in days if (building, d.date()) not in self.done]
        if not todo:
            return None
        kept = self.fits.get(building)
        fitted = kept is not None and todo == [today] and kept[0] == today.date()
        return _back(todo[0], CLOCK_DAYS if fitted else 7 * FIT_WEEKS), todo, fitted

    def _building(
        self,
        inventory: Inventory,
        building: str,
        tz: str,
        now: datetime,
        todo: list[datetime],
        fitted: bool,
        energy: dict[int, float],
        temps: dict[int, float],
    ) -> list[Point]:
        """Each hour's kWh is the hourly bucket of the deltas *ending* in it, as Grafana's
        hourly consumption draws it, so the expected hours line up with the measured ones."""
        if not energy:
            return []
        # Here, not at the top: the service starts this job, numpy (~8 MB) loads only once a
        # building has consumption to model.
        import numpy as np

        # The model's module, numpy's other user here.
        from lorawatch.analytics import baseline as towt

        zone = timeutil.zone(tz)
        today = timeutil.period_start(now, "day", tz)
        kept = self.fits.get(building)
        b = inventory.buildings[building]
        schedule = Schedule.of(b, tz, inventory) if b.opening_hours else None
        hours = sorted(temps)
        rows = savings.features(hours, [temps[h] for h in hours], schedule, zone)
        index = np.array(hours, dtype=np.int64)
        out: list[Point] = []
        for day in todo:
            stop = timeutil.next_period(day, "day", tz)
            a, z = int(day.timestamp()), int(stop.timestamp())
            if stop <= now:
                # Complete: written now or never (a day without a week before it stays so).
                self.done.add((building, day.date()))
            if fitted and kept is not None:
                fit: towt.Fit | None = kept[1]
            else:
                since = int(_back(day, 7 * FIT_WEEKS).timestamp())
                train = [i for i, h in enumerate(hours) if since <= h < a and h in energy]
                if len(train) < MIN_FIT_DAYS * 24:
                    continue
                fit = towt.fit(rows[train], np.array([energy[hours[i]] for i in train]))
            if fit is None:
                continue
            if day == today:
                self.fits[building] = (today.date(), fit)
            ended = (index >= a) & (index < z) & (index + HOUR_S <= now.timestamp())
            predict = np.nonzero(ended)[0]
            if predict.size:
                expected = np.maximum(fit.predict(rows[predict]), 0.0)
                out += [
                    Point(
                        EXPECTED,
                        building,
                        b.commune,
                        {EXPECTED_FIELD: float(v)},
                        datetime.fromtimestamp(int(index[i]), UTC),
                    )
                    for i, v in zip(predict, expected, strict=True)
                ]
        return out


def _back(t: datetime, days: int) -> datetime:
    """The same local wall-clock time ``days`` earlier."""
    return (t.replace(tzinfo=None) - timedelta(days=days)).replace(tzinfo=t.tzinfo)
