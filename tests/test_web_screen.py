"""The hall screen's wording, on figures made up for the purpose: the noise band, honest
savings, euros and CO2. Layout and readability are checked in the browser
(test_web_browser.py)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from lorawatch.web import pages
from lorawatch.web.figures import (
    NOISE_CEILING,
    NOISE_FLOOR,
    ScreenFigures,
    WeatherLine,
    noise_band,
)
from lorawatch.web.models import CampaignProgress, Compared


def test_the_noise_band_is_the_spread_of_the_past_weeks() -> None:
    # Steady days: the floor, not a band narrower than the meters' rounding.
    assert noise_band([100.0, 100.5, 99.8, 100.2]) == NOISE_FLOOR
    # Days that vary by about 10 %: the band widens, so a -6 % day is not called a saving.
    wide = noise_band([90.0, 100.0, 110.0, 104.0])
    assert wide is not None and 0.05 < wide < 0.15
    assert noise_band([10.0, 100.0, 300.0]) == NOISE_CEILING
    assert noise_band([100.0, 90.0]) is None, "two weeks are no spread"
    assert noise_band([0.0, 0.0, 0.0]) is None


def test_a_gap_within_the_band_is_as_usual() -> None:
    within = Compared(value=94.0, reference=100.0, ratio=-0.06)
    assert pages._compare_line(within, "fr", "vs_typical_day", "", band=0.08) == (
        "= comme d'habitude",
        "same",
    )
    line, cls = pages._compare_line(within, "fr", "vs_typical_day", "", band=0.03)
    assert cls == "good" and line.startswith("▼ −6,0")


def ctx(price: float = 0.2, co2: float = 0.052) -> Any:
    screens = SimpleNamespace(price_eur_kwh=price, co2_kg_kwh=co2)
    return SimpleNamespace(http=SimpleNamespace(screens=screens))


def figures(ratio: float, saved: float, noise: float | None = None) -> ScreenFigures:
    summary: Any = None
    campaign = CampaignProgress(
        start=date(2025, 1, 6),
        days=300,
        total=2500.0,
        measured_since=date(2025, 1, 6),
        compared_days=280,
        current=2500.0 - saved,
        reference=2500.0,
        ratio=ratio,
        saved=saved,
    )
    return ScreenFigures(summary, [], campaign, noise=noise)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_savings_are_never_claimed_next_to_zero_percent(lang: str) -> None:
    """Issue 17 saw "0 %" next to "10,4 kWh économisés": a gap of 0.4 % is within the
    measuring margin and is said so, with its percentage to one decimal."""
    small = pages._campaign(figures(-0.0042, 10.4), ctx(), lang)  # type: ignore[arg-type]
    assert small is not None
    assert small.value in ("−0,4\u202f%", "−0.4%")
    assert small.trend == "same" and small.money == ""
    assert "économisés" not in small.comparison and "saved" not in small.comparison
    assert "10,4" in small.comparison or "10.4" in small.comparison
    big = pages._campaign(figures(-0.12, 300.0, noise=0.05), ctx(), lang)  # type: ignore[arg-type]
    assert big is not None and big.trend == "good"
    assert big.value in ("−12\u202f%", "−12%")
    assert big.comparison.startswith(("300\u00a0kWh économisés", "300\u00a0kWh saved"))
    # 300 kWh at 0.20 €/kWh and 0.052 kg CO2e/kWh.
    assert big.money in ("≈ 60,00 € · 15,6 kg CO₂", "≈ €60.00 · 15.6 kg CO₂")


def test_money_follows_the_configured_price_and_factor() -> None:
    assert pages._money(100.0, ctx(price=0.25, co2=0.1), "fr") == "≈ 25,00 € · 10,0 kg CO₂"
    assert pages._money(None, ctx(), "fr") == ""


def weather(**kwargs: Any) -> ScreenFigures:
    line = WeatherLine(**{"against": "campaign", "change": None, "significant": False, **kwargs})
    return ScreenFigures(None, [], None, weather=line)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "fr", "en", "cls"),
    [
        (
            {"change": -0.082, "significant": True},
            "À météo égale : −8,2\u202f% par rapport à l'année avant la campagne",
            "Weather-adjusted: −8.2% against the year before the campaign",
            "good",
        ),
        (
            {"against": "last_year", "change": 0.15, "significant": True},
            "À météo égale : +15\u202f% sur 4 semaines par rapport à l'an dernier",
            "Weather-adjusted: +15% over 4 weeks against last year",
            "bad",
        ),
        (
            {"change": -0.06, "significant": False},
            "À météo égale : comme l'année avant la campagne",
            "Weather-adjusted: as the year before the campaign",
            "same",
        ),
        (
            {"refused": "coverage"},
            "À météo égale : pas encore assez d'historique",
            "Weather-adjusted: not enough history yet",
            "unknown",
        ),
        (
            {"refused": "guideline_14"},
            "À météo égale : pas de chiffre fiable",
            "Weather-adjusted: no reliable figure",
            "unknown",
        ),
    ],
)
def test_the_weather_adjusted_line_is_honest(
    line: dict[str, Any], fr: str, en: str, cls: str
) -> None:
    """A change only when it stands out of the model's uncertainty; plain words otherwise."""
    assert pages._weather(weather(**line), "fr") == (fr, cls)
    assert pages._weather(weather(**line), "en") == (en, cls)


def test_no_energy_no_weather_line() -> None:
    assert pages._weather(ScreenFigures(None, [], None), "fr") is None  # type: ignore[arg-type]
