"""Street lighting: lamps on at night, off by day, and their energy."""

from __future__ import annotations

from typing import Any

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import (
    PER_PANEL_LIMIT,
    SPAN_HOURLY_DEVICE_MS,
    CommuneView,
    daily_energy,
    dashboard,
)
from lorawatch.dashboards.influxql import Scope

# --- street lighting -------------------------------------------------------------------------


def lighting(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    lamps = view.of_kind("streetlight")
    if not lamps:
        return None
    scope = Scope(commune=view.id, kinds=("streetlight",))
    names = view.device_names(lamps)
    grid = p.Grid()
    panels: list[Any] = []
    if len(lamps) <= PER_PANEL_LIMIT:
        panels.append(
            p.state_timeline(
                t("Allumé / éteint", "On / off"),
                t(
                    "État de chaque point lumineux ; un trou signifie que le contrôleur n'a "
                    "rien envoyé.",
                    "State of each lamp; a hole means its controller sent nothing.",
                ),
                [
                    p.target(
                        q.reading_series("last", "lamp_on", scope, view.zone, ("device",)),
                        "A",
                        "$tag_device",
                    )
                ],
                p.BOOL_ON_OFF,
                grid.place(24, 14),
                p.bool_mappings(t("Allumé", "On"), t("Éteint", "Off"), "yellow"),
                SPAN_HOURLY_DEVICE_MS,
                interval="1h",
            )
        )
    panels.append(
        p.timeseries(
            t("Gradation moyenne des lampes allumées (%)", "Mean dimming of lit lamps (%)"),
            t(
                "100 % : pleine puissance ; la baisse au milieu de la nuit est l'abaissement "
                "programmé.",
                "100 %: full power; the drop in the middle of the night is the programmed dimming.",
            ),
            [
                p.target(
                    q.reading_series(
                        "mean", "dim_pct", scope, view.zone, (), (f"{q.ident('lamp_on')} = true",)
                    ),
                    "A",
                    t("Gradation", "Dimming"),
                )
            ],
            p.PERCENT,
            grid.place(12, 8),
            SPAN_HOURLY_DEVICE_MS,
            interval="1h",
        )
    )
    panels.append(
        daily_energy(
            view,
            t("Énergie de l'éclairage par jour (kWh)", "Lighting energy per day (kWh)"),
            scope,
            grid,
        )
    )
    panels.append(
        p.table(
            t("Pannes signalées", "Reported failures"),
            t(
                "Dernier état de panne de chaque contrôleur (lampe ou driver HS), les pannes "
                "d'abord.",
                "Last failure state of each controller (lamp or driver failure), failures first.",
            ),
            [
                p.target(
                    q.latest(["lamp_failure", "lamp_hours"], scope, ("device",)), "A", table=True
                )
            ],
            p.BOOL,
            grid.place(24, 9),
            sort_by=t("Panne", "Failure"),
            overrides=[
                *names.cell_override(t("Point lumineux", "Lamp")),
                p.by_name(
                    t("Panne", "Failure"),
                    p.bool_property(t("HS", "Failed"), t("OK", "OK"), "red"),
                ),
                p.unit_override(t("Heures d'allumage", "Hours lit"), "h"),
            ],
            transformations=p.organize(
                {
                    "device": t("Point lumineux", "Lamp"),
                    "lamp_failure": t("Panne", "Failure"),
                    "lamp_hours": t("Heures d'allumage", "Hours lit"),
                }
            ),
        )
    )
    return dashboard(
        view,
        (view.id, "lighting"),
        f"{view.commune.name} · {t('Éclairage public', 'Street lighting')}",
        t(
            "Allumage, gradation, énergie et pannes de l'éclairage public.",
            "Street lighting on/off, dimming, energy and failures.",
        ),
        panels,
    )
