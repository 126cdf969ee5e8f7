"""End to end on real servers: a ChirpStack v4 ``up`` event through Mosquitto to SQLite and InfluxDB.

The reference event carries a real Milesight EM300-DI frame (pulse counter 1000); the device is
found through its ChirpStack profile, scaled with its ``pulses_per_kwh`` tag, stored with the
event's own time in both stores, and read back as kWh per building.
"""

from __future__ import annotations

import base64
import copy
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from lorawatch.app import config
from lorawatch.app.service import Service
from tests.conftest import DATA, REFERENCE
from tests.servers import InfluxDB, Mosquitto, wait_until

pytestmark = pytest.mark.servers

T0 = datetime(2026, 1, 14, 9, 26, 53, 497315, tzinfo=UTC)
TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/24e124136d123456/event/up"


def event_with(pulses: int, at: datetime, f_cnt: int) -> bytes:
    event = copy.deepcopy(json.loads((REFERENCE / "v4-event-up.json").read_text()))
    frame = bytes.fromhex("01755c0367340104686505c8") + struct.pack("<I", pulses)
    event.update(
        data=base64.b64encode(frame).decode(),
        time=at.isoformat(),
        fCnt=f_cnt,
        deduplicationId=f"5b7f0a4e-6c1d-4d8a-9d5e-{f_cnt:012d}",
    )
    return json.dumps(event).encode()


def publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="skeleton-publisher")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def settings_for(tmp_path: Path, broker: Mosquitto, influx: InfluxDB, db: str) -> config.Settings:
    return config.load(
        None,
        {
            "inventory": {"path": str(DATA / "inventory.toml")},
            "mqtt": {"url": broker.url, "client_id": f"skeleton-{db}"},
            "store": {
                "outputs": ["sqlite", "influxdb"],
                "batch_interval_ms": 50,
                "sqlite": {"path": str(tmp_path / "lw.sqlite")},
                "influxdb": {
                    "url": influx.url,
                    "database": db,
                    "spool_dir": str(tmp_path / "spool"),
                },
            },
            "http": {"listen": "127.0.0.1:0"},
        },
    )


def test_reference_uplink_reaches_both_stores_as_kwh_per_building(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str
) -> None:
    service = Service(settings_for(tmp_path, mosquitto, influxdb, influx_db))
    service.start()
    try:
        assert service.source.wait_subscribed(10)  # type: ignore[attr-defined]
        # The reference event as published by ChirpStack, then the same meter 15 minutes later.
        publish(
            mosquitto,
            [
                (TOPIC, (REFERENCE / "v4-event-up.json").read_bytes()),
                (TOPIC, event_with(1500, T0 + timedelta(minutes=15), 1843)),
            ],
        )

        def stored() -> bool:
            with service.sqlite.transaction() as db:
                return db.execute("SELECT COUNT(*) FROM consumption").fetchone()[0] == 1

        wait_until(stored, 15, "the consumption delta in SQLite")
        with service.sqlite.transaction() as db:
            rows = db.execute(
                "SELECT time_us, value, building, commune FROM readings WHERE name='energy_kwh' ORDER BY time_us"
            ).fetchall()
        assert [r[1] for r in rows] == [1.0, 1.5]
        assert rows[0][0] == 1768382813497315  # the event's own time, to the microsecond
        assert {r[2] for r in rows} == {"mairie"} and {r[3] for r in rows} == {
            "saint-sulpice-la-foret"
        }

        day = (T0 - timedelta(hours=10), T0 + timedelta(hours=10))
        for store in service.stores:
            buckets = store.consumption("energy_delta_kwh", *day, "day", "Europe/Paris")
            assert [(b.group, round(b.value, 6)) for b in buckets] == [("mairie", 0.5)], store.name
            assert buckets[0].start == datetime(2026, 1, 14, tzinfo=buckets[0].start.tzinfo)

        series = influxdb.query('SELECT "energy_kwh" FROM "reading"', influx_db)["results"][0][
            "series"
        ]
        assert series[0]["values"][0] == [1768382813497315000, 1.0]
    finally:
        service.stop()
