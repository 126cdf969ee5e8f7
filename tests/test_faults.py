"""Fault tests on real servers: nothing a sensor sent is lost or counted twice.

The bridge runs as its own process (``lorawatch run``) against a private Mosquitto with
persistence; it is killed with SIGKILL, the broker is restarted, InfluxDB is stopped, messages
are delivered twice, and garbage is mixed with good uplinks. Afterwards every uplink is stored
exactly once: distinct counts and consumption totals are exact.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
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
        outputs: str = "",
    ) -> None:
        self.db = tmp / "lw.sqlite"
        outputs = outputs or ('["sqlite", "influxdb"]' if influx else '["sqlite"]')
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

    def receiver_pid(self) -> int:
        """The MQTT receiver child process (``mqtt.receiver = "process"``)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        (pid,) = [
            int(c) for c in children if b"receiver_child" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        return pid

    def twice(self) -> int:
        """Identities stored more than once, in every table that holds one."""
        return (
            self.count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM uplinks"
                " GROUP BY dev_eui, f_cnt, f_port, payload HAVING COUNT(*) > 1)"
            )
            + self.count("SELECT COUNT(*) - COUNT(DISTINCT uid) FROM uplinks")
            + self.count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM dead_letters GROUP BY topic, payload"
                " HAVING COUNT(*) > 1)"
            )
        )


def copy(d: int, n: int, later: timedelta) -> tuple[str, bytes]:
    """A retransmission of device d's uplink n: new deduplicationId, later time."""
    event = json.loads(fleet.event(d, n))
    event["deduplicationId"] = "ffffffff" + event["deduplicationId"][8:]
    event["time"] = (datetime.fromisoformat(event["time"]) + later).isoformat()
    return fleet.topic(d), json.dumps(event).encode()


def assert_exact(bridge: BridgeProcess, devices: int, per_device: int, letters: int = 0) -> None:
    """Every frame stored once, by identity; ``letters`` bad messages, each kept once (frames
    that were dead-lettered after parsing keep their raw uplink too)."""
    assert bridge.twice() == 0
    if not letters:
        assert bridge.uplinks() == devices * per_device
    assert (
        bridge.count("SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'")
        == devices * per_device
    )
    # Each device consumed (per_device - 1) x 100 pulses at 1000 imp/kWh.
    total_wh = bridge.count("SELECT ROUND(SUM(value) * 1000) FROM consumption")
    assert total_wh == devices * (per_device - 1) * 100
    assert bridge.count("SELECT COUNT(*) FROM consumption") == devices * (per_device - 1)
    assert bridge.count("SELECT COUNT(*) FROM dead_letters") == letters


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


def test_sigkill_with_retransmitted_copies_queued(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Killed mid-stream; while it is down, copies of what it stored (new ids, later times)
    queue up with the rest: after the restart each frame is stored once."""
    devices, per_device = 10, 300
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-copies")
    publisher = fleet.Publisher(mosquitto.port, "fault-copies-publisher")
    try:
        bridge.start()
        items = list(fleet.messages(devices, per_device))
        half = len(items) // 2
        publisher.wait(publisher.publish(iter(items[:half])))
        wait_until(lambda: bridge.uplinks() >= half // 2, 60, "half of the first part")
        bridge.kill()
        copies = [
            copy(d, n, timedelta(minutes=2)) for n in range(per_device // 2) for d in range(devices)
        ]
        publisher.wait(publisher.publish(iter(copies + items[half:])))
        bridge.start()
        wait_until(lambda: bridge.uplinks() >= len(items), 120, "every uplink stored")
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device)
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()


def test_sigkill_between_commit_and_ack_with_bad_messages(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The receiver is frozen, so the batches stored meanwhile are never acknowledged; then
    the service dies. The broker delivers them again: the good ones are not stored twice and
    the bad ones are dead-lettered once."""
    devices, per_device = 10, 300
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-unacked")
    publisher = fleet.Publisher(mosquitto.port, "fault-unacked-publisher")
    rng = random.Random(14)
    try:
        bridge.start()
        items: list[tuple[str, bytes]] = []
        letters: set[tuple[str, bytes]] = set()
        for i, (topic, payload) in enumerate(fleet.messages(devices, per_device)):
            items.append((topic, payload))
            if i % 5 == 0:
                bad = fuzzed(rng, payload)
                bad_topic = topic.replace("24e12413", "ffff2413") if b'"ffff2413' in bad else topic
                items.append((bad_topic, bad))
                letters.add((bad_topic, bad))
        sender = publisher.publish_in_background(items)
        wait_until(lambda: bridge.uplinks() >= 800, 60, "800 stored uplinks")
        receiver = bridge.receiver_pid()
        os.kill(receiver, signal.SIGSTOP)
        stable = [-1, 0.0]

        def settled() -> bool:
            # What the service received before the freeze is stored, never acknowledged.
            n, now = (
                bridge.uplinks() + bridge.count("SELECT COUNT(*) FROM dead_letters"),
                time.monotonic(),
            )
            if n != stable[0]:
                stable[:] = [n, now]
            return now - stable[1] > 1.0

        wait_until(settled, 60, "the batches in hand stored")
        stored_unacked = bridge.uplinks()
        bridge.kill()
        os.kill(receiver, signal.SIGKILL)
        assert 800 <= stored_unacked < devices * per_device
        bridge.start()
        sender.join(120)
        wait_until(
            lambda: (
                bridge.count("SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'")
                >= devices * per_device
            ),
            120,
            "every uplink stored",
        )
        wait_until(
            lambda: bridge.count("SELECT COUNT(*) FROM dead_letters") >= len(letters),
            60,
            "every dead letter",
        )
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device, letters=len(letters))
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()


