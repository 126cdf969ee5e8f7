"""Fleet health: batteries, radio quality and devices that stopped reporting."""

from __future__ import annotations

from typing import Any

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import (
    BATTERY_STEPS,
    SPAN_METER_MS,
    SPAN_SLOW_DEVICE_MS,
    CommuneView,
    dashboard,
    last_seen_table,
)
from lorawatch.dashboards.influxql import Scope

# --- fleet health ----------------------------------------------------------------------------


def fleet(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    if not view.devices:
        return None
    scope = Scope(commune=view.id)
    grid = p.Grid()
    device_col = t("dash.sensor")
    expected = len(view.devices)
    panels: list[Any] = [
        p.stat(
            t("dash.sensors_heard_of", expected=expected),
            t(
                "dash.sensors_with_at_least_one_frame",
                expected=expected,
            ),
            [p.target(q.devices_heard(scope), "A")],
            p.count_unit(t("dash.sensors")),
            grid.place(4, 10),
            time_from="24h",
            decimals=0,
            steps=((None, "red"), (float(expected), "green")),
            big=True,
        ),
        last_seen_table(view, grid.place(10, 10)),
        p.table(
            t("dash.batteries"),
            t(
                "dash.last_known_battery_level_weakest_first",
            ),
            [p.target(q.latest(["battery_pct"], scope, ("device",)), "A", table=True)],
            p.PERCENT,
            grid.place(10, 10),
            sort_by=t("dash.battery"),
            descending=False,
            overrides=[
                p.by_name(
                    t("dash.battery"),
                    {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    p.thresholds_property(BATTERY_STEPS),
                )
            ],
            transformations=p.organize({"device": device_col, "battery_pct": t("dash.battery")}),
            decimals=0,
        ),
        p.table(
            t("dash.radio_last_rssi_and_snr"),
            t(
                "dash.weakest_first_a_badly_placed_or",
            ),
            [p.target(q.latest(["rssi", "snr"], scope, ("device",), "uplink"), "A", table=True)],
            p.DBM,
            grid.place(12, 10),
            sort_by="RSSI",
            descending=False,
            overrides=[p.unit_override("SNR", p.DB)],
            transformations=p.organize({"device": device_col, "rssi": "RSSI", "snr": "SNR"}),
            decimals=1,
        ),
        p.table(
            t("dash.missing_frames_fcnt"),
            t(
                "dash.frames_the_sensor_sent_that_were",
            ),
            [p.target(q.frames_missing(scope, ("device",)), "A", table=True)],
            p.count_unit(t("dash.frames")),
            grid.place(12, 10),
            sort_by=t("dash.missing"),
            transformations=p.organize(
                {
                    "device": device_col,
                    "missing": t("dash.missing"),
                }
            ),
            decimals=0,
        ),
        p.timeseries(
            t("dash.frames_received_per_hour"),
            t(
                "dash.per_sensor_kind_here_an_hour",
            ),
            [p.target(q.frames_per_hour(scope, view.zone, ("kind",)), "A", "$tag_kind")],
            p.count_unit(t("dash.frames")),
            grid.place(12, 8),
            SPAN_METER_MS,
            bars=True,
            stacked=True,
            interval="1h",
            decimals=0,
        ),
        p.timeseries(
            t("dash.mean_rssi_per_sensor_kind_dbm"),
            t("dash.signal_at_the_best_gateway"),
            [p.target(q.radio_series("rssi", scope, view.zone, ("kind",)), "A", "$tag_kind")],
            p.DBM,
            grid.place(12, 8),
            SPAN_SLOW_DEVICE_MS,
            interval="1h",
        ),
        p.timeseries(
            t("dash.batteries_over_time"),
            t(
                "dash.a_falling_battery_announces_a_sensor",
            ),
            [
                p.target(
                    q.reading_series("min", "battery_pct", scope, view.zone, ("device",)),
                    "A",
                    "$tag_device",
                )
            ],
            p.PERCENT,
            grid.place(12, 8),
            2 * SPAN_SLOW_DEVICE_MS,
            interval="6h",
            steps=BATTERY_STEPS,
        ),
        p.text(
            t("dash.decoder_errors"),
            t(
                "dash.frames_the_decoders_refuse_do_not",
            ),
            grid.place(12, 8),
            description=t(
                "dash.todo_a_prometheus_panel_once_a",
            ),
        ),
    ]
    return dashboard(
        view,
        (view.id, "fleet"),
        f"{view.commune.name} · {t('dash.fleet_health')}",
        t(
            "dash.last_heard_batteries_radio_lost_frames",
        ),
        panels,
    )
