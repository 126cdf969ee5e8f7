"""Savings verification: what a building would have used without the change, weather aside.

Measurement and verification by the "avoided energy" method of IPMVP option C and ASHRAE
Guideline 14: the weather-aware model of :mod:`lorawatch.analytics.baseline` is fitted on a
baseline period (before the works, the new settings), then fed the reporting period's
weather and calendar; what it predicts minus what was measured is the energy avoided. The
model must first pass Guideline 14's calibration criteria for hourly data, CV(RMSE) at most
30 % and NMBE within ±10 %; a model that does not is refused, with its figures, rather than
used to claim savings it cannot support.

The uncertainty is Guideline 14's fractional savings uncertainty (its annex B formula, with
the correction for autocorrelated residuals), at 90 % confidence:

    FSU = 1.26 · t · CV · sqrt((n / n') · (1 + 2 / n) · (1 / m)) / F

with CV the baseline CV(RMSE) as a fraction, n the baseline hours, n' = n (1 − ρ) / (1 + ρ)
their effective number given the lag-1 autocorrelation ρ of the residuals, m the reporting
hours, F the savings as a fraction of the adjusted baseline, and t Student's two-sided 90 %
quantile with n' − p degrees of freedom. Savings whose FSU exceeds 50 % are not
distinguishable from the model's noise (Guideline 14 asks for less than 50 % at 68 %).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic_core import PydanticCustomError

from lorawatch.analytics.clock import ScheduleClock
from lorawatch.core import catalogue
from lorawatch.core.formats import Lang
from lorawatch.core.readings import OUTDOOR
from lorawatch.inventory import Inventory
from lorawatch.inventory.occupancy import Schedule
from lorawatch.pipeline.store import Delta, Store

if TYPE_CHECKING:
    import numpy as np

    from lorawatch.analytics import baseline as towt

HOUR_S = 3600
CV_MAX_PCT = 30.0
NMBE_MAX_PCT = 10.0
FSU_SIGNIFICANT_PCT = 50.0
"""Savings whose 90 % fractional uncertainty is above this are within the model's noise."""
DELTA_MARGIN_H = 6
"""Deltas ending up to this long after a period are read for its last hours."""
MIN_COVERAGE = 0.8
"""Share of a period's hours with both energy and a temperature needed to judge it."""


REASONS = ("coverage", "too_short", "guideline_14")
"""Why a savings figure is refused, as stable keys (the API's error, the report's text):
``coverage`` a period lacks energy or outdoor temperature, ``too_short`` too few hours to
fit, ``guideline_14`` the model misses Guideline 14's thresholds."""


class SavingsRefused(Exception):
    """The data or the model cannot support a savings figure; the message says why.

    ``reason`` is one of :data:`REASONS`; ``figures`` what is known when refusing: the
    period's hours for ``coverage``, the model's fit statistics for ``guideline_14``.
    """

    def __init__(self, message: str, reason: str, figures: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.figures: dict[str, Any] = figures or {}

    def said(self, lang: Lang) -> str:
        """Why, in ``lang``: the catalogue's ``invalid.savings_<reason>`` with the figures
        (the message itself is English, for logs and programs)."""
        f = self.figures
        values: dict[str, object] = {}
        if self.reason == "coverage":
            period = catalogue.text(lang, f"invalid.savings_period_{f.get('period')}")
            values = {k: f.get(k) for k in ("hours", "hours_in_period", "hours_needed")}
            values["period"] = period
        elif self.reason == "too_short":
            values = {"hours": f.get("hours")}
        elif self.reason == "guideline_14":
            values = {
                k: "–" if f.get(k) is None else f"{f[k]:.1f}"
                for k in ("cv_rmse_pct", "nmbe_pct", "cv_rmse_max_pct", "nmbe_max_pct")
            }
        return catalogue.text(lang, f"invalid.savings_{self.reason}", **values)


@dataclass(frozen=True, slots=True)
class Savings:
    building: str
    baseline: tuple[str, str]
    reporting: tuple[str, str]
    baseline_hours: int
    reporting_hours: int
    measured_kwh: float
    adjusted_baseline_kwh: float
    """What the baseline model predicts for the reporting period's weather and calendar."""
    avoided_kwh: float
    avoided_pct: float
    r2: float
    cv_rmse_pct: float
    nmbe_pct: float
    autocorrelation: float
    parameters: int
    fsu_90_pct: float
    """Fractional savings uncertainty at 90 % (percent of the savings)."""
    avoided_kwh_90: tuple[float, float]

    @property
    def significant(self) -> bool:
        """The savings stand out of the model's noise (FSU at 90 % below 50 %)."""
        return self.fsu_90_pct < FSU_SIGNIFICANT_PCT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def t90(dof: float) -> float:
    """Student's two-sided 90 % quantile (Cornish-Fisher expansion: within 0.002 from 5
    degrees of freedom), so the figure needs no statistics library."""
    z = 1.6448536269514722
    v = max(dof, 1.0)
    return z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)