def test_clean_restart_then_retransmissions(tmp_path: Path, mosquitto: Mosquitto) -> None:
    devices, per_device = 10, 200
    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-sigterm")
    publisher = fleet.Publisher(mosquitto.port, "fault-sigterm-publisher")
    try:
        bridge.start()
        items = list(fleet.messages(devices, per_device))
        publisher.wait(publisher.publish(iter(items)))
        wait_until(lambda: bridge.uplinks() >= len(items), 60, "the first delivery")
        assert bridge.terminate() == 0
        bridge.start()
        copies = [copy(d, n, timedelta(hours=1)) for n in range(per_device) for d in range(devices)]
        markers = [(fleet.topic(d), fleet.event(d, per_device)) for d in range(devices)]
        publisher.wait(publisher.publish(iter(copies + markers)))
        wait_until(lambda: bridge.uplinks() >= len(items) + devices, 60, "the markers")
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device + 1)
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()


def test_influxdb_only_restart_mid_meter(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str
) -> None:
    """InfluxDB is the only output: meters continue from the state stored with each batch."""
    devices, per_device = 10, 300
    bridge = BridgeProcess(
        tmp_path, mosquitto, devices, "fault-influx-only", (influxdb, influx_db), '["influxdb"]'
    )
    publisher = fleet.Publisher(mosquitto.port, "fault-influx-only-publisher")
    try:
        bridge.start()
        items = list(fleet.messages(devices, per_device))
        sender = publisher.publish_in_background(items)
        wait_until(lambda: bridge.uplinks() >= 1000, 60, "1,000 uplinks")
        bridge.kill()
        bridge.start()
        sender.join(120)
        wait_until(lambda: bridge.uplinks() >= len(items), 120, "every uplink")
        assert bridge.terminate() == 0

        def one(q: str) -> float:
            r = influxdb.query(q, influx_db)["results"][0]
            return float(r["series"][0]["values"][0][1]) if "series" in r else 0.0

        assert one('SELECT COUNT("pulse_count") FROM "reading"') == len(items)
        assert one('SELECT COUNT("energy_delta_kwh") FROM "consumption"') == devices * (
            per_device - 1
        )
        assert round(one('SELECT SUM("energy_delta_kwh") FROM "consumption"') * 1000) == (
            devices * (per_device - 1) * 100
        )
        assert bridge.twice() == 0 and bridge.uplinks() == len(items)
        assert bridge.count("SELECT COUNT(*) FROM readings") == 0
        assert bridge.count("SELECT COUNT(*) FROM meter_state") == devices
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()


