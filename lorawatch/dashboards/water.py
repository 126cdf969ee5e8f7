"""Water and leaks: flows, night minimum flows and leak sensors of every site."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import (
    LEAK_FLOW_STEPS,
    PER_PANEL_LIMIT,
    SPAN_DAILY_MS,
    SPAN_HOURLY_DEVICE_MS,
    SPAN_METER_MS,
    CommuneView,
    dashboard,
)
from lorawatch.dashboards.influxql import VOLUME, Scope


def water_panels(view: CommuneView, scope: Scope, grid: p.Grid, by: Sequence[str]) -> list[Any]:
    t = view.t
    alias = "$tag_building" if by else ""
    overrides = view.building_names().overrides() if by else []
    return [
        p.timeseries(
            t("Débit d'eau (L/h)", "Water flow (L/h)"),
            t(
                "Débit moyen par intervalle ; la courbe s'interrompt quand le compteur s'est tu.",
                "Average flow per interval; the line breaks when the meter fell silent.",
            ),
            [
                p.target(
                    q.rate_curve(VOLUME, scope, view.zone, by), "A", alias or t("Débit", "Flow")
                )
            ],
            p.LITRE_PER_HOUR,
            grid.place(24 if by else 12, 8),
            SPAN_METER_MS,
            interval="1h",
            overrides=overrides,
        ),
        p.timeseries(
            t("Eau par jour (m³)", "Water per day (m³)"),
            t(
                "Jours locaux ; un jour sans données n'a pas de barre.",
                "Local days; a day without data has no bar.",
            ),
            [p.target(q.daily(VOLUME, scope, view.zone, by), "A", alias or "m³")],
            p.M3,
            grid.place(12 if by else 6, 8),
            SPAN_DAILY_MS,
            bars=True,
            interval="1d",
            overrides=overrides,
            decimals=2,
        ),
        p.timeseries(
            t("Débit de nuit : minimum du jour (L/h)", "Night flow: lowest of the day (L/h)"),
            t(
                "Le débit le plus bas de chaque jour. Sans fuite il tombe à 0 la nuit ; s'il "
                "reste au-dessus, l'eau a coulé sans arrêt (chasse bloquée, fuite).",
                "The lowest flow of each day. Without a leak it drops to 0 at night; if it "
                "stays above, water ran non-stop (stuck flush, leak).",
            ),
            [
                p.target(
                    q.daily_min_rate(VOLUME, scope, view.zone, by),
                    "A",
                    alias or t("Minimum", "Minimum"),
                )
            ],
            p.LITRE_PER_HOUR,
            grid.place(12 if by else 6, 8),
            SPAN_DAILY_MS,
            interval="1d",
            overrides=overrides,
            steps=LEAK_FLOW_STEPS,
            threshold_line=True,
        ),
    ]


# --- water and leaks -------------------------------------------------------------------------


def water(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    leaks = view.of_kind("leak")
    if not view.metered_buildings("water") and not leaks:
        return None
    grid = p.Grid()
    panels: list[Any] = []
    if view.metered_buildings("water"):
        panels += water_panels(view, Scope(commune=view.id, kinds=("water",)), grid, ("building",))
    if leaks:
        names = view.device_names(leaks)
        panels.append(grid.row(t("Détecteurs de fuite", "Leak detectors")))
        leak_scope = Scope(commune=view.id, kinds=("leak",))
        if len(leaks) <= PER_PANEL_LIMIT:
            panels.append(
                p.state_timeline(
                    t("Fuite détectée", "Leak detected"),
                    t(
                        "État de chaque détecteur ; un trou signifie que le détecteur n'a rien "
                        "envoyé.",
                        "State of each detector; a hole means the detector sent nothing.",
                    ),
                    [
                        p.target(
                            q.reading_series("last", "leak", leak_scope, view.zone, ("device",)),
                            "A",
                            "$tag_device",
                        )
                    ],
                    p.BOOL,
                    grid.place(16, 8),
                    p.bool_mappings(t("Fuite", "Leak"), t("Sec", "Dry"), "red"),
                    SPAN_HOURLY_DEVICE_MS,
                    interval="1h",
                )
            )
        panels.append(
            p.table(
                t("Dernier état des détecteurs", "Detectors' last state"),
                t("Dernière valeur reçue sur la période.", "Last value received over the period."),
                [
                    p.target(
                        q.latest(["leak", "battery_pct"], leak_scope, ("device",)), "A", table=True
                    )
                ],
                p.PERCENT,
                grid.place(8, 8),
                sort_by=t("Fuite", "Leak"),
                overrides=[
                    *names.cell_override(t("Détecteur", "Detector")),
                    p.by_name(
                        t("Fuite", "Leak"),
                        {"id": "unit", "value": p.BOOL},
                        p.bool_property(t("Fuite", "Leak"), t("Sec", "Dry"), "red"),
                    ),
                ],
                transformations=p.organize(
                    {
                        "device": t("Détecteur", "Detector"),
                        "leak": t("Fuite", "Leak"),
                        "battery_pct": t("Pile (%)", "Battery (%)"),
                    }
                ),
            )
        )
    return dashboard(
        view,
        (view.id, "water"),
        f"{view.commune.name} · {t('Eau et fuites', 'Water and leaks')}",
        t(
            "Eau par bâtiment, débit de nuit (fuites), détecteurs de fuite.",
            "Water per building, night flow (leaks), leak detectors.",
        ),
        panels,
    )
