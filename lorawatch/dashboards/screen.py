"""The occupant screen of a building's hall (kiosk: read-only, no controls, building totals
only)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from grafanalib import core as g

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import (
    SAVING_STEPS,
    SCREEN_TAG,
    SPAN_METER_MS,
    CommuneView,
    dashboard,
)
from lorawatch.dashboards.i18n import tips
from lorawatch.dashboards.influxql import ENERGY, VOLUME, Scope
from lorawatch.inventory import Building


def campaign_start(building: Building, zone: str) -> datetime | None:
    """Local midnight of the building's ``campaign_start``, or None when it has none."""
    if not building.campaign_start:
        return None
    day = datetime.fromisoformat(building.campaign_start).date()
    return datetime.combine(day, time(0), ZoneInfo(zone))


# --- occupant screen -------------------------------------------------------------------------


def occupant_screen(view: CommuneView, building: Building) -> dict[str, Any] | None:
    """The hall screen of one building: big figures, today vs a typical day, this week vs last
    week, progress since the campaign started, a good habit. Building totals only: no device,
    no room, nothing that could point at a person (GDPR); read-only kiosk, no controls."""
    t = view.t
    metered = {d.kind for d in view.devices if d.building == building.id}
    if "electricity" not in metered:
        return None
    scope = Scope(building=building.id, kinds=("electricity",))
    grid = p.Grid()
    panels: list[Any] = []

    def big(title: str, desc: str, query: str, time_from: str, shift: str | None = None) -> g.Stat:
        return p.stat(
            title,
            desc,
            [p.target(query, "A")],
            p.KWH,
            grid.place(8, 7),
            time_from,
            shift,
            0,
            big=True,
        )

    panels.append(
        big(
            t("dash.today_so_far"),
            t("dash.electricity_used_since_midnight"),
            q.total(ENERGY, scope),
            "now/d",
        )
    )
    panels.append(
        big(
            t("dash.same_day_last_week_same_time"),
            t("dash.to_compare_like_with_like"),
            q.total(ENERGY, scope),
            "now/d",
            "1w",
        )
    )
    panels.append(
        big(
            t("dash.a_typical_day_whole_day"),
            t(
                "dash.a_day_of_the_same_kind_2",
            ),
            q.typical_day(ENERGY, scope),
            "now/d",
        )
    )
    panels.append(
        big(
            t("dash.this_week"),
            t("dash.since_monday"),
            q.total(ENERGY, scope),
            "now/w",
        )
    )
    panels.append(
        big(
            t("dash.last_week_at_the_same_point"),
            t("dash.from_monday_to_the_same_day"),
            q.total(ENERGY, scope),
            "now/w",
            "1w",
        )
    )
    campaign = campaign_start(building, view.zone)
    if campaign is not None:
        since = q.at(campaign)
        a = q.mean_day_between(ENERGY, scope, view.zone, since, "${__to}ms")
        b = q.mean_day_between(ENERGY, scope, view.zone, f"{since} - 52w", "${__to}ms - 52w")
        panels.append(
            p.stat(
                t(
                    "dash.since_the_campaign_started",
                    date=f"{campaign:%d/%m/%Y}" if t.lang == "fr" else f"{campaign:%Y-%m-%d}",
                ),
                t(
                    "dash.mean_daily_consumption_since_the_campaign",
                ),
                [
                    p.target(a, "A", hide=True),
                    p.target(b, "B", hide=True),
                    p.reduce_expression("C", "A"),
                    p.reduce_expression("D", "B"),
                    p.math_expression("E", "($C / $D - 1) * 100"),
                ],
                p.PERCENT,
                grid.place(8, 7),
                decimals=0,
                steps=SAVING_STEPS,
                big=True,
            )
        )
    panels.append(
        p.timeseries(
            t("dash.today_hour_by_hour_kwh"),
            t("dash.an_hour_without_data_has_no"),
            [p.target(q.hourly(ENERGY, scope, view.zone), "A", "kWh")],
            p.KWH,
            grid.place(12, 9),
            SPAN_METER_MS,
            bars=True,
            interval="1h",
            time_from="now/d",
            decimals=1,
        )
    )
    if "water" in metered:
        panels.append(
            p.stat(
                t("dash.water_today"),
                t("dash.litres_since_midnight"),
                [
                    p.target(
                        q.total(VOLUME, Scope(building=building.id, kinds=("water",)), scale=1000),
                        "A",
                    )
                ],
                p.LITRE,
                grid.place(4, 9),
                "now/d",
                decimals=0,
                big=True,
            )
        )
    tip_lines = "\n".join(f"- {tip}" for tip in tips(building.usage, t))
    panels.append(
        p.text(
            t("dash.good_habit"),
            f"### {t('dash.good_habit')}\n\n{tip_lines}\n",
            grid.place(8 if "water" in metered else 12, 9),
        )
    )
    return dashboard(
        view,
        ("screen", building.id),
        f"{building.name} · {t('dash.hall_screen')}",
        t(
            "dash.the_building_s_hall_screen_building",
        ),
        panels,
        time_from="now/d",
        kiosk=True,
        tags=[SCREEN_TAG],
    )
