"""The alert tables of the overview and the building dashboard, read from the ``alert``
measurement the built-in influxdb notifier writes."""

from __future__ import annotations

from grafanalib import core as g

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import CommuneView
from lorawatch.dashboards.i18n import Translator
from lorawatch.dashboards.influxql import Scope


def severities(t: Translator) -> list[tuple[str, str, str]]:
    return [
        ("critical", t("dash.critical"), "red"),
        ("warning", t("dash.warning"), "orange"),
        ("info", t("dash.info"), "blue"),
    ]


def _states(t: Translator) -> list[tuple[str, str, str]]:
    return [
        ("open", t("dash.open"), "red"),
        ("acknowledged", t("dash.acknowledged"), "orange"),
        ("resolved", t("dash.resolved"), "green"),
    ]


def _alerts_how(t: Translator) -> str:
    return t(
        "dash.written_to_influxdb_by_the_service",
    )


def open_alerts_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    """The commune's unresolved alerts, newest first; a bin or a lamp has a sensor, no
    building, so both columns are shown."""
    t = view.t
    building, device = t("dash.building"), t("dash.sensor")
    severity, since = t("dash.severity"), t("dash.since")
    return p.table(
        t("dash.open_alerts"),
        t(
            "dash.unresolved_alerts_open_or_acknowledged_with",
        )
        + " "
        + _alerts_how(t),
        [p.target(q.open_alerts(Scope(commune=view.id)), "A", table=True)],
        p.COUNT,
        pos,
        sort_by=since,
        overrides=[
            *view.building_names().cell_override(building),
            *view.device_names(view.devices).cell_override(device),
            p.by_name(severity, *p.value_texts(severities(t))),
            p.unit_override(since, p.FROM_NOW),
        ],
        transformations=p.organize(
            {
                "building": building,
                "device": device,
                "title": t("dash.alert"),
                "severity": severity,
                "opened": since,
            },
            hide=("alert_id", "rule"),
        ),
        time_from="1y",
    )


def building_alerts_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    t = view.t
    device, severity = t("dash.sensor"), t("dash.severity")
    state, opened = t("dash.state"), t("dash.opened")
    return p.table(
        t("dash.the_building_s_alerts"),
        t(
            "dash.the_building_s_alerts_with_an",
        )
        + " "
        + _alerts_how(t),
        [p.target(q.alert_history(Scope(building="$building")), "A", table=True)],
        p.COUNT,
        pos,
        sort_by=opened,
        overrides=[
            *view.device_names([d for d in view.devices if d.building]).cell_override(device),
            p.by_name(severity, *p.value_texts(severities(t))),
            p.by_name(state, *p.value_texts(_states(t))),
            p.unit_override(opened, p.DATE_TIME),
        ],
        transformations=p.organize(
            {
                "device": device,
                "title": t("dash.alert"),
                "severity": severity,
                "state": state,
                "opened": opened,
            },
            hide=("alert_id", "building", "rule"),
        ),
    )