def test_broker_killed_with_minus_nine_redelivers_what_it_saved(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Mosquitto with the shipped autosave settings is SIGKILLed while lorawatch drains its
    queue: it comes back with the queue as last saved, so messages lorawatch stored after
    that save arrive again, and are stored once."""
    shipped = {
        line.split()[0]: line.split()[1]
        for line in (Path(__file__).parent.parent / "deploy" / "mosquitto.conf")
        .read_text()
        .splitlines()
        if line.startswith("autosave")
    }
    broker = Mosquitto(tmp_path_factory.mktemp("killed-broker"), shipped)
    broker.start()
    devices, per_device = 10, 300
    bridge = BridgeProcess(tmp_path, broker, devices, "fault-broker-kill")
    publisher = fleet.Publisher(broker.port, "fault-broker-kill-publisher")
    try:
        bridge.start()
        bridge.kill()  # its session stays: the broker queues for it
        items = list(fleet.messages(devices, per_device))
        publisher.wait(publisher.publish(iter(items)))
        published = time.time()
        saved = broker.workdir / "data" / "mosquitto.db"
        wait_until(
            lambda: saved.exists() and saved.stat().st_mtime > published + 0.01,
            30,
            "the broker's save after the last message",
        )
        bridge.start()
        wait_until(lambda: bridge.uplinks() >= 500, 60, "500 stored uplinks")
        broker.kill()
        broker.start()
        wait_until(lambda: bridge.uplinks() >= len(items), 120, "every uplink stored")
        assert bridge.terminate() == 0
        assert_exact(bridge, devices, per_device)
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()
        broker.stop()


def test_a_far_future_uplink_among_normal_ones(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """One device's uplink dated ten years ahead (a gateway with a wrong clock) among normal
    ones, then copies of everything: none is stored twice, the wrong date is read at arrival
    (one clock_ahead event) and that device's meter goes on counting, last minus first."""
    devices, per_device = 6, 200
    skewed, bad_n = devices - 1, per_device // 2
    ahead = timedelta(days=3650)

    def dated_ahead(
        topic: str, payload: bytes, later: timedelta = timedelta()
    ) -> tuple[str, bytes]:
        event = json.loads(payload)
        event["time"] = (datetime.now(UTC) + ahead + later).isoformat()
        return topic, json.dumps(event).encode()

    bridge = BridgeProcess(tmp_path, mosquitto, devices, "fault-future")
    publisher = fleet.Publisher(mosquitto.port, "fault-future-publisher")
    try:
        bridge.start()
        items = [
            dated_ahead(topic, payload)
            if topic == fleet.topic(skewed) and payload == fleet.event(skewed, bad_n)
            else (topic, payload)
            for topic, payload in fleet.messages(devices, per_device)
        ]
        publisher.wait(publisher.publish(iter(items)))
        wait_until(lambda: bridge.uplinks() >= len(items), 60, "every uplink")
        copies = [
            dated_ahead(*copy(d, n, timedelta()), timedelta(minutes=5))
            if (d, n) == (skewed, bad_n)
            else copy(d, n, timedelta(minutes=5))
            for n in range(per_device)
            for d in range(devices)
        ]
        markers = [(fleet.topic(d), fleet.event(d, per_device)) for d in range(devices)]
        publisher.wait(publisher.publish(iter(copies + markers)))
        wait_until(lambda: bridge.uplinks() >= len(items) + devices, 60, "the markers")
        assert bridge.terminate() == 0
        assert bridge.twice() == 0
        assert bridge.uplinks() == devices * (per_device + 1)
        assert bridge.count("SELECT COUNT(*) FROM dead_letters") == 0
        assert bridge.count("SELECT COUNT(*) FROM device_events WHERE code = 'clock_ahead'") == 1
        assert (
            bridge.count(
                "SELECT COUNT(*) FROM uplinks WHERE time_us > "
                f"{int((datetime.now(UTC) + timedelta(days=1)).timestamp() * 1e6)}"
            )
            == 0
        ), "no uplink is stored in the future"
        total = bridge.count("SELECT ROUND(SUM(value) * 1000) FROM consumption")
        assert total == devices * per_device * 100, "every meter: last reading minus first"
    finally:
        publisher.close()
        if bridge.proc and bridge.proc.poll() is None:
            bridge.kill()
