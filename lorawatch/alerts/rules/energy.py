"""Energy: a building above its usual consumption, consuming while closed, over its budget.

Each building's electricity meters (``energy_delta_kwh`` of devices of kind electricity) are
summed per hour; an hour is judged once every meter still reporting has passed its end.

Two ways to know what a building usually draws in an hour:

- **the weather-aware model** (``baseline_model = "towt"``, the default): a
  time-of-week-and-temperature regression of the building
  (:mod:`lorawatch.analytics.baseline`), with occupancy, closures, coasting after closing,
  preheat and the recovery after a closure as terms, refitted every local day on the last
  ``model_weeks`` weeks. An hour is *over* when it exceeds the prediction by more than the
  one-sided prediction interval (``interval_z`` standard deviations of the residuals of its
  mode) **and** by the minimum excess (W/m²). A cold snap is in the prediction, so it is not
  an alert; heating left on in a closed building is far above it. It needs the commune's
  outdoor temperature (``outdoor_temperature_c``: an outdoor probe, or imported hours) and
  ``model_min_days`` of history with it;
- **the weather-blind rules**, used before that, for an hour without a temperature, or with
  ``baseline_model = "recent"``; their alerts say why they were used. The baseline of an hour
  is the highest of the last few values of the same weekday, hour *and occupancy*
  (occupancy, so the first school day after the holidays is compared with school days; the
  highest, so the weather swings of recent weeks are in it); an unoccupied hour is compared
  with a multiple of the highest consumption when closed at that hour in the last 14 days.
  A cold snap much colder than the last weeks can raise them on electric-heated buildings.

- ``energy.baseline``: ``baseline_hours`` hours in a row over (with the model: occupied hours,
  or every hour of a building without a schedule).
- ``energy.unoccupied``: ``unoccupied_hours`` unoccupied hours in a row over (opening hours,
  closures and holiday calendars of :mod:`lorawatch.inventory.occupancy`), or above an absolute limit:
  the heating left on in a closed hall.
- ``energy.drift``: a CUSUM of each local day's relative residual (actual against the
  model's predictions made that day), in standard deviations of the recent days' residuals:
  a sustained +10 to 20 % (a failing thermostat, a setpoint crept up) that no single hour
  shows.
- ``energy.daily_budget``: the local day's total passed the building's budget (if it has one).

Hours that are over are not learnt, so a fault that lasts does not become the norm.

One module on purpose (about 840 lines): the four rules judge the same hour of the same
building, from one state (its hours, model, references and runs) saved as one subject; split
by rule, each would pass that state and the hour's features to the others.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lorawatch.alerts.config import EnergyRules, Severity
from lorawatch.alerts.model import Evidence, Finding
from lorawatch.alerts.rules.base import HOUR, Chunked, Domain, Hourly, Log, dt, ts
from lorawatch.alerts.rules.tables import WIDTH, Rows, Values
from lorawatch.analytics.clock import ScheduleClock
from lorawatch.core.readings import OUTDOOR
from lorawatch.inventory.occupancy import Schedule
from lorawatch.pipeline.records import Batch, Place

if TYPE_CHECKING:
    from lorawatch.analytics import baseline as towt

ZERO = timedelta(0)
REFERENCE_DAYS = 14
MIN_REFERENCE_DAYS = 5
"""Unoccupied values of an hour of the day needed before it has a usual level."""
RUN_MAX = 168
"""Hours of a run kept (a week): enough to say since when, bounded for the state."""
WEATHER = "weather|"
"""Subject prefix of a commune's recent outdoor temperatures in the saved state."""
LOG = "log|"
"""Subject prefix of a building's judged hours, saved as chunks of a :class:`Log`."""
HISTORY_KEPT = 12
"""Values kept per time-of-week key (the most ``baseline_weeks`` may ask for)."""
LOG_MIN_S = 16 * 7 * 86400
"""How far back the log keeps entries, at least: the references' twelve weeks, with room
for weeks a fault kept out."""
TEMP_KEEP_S = 7 * 86400
DRIFT_DAYS = 28
"""Daily residuals kept for their standard deviation."""
MIN_DRIFT_DAYS = 7


