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
        ("critical", t("Critique", "Critical"), "red"),
        ("warning", t("Avertissement", "Warning"), "orange"),
        ("info", t("Information", "Info"), "blue"),
    ]


def _states(t: Translator) -> list[tuple[str, str, str]]:
    return [
        ("open", t("Ouverte", "Open"), "red"),
        ("acknowledged", t("Prise en charge", "Acknowledged"), "orange"),
        ("resolved", t("Résolue", "Resolved"), "green"),
    ]


_ALERTS_HOW = (
    "Écrites dans InfluxDB par le service à chaque événement (ouverture, aggravation, prise en "
    "charge, résolution). Détail, preuves et prise en charge : `lorawatch alerts show`, ou la "
    "page *Alertes* de l'interface web.",
    "Written to InfluxDB by the service at each event (opened, escalated, acknowledged, "
    "resolved). Details, evidence and acknowledgement: `lorawatch alerts show`, or the web "
    "UI's *Alerts* page.",
)


def open_alerts_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    """The commune's unresolved alerts, newest first; a bin or a lamp has a sensor, no
    building, so both columns are shown."""
    t = view.t
    building, device = t("Bâtiment", "Building"), t("Capteur", "Sensor")
    severity, since = t("Gravité", "Severity"), t("Depuis", "Since")
    return p.table(
        t("Alertes ouvertes", "Open alerts"),
        t(
            "Alertes non résolues (ouvertes ou prises en charge) ayant un événement dans les "
            "12 derniers mois, les plus récentes d'abord. " + _ALERTS_HOW[0],
            "Unresolved alerts (open or acknowledged) with an event in the last 12 months, "
            "newest first. " + _ALERTS_HOW[1],
        ),
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
                "title": t("Alerte", "Alert"),
                "severity": severity,
                "opened": since,
            },
            hide=("alert_id", "rule"),
        ),
        time_from="1y",
    )


def building_alerts_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    t = view.t
    device, severity = t("Capteur", "Sensor"), t("Gravité", "Severity")
    state, opened = t("État", "State"), t("Ouverte le", "Opened")
    return p.table(
        t("Alertes du bâtiment", "The building's alerts"),
        t(
            "Alertes du bâtiment ayant un événement sur la période choisie, ouvertes ou "
            "résolues, dans leur dernier état, les plus récentes d'abord. " + _ALERTS_HOW[0],
            "The building's alerts with an event in the chosen period, open or resolved, in "
            "their last state, newest first. " + _ALERTS_HOW[1],
        ),
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
                "title": t("Alerte", "Alert"),
                "severity": severity,
                "state": state,
                "opened": opened,
            },
            hide=("alert_id", "building", "rule"),
        ),
    )
