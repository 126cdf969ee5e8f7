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
            t("Aujourd'hui, jusqu'à maintenant", "Today, so far"),
            t("Électricité consommée depuis minuit.", "Electricity used since midnight."),
            q.total(ENERGY, scope),
            "now/d",
        )
    )
    panels.append(
        big(
            t("Le même jour la semaine dernière, à la même heure", "Same day last week, same time"),
            t("Pour comparer à jour égal.", "To compare like with like."),
            q.total(ENERGY, scope),
            "now/d",
            "1w",
        )
    )
    panels.append(
        big(
            t("Un jour type (journée entière)", "A typical day (whole day)"),
            t(
                "Un jour de même nature qu'aujourd'hui : un jour d'ouverture est comparé aux "
                "mêmes jours des 4 dernières semaines ouvertes, un jour fermé (week-end, "
                "vacances, fermeture) aux jours fermés. Calculé par lorawatch, comme l'écran "
                "d'accueil.",
                "A day of the same kind as today: an open day is compared with the same "
                "weekday of the last 4 open weeks, a closed day (weekend, holiday, closure) "
                "with closed days. Computed by lorawatch, as the hall screen.",
            ),
            q.typical_day(ENERGY, scope),
            "now/d",
        )
    )
    panels.append(
        big(
            t("Cette semaine", "This week"),
            t("Depuis lundi.", "Since Monday."),
            q.total(ENERGY, scope),
            "now/w",
        )
    )
    panels.append(
        big(
            t("La semaine dernière, au même moment", "Last week, at the same point"),
            t("De lundi au même jour et à la même heure.", "From Monday to the same day and time."),
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
                    f"Depuis le début de la campagne ({campaign:%d/%m/%Y})",
                    f"Since the campaign started ({campaign:%Y-%m-%d})",
                ),
                t(
                    "Consommation moyenne par jour depuis le début de la campagne, comparée aux "
                    "mêmes jours 52 semaines plus tôt. En dessous de 0 %, le bâtiment consomme "
                    "moins.",
                    "Mean daily consumption since the campaign started, compared with the same "
                    "days 52 weeks earlier. Below 0 %, the building uses less.",
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
            t("Aujourd'hui, heure par heure (kWh)", "Today, hour by hour (kWh)"),
            t("Une heure sans données n'a pas de barre.", "An hour without data has no bar."),
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
                t("Eau aujourd'hui", "Water today"),
                t("Litres depuis minuit.", "Litres since midnight."),
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
            t("Le bon geste", "Good habit"),
            f"### {t('Le bon geste', 'Good habit')}\n\n{tip_lines}\n",
            grid.place(8 if "water" in metered else 12, 9),
        )
    )
    return dashboard(
        view,
        ("screen", building.id),
        f"{building.name} · {t('écran d’accueil', 'hall screen')}",
        t(
            "Écran d'accueil du bâtiment : totaux du bâtiment uniquement, en lecture seule.",
            "The building's hall screen: building totals only, read-only.",
        ),
        panels,
        time_from="now/d",
        kiosk=True,
        tags=[SCREEN_TAG],
    )
