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
    device_col = t("dash.container")
    panels: list[Any] = [
        p.table(
            t("dash.current_fill"),
            t(
                "dash.last_measurement_of_each_container_fullest",
            ),
            [p.target(q.latest(["fill_pct"], scope, ("device",)), "A", table=True)],
            p.PERCENT,
            grid.place(12, 10),
            sort_by=t("dash.fill"),
            overrides=[
                *names.cell_override(device_col),
                p.unit_override(t("dash.measured"), p.FROM_NOW),
                p.by_name(
                    t("dash.fill"),
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
                    "Time": t("dash.measured"),
                    "device": device_col,
                    "fill_pct": t("dash.fill"),
                },
                hide_time=False,
            ),
            decimals=0,
        ),
        p.table(
            t("dash.full_in_days"),
            t(
                "dash.forecast_100_current_fill_mean_filling",
            ),
            [p.target(q.days_to_full(scope), "A", table=True)],
            p.DAYS,
            grid.place(12, 10),
            sort_by=t("dash.full_in_d"),
            descending=False,
            overrides=names.cell_override(device_col),
            transformations=p.organize(
                {
                    "device": device_col,
                    "days_to_full": t("dash.full_in_d"),
                }
            ),
            decimals=1,
        ),
    ]
    sites: dict[str, list[str]] = {}
    for d in bins:
        sites.setdefault(d.site or d.name, []).append(d.name)
    if len(sites) <= PER_SITE_GAUGES_LIMIT:
        panels.append(grid.row(t("dash.per_drop_off_point")))
        for site, devices in sites.items():
            site_scope = Scope(commune=view.id, kinds=("bin",), devices=tuple(devices))
            panels.append(
                p.bargauge(
                    site,
                    t(
                        "dash.last_fill_of_each_container_at",
                    ),
                    [p.target(q.latest(["fill_pct"], site_scope, ("device",)), "A", "$tag_device")],
                    p.PERCENT,
                    grid.place(6, 6),
                    decimals=0,
                    steps=FILL_STEPS,
                    maximum=100,
                )
            )
    panels.append(grid.row(t("dash.history")))
    if len(bins) <= PER_PANEL_LIMIT:
        panels.append(
            p.timeseries(
                t("dash.fill_2"),
                t(
                    "dash.each_drop_is_a_collection_the",
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
                "dash.overflows_readings_at_95_or_more",
            ),
            t(
                "dash.number_of_measurements_of_a_full",
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
            p.count_unit(t("dash.readings")),
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
        f"{view.commune.name} · {t('dash.waste_bins')}",
        t(
            "dash.container_fill_per_drop_off_point",
        ),
        panels,
    )