def _last_hours(run: Sequence[Any], note: Callable[[Any], str]) -> list[Evidence]:
    """The last 24 hours of a run as evidence rows (hour start, kWh), each with its note."""
    return [
        Evidence(dt(x[0]), "energy_hour_kwh", x[1], "kWh", note=note(x), end=dt(x[0] + HOUR))
        for x in run[-24:]
    ]


@dataclass(slots=True)
class _Building:
    place: Place
    log: Log
    """The judged hours (rows, references) as written since the last save: weeks of them,
    written as they come, not with every batch's state (:class:`Chunked`)."""
    hours: Hourly = field(default_factory=Hourly)
    evaluated: int = 0
    history: dict[str, Values] = field(default_factory=dict)
    """Time-of-week key -> (hour, kWh) values, most recent last."""
    unoccupied: dict[str, list[list[float]]] = field(default_factory=dict)
    """Local hour of the day -> [[hour, kWh]] of normal unoccupied hours, last 14 days."""
    over: list[list[float]] = field(default_factory=list)
    """Current run of hours over the baseline: [[hour, kWh, baseline]]."""
    closed_over: list[list[float]] = field(default_factory=list)
    days: dict[str, float] = field(default_factory=dict)
    rows: Rows = field(default_factory=Rows)
    """Judged hours for the model: [hour, kWh, °C or None, *schedule terms, prediction or
    None, 1 if over]: the rolling window the model is refitted on."""
    clock: ScheduleClock = field(default_factory=ScheduleClock)
    m_over: list[list[float]] = field(default_factory=list)
    """Run of hours over the model: [[hour, kWh, expected, upper, °C, unoccupied]]."""
    m_closed: list[list[float]] = field(default_factory=list)
    drift: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    """[CUSUM, day start (local midnight as Unix time), day's kWh, day's expected kWh, hours
    over the hourly rules]."""
    residuals: list[float] = field(default_factory=list)
    """Relative residuals of the last days, for the drift's scale."""
    fit: towt.Fit | None = None
    fitted_day: str = ""
    fallback: str = ""
    """Why the weather-blind rules judge this building: "history" (not enough days with a
    temperature yet, said in their alerts), "hour" (none this hour), "fit", or ""."""
    have_days: float = 0.0

    def put_row(self, row: list[float | None]) -> None:
        self.log.put(f"r{int(row[0] or 0)}", ("r", *row))

    def put_reference(self, kind: str, key: str, h: int, kwh: float) -> None:
        """A value learnt: ``h`` the time-of-week history's key, ``u`` the unoccupied one's."""
        self.log.put(f"{kind}{h}", (kind, h, kwh, key))


