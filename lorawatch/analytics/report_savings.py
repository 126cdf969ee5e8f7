"""The monthly report's "weather-adjusted" line: the month against a baseline model.

For each building with energy in the month, :func:`lorawatch.analytics.savings.measure`
fits the weather- and calendar-aware model on a baseline period and predicts the month from
its own outdoor temperatures and calendar: "with the same weather, −8 % against the
baseline". The baseline period is, in this order:

1. the one given to the report (``lorawatch report --savings-baseline FROM..TO``);
2. the year before the building's ``campaign_start``, when the campaign began before the
   month ends: what the campaign saved, weather aside;
3. the year before the month: the month against what the last year predicts for its
   weather.

A model that does not meet ASHRAE Guideline 14, or a period without enough hours with both
energy and an outdoor temperature, is not used: the line then gives the fit statistics, or
says there is not enough history yet. Texts come from the catalogue (``report.savings.*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from lorawatch.analytics import savings
from lorawatch.core import catalogue, formats
from lorawatch.core.formats import Lang
from lorawatch.core.i18n import long_date
from lorawatch.inventory import Inventory
from lorawatch.pipeline.store import Store


@dataclass(frozen=True, slots=True)
class WeatherAdjusted:
    """A building's month against its baseline model, or why there is no figure."""

    baseline: tuple[datetime, datetime]
    """The baseline period, local [start, end)."""
    source: str
    """Where the baseline comes from: ``given``, ``campaign`` or ``last_year``."""
    result: savings.Savings | None
    refused: str = ""
    """A :data:`lorawatch.analytics.savings.REASONS` key when there is no figure."""
    figures: dict[str, Any] = field(default_factory=dict)


def baseline_for(
    inventory: Inventory,
    building: str,
    month: tuple[datetime, datetime],
    given: tuple[datetime, datetime] | None,
) -> tuple[tuple[datetime, datetime], str]:
    """The baseline period of a building's month and where it comes from (see above)."""
    if given is not None:
        return given, "given"
    start = month[0]
    text = inventory.buildings[building].campaign_start
    if text:
        try:
            first = date.fromisoformat(text)
        except ValueError:
            first = None
        if first is not None:
            campaign = start.replace(year=first.year, month=first.month, day=first.day)
            if campaign < month[1]:
                return (_year_before(campaign), min(campaign, start)), "campaign"
    return (_year_before(start), start), "last_year"


def _year_before(t: datetime) -> datetime:
    """The same local date and time a year earlier (29 February: the 28th)."""
    if t.month == 2 and t.day == 29:
        t = t.replace(day=28)
    return t.replace(year=t.year - 1)


def weather_adjusted(
    store: Store,
    inventory: Inventory,
    building: str,
    month: tuple[datetime, datetime],
    given: tuple[datetime, datetime] | None = None,
) -> WeatherAdjusted:
    base, source = baseline_for(inventory, building, month, given)
    if base[1] > month[0]:
        return WeatherAdjusted(base, source, None, "overlap")
    try:
        result = savings.measure(store, inventory, building, base, month)
    except savings.SavingsRefused as exc:
        return WeatherAdjusted(base, source, None, exc.reason, exc.figures)
    return WeatherAdjusted(base, source, result)


def line(w: WeatherAdjusted, lang: Lang) -> str:
    """The report's sentence for ``w``, in ``lang``."""
    first = long_date(w.baseline[0].date(), lang)
    last = long_date((w.baseline[1] - timedelta(days=1)).date(), lang)
    period = catalogue.text(lang, f"report.savings.baseline.{w.source}", first=first, last=last)
    r = w.result
    if r is not None:
        change = formats.percent(-r.avoided_pct / 100, lang)
        low, high = r.avoided_kwh_90
        key = "report.savings.result" if r.significant else "report.savings.noise"
        return catalogue.text(
            lang,
            key,
            change=change,
            kwh=formats.amount(-r.avoided_kwh, "kWh", lang),
            expected=formats.amount(r.adjusted_baseline_kwh, "kWh", lang),
            period=period,
            low=formats.amount(-high, "kWh", lang),
            high=formats.amount(-low, "kWh", lang),
            fit=_fit(r.cv_rmse_pct, r.nmbe_pct, r.r2, lang),
        )
    if w.refused == "guideline_14":
        f = w.figures
        return catalogue.text(
            lang,
            "report.savings.refused_g14",
            period=period,
            fit=_fit(f.get("cv_rmse_pct"), f.get("nmbe_pct"), f.get("r2"), lang),
        )
    if w.refused == "coverage" and w.figures.get("period") == "reporting":
        return catalogue.text(
            lang,
            "report.savings.month_incomplete",
            hours=_count(w.figures.get("hours"), lang),
            total=_count(w.figures.get("hours_in_period"), lang),
        )
    if w.refused == "overlap":
        return catalogue.text(lang, "report.savings.overlap", period=period)
    return catalogue.text(
        lang,
        "report.savings.no_history",
        period=period,
        hours=_count(w.figures.get("hours"), lang),
        needed=_count(w.figures.get("hours_needed"), lang),
    )


def _count(value: object, lang: Lang) -> str:
    return formats.number(float(value), lang, 0) if isinstance(value, int | float) else "–"


def _fit(cv: float | None, nmbe: float | None, r2: float | None, lang: Lang) -> str:
    def pct(value: float | None, signed: bool) -> str:
        if value is None:
            return "–"
        shown = formats.number(value, lang, 1)
        if signed and value >= 0:
            shown = "+" + shown
        return f"{shown}{formats.NNBSP if lang == 'fr' else ''}%"

    return catalogue.text(
        lang,
        "report.savings.fit",
        cv=pct(cv, False),
        nmbe=pct(nmbe, True),
        r2=formats.number(r2, lang, 2),
    )
