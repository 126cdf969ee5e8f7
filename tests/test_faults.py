"""Fault tests on real servers: nothing a sensor sent is lost or counted twice.

The bridge runs as its own process (``lorawatch run``) against a private Mosquitto with
persistence; it is killed with SIGKILL, the broker is restarted, InfluxDB is stopped, messages
are delivered twice, and garbage is mixed with good uplinks. Afterwards every uplink is stored
exactly once: distinct counts and consumption totals are exact.
"""

from __future__ import annotations

import base64
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests import fleet
from tests.servers import InfluxDB, Mosquitto, wait_until

pytestmark = [pytest.mark.servers, pytest.mark.fault]


class BridgeProcess:
    """``lorawatch run`` as a separate process, so it can be SIGKILLed like a crashed service."""

    def __init__(
        self,
        tmp: Path,
        broker: Mosquitto,
        devices: int,
        client_id: str,
        influx: tuple[InfluxDB, str] | None = None,
    ) -> None:
        self.db = tmp / "lw.sqlite"
        outputs = '["sqlite", "influxdb"]' if influx else '["sqlite"]'
        influx_cfg = (
            f'[store.influxdb]\nurl = "{influx[0].url}"\ndatabase = "{influx[1]}"\nspool_dir = "{tmp / "spool"}"\n'
            "timeout_s = 2.0\n"
            if influx
            else ""
        )
        self.config = tmp / "lorawatch.toml"
        self.config.write_text(
            f'[inventory]\npath = "{fleet.inventory(tmp / "inventory.toml", devices)}"\n'
            f'[mqtt]\nurl = "{broker.url}"\nclient_id = "{client_id}"\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n'
            f"[store]\noutputs = {outputs}\nbatch_size = 500\nbatch_interval_ms = 100\n"
            f'[store.sqlite]\npath = "{self.db}"\n{influx_cfg}'
            '[http]\nlisten = "127.0.0.1:0"\n'
        )
        self.log = tmp / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log_mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lorawatch",
                    "--log-format",
                    "json",
                    "run",
                    "--config",
                    str(self.config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: b'"mqtt subscribed"' in self.log.read_bytes()[self._log_mark :],
            30,
            "the bridge's subscription",
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = self.proc.wait(10)
        assert time.monotonic() - started < 5, "SIGTERM must stop lorawatch within 5 s"
        return code

    def count(self, sql: str) -> int:
        with sqlite3.connect(self.db, timeout=30) as db:
            try:
                return int(db.execute(sql).fetchone()[0] or 0)
            except sqlite3.OperationalError:
                return 0

    def uplinks(self) -> int:
        return self.count("SELECT COUNT(*) FROM uplinks")


def assert_exact(bridge: BridgeProcess, devices: int, per_device: int) -> None:
    assert bridge.uplinks() == devices * per_device
    assert (
        bridge.count("SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'")
        == devices * per_device
    )
    # Each device consumed (per_device - 1) x 100 pulses at 1000 imp/kWh.
    total_wh = bridge.count("SELECT ROUND(SUM(value) * 1000) FROM consumption")
    assert total_wh == devices * (per_device - 1) * 100
    assert bridge.count("SELECT COUNT(*) FROM consumption") == devices * (per_device - 1)
    assert bridge.count("SELECT COUNT(*) FROM dead_letters") == 0


def test_bridge_killed_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    devices, per_device = 20, 1000
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-kill")
    bridge.start()
    publisher = fleet.Publisher(mosquitto.port, "fault-kill-publisher")
    try:
        sender = publisher.publish_in_background(list(fleet.messages(devices, per_device)))
        wait_until(lambda: bridge.uplinks() >= 4000, 120, "4,000 stored uplinks")
        bridge.kill()
        stored_at_kill = bridge.uplinks()
        assert stored_at_kill < devices * per_device, "killed mid-stream"
        bridge.start()
        sender.join(300)
        wait_until(lambda: bridge.uplinks() >= devices * per_device, 300, "every uplink stored")
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device)
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()


def test_broker_restarted_mid_stream(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    broker = Mosquitto(tmp_path_factory.mktemp("restarted-broker"))
    broker.start()
    devices, per_device = 20, 1000
    bridge = BridgeProcess(tmp_path, broker, devices, "fault-broker")
    publisher = None
    try:
        bridge.start()
        publisher = fleet.Publisher(broker.port, "fault-broker-publisher")
        sender = publisher.publish_in_background(list(fleet.messages(devices, per_device)))
        wait_until(lambda: bridge.uplinks() >= 4000, 120, "4,000 stored uplinks")
        broker.restart()
        sender.join(300)
        assert not sender.is_alive()
        wait_until(lambda: bridge.uplinks() >= devices * per_device, 300, "every uplink stored")
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device)
    finally:
        if publisher:
            publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()
        broker.stop()


