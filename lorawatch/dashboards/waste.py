"""Waste bins: fill levels, days to full and collections."""

from __future__ import annotations

from typing import Any

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import (
    FILL_STEPS,
    PER_PANEL_LIMIT,
    PER_SITE_GAUGES_LIMIT,
    SPAN_DAILY_MS,
    SPAN_SLOW_DEVICE_MS,
    CommuneView,
    dashboard,
)
from lorawatch.dashboards.influxql import Scope

# --- waste bins ------------------------------------------------------------------------------


def waste(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    bins = view.of_kind("bin")
    if not bins:
        return None
    scope = Scope(commune=view.id, kinds=("bin",))
    names = view.device_names(bins)
    grid = p.Grid()
    device_col = t("Conteneur", "Container")
    panels: list[Any] = [
        p.table(
            t("Remplissage actuel (%)", "Current fill (%)"),
            t(
                "Dernière mesure de chaque conteneur, les plus pleins d'abord.",
                "Last measurement of each container, fullest first.",
            ),
            [p.target(q.latest(["fill_pct"], scope, ("device",)), "A", table=True)],
            p.PERCENT,
            grid.place(12, 10),
            sort_by=t("Remplissage", "Fill"),
            overrides=[
                *names.cell_override(device_col),
                p.unit_override(t("Mesuré", "Measured"), p.FROM_NOW),
                p.by_name(
                    t("Remplissage", "Fill"),
                    {
                        "id": "custom.cellOptions",
                        "value": {"type": "gauge", "mode": "gradient"},
                    },
                    {"id": "max", "value": 100},
                    p.thresholds_property(FILL_STEPS),
                ),
            ],
            transformations=p.organize(
                {
                    "Time": t("Mesuré", "Measured"),
                    "device": device_col,
                    "fill_pct": t("Remplissage", "Fill"),
                },
                hide_time=False,
            ),
            decimals=0,
        ),
        p.table(
            t("Plein dans… (jours)", "Full in… (days)"),
            t(
                "Prévision : (100 % − remplissage actuel) ÷ vitesse moyenne de remplissage sur "
                "la période (les vidages exclus). Pas de prévision pour un conteneur qui ne se "
                "remplit pas.",
                "Forecast: (100 % − current fill) ÷ mean filling speed over the period "
                "(collections left out). No forecast for a container that is not filling.",
            ),
            [p.target(q.days_to_full(scope), "A", table=True)],
            p.DAYS,
            grid.place(12, 10),
            sort_by=t("Plein dans (j)", "Full in (d)"),
            descending=False,
            overrides=names.cell_override(device_col),
            transformations=p.organize(
                {
                    "device": device_col,
                    "days_to_full": t("Plein dans (j)", "Full in (d)"),
                }
            ),
            decimals=1,
        ),
    ]
    sites: dict[str, list[str]] = {}
    for d in bins:
        sites.setdefault(d.site or d.name, []).append(d.name)
    if len(sites) <= PER_SITE_GAUGES_LIMIT:
        panels.append(grid.row(t("Par point d'apport", "Per drop-off point")))
        for site, devices in sites.items():
            site_scope = Scope(commune=view.id, kinds=("bin",), devices=tuple(devices))
            panels.append(
                p.bargauge(
                    site,
                    t(
                        "Dernier remplissage de chaque conteneur du site.",
                        "Last fill of each container at the site.",
                    ),
                    [p.target(q.latest(["fill_pct"], site_scope, ("device",)), "A", "$tag_device")],
                    p.PERCENT,
                    grid.place(6, 6),
                    decimals=0,
                    steps=FILL_STEPS,
                    maximum=100,
                )
            )
    panels.append(grid.row(t("Historique", "History")))
    if len(bins) <= PER_PANEL_LIMIT:
        panels.append(
            p.timeseries(
                t("Remplissage (%)", "Fill (%)"),
                t(
                    "Chaque chute correspond à un vidage ; la courbe s'interrompt quand le "
                    "capteur s'est tu.",
                    "Each drop is a collection; the line breaks when the sensor fell silent.",
                ),
                [
                    p.target(
                        q.reading_series("max", "fill_pct", scope, view.zone, ("device",)),
                        "A",
                        "$tag_device",
                    )
                ],
                p.PERCENT,
                grid.place(24, 9),
                SPAN_SLOW_DEVICE_MS,
                interval="1h",
                overrides=names.overrides(),
                steps=FILL_STEPS,
                threshold_line=True,
            )
        )
    panels.append(
        p.timeseries(
            t(
                "Débordements : relevés à 95 % ou plus, par jour",
                "Overflows: readings at 95 % or more, per day",
            ),
            t(
                "Nombre de mesures d'un conteneur plein ou presque, par jour local.",
                "Number of measurements of a full or nearly full container, per local day.",
            ),
            [
                p.target(
                    q.count_where(
                        "fill_pct", f"{q.ident('fill_pct')} >= 95", scope, view.zone, ("device",)
                    ),
                    "A",
                    "$tag_device",
                )
            ],
            p.count_unit(t("relevés", "readings")),
            grid.place(24, 8),
            SPAN_DAILY_MS,
            bars=True,
            stacked=True,
            interval="1d",
            overrides=names.overrides(),
            decimals=0,
        )
    )
    return dashboard(
        view,
        (view.id, "waste"),
        f"{view.commune.name} · {t('Points d’apport', 'Waste bins')}",
        t(
            "Remplissage des conteneurs par point d'apport, prévision, débordements.",
            "Container fill per drop-off point, forecast, overflows.",
        ),
        panels,
    )
