"""A building's expected energy per hour from the time of week, the weather and its calendar.

The model is LBNL's time-of-week-and-temperature regression (Mathieu, Price, Kiliccote and
Piette, 2011; the hourly model of CalTRACK and OpenDSM), fitted with numpy least squares on
hourly kWh, in two modes told apart by the building's occupancy schedule (opening hours,
closure calendars, closures):

- **occupied hours**: one indicator per hour of the week (168), so Monday 10:00 is compared
  with Mondays at 10:00 that were open, and the temperature as piecewise-linear segments
  (knots at quantiles of the hours' temperatures, so each segment has data; beyond the
  coldest hour seen, the coldest segment's slope goes on if it means more heating);
- **unoccupied hours**: one indicator per hour of the day (24: a closed Monday looks like a
  closed Sunday, a holiday like a weekend), and temperature segments of their own (a
  building at setback responds to the cold with another slope than an occupied one).

A mode gets one segment per 150 of its hours, up to five: a canteen open 20 hours a week gets
a straight line, not slopes fitted to the noise of a few days.

On top, the thermal dynamics a schedule causes, each as a term and its product with the
heating degree-hours (18 °C - outside, when positive), so it scales with the cold:

- **coasting** after closing (``exp(-hours since closing / 3)``): heating, ventilation and
  stragglers go on for a few hours, not for the whole night;
- **preheat** before opening (1 h, and 1 to 3 h ahead);
- **recovery** after a closure (``exp(-hours since opening / 4)`` times the closure's length
  beyond two days, capped at a week): a building cooled over a holiday fortnight draws more
  the first morning.

The prediction interval is one-sided (only excess is an alert): the prediction plus ``z``
times the residual standard deviation of the hour's mode, inflated by ``sqrt(1 + p/n)`` for
the parameters' uncertainty. The fit statistics are those of ASHRAE Guideline 14: R²,
CV(RMSE) and NMBE in percent of the mean, with ``n - p`` degrees of freedom.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lorawatch.analytics.clock import WEEK_H, ScheduleClock

__all__ = ["Fit", "ScheduleClock", "design", "fit", "solve"]

Array = npt.NDArray[np.float64]

BALANCE_C = 18.0
"""Degree-hours below this outdoor temperature scale the schedule terms."""
COAST_H = 3.0
RECOVERY_H = 4.0
SHORT_CLOSURE_H = 48.0
"""A night or a one-day closure is the ordinary rhythm, in the time-of-week terms; only the
part of a closure beyond two days counts for the recovery."""

# Columns of a feature row (what the alert domain keeps per hour).
T, OCC, HOW, HOD, SINCE_CLOSE, CLOSURE_H, SINCE_OPEN, UNTIL_OPEN = range(8)
N_INPUTS = 8


@dataclass(frozen=True, slots=True)
class Fit:
    """A fitted model and its statistics (ASHRAE Guideline 14 definitions)."""

    coef: Array
    knots_occ: Array
    knots_unocc: Array
    range_occ: tuple[float, float]
    range_unocc: tuple[float, float]
    """Temperatures seen in training per mode: beyond them the model is extrapolating."""
    sigma_occ: float
    sigma_unocc: float
    n: int
    p: int
    r2: float
    cv_rmse_pct: float
    nmbe_pct: float
    mean_kwh: float
    rho: float
    """Lag-1 autocorrelation of the residuals (for the savings uncertainty)."""

    def predict(self, rows: Array) -> Array:
        """Expected kWh of each row. Beyond the temperatures of the training hours the
        prediction goes on along the outermost segment only in the physical direction (more
        heating when colder, more cooling when warmer), never the other way: a slope fitted
        on a few cold days must not predict less heating in a colder snap."""
        occupied = rows[:, OCC] >= 0.5
        t = rows[:, T]
        low = np.where(occupied, self.range_occ[0], self.range_unocc[0])
        high = np.where(occupied, self.range_occ[1], self.range_unocc[1])
        inside = rows.copy()
        inside[:, T] = np.clip(t, low, high)
        base = design(inside, self.knots_occ, self.knots_unocc) @ self.coef
        k_occ, k_unocc = self.knots_occ.size, self.knots_unocc.size
        first_unocc = 168 + 24 + k_occ + 1
        slope_low = np.where(occupied, self.coef[192], self.coef[first_unocc])
        slope_high = np.where(occupied, self.coef[192 + k_occ], self.coef[first_unocc + k_unocc])
        colder = np.maximum(low - t, 0.0) * np.maximum(-slope_low, 0.0)
        warmer = np.maximum(t - high, 0.0) * np.maximum(slope_high, 0.0)
        return np.asarray(base + colder + warmer, dtype=np.float64)

    def sigma(self, rows: Array) -> Array:
        """Standard deviation of a new hour's consumption around its prediction."""
        occupied = rows[:, OCC] >= 0.5
        base = np.where(occupied, self.sigma_occ, self.sigma_unocc)
        return np.asarray(base * math.sqrt(1 + self.p / max(self.n, 1)), dtype=np.float64)

    def upper(self, rows: Array, z: float) -> Array:
        return self.predict(rows) + z * self.sigma(rows)

    def summary(self) -> str:
        return (
            f"R² {self.r2:.2f}, CV(RMSE) {self.cv_rmse_pct:.0f} %, NMBE {self.nmbe_pct:+.1f} % "
            f"over {self.n} h"
        )


HOURS_PER_SEGMENT = 150
"""Hours of a mode per temperature segment: fewer, and the segments' slopes would fit the
noise of a few days (a canteen open 20 hours a week gets one straight line)."""


