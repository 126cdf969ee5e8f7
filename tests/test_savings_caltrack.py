"""Our savings against OpenDSM's CalTRACK hourly method (``eemeter``) on the same data.

CalTRACK's hourly model is the reference implementation of the time-of-week-and-temperature
regression for measurement and verification; on a simulated retrofit (15 % less electricity
in the mairie from the 2025-2026 winter, a different winter than the baseline one, with a
cold snap) both must report the same avoided energy within 2 percentage points. eemeter is a
test-only dependency (``test`` extra): with pandas, scipy, statsmodels and scikit-learn it
weighs over a gigabyte, for one regression that numpy solves in a few milliseconds.
"""

from __future__ import annotations

import pandas as pd
import pytest

from lorawatch.analytics import savings
from tests.test_savings import BASELINE, PARIS, REPORTING, RETROFIT, local, schedule, series


def caltrack_avoided_pct(energy: dict[int, float], temps: dict[int, float]) -> float:
    from eemeter.eemeter import (
        HourlyCaltrackBaselineData,
        HourlyCaltrackModel,
        HourlyCaltrackReportingData,
    )

    hours = sorted(energy)
    index = pd.to_datetime(hours, unit="s", utc=True).tz_convert("Europe/Paris")
    frame = pd.DataFrame(
        {
            "observed": [energy[h] for h in hours],
            "temperature": [temps[h] * 9 / 5 + 32 for h in hours],  # eemeter wants °F
        },
        index=index,
    )

    def part(bounds: tuple[object, object]) -> pd.DataFrame:
        a, b = (pd.Timestamp(t) for t in bounds)
        return frame[(frame.index >= a) & (frame.index < b)]

    model = HourlyCaltrackModel().fit(HourlyCaltrackBaselineData(part(BASELINE), True))
    reporting = part(REPORTING)
    predicted = float(
        model.predict(HourlyCaltrackReportingData(reporting, True))["predicted"].sum()
    )
    return 100 * (predicted - float(reporting["observed"].sum())) / predicted


# eemeter warns about its own rank-deficient segment designs and pandas idioms.
@pytest.mark.filterwarnings("ignore::Warning")
def test_savings_agree_with_caltrack_within_two_points() -> None:
    energy, temps = series("mairie", local(2025, 8, 1), 1 - RETROFIT)
    ours = savings.verify("mairie", energy, temps, schedule("mairie"), PARIS, BASELINE, REPORTING)
    theirs = caltrack_avoided_pct(energy, temps)
    print(f"avoided: ours {ours.avoided_pct:.2f} %, CalTRACK {theirs:.2f} %")
    assert ours.avoided_pct == pytest.approx(theirs, abs=2.0)
    assert theirs == pytest.approx(100 * RETROFIT, abs=2.0)
