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
                t("dash.on_off"),
                t(
                    "dash.state_of_each_lamp_a_hole",
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
                p.bool_mappings(t("dash.on"), t("dash.off"), "yellow"),
                SPAN_HOURLY_DEVICE_MS,
                interval="1h",
            )
        )
    panels.append(
        p.timeseries(
            t("dash.mean_dimming_of_lit_lamps"),
            t(
                "dash.100_full_power_the_drop_in",
            ),
            [
                p.target(
                    q.reading_series(
                        "mean", "dim_pct", scope, view.zone, (), (f"{q.ident('lamp_on')} = true",)
                    ),
                    "A",
                    t("dash.dimming"),
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
            t("dash.lighting_energy_per_day_kwh"),
            scope,
            grid,
        )
    )
    panels.append(
        p.table(
            t("dash.reported_failures"),
            t(
                "dash.last_failure_state_of_each_controller",
            ),
            [
                p.target(
                    q.latest(["lamp_failure", "lamp_hours"], scope, ("device",)), "A", table=True
                )
            ],
            p.BOOL,
            grid.place(24, 9),
            sort_by=t("dash.failure"),
            overrides=[
                *names.cell_override(t("dash.lamp")),
                p.by_name(
                    t("dash.failure"),
                    p.bool_property(t("dash.failed"), t("dash.ok"), "red"),
                ),
                p.unit_override(t("dash.hours_lit"), "h"),
            ],
            transformations=p.organize(
                {
                    "device": t("dash.lamp"),
                    "lamp_failure": t("dash.failure"),
                    "lamp_hours": t("dash.hours_lit"),
                }
            ),
        )
    )
    return dashboard(
        view,
        (view.id, "lighting"),
        f"{view.commune.name} · {t('dash.street_lighting')}",
        t(
            "dash.street_lighting_on_off_dimming_energy",
        ),
        panels,
    )