def _knots(temps: Array) -> Array:
    """Knots at quantiles of the mode's temperatures, as many as its hours support (up to
    four, the quintiles), so that every segment has data."""
    count = min(4, temps.size // HOURS_PER_SEGMENT - 1)
    if count <= 0:
        return np.zeros(0)
    quantiles = np.linspace(0, 1, count + 2)[1:-1]
    qs = np.unique(np.round(np.quantile(temps, quantiles), 1))
    return np.asarray(qs, dtype=np.float64)


def _segments(t: Array, knots: Array) -> Array:
    """Piecewise-linear basis: ``min(t, k1)``, then each segment's part, then above the last
    (just ``t`` without knots)."""
    if knots.size == 0:
        return t[:, None]
    cols = [np.minimum(t, knots[0])]
    for a, b in itertools.pairwise(knots):
        cols.append(np.clip(t - a, 0.0, b - a))
    cols.append(np.maximum(t - knots[-1], 0.0))
    return np.stack(cols, axis=1)


def design(rows: Array, knots_occ: Array, knots_unocc: Array) -> Array:
    """The regression matrix of feature rows (see the column constants)."""
    n = rows.shape[0]
    t = rows[:, T]
    occ = (rows[:, OCC] >= 0.5).astype(np.float64)
    unocc = 1.0 - occ
    hdd = np.maximum(BALANCE_C - t, 0.0)
    tow = np.zeros((n, 168))
    tow[np.arange(n), rows[:, HOW].astype(np.int64) % 168] = 1.0
    hod = np.zeros((n, 24))
    hod[np.arange(n), rows[:, HOD].astype(np.int64) % 24] = 1.0
    coast = np.exp(-rows[:, SINCE_CLOSE] / COAST_H) * unocc
    until = rows[:, UNTIL_OPEN]
    pre1 = ((until > 0) & (until <= 1)).astype(np.float64) * unocc
    pre3 = ((until > 1) & (until <= 3)).astype(np.float64) * unocc
    recovery = (
        np.exp(-rows[:, SINCE_OPEN] / RECOVERY_H)
        * np.clip(rows[:, CLOSURE_H] - SHORT_CLOSURE_H, 0.0, WEEK_H - SHORT_CLOSURE_H)
        / (WEEK_H - SHORT_CLOSURE_H)
        * occ
    )
    parts = [
        tow * occ[:, None],
        hod * unocc[:, None],
        _segments(t, knots_occ) * occ[:, None],
        _segments(t, knots_unocc) * unocc[:, None],
        np.stack(
            [coast, coast * hdd, pre1, pre1 * hdd, pre3, pre3 * hdd, recovery, recovery * hdd],
            axis=1,
        ),
    ]
    return np.concatenate(parts, axis=1)


def solve(x: Array, y: Array) -> Array:
    """Least squares by the normal equations with a whisper of ridge (1e-8 of the mean
    diagonal): a few milliseconds for a year of hours, where an SVD takes a hundred times
    longer, and a column that happens to be collinear (a schedule term that never varied)
    gets a zero coefficient instead of an explosion."""
    gram = x.T @ x
    ridge = 1e-8 * float(np.trace(gram)) / max(gram.shape[0], 1)
    gram[np.diag_indices_from(gram)] += ridge
    return np.asarray(np.linalg.solve(gram, x.T @ y), dtype=np.float64)


def fit(rows: Array, kwh: Array) -> Fit | None:
    """Least squares on hours with a temperature; None when too few hours to say anything."""
    keep = np.isfinite(rows[:, T]) & np.isfinite(kwh)
    rows, kwh = rows[keep], kwh[keep]
    n = rows.shape[0]
    if n < 48:
        return None
    occupied = rows[:, OCC] >= 0.5
    knots_occ = _knots(rows[occupied, T])
    knots_unocc = _knots(rows[~occupied, T])
    x = design(rows, knots_occ, knots_unocc)

    def span(mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
        temps = rows[mask, T]
        return (float(temps.min()), float(temps.max())) if temps.size else (-60.0, 60.0)

    used = np.abs(x).sum(axis=0) > 0
    coef = np.zeros(x.shape[1])
    coef[used] = solve(x[:, used], kwh)
    p = int(used.sum())
    resid = kwh - x @ coef
    dof = max(n - p, 1)
    mean = float(kwh.mean())
    sse = float(resid @ resid)
    sst = float(((kwh - mean) ** 2).sum())

    def mode_sigma(mask: npt.NDArray[np.bool_]) -> float:
        m = int(mask.sum())
        if m == 0:
            return math.sqrt(sse / dof)
        share = max(m - p * m / n, 1.0)
        return math.sqrt(float(resid[mask] @ resid[mask]) / share)

    rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if n > 2 and resid.std() > 0 else 0.0
    return Fit(
        coef=coef,
        knots_occ=knots_occ,
        knots_unocc=knots_unocc,
        range_occ=span(occupied),
        range_unocc=span(~occupied),
        sigma_occ=mode_sigma(occupied),
        sigma_unocc=mode_sigma(~occupied),
        n=n,
        p=p,
        r2=1 - sse / sst if sst > 0 else 0.0,
        cv_rmse_pct=100 * math.sqrt(sse / dof) / mean if mean > 0 else float("inf"),
        nmbe_pct=100 * float(resid.sum()) / (dof * mean) if mean > 0 else 0.0,
        mean_kwh=mean,
        rho=rho if math.isfinite(rho) else 0.0,
    )