def test_influxdb_down_two_minutes_everything_lands_once(
    tmp_path: Path, mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> None:
    influx = InfluxDB(tmp_path_factory.mktemp("influx-outage"))
    influx.start()
    influx.create_database("outage")
    devices, per_device = 10, 1000
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-influx", (influx, "outage"))
    publisher = fleet.Publisher(mosquitto.port, "fault-influx-publisher")
    try:
        bridge.start()
        items = list(fleet.messages(devices, per_device))
        publisher.wait(publisher.publish(iter(items[:3000])))
        wait_until(lambda: bridge.uplinks() >= 3000, 60, "3,000 stored uplinks")
        influx.stop()
        outage_started = time.monotonic()
        publisher.wait(publisher.publish(iter(items[3000:])))
        # While InfluxDB is down, everything acknowledged is in SQLite and in the spool.
        wait_until(lambda: bridge.uplinks() >= len(items), 120, "every uplink acknowledged")
        assert list((tmp_path / "spool").glob("*.lp.gz")), "batches wait in the spool"
        time.sleep(max(0.0, 120 - (time.monotonic() - outage_started)))  # the outage itself
        influx.start()

        def points() -> int:
            r = influx.query('SELECT COUNT("pulse_count") FROM "reading"', "outage")["results"][0]
            return int(r["series"][0]["values"][0][1]) if "series" in r else 0

        wait_until(lambda: points() == len(items), 120, "every reading in InfluxDB")
        wait_until(lambda: not list((tmp_path / "spool").glob("*.lp.gz")), 30, "an empty spool")
        r = influx.query('SELECT SUM("energy_delta_kwh") FROM "consumption"', "outage")["results"][
            0
        ]
        assert round(r["series"][0]["values"][0][1] * 1000) == devices * (per_device - 1) * 100
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device)
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()
        influx.stop()


def test_the_same_events_delivered_twice_are_stored_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    devices, per_device = 10, 100
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-twice")
    publisher = fleet.Publisher(mosquitto.port, "fault-twice-publisher")
    try:
        bridge.start()
        items = list(fleet.messages(devices, per_device))
        publisher.wait(publisher.publish(iter(items)))
        wait_until(lambda: bridge.uplinks() >= len(items), 60, "the first delivery")
        # The same 1,000 events again, then one new uplink per device as a marker: MQTT keeps
        # one publisher's order, so once the markers are stored the repeats were processed.
        publisher.wait(publisher.publish(iter(items)))
        publisher.wait(
            publisher.publish(
                iter((fleet.topic(d), fleet.event(d, per_device)) for d in range(devices))
            )
        )
        wait_until(lambda: bridge.uplinks() >= len(items) + devices, 60, "the markers")
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device + 1)
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()


def fuzzed(rng: random.Random, good: bytes) -> bytes:
    """One hostile message: truncated, wrong types, huge, binary garbage or an unknown device."""
    kind = rng.randrange(6)
    if kind == 0:
        return good[: rng.randrange(1, len(good) - 1)]
    if kind == 1:
        event = json.loads(good)
        event["deduplicationId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        key, value = rng.choice(
            [
                ("fCnt", "many"),
                ("data", 12345),
                ("deviceInfo", [1, 2]),
                ("fPort", -5),
                ("data", "***"),
                ("object", "text"),
                ("fCnt", 2**40),
                ("time", None),
            ]
        )
        event[key] = value
        if key == "time":  # valid shape, but the frame is cut: a decoder error
            event["data"] = base64.b64encode(b"\x05\xc8\x01").decode()
        return json.dumps(event).encode()
    if kind == 2:
        return b'{"data": "' + b"A" * 100_000 + b'"}'
    if kind == 3:
        return b"\x00" + rng.randbytes(rng.randrange(1, 300))
    if kind == 4:
        event = json.loads(good)
        event["deduplicationId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event["deviceInfo"] = {
            "devEui": event["deviceInfo"]["devEui"],
            "deviceProfileName": "Nobody",
        }
        event["data"] = base64.b64encode(rng.randbytes(5)).decode()
        event["deviceInfo"]["devEui"] = "ffff" + event["deviceInfo"]["devEui"][4:]
        return json.dumps(event).encode()
    return b""  # an empty message parses as an empty protobuf event: nothing to decode


def test_ten_thousand_malformed_among_ten_thousand_valid(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    devices, per_device = 10, 1000
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-fuzz")
    publisher = fleet.Publisher(mosquitto.port, "fault-fuzz-publisher")
    rng = random.Random(2026)
    try:
        bridge.start()
        items: list[tuple[str, bytes]] = []
        bad_letters: set[tuple[str, bytes]] = set()
        for topic, payload in fleet.messages(devices, per_device):
            bad = fuzzed(rng, payload)
            bad_topic = topic.replace("24e12413", "ffff2413") if b'"ffff2413' in bad else topic
            items += [(topic, payload), (bad_topic, bad)]
            bad_letters.add((bad_topic, bad))  # the same bytes on the same topic: one letter
        bad_payloads = sorted(payload for _, payload in bad_letters)
        publisher.wait(publisher.publish(iter(items)))
        wait_until(
            lambda: bridge.count("SELECT COUNT(*) FROM dead_letters") >= len(bad_payloads),
            120,
            "the dead letters",
        )
        wait_until(
            lambda: bridge.count("SELECT COUNT(*) FROM consumption") >= devices * (per_device - 1),
            60,
            "the valid uplinks",
        )
        assert bridge.proc is not None and bridge.proc.poll() is None, "no crash"
        assert bridge.terminate() == 0
        assert bridge.count("SELECT COUNT(*) FROM dead_letters") == len(bad_payloads)
        assert (
            bridge.count("SELECT COUNT(*) FROM dead_letters WHERE reason = '' OR detail = ''") == 0
        )
        with sqlite3.connect(bridge.db) as db:
            kept = sorted(p for (p,) in db.execute("SELECT payload FROM dead_letters"))
            reasons = {r for (r,) in db.execute("SELECT DISTINCT reason FROM dead_letters")}
        assert kept == bad_payloads, "each bad message is kept byte for byte, once"
        assert reasons == {
            "malformed_json",
            "wrong_shape",
            "invalid_base64",
            "oversized",
            "malformed_protobuf",
            "empty_payload",
            "unknown_device",
            "decode_error",
        }
        valid = bridge.count("SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'")
        assert valid == devices * per_device
        assert (
            bridge.count("SELECT ROUND(SUM(value) * 1000) FROM consumption")
            == devices * (per_device - 1) * 100
        )
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()