def features(
    hours: Sequence[int], temps: Sequence[float], schedule: Schedule | None, zone: ZoneInfo
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Feature rows (see :mod:`lorawatch.analytics.baseline`) of consecutive UTC hours."""
    # Here, not at the top: the web's pages import this module, numpy (~10 MB) loads only
    # once a figure is asked for.
    import numpy as np

    # The model's module, numpy's other user here.
    from lorawatch.analytics import baseline as towt

    clock = ScheduleClock()
    occupied = (
        [
            schedule.occupied_seconds(_dt(h), _dt(h + HOUR_S)) > 0 if schedule is not None else True
            for h in range(hours[0], hours[-1] + 4 * HOUR_S, HOUR_S)
        ]
        if hours
        else []
    )
    first = hours[0] if hours else 0
    rows: list[list[float]] = []
    index = {h: i for i, h in enumerate(hours)}
    for k, h in enumerate(range(first, hours[-1] + HOUR_S, HOUR_S) if hours else []):
        occ = occupied[k]
        since_close, closure, since_open = clock.step(h, occ)
        if h not in index:
            continue
        until = 0.0
        if not occ:
            for ahead in (1, 2, 3):
                if occupied[k + ahead]:
                    until = float(ahead)
                    break
        local = _dt(h).astimezone(zone)
        rows.append(
            [
                temps[index[h]],
                1.0 if occ else 0.0,
                float(local.weekday() * 24 + local.hour),
                float(local.hour),
                since_close,
                closure,
                since_open,
                until,
            ]
        )
    return np.array(rows, dtype=np.float64).reshape(-1, towt.N_INPUTS)


def _dt(h: float) -> datetime:
    return datetime.fromtimestamp(h, UTC)


def hourly(deltas: Iterable[Delta]) -> dict[int, float]:
    """kWh per UTC hour from consumption deltas (start, end, kWh, gap), each counted in
    the hours it overlaps in proportion to time; the hours a gap spans are left out (their
    total is known, not how it was spread)."""
    out: dict[int, float] = {}
    bad: set[int] = set()
    for start, end, kwh, gap, _kind in deltas:
        hour = int(start // HOUR_S) * HOUR_S
        span = end - start
        while hour < end:
            if gap:
                bad.add(hour)
            elif span > 0:
                overlap = min(end, hour + HOUR_S) - max(start, hour)
                if overlap > 0:
                    out[hour] = out.get(hour, 0.0) + kwh * overlap / span
            hour += HOUR_S
    return {h: v for h, v in out.items() if h not in bad}


def verify(
    building: str,
    energy: dict[int, float],
    temps: dict[int, float],
    schedule: Schedule | None,
    zone: ZoneInfo,
    baseline: tuple[datetime, datetime],
    reporting: tuple[datetime, datetime],
) -> Savings:
    """Avoided energy in the reporting period against a model of the baseline period."""
    # Here, not at the top: see features.
    import numpy as np

    # The model's module, numpy's other user here.
    from lorawatch.analytics import baseline as towt

    def period(
        bounds: tuple[datetime, datetime], name: str
    ) -> tuple[list[int], np.ndarray[Any, np.dtype[np.float64]]]:
        a, b = (int(x.timestamp()) // HOUR_S * HOUR_S for x in bounds)
        wanted = range(a, b, HOUR_S)
        hours = [h for h in wanted if h in energy and h in temps]
        if not wanted or len(hours) < MIN_COVERAGE * len(wanted):
            raise SavingsRefused(
                f"{name} period {bounds[0]:%Y-%m-%d}..{bounds[1]:%Y-%m-%d}: {len(hours)} of "
                f"{len(wanted)} hours have both energy and an outdoor temperature "
                f"(at least {MIN_COVERAGE:.0%} needed)",
                "coverage",
                {
                    "period": name,
                    "hours": len(hours),
                    "hours_needed": math.ceil(MIN_COVERAGE * len(wanted)),
                    "hours_in_period": len(wanted),
                    "energy_hours": sum(1 for h in wanted if h in energy),
                    "temperature_hours": sum(1 for h in wanted if h in temps),
                },
            )
        return hours, np.array([energy[h] for h in hours], dtype=np.float64)

    base_hours, base_kwh = period(baseline, "baseline")
    rep_hours, rep_kwh = period(reporting, "reporting")
    x_base = features(base_hours, [temps[h] for h in base_hours], schedule, zone)
    fit = towt.fit(x_base, base_kwh)
    if fit is None:
        raise SavingsRefused(
            "baseline period too short to fit a model", "too_short", {"hours": len(base_hours)}
        )
    if fit.cv_rmse_pct > CV_MAX_PCT or abs(fit.nmbe_pct) > NMBE_MAX_PCT:
        raise SavingsRefused(
            f"the baseline model does not meet ASHRAE Guideline 14 (hourly: CV(RMSE) ≤ "
            f"{CV_MAX_PCT:g} %, |NMBE| ≤ {NMBE_MAX_PCT:g} %): {fit.summary()}; savings "
            "computed with it would not be verifiable",
            "guideline_14",
            fit_figures(fit),
        )
    x_rep = features(rep_hours, [temps[h] for h in rep_hours], schedule, zone)
    predicted = float(np.maximum(fit.predict(x_rep), 0.0).sum())
    measured = float(rep_kwh.sum())
    avoided = predicted - measured
    fraction = avoided / predicted if predicted > 0 else 0.0
    n, m = fit.n, len(rep_hours)
    rho = min(max(fit.rho, 0.0), 0.99)
    n_eff = n * (1 - rho) / (1 + rho)
    cv = fit.cv_rmse_pct / 100
    spread = 1.26 * t90(n_eff - fit.p) * cv * math.sqrt((n / n_eff) * (1 + 2 / n) / m)
    fsu = spread / abs(fraction) if fraction != 0 else math.inf
    half = spread * predicted
    return Savings(
        building=building,
        baseline=(baseline[0].isoformat(), baseline[1].isoformat()),
        reporting=(reporting[0].isoformat(), reporting[1].isoformat()),
        baseline_hours=n,
        reporting_hours=m,
        measured_kwh=measured,
        adjusted_baseline_kwh=predicted,
        avoided_kwh=avoided,
        avoided_pct=100 * fraction,
        r2=fit.r2,
        cv_rmse_pct=fit.cv_rmse_pct,
        nmbe_pct=fit.nmbe_pct,
        autocorrelation=fit.rho,
        parameters=fit.p,
        fsu_90_pct=100 * fsu,
        avoided_kwh_90=(avoided - half, avoided + half),
    )


def fit_figures(fit: towt.Fit) -> dict[str, Any]:
    """The model's fit statistics, JSON-ready (non-finite ones as None)."""
    figures = {
        "baseline_hours": fit.n,
        "parameters": fit.p,
        "r2": fit.r2,
        "cv_rmse_pct": fit.cv_rmse_pct,
        "nmbe_pct": fit.nmbe_pct,
        "autocorrelation": fit.rho,
        "cv_rmse_max_pct": CV_MAX_PCT,
        "nmbe_max_pct": NMBE_MAX_PCT,
    }
    return {
        k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in figures.items()
    }


def series(
    store: Store, building: str, commune: str, start: datetime, end: datetime
) -> tuple[dict[int, float], dict[int, float]]:
    """Hourly kWh of a building (all its energy meters) and its commune's hourly mean
    outdoor °C over [start, end), through the store protocol: SQLite and InfluxDB alike."""
    # A delta counts by its end: the one covering the period's last hour ends at ``end`` or
    # after, so deltas ending a little later are read too (the hours beyond are not used).
    later = end + timedelta(hours=DELTA_MARGIN_H)
    energy = hourly(store.deltas("energy_delta_kwh", building, start, later))
    temps = {h.hour_s: h.mean for h in store.reading_hours(OUTDOOR, commune, start, end)}
    return energy, temps


def measure(
    store: Store,
    inventory: Inventory,
    building: str,
    baseline: tuple[datetime, datetime],
    reporting: tuple[datetime, datetime],
) -> Savings:
    """:func:`verify` on the store's data, with the building's schedule and calendars.

    KeyError for a building not in the inventory; :class:`SavingsRefused` when the data or
    the model cannot support a figure.
    """
    found = inventory.buildings[building]
    commune = inventory.communes[found.commune]
    zone = ZoneInfo(commune.timezone)
    energy, temps = series(
        store,
        building,
        found.commune,
        min(baseline[0], reporting[0]),
        max(baseline[1], reporting[1]),
    )
    schedule = Schedule.of(found, commune.timezone, inventory) if found.opening_hours else None
    return verify(building, energy, temps, schedule, zone, baseline, reporting)


def parse_period(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``FROM..TO`` (local dates, TO included) as aware instants [FROM 00:00, TO+1 00:00)."""
    try:
        first, last = (datetime.fromisoformat(part.strip()) for part in text.split(".."))
    except ValueError:
        raise PydanticCustomError(
            "period", "{text}: expected FROM..TO, e.g. 2025-01-01..2025-12-31", {"text": repr(text)}
        ) from None
    start = first.replace(tzinfo=zone) if first.tzinfo is None else first
    end = last.replace(tzinfo=zone) if last.tzinfo is None else last
    if len(text.split("..")[1].strip()) <= 10:
        end += timedelta(days=1)
    if end <= start:
        raise PydanticCustomError(
            "period_reversed", "{text}: the end is not after the start", {"text": repr(text)}
        )
    return start, end


class PeriodError(ValueError):
    """A period that cannot be verified; ``field`` names it (baseline or reporting),
    ``error`` says why in any language (:class:`lorawatch.core.reasons.Reason`)."""

    def __init__(self, field: str, error: PydanticCustomError) -> None:
        super().__init__(str(error))
        self.field = field
        self.error = error


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_PERIOD_DAYS = 800
"""Longest baseline or reporting period (two years and a little): bounds what one request
reads."""


def parse_periods(
    baseline: str, reporting: str, zone: ZoneInfo
) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """Both periods of a verification; ValueError naming the problem when they are not
    ``FROM..TO``, longer than :data:`MAX_PERIOD_DAYS`, or when the reporting period does
    not come after the baseline period (the avoided-energy method predicts forward)."""
    parsed = []
    for name, text in (("baseline", baseline), ("reporting", reporting)):
        outside = PydanticCustomError(
            "period_outside",
            "{name} {text}: outside 2000-01-01..2099-12-31",
            {"name": name, "text": repr(text)},
        )
        try:
            a, b = parse_period(text, zone)
        except PydanticCustomError as exc:
            named = PydanticCustomError("named", "{name} {reason}", {"name": name, "reason": exc})
            raise PeriodError(name, named) from None
        except (ValueError, OverflowError):
            raise PeriodError(name, outside) from None
        if a < EARLIEST or b > LATEST:
            raise PeriodError(name, outside)
        if b - a > timedelta(days=MAX_PERIOD_DAYS):
            raise PeriodError(
                name,
                PydanticCustomError(
                    "period_long",
                    "{name} {text}: longer than {days} days",
                    {"name": name, "text": repr(text), "days": MAX_PERIOD_DAYS},
                ),
            )
        parsed.append((a, b))
    base, rep = parsed
    if rep[0] < base[1]:
        raise PeriodError(
            "reporting",
            PydanticCustomError(
                "period_order",
                "reporting {reporting} starts before the end of baseline {baseline}: the "
                "reporting period comes after the baseline period",
                {"reporting": repr(reporting), "baseline": repr(baseline)},
            ),
        )
    return base, rep
