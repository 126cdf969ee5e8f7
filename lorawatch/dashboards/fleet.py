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
    device_col = t("Capteur", "Sensor")
    expected = len(view.devices)
    panels: list[Any] = [
        p.stat(
            t(f"Capteurs entendus (sur {expected})", f"Sensors heard (of {expected})"),
            t(
                f"Capteurs dont au moins une trame est arrivée dans les dernières 24 h ; "
                f"l'inventaire en compte {expected}. En rouge, il en manque.",
                f"Sensors with at least one frame in the last 24 hours; the inventory "
                f"lists {expected}. Red: some are missing.",
            ),
            [p.target(q.devices_heard(scope), "A")],
            p.count_unit(t("capteurs", "sensors")),
            grid.place(4, 10),
            time_from="24h",
            decimals=0,
            steps=((None, "red"), (float(expected), "green")),
            big=True,
        ),
        last_seen_table(view, grid.place(10, 10)),
        p.table(
            t("Piles (%)", "Batteries (%)"),
            t(
                "Dernier niveau de pile connu, les plus faibles d'abord.",
                "Last known battery level, weakest first.",
            ),
            [p.target(q.latest(["battery_pct"], scope, ("device",)), "A", table=True)],
            p.PERCENT,
            grid.place(10, 10),
            sort_by=t("Pile", "Battery"),
            descending=False,
            overrides=[
                p.by_name(
                    t("Pile", "Battery"),
                    {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    p.thresholds_property(BATTERY_STEPS),
                )
            ],
            transformations=p.organize({"device": device_col, "battery_pct": t("Pile", "Battery")}),
            decimals=0,
        ),
        p.table(
            t("Radio : dernier RSSI et SNR", "Radio: last RSSI and SNR"),
            t(
                "Le plus faible d'abord : un capteur mal placé ou masqué perd des trames.",
                "Weakest first: a badly placed or shadowed sensor loses frames.",
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
            t("Trames manquantes (fCnt)", "Missing frames (fCnt)"),
            t(
                "Trames envoyées par le capteur mais jamais enregistrées sur la période : "
                "perdues en radio, ou rejetées au décodage (voir les lettres mortes).",
                "Frames the sensor sent that were never stored over the period: lost on air, "
                "or rejected by the decoder (see the dead letters).",
            ),
            [p.target(q.frames_missing(scope, ("device",)), "A", table=True)],
            p.count_unit(t("trames", "frames")),
            grid.place(12, 10),
            sort_by=t("Manquantes", "Missing"),
            transformations=p.organize(
                {
                    "device": device_col,
                    "missing": t("Manquantes", "Missing"),
                }
            ),
            decimals=0,
        ),
        p.timeseries(
            t("Trames reçues par heure", "Frames received per hour"),
            t(
                "Par type de capteur. Ici une heure sans trame vaut vraiment 0.",
                "Per sensor kind. Here an hour without frames truly is 0.",
            ),
            [p.target(q.frames_per_hour(scope, view.zone, ("kind",)), "A", "$tag_kind")],
            p.count_unit(t("trames", "frames")),
            grid.place(12, 8),
            SPAN_METER_MS,
            bars=True,
            stacked=True,
            interval="1h",
            decimals=0,
        ),
        p.timeseries(
            t("RSSI moyen par type de capteur (dBm)", "Mean RSSI per sensor kind (dBm)"),
            t("Signal reçu par la meilleure passerelle.", "Signal at the best gateway."),
            [p.target(q.radio_series("rssi", scope, view.zone, ("kind",)), "A", "$tag_kind")],
            p.DBM,
            grid.place(12, 8),
            SPAN_SLOW_DEVICE_MS,
            interval="1h",
        ),
        p.timeseries(
            t("Piles dans le temps (%)", "Batteries over time (%)"),
            t(
                "Une pile qui chute annonce un capteur qui va se taire.",
                "A falling battery announces a sensor about to fall silent.",
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
            t("Erreurs de décodage", "Decoder errors"),
            t(
                "Les trames que les décodeurs refusent ne vont pas dans InfluxDB : elles sont "
                "gardées intactes dans la base SQLite (*lettres mortes*). Pour les voir : "
                "`lorawatch deadletters list` ; leur nombre par raison est exporté sur "
                '`/metrics` (`lorawatch_dead_letters_total{reason="decode_error"}`). Le '
                "tableau *Trames manquantes* les compte avec les pertes radio.",
                "Frames the decoders refuse do not go to InfluxDB: they are kept unaltered in "
                "the SQLite store (*dead letters*). To see them: `lorawatch deadletters list`; "
                "their count per reason is exported on `/metrics` "
                '(`lorawatch_dead_letters_total{reason="decode_error"}`). The *Missing frames* '
                "table counts them together with radio losses.",
            ),
            grid.place(12, 8),
            description=t(
                "TODO : un panneau Prometheus quand une source Prometheus sera provisionnée.",
                "TODO: a Prometheus panel once a Prometheus data source is provisioned.",
            ),
        ),
    ]
    return dashboard(
        view,
        (view.id, "fleet"),
        f"{view.commune.name} · {t('Santé du parc', 'Fleet health')}",
        t(
            "Derniers signes de vie, piles, radio, trames perdues, pour les exploitants.",
            "Last heard, batteries, radio, lost frames, for the operators.",
        ),
        panels,
    )