class Energy(Domain):
    name = "energy"
    scope = "building"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buildings: dict[str, _Building] = {}
        self.temps: dict[str, dict[int, dict[float, float]]] = {}
        """Commune -> hour -> {reading time: °C}: keyed by time, so a redelivery is idempotent."""

    def dump(self, subject: str) -> Any:
        if subject.startswith(LOG):
            return 0  # the log's entries are its chunks; its bound is in the building's state
        if subject.startswith(WEATHER):
            temps = self.temps.get(subject[len(WEATHER) :], {})
            return [[h, [[t, v] for t, v in by.items()]] for h, by in temps.items()]
        b = self.buildings[subject]
        p = b.place
        return {
            "place": [p.commune, p.building, p.device, p.kind],
            "hours": b.hours.to_json(),
            "evaluated": b.evaluated,
            "log_pruned": None if b.log.pruned == float("-inf") else b.log.pruned,
            "over": b.over,
            "closed_over": b.closed_over,
            "days": b.days,
            "clock": b.clock.to_json(),
            "m_over": b.m_over,
            "m_closed": b.m_closed,
            "drift": b.drift,
            "residuals": b.residuals,
        }

    def series(self, subject: str) -> Chunked | None:
        if subject.startswith(WEATHER):
            return None
        if subject.startswith(LOG):
            b = self.buildings.get(subject[len(LOG) :])
            return None if b is None else b.log
        b = self.buildings.get(subject)
        return None if b is None else b.hours

    def _new(self, building: str, place: Place) -> _Building:
        log = Log(lambda entries: self._restore(self.buildings[building], entries))
        b = self.buildings[building] = _Building(place, log)
        return b

    def _restore(self, b: _Building, entries: dict[str, tuple[Any, ...]]) -> None:
        """Rebuild the judged hours and the references from the log's entries, trimmed as
        they were kept."""
        rows = Rows()
        history: dict[str, Values] = {}
        unoccupied: dict[str, list[list[float]]] = {}
        for kind, *rest in sorted(entries.values(), key=lambda e: e[1]):
            if kind == "r":
                rows.append(rest)
            elif kind == "h":
                h, kwh, key = rest
                history.setdefault(str(key), Values()).append(h, kwh)
            elif kind == "u":
                h, kwh, key = rest
                unoccupied.setdefault(str(key), []).append([h, kwh])
        keep = self.places.rules(b.place).set.energy.model_weeks * 168
        rows.keep_last(keep)
        for values in history.values():
            values.keep_last(HISTORY_KEPT)
        b.rows, b.history = rows, history
        newest = max((v[-1][0] for v in unoccupied.values()), default=0.0)
        since = newest - REFERENCE_DAYS * 86400
        b.unoccupied = {k: [x for x in v if x[0] >= since] for k, v in unoccupied.items()}

    def _log_horizon(self, b: _Building) -> float:
        weeks = self.places.rules(b.place).set.energy.model_weeks
        return max(float(LOG_MIN_S), (weeks * 168 + 48) * HOUR)

    def load(self, subject: str, state: Any) -> None:
        if subject.startswith(WEATHER):
            self.temps[subject[len(WEATHER) :]] = {
                int(h): {float(t): float(v) for t, v in by} for h, by in state
            }
            return
        if subject.startswith(LOG):
            return
        b = self._new(subject, Place(*state["place"]))
        b.hours = Hourly.from_json(state["hours"])
        b.evaluated = int(state["evaluated"])
        b.over, b.closed_over, b.days = state["over"], state["closed_over"], state["days"]
        if "clock" in state:
            b.clock = ScheduleClock.from_json(state["clock"])
        b.m_over, b.m_closed = state.get("m_over", []), state.get("m_closed", [])
        b.drift = state.get("drift", [0.0, 0.0, 0.0, 0.0, 0.0])
        b.residuals = state.get("residuals", [])
        pruned = state.get("log_pruned")
        if pruned is not None:
            b.log.pruned = float(pruned)
        if "history" in state:
            # Saved before the log: the hours and references were in the state; they go to
            # the log at the next save.
            b.rows = Rows(state.get("rows", []))
            b.history, b.unoccupied = {}, {}
            for row in b.rows:
                b.put_row(row)
            for key, values in state["history"].items():
                b.history[key] = Values(values)
                for h, kwh in values:
                    b.put_reference("h", key, int(h), kwh)
            for hod, values in state["unoccupied"].items():
                b.unoccupied[hod] = values
                for h, kwh in values:
                    b.put_reference("u", hod, int(h), kwh)
            self.dirty.update((subject, LOG + subject))
            self.resave.add(subject)

    def batch(self, batch: Batch) -> list[Finding]:
        touched: set[str] = set()
        self._weather(batch)
        buildings = self.buildings
        for c in batch.consumption:
            place = c.place
            building = place.building
            if c.name != "energy_delta_kwh" or place.kind != "electricity" or not building:
                continue
            b = buildings.get(building)
            if b is None:
                b = self._new(building, Place(place.commune, building, "", "electricity"))
            if b.hours.add(
                f"{c.dev_eui}|{c.channel}", c.start.timestamp(), c.end.timestamp(), c.value, c.gap
            ):
                touched.add(building)
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

    def _weather(self, batch: Batch) -> None:
        """Outdoor temperatures per commune and hour; late ones fill the hours already judged."""
        late: dict[str, set[int]] = {}
        for r in batch.named((OUTDOOR,)):
            if not r.place.commune or isinstance(r.value, bool):
                continue
            commune = r.place.commune
            t = ts(r.time)
            hour = int(t // HOUR) * HOUR
            temps = self.temps.setdefault(commune, {})
            temps.setdefault(hour, {})[t] = float(r.value)
            self.dirty.add(WEATHER + commune)
            late.setdefault(commune, set()).add(hour)
        for commune, hours in late.items():
            temps = self.temps[commune]
            newest = max(temps)
            for old in [h for h in temps if h < newest - TEMP_KEEP_S]:
                del temps[old]
            first = min(hours)
            for building, b in self.buildings.items():
                rows = b.rows
                if b.place.commune != commune or not len(rows) or rows.hour(-1) < first:
                    continue
                for i in range(len(rows) - 1, -1, -1):
                    hour = int(rows.hour(i))
                    if hour < first:
                        break
                    if hour in hours and math.isnan(rows.data[i * WIDTH + 2]):
                        rows.set(i, 2, self._temperature(commune, hour))
                        b.put_row(rows[i])
                        self.dirty.add(building)
                        self.dirty.add(LOG + building)

    def _temperature(self, commune: str, h: int) -> float | None:
        """Mean outdoor temperature of the hour, else of the nearest hour within two."""
        temps = self.temps.get(commune)
        if not temps:
            return None
        for hour in (h, h - HOUR, h + HOUR, h - 2 * HOUR, h + 2 * HOUR):
            found = temps.get(hour)
            if found:
                return sum(found.values()) / len(found)
        return None

    def _judge(self, building: str, b: _Building, h: int, kwh: float) -> list[Finding]:
        rules = self.places.rules(b.place)
        cfg = rules.set.energy
        zone = self.places.zone(b.place)
        local = dt(h).astimezone(zone)
        at = dt(h + HOUR)
        schedule = self.places.schedule(building)
        occupied = schedule.occupied_seconds(dt(h), at) > 0 if schedule is not None else True
        excess = self._min_excess(building, cfg)

        # The hour as the model sees it.
        since_close, closure_h, since_open = b.clock.step(h, occupied)
        until_open = self._until_open(schedule, h) if not occupied else 0.0
        temp = self._temperature(b.place.commune, h)
        features = [
            temp,
            1.0 if occupied else 0.0,
            float(local.weekday() * 24 + local.hour),
            float(local.hour),
            since_close,
            closure_h,
            since_open,
            until_open,
        ]
        fit = (
            self._model(b, cfg, local.date().isoformat(), h)
            if cfg.baseline_model == "towt"
            else None
        )
        if cfg.baseline_model != "towt":
            b.fallback = ""
        elif fit is not None and temp is None:
            b.fallback = "hour"

        out: list[Finding] = []
        prediction: float | None = None
        over = False
        if fit is not None and temp is not None:
            # Loaded by _model already, which made the fit.
            import numpy as np

            b.over = []
            row = np.array([features], dtype=np.float64)
            prediction = float(fit.predict(row)[0])
            upper = float(prediction + cfg.interval_z * fit.sigma(row)[0])
            over = self._over(kwh, prediction, upper, excess, cfg)
            out += self._judge_model(
                building,
                b,
                h,
                at,
                kwh,
                prediction,
                upper,
                temp,
                occupied,
                schedule,
                rules,
                cfg,
                excess,
            )
            self._learn_recent(b, h, local, kwh, occupied, over)
        else:
            b.m_over, b.m_closed = [], []
            out += self._recent(building, b, h, at, kwh, occupied, schedule, rules, cfg, excess)
        judged = [h, round(kwh, 4), temp, *features[1:], prediction, 1.0 if over else 0.0]
        b.rows.append(judged)
        b.put_row(judged)
        self.dirty.add(LOG + building)
        b.log.prune(h - self._log_horizon(b))
        keep = cfg.model_weeks * 168
        if len(b.rows) > keep + 48:
            b.rows.keep_last(keep)
        if rules.on("energy.drift"):
            out += self._drift(building, b, h, local, kwh, prediction, over, cfg)

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

    @staticmethod
    def _until_open(schedule: Schedule | None, h: int) -> float:
        """Hours until the building opens, if within three (its preheat), else 0."""
        if schedule is None:
            return 0.0
        for k in (1, 2, 3):
            if schedule.occupied_seconds(dt(h + k * HOUR), dt(h + (k + 1) * HOUR)) > 0:
                return float(k)
        return 0.0

    def _model(self, b: _Building, cfg: EnergyRules, day: str, h: int) -> towt.Fit | None:
        """The building's model, refitted at the first hour of each local day."""
        if b.fitted_day == day:
            return b.fit
        b.fitted_day = day
        since = h - cfg.model_weeks * 7 * 86400
        d = b.rows.data
        usable = [
            i
            for i in range(0, len(d), WIDTH)
            if d[i] >= since and d[i + 2] == d[i + 2] and not d[i + WIDTH - 1]
        ]
        days = len(usable) / 24
        if days < cfg.model_min_days:
            b.fit = None
            b.fallback, b.have_days = "history", days
            return None
        # Here, not at the top: numpy (~11 MB) loads once a building has a model's history.
        import numpy as np

        # The model's module, numpy's only user here.
        from lorawatch.analytics import baseline as towt

        table = np.array(d, dtype=np.float64).reshape(-1, WIDTH)[[i // WIDTH for i in usable]]
        data, kwh = table[:, 2:10], table[:, 1]
        b.fit = towt.fit(data, kwh)
        b.fallback = "" if b.fit is not None else "fit"
        return b.fit

    @staticmethod
    def _over(kwh: float, expected: float, upper: float, excess: float, cfg: EnergyRules) -> bool:
        """Above the prediction interval, by the minimum excess, and by min_excess_pct."""
        margin = kwh - expected
        return kwh > upper and margin > excess and margin > cfg.min_excess_pct / 100 * expected

    def _judge_model(
        self,
        building: str,
        b: _Building,
        h: int,
        at: datetime,
        kwh: float,
        expected: float,
        upper: float,
        temp: float,
        occupied: bool,
        schedule: Schedule | None,
        rules: Any,
        cfg: EnergyRules,
        excess: float,
    ) -> list[Finding]:
        out: list[Finding] = []
        over = self._over(kwh, expected, upper, excess, cfg)
        low = kwh <= expected + max(upper - expected, excess) / 2
        entry = [float(h), kwh, expected, upper, temp, 0.0 if occupied else 1.0]
        if occupied or schedule is None:
            b.m_closed, b.closed_over = [], []
            if over and rules.on("energy.baseline"):
                b.m_over.append(entry)
                del b.m_over[:-RUN_MAX]
                if len(b.m_over) >= cfg.baseline_hours:
                    out.append(self._model_finding("energy.baseline", building, b, at, b.m_over))
            else:
                b.m_over = []
                if low:
                    out += self.clear("energy.baseline", building, at, b.place)
            return out
        if over and rules.on("energy.unoccupied"):
            b.m_closed.append(entry)
            del b.m_closed[:-RUN_MAX]
            if len(b.m_closed) >= cfg.unoccupied_hours:
                out.append(self._model_finding("energy.unoccupied", building, b, at, b.m_closed))
        else:
            b.m_closed = []
            if not over:
                b.m_over = []
            if low:
                out += self.clear("energy.unoccupied", building, at, b.place)
                out += self.clear("energy.baseline", building, at, b.place)
        absolute = cfg.unoccupied_max_kwh
        if absolute is not None and kwh > absolute and not over and rules.on("energy.unoccupied"):
            b.closed_over.append([h, kwh, -1.0])
            del b.closed_over[:-RUN_MAX]
            if len(b.closed_over) >= cfg.unoccupied_hours:
                out.append(self._unoccupied(building, b, at, absolute))
        else:
            b.closed_over = []
        return out

    def _learn_recent(
        self, b: _Building, h: int, local: datetime, kwh: float, occupied: bool, over: bool
    ) -> None:
        """Keep the weather-blind references current while the model judges, so they are
        ready for an hour without a temperature."""
        if over:
            return
        key = f"{local.weekday()}-{local.hour}-{int(occupied)}"
        past = b.history.get(key)
        if past is None:
            past = b.history[key] = Values()
        past.append(h, kwh)
        b.put_reference("h", key, h, kwh)
        past.keep_last(HISTORY_KEPT)
        if not occupied:
            hod = str(local.hour)
            recent = [x for x in b.unoccupied.get(hod, []) if x[0] >= h - REFERENCE_DAYS * 86400]
            recent.append([h, kwh])
            b.put_reference("u", hod, h, kwh)
            b.unoccupied[hod] = recent

    def _model_finding(
        self, rule: str, building: str, b: _Building, at: datetime, run: list[list[float]]
    ) -> Finding:
        fit = b.fit
        mean = sum(x[1] for x in run) / len(run)
        expected = sum(x[2] for x in run) / len(run)
        upper = sum(x[3] for x in run) / len(run)
        temp = sum(x[4] for x in run) / len(run)
        pct = 100 * (mean - expected) / expected if expected > 0 else 999.0
        return Finding(
            rule,
            building,
            at,
            True,
            Severity.WARNING,
            b.place,
            **self.places.say(
                f"{rule}_model",
                where=self.places.where(b.place),
                hours=len(run),
                since=self.places.local(b.place, dt(run[0][0])),
                mean_kwh_h=mean,
                expected_kwh_h=expected,
                upper_kwh_h=upper,
                outdoor_c=temp,
                pct=pct,
                r2=fit.r2 if fit is not None else -1.0,
                cv_rmse_pct=fit.cv_rmse_pct if fit is not None else -1.0,
                nmbe_pct=fit.nmbe_pct if fit is not None else 0.0,
                fit_hours=fit.n if fit is not None else 0,
            ),
            evidence=_last_hours(
                run, lambda x: f"expected {x[2]:.2f} (at most {x[3]:.2f}) at {x[4]:.1f} °C"
            ),
        )

    def _drift(
        self,
        building: str,
        b: _Building,
        h: int,
        local: datetime,
        kwh: float,
        expected: float | None,
        over: bool,
        cfg: EnergyRules,
    ) -> list[Finding]:
        """CUSUM of each local day's relative residual, judged when the day is over. A day
        with hours over the hourly rules is theirs (heating left on one night is not a
        drift), and is left out of the sum and of the scale."""
        cusum, day_start, actual, predicted, over_hours = [*b.drift, 0.0][:5]
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        out: list[Finding] = []
        if midnight != day_start:
            if predicted > 0 and day_start > 0 and over_hours < 2:
                b.drift[0] = cusum
                out += self._close_day(building, b, day_start, actual, predicted, cfg)
                cusum = b.drift[0]
            day_start, actual, predicted, over_hours = midnight, 0.0, 0.0, 0.0
        if expected is not None:
            actual += kwh
            predicted += max(expected, 0.0)
            over_hours += 1.0 if over else 0.0
        b.drift = [cusum, day_start, actual, predicted, over_hours]
        return out

    def _close_day(
        self,
        building: str,
        b: _Building,
        day_start: float,
        actual: float,
        predicted: float,
        cfg: EnergyRules,
    ) -> list[Finding]:
        cusum = b.drift[0]
        r = (actual - predicted) / predicted
        at = dt(day_start + 86400)
        if len(b.residuals) < MIN_DRIFT_DAYS:
            b.residuals.append(r)
            return []
        centre = statistics.median(b.residuals)
        mad = statistics.median(abs(x - centre) for x in b.residuals)
        sd = max(1.4826 * mad, cfg.drift_min_pct / 100)
        z = (r - centre) / sd
        cusum = max(0.0, cusum + z - cfg.drift_k_sigma)
        b.drift[0] = cusum
        if cusum > cfg.drift_h_sigma:
            day = self.places.local(b.place, dt(day_start))
            return [
                Finding(
                    "energy.drift",
                    building,
                    at,
                    True,
                    Severity.WARNING,
                    b.place,
                    **self.places.say(
                        "energy.drift",
                        where=self.places.where(b.place),
                        day=day,
                        day_pct=100 * r,
                        day_kwh=actual,
                        expected_kwh=predicted,
                        usual_pct=100 * centre,
                        sd_pct=100 * sd,
                        cusum_sigma=cusum,
                        limit_sigma=cfg.drift_h_sigma,
                    ),
                    evidence=[
                        Evidence(
                            dt(day_start),
                            "energy_day_kwh",
                            actual,
                            "kWh",
                            note=f"expected {predicted:.0f}",
                            end=at,
                        )
                    ],
                )
            ]
        if not math.isfinite(r) or cusum > 0:
            return []
        b.residuals.append(r)
        del b.residuals[:-DRIFT_DAYS]
        return self.clear("energy.drift", building, at, b.place)

    def _recent(
        self,
        building: str,
        b: _Building,
        h: int,
        at: datetime,
        kwh: float,
        occupied: bool,
        schedule: Schedule | None,
        rules: Any,
        cfg: EnergyRules,
        excess: float,
    ) -> list[Finding]:
        """The weather-blind rules: they learn every hour, and judge when the model cannot."""
        zone = self.places.zone(b.place)
        local = dt(h).astimezone(zone)
        out: list[Finding] = []
        alerted = self.s.is_open("energy.baseline", building) or self.s.is_open(
            "energy.unoccupied", building
        )

        # Time-of-week baseline.
        key = f"{local.weekday()}-{local.hour}-{int(occupied)}"
        past = b.history.get(key)
        if past is None:
            past = b.history[key] = Values()
        over = False
        if len(past) >= cfg.baseline_min_weeks and rules.on("energy.baseline"):
            base = max(past.last(cfg.baseline_weeks))
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
            past.append(h, kwh)
            b.put_reference("h", key, h, kwh)
            past.keep_last(cfg.baseline_weeks)

        # Consumption while the building is closed.
        if schedule is not None and not occupied and rules.on("energy.unoccupied"):
            out += self._closed(building, b, h, at, kwh, cfg, excess)
        elif occupied:
            b.closed_over = []
        return out

    @staticmethod
    def _blind(b: _Building) -> str:
        """The text variant that says the weather was not taken into account, and why."""
        return "_blind" if b.fallback == "history" else ""

    def _needed(self, b: _Building) -> int:
        return self.places.rules(b.place).set.energy.model_min_days

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
                b.put_reference("u", hour_of_day, h, kwh)
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
                ("energy.unoccupied" + self._blind(b)) if refs else "energy.unoccupied_limit",
                needed_days=self._needed(b),
                have_days=round(b.have_days),
                where=self.places.where(b.place),
                hours=len(run),
                since=self.places.local(b.place, dt(run[0][0])),
                mean_kwh_h=mean,
                usual_kwh_h=sum(refs) / len(refs) if refs else -1.0,
                limit_kwh_h=float(absolute) if absolute is not None else -1.0,
            ),
            evidence=_last_hours(run, lambda x: f"usual {x[2]:.2f}" if x[2] >= 0 else ""),
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
                ("energy.baseline_closed" if all(x[3] for x in run) else "energy.baseline")
                + self._blind(b),
                needed_days=self._needed(b),
                have_days=round(b.have_days),
                where=self.places.where(b.place),
                hours=len(run),
                since=self.places.local(b.place, dt(run[0][0])),
                last_kwh=last_kwh,
                baseline_kwh=last_base,
                pct=pct,
            ),
            evidence=_last_hours(run, lambda x: f"usual {x[2]:.2f}"),
        )
