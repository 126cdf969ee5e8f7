"""The whole promise of issue 14, under SIGKILL, in each store configuration.

``lorawatch run`` (a real process, private Mosquitto, real InfluxDB) ingests a fleet of pulse
meters with status events and bad messages, and is killed with SIGKILL mid-stream. While it
is down, the broker queues retransmitted copies of stored uplinks (new deduplicationId, later
time), re-published status events, the same bad messages again, and uplinks held back from
the stream that are older than what each meter had stored (late readings inside the meter's
window). After the restart, counted in the stores by identity: nothing lost, nothing stored
twice, each bad message dead-lettered once, one battery reading per status report, and each
meter's consumption equal to its last reading minus its first, with one delta per interval.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests import fleet
from tests.servers import InfluxDB, Mosquitto, wait_until
from tests.test_faults import BridgeProcess, copy

pytestmark = [pytest.mark.servers, pytest.mark.fault]

DEVICES, PER_DEVICE = 6, 240
HELD = (60, 61, 90)
"""Uplinks held back until after the kill: by then each meter stored later ones."""
TAIL = 200
"""The stream from this fCnt on is published after the kill: the kill is mid-stream (the
broker holds the rest for the persistent session) however fast the bridge drains what came
before it."""
STATUSES = 6
"""Status reports per device, one every 20 uplinks, each with its own battery level."""


def status(d: int, k: int, later: timedelta = timedelta()) -> tuple[str, bytes]:
    prefix = "ffffffff" if later else f"{d:08x}"
    event = {
        "deduplicationId": f"{prefix}-5555-4000-8000-{k:012x}",
        "time": (fleet.T0 + timedelta(minutes=15 * 20 * k, seconds=30) + later).isoformat(),
        "deviceInfo": {
            "devEui": fleet.eui(d),
            "deviceName": f"meter-{d}",
            "deviceProfileName": fleet.PROFILE,
        },
        "margin": 7,
        "batteryLevel": 90 - k / 2,
    }
    return fleet.topic(d).replace("/event/up", "/event/status"), json.dumps(event).encode()


def bad(d: int, n: int) -> tuple[str, bytes]:
    return fleet.topic(d), b'{"broken": ' + str(n).encode()


@pytest.mark.parametrize(
    "outputs",
    ['["sqlite"]', '["influxdb"]', '["sqlite", "influxdb"]'],
    ids=["sqlite", "influxdb", "both"],
)
def test_sigkill_in_each_store_configuration(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, outputs: str
) -> None:
    influx = None
    if "influxdb" in outputs:
        name = f"faults_{uuid.uuid4().hex[:8]}"
        influxdb.create_database(name)
        influx = (influxdb, name)
    client = f"fault-cfg-{uuid.uuid4().hex[:6]}"
    bridge = BridgeProcess(tmp_path, mosquitto, DEVICES, client, influx, outputs)
    publisher = fleet.Publisher(mosquitto.port, client + "-publisher")
    items: list[tuple[str, bytes]] = []
    tail: list[tuple[str, bytes]] = []
    letters: list[tuple[str, bytes]] = []
    for topic, payload in fleet.messages(DEVICES, PER_DEVICE):
        d, n = int(topic.split("/")[3][-6:], 16), json.loads(payload)["fCnt"]
        stream = items if n < TAIL else tail
        if n not in HELD:
            stream.append((topic, payload))
        if n % 20 == 0 and n // 20 < STATUSES:
            stream.append(status(d, n // 20))
        if n % 15 == 7:
            letters.append(bad(d, n))
            stream.append(letters[-1])
    try:
        bridge.start()
        sender = publisher.publish_in_background(items)
        wait_until(lambda: bridge.uplinks() >= DEVICES * 100, 120, "100 uplinks per device")
        bridge.kill()
        assert bridge.uplinks() < DEVICES * (PER_DEVICE - len(HELD)), "killed mid-stream"
        queued = [copy(d, n, timedelta(minutes=20)) for n in range(50) for d in range(DEVICES)]
        queued += [status(d, k, timedelta(minutes=10)) for k in range(3) for d in range(DEVICES)]
        queued += letters[:20]
        queued += [(fleet.topic(d), fleet.event(d, n)) for n in HELD for d in range(DEVICES)]
        publisher.wait(publisher.publish(iter(queued + tail)))
        bridge.start()
        sender.join(300)
        assert not sender.is_alive()
        wait_until(lambda: bridge.uplinks() >= DEVICES * PER_DEVICE, 300, "every uplink")
        wait_until(
            lambda: bridge.count("SELECT COUNT(*) FROM dead_letters") >= len(letters),
            60,
            "every dead letter",
        )

        def influx_one(q: str) -> float:
            assert influx is not None
            r = influx[0].query(q, influx[1])["results"][0]
            return float(r["series"][0]["values"][0][1]) if "series" in r else 0.0

        readings = DEVICES * PER_DEVICE
        if influx is not None:
            wait_until(
                lambda: influx_one('SELECT COUNT("pulse_count") FROM "reading"') >= readings,
                120,
                "every reading in InfluxDB",
            )
        assert bridge.terminate() == 0

        assert bridge.twice() == 0
        assert bridge.uplinks() == DEVICES * PER_DEVICE
        assert bridge.count("SELECT COUNT(DISTINCT uid) FROM uplinks") == DEVICES * PER_DEVICE
        assert bridge.count("SELECT COUNT(*) FROM dead_letters") == len(letters)
        assert bridge.count("SELECT COUNT(DISTINCT key) FROM dead_letters") == len(letters)
        statuses = DEVICES * STATUSES
        assert bridge.count("SELECT COUNT(*) FROM device_events WHERE kind = 'status'") == statuses
        deltas = DEVICES * (PER_DEVICE - 1)
        kwh_x1000 = DEVICES * (PER_DEVICE - 1) * 100  # last minus first, per meter
        if "sqlite" in outputs:
            assert (
                bridge.count("SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'") == readings
            )
            assert (
                bridge.count("SELECT COUNT(*) FROM readings WHERE name = 'battery_pct'")
                == readings + statuses
            ), "a battery reading per uplink and one per status report"
            assert bridge.count("SELECT COUNT(*) FROM consumption") == deltas
            assert bridge.count("SELECT ROUND(SUM(value) * 1000) FROM consumption") == kwh_x1000
        else:
            assert bridge.count("SELECT COUNT(*) FROM readings") == 0
        if influx is not None:
            assert influx_one('SELECT COUNT("pulse_count") FROM "reading"') == readings
            assert influx_one('SELECT COUNT("battery_pct") FROM "reading"') == readings + statuses
            assert influx_one('SELECT COUNT("energy_delta_kwh") FROM "consumption"') == deltas
            total = influx_one('SELECT SUM("energy_delta_kwh") FROM "consumption"')
            assert round(total * 1000) == kwh_x1000
        assert bridge.count("SELECT COUNT(*) FROM device_events WHERE code = 'too_late'") == 0
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()
