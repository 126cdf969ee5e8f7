"""Three workers on RabbitMQ partitions with their state in PostgreSQL, readings in InfluxDB:
one killed with SIGKILL mid-stream, one stopped with SIGTERM, then the broker restarted. Every
uplink is counted once, every bad message dead-lettered once, every meter's consumption is
exactly its last index minus its first, and the takeover time is measured.

Real engines only, each private to the test session (tests/servers.py): rabbitmq-server on
its own vhost, PostgreSQL on its own database, InfluxDB on its own database; the workers are
``lorawatch run`` processes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import psycopg
import pytest
from typer.testing import CliRunner

from lorawatch.app.cli.main import app
from lorawatch.gateway_bridge import amqp
from lorawatch.gateway_bridge.settings import AmqpConfig
from tests import fleet
from tests.servers import InfluxDB, RabbitMQ, wait_until

pytestmark = pytest.mark.servers

runner = CliRunner()
ENERGY, WATER = 16, 8
"""Pulse counters on electricity meters (1000 imp/kWh) and on water meters (1 L/pulse)."""
PER_DEVICE = 36
PARTITIONS = 6
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def eui(d: int) -> str:
    return fleet.eui(d)


def inventory(path: Path) -> None:
    lines = [
        '[[communes]]\nid = "c"\nname = "Commune"\nlatitude = 48.2\nlongitude = -1.6\n',
        '[[buildings]]\nid = "b"\ncommune = "c"\nname = "Building"\n',
    ]
    for d in range(ENERGY + WATER):
        water = d >= ENERGY
        kind = "water" if water else "electricity"
        params = (
            '{ meter_kind = "water", litres_per_pulse = 1 }'
            if water
            else "{ pulses_per_kwh = 1000 }"
        )
        lines.append(
            f'[[devices]]\ndev_eui = "{eui(d)}"\nname = "meter-{d}"\n'
            f'decoder = "milesight-em300-di"\nbuilding = "b"\nkind = "{kind}"\nparams = {params}\n'
        )
    path.write_text("\n".join(lines))


def key(d: int) -> str:
    return f"application.{fleet.APP}.device.{eui(d)}.event.up"


def uplink(d: int, n: int, copy: int = 0) -> bytes:
    """Uplink n of device d: pulse counter 100 n at T0 + 15 n min. A ``copy`` is what
    ChirpStack forwards for a retransmission: same frame, new deduplicationId, later time."""
    frame = bytes.fromhex("01755c05c8") + struct.pack("<I", 100 * n)
    return json.dumps(
        {
            "deduplicationId": f"{d:08x}-0000-4000-{copy:04x}-{n:012x}",
            "time": (T0 + timedelta(minutes=15 * n, seconds=20 * copy)).isoformat(),
            "deviceInfo": {"devEui": eui(d), "deviceName": f"meter-{d}"},
            "fCnt": n,
            "fPort": 85,
            "data": base64.b64encode(frame).decode(),
        }
    ).encode()


def stream() -> tuple[list[tuple[str, bytes]], set[bytes]]:
    """Every device's uplinks in order, round-robin, with retransmissions (every 7th uplink
    again, right after), bad messages (each sent twice, as a redelivery would)."""
    items: list[tuple[str, bytes]] = []
    bad: set[bytes] = set()
    for n in range(PER_DEVICE):
        for d in range(ENERGY + WATER):
            items.append((key(d), uplink(d, n)))
            if (n * 31 + d) % 7 == 0:
                items.append((key(d), uplink(d, n, copy=1)))
        if n % 3 == 1:
            body = b'{"deduplicationId": "broken-%d", "fCnt": ' % n
            bad.add(body)
            items += [(key(n % (ENERGY + WATER)), body)] * 2
    return items, bad


class Publisher(threading.Thread):
    """Publishes with confirms, at a steady pace; survives a broker restart by reconnecting
    and sending again what was not confirmed (at least once: the broker may hold copies)."""

    def __init__(self, broker: RabbitMQ, vhost: str, items: list[tuple[str, bytes]], pace_s: float):
        super().__init__(daemon=True, name="publisher")
        self.broker, self.vhost, self.items, self.pace_s = broker, vhost, items, pace_s
        self.sent = 0
        self.reconnects = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 240
        connection = channel = None
        while self.sent < len(self.items) and time.monotonic() < deadline:
            try:
                if channel is None:
                    connection = pika.BlockingConnection(self.broker.parameters(self.vhost))
                    channel = connection.channel()
                    channel.confirm_delivery()
                routing, body = self.items[self.sent]
                channel.basic_publish("amq.topic", routing, body, mandatory=True)
                self.sent += 1
                time.sleep(self.pace_s)  # the stream's pace, not a synchronisation
            except (pika.exceptions.AMQPError, OSError):
                self._close(connection)
                connection = channel = None
                self.reconnects += 1
                time.sleep(0.2)  # the broker is restarting: try again shortly
        self._close(connection)
        if self.sent < len(self.items):
            self.error = TimeoutError(f"published {self.sent} of {len(self.items)}")

    @staticmethod
    def _close(connection: pika.BlockingConnection | None) -> None:
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()


ROOT = Path(__file__).resolve().parent.parent


def worker(
    tmp: Path, name: str, broker: RabbitMQ, vhost: str, dsn: str, influx: InfluxDB, db: str
) -> subprocess.Popen[bytes]:
    """``lorawatch run`` on deploy/lorawatch-worker.toml as documented, the site's addresses
    and secrets given as the documented environment variables (docs/scaling.md)."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LORAWATCH__INVENTORY__PATH": str(tmp / "inventory.toml"),
        "LORAWATCH__AMQP__URL": broker.url(vhost),
        "LORAWATCH__AMQP__USERNAME": "guest",
        "LORAWATCH__AMQP__PASSWORD": "guest",
        "LORAWATCH__AMQP__PARTITIONS": str(PARTITIONS),
        "LORAWATCH__AMQP__RECONNECT_MIN_S": "0.2",
        "LORAWATCH__AMQP__RECONNECT_MAX_S": "1.0",
        "LORAWATCH__STORE__BATCH_SIZE": "50",
        "LORAWATCH__STORE__BATCH_INTERVAL_MS": "50",
        "LORAWATCH__STORE__SQLITE__PATH": str(tmp / name / "lorawatch.sqlite"),
        "LORAWATCH__STORE__INFLUXDB__URL": influx.url,
        "LORAWATCH__STORE__INFLUXDB__DATABASE": db,
        "LORAWATCH__STORE__INFLUXDB__SPOOL_DIR": str(tmp / name / "spool"),
        "LORAWATCH__STATE__DSN": dsn,
        "LORAWATCH__STATE__WORKER": name,
        "LORAWATCH__STATE__HEARTBEAT_S": "0.5",
        # Any free port, chosen by the worker as it binds: a port picked here first may be
        # taken by then (another worker's outgoing connection took one once).
        "LORAWATCH__HTTP__LISTEN": "127.0.0.1:0",
        "LORAWATCH__ALERTS__ENABLED": "false",
        "LORAWATCH__LOG__FORMAT": "json",
    }
    (tmp / f"{name}.env").write_text(
        "".join(f"{k}={v}\n" for k, v in env.items() if k.startswith("LORAWATCH__"))
    )
    with (tmp / f"{name}.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lorawatch",
                "run",
                "-c",
                str(ROOT / "deploy/lorawatch-worker.toml"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            env=env,
        )


def one(dsn: str, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql.encode(), args).fetchall()


def stored(dsn: str) -> int:
    try:
        return int(str(one(dsn, "SELECT count(*) FROM uplinks")[0][0]))
    except psycopg.errors.UndefinedTable:  # no worker has migrated yet
        return 0


def owners(dsn: str) -> Counter[str]:
    return Counter(str(owner) for (owner,) in one(dsn, "SELECT owner FROM partitions"))


def now_us() -> int:
    return int(time.time() * 1_000_000)


def series(influx: InfluxDB, db: str, q: str) -> dict[str, list[list[object]]]:
    """Rows of each ``dev_eui`` series of an InfluxQL query grouped by dev_eui."""
    out: dict[str, list[list[object]]] = {}
    for result in influx.query(q, db)["results"]:
        for s in result.get("series", []):
            out[s["tags"]["dev_eui"]] = s["values"]
    return out


def assert_exact(pg_dsn: str, influxdb: InfluxDB, influx_db: str, bad: set[bytes]) -> None:
    """Lost 0, stored twice 0, each bad message dead-lettered once, every meter's consumption
    equal to its last index minus its first, each device's readings in order."""
    devices = ENERGY + WATER
    rows = one(pg_dsn, "SELECT dev_eui, f_cnt FROM uplinks")
    assert Counter(rows).most_common(1)[0][1] == 1
    assert {(str(dv), int(str(n))) for dv, n in rows} == {
        (eui(d), n) for d in range(devices) for n in range(PER_DEVICE)
    }, "lost 0 (PostgreSQL)"
    letters = one(pg_dsn, "SELECT payload, reason FROM dead_letters")
    assert sorted(bytes(p) for p, _ in letters) == sorted(bad), "each bad message once"
    assert {r for _, r in letters} == {"malformed_json"}
    raw = series(influxdb, influx_db, 'SELECT count("f_cnt") FROM "uplink" GROUP BY "dev_eui"')
    assert {dv: v[0][1] for dv, v in raw.items()} == {eui(d): PER_DEVICE for d in range(devices)}, (
        "lost 0, stored twice 0 (InfluxDB)"
    )
    deltas = series(
        influxdb,
        influx_db,
        'SELECT "energy_delta_kwh", "volume_delta_m3" FROM "consumption" GROUP BY "dev_eui"',
    )
    for d in range(devices):
        values = deltas[eui(d)]
        column = 2 if d >= ENERGY else 1
        amounts = [float(str(v[column])) for v in values if v[column] is not None]
        times = [int(str(v[0])) for v in values]
        assert len(amounts) == PER_DEVICE - 1, (eui(d), len(amounts))
        assert times == sorted(times) and min(amounts) >= 0
        first, last = 0, 100 * (PER_DEVICE - 1)  # pulses: 0.1 kWh or 0.1 m³ per 100
        assert sum(amounts) == pytest.approx((last - first) / 1000), eui(d)
    quality = one(pg_dsn, "SELECT dev_eui, code, detail FROM device_events WHERE kind = 'quality'")
    assert quality == [], "per-device order kept: no reading came late or went backwards"


def test_three_workers_killed_stopped_and_a_broker_restart_lose_and_double_nothing(
    rabbitmq: RabbitMQ,
    amqp_vhost: str,
    pg_dsn: str,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    inventory(tmp_path / "inventory.toml")
    amqp.setup(
        AmqpConfig.model_validate({"url": rabbitmq.url(amqp_vhost), "partitions": PARTITIONS})
    )
    items, bad = stream()
    names = ["w1", "w2", "w3"]
    procs = {
        n: worker(tmp_path, n, rabbitmq, amqp_vhost, pg_dsn, influxdb, influx_db) for n in names
    }
    publisher = Publisher(rabbitmq, amqp_vhost, items, pace_s=0.012)
    report: list[str] = []
    try:
        wait_until(
            lambda: all((tmp_path / f"{n}.log").read_text().count("amqp consuming") for n in names),
            60,
            "three workers consuming",
        )
        publisher.start()
        wait_until(lambda: stored(pg_dsn) >= 200 and len(owners(pg_dsn)) >= 1, 60, "first batches")

        # 1. SIGKILL the worker that owns the most partitions, mid-stream.
        victim, held = owners(pg_dsn).most_common(1)[0]
        # Taken before the owners are read: a partition the victim is handing over right
        # then (RabbitMQ moves single active consumers around) is taken after this instant.
        killed_us = now_us()
        lost_partitions = [
            p
            for (p,) in one(pg_dsn, "SELECT partition FROM partitions WHERE owner = %s", (victim,))
        ]
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(10)

        def taken_over() -> list[tuple[object, ...]]:
            """Partitions a live worker committed a batch in since the kill (from the victim,
            or from a worker that took one from it and passed it on before a batch)."""
            return one(
                pg_dsn,
                "SELECT partition, owner, first_batch_us FROM partition_handovers"
                " WHERE owner <> %s AND at_us >= %s AND first_batch_us IS NOT NULL",
                (victim, killed_us),
            )

        wait_until(
            lambda: {p for p, _, _ in taken_over()} >= set(lost_partitions),
            60,
            f"{victim}'s partitions {lost_partitions} committed by another worker",
        )
        takeover = max(int(str(t)) for p, _, t in taken_over() if p in lost_partitions) - killed_us
        report.append(
            f"SIGKILL {victim} ({held} partitions): next batch of each committed by "
            f"{sorted({str(o) for _, o, _ in taken_over()})} after {takeover / 1e6:.2f} s (max)"
        )

        # `lorawatch status`: the killed worker falls silent, the partitions show their owner.
        status_args = ["status", "-c", str(ROOT / "deploy/lorawatch-worker.toml")]
        status_env = dict(
            line.split("=", 1) for line in (tmp_path / "w1.env").read_text().splitlines()
        )

        def status() -> dict[str, Any]:
            result = runner.invoke(app, [*status_args, "--json"], env=status_env)
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)  # type: ignore[no-any-return]

        wait_until(
            lambda: {w["worker"]: w["state"] for w in status()["workers"]}[victim] == "silent",
            30,
            f"{victim} shown silent",
        )
        shown = status()
        assert {w["worker"] for w in shown["workers"]} == set(names)
        by_owner = {w["worker"]: set(w["partitions"]) for w in shown["workers"]}
        for p in shown["partitions"]:
            assert p["partition"] in by_owner[p["owner"]]
        assert not by_owner[victim]
        assert [q["queue"] for q in shown["queues"]] == [
            f"lorawatch.events.{i}" for i in range(PARTITIONS)
        ]
        # Single active consumer: the broker counts the active one, not those standing by;
        # a handover in flight (the rebalancer drains a queue for another worker) counts two
        # for a moment, so the count is asked until it settles.
        wait_until(
            lambda: all(q["consumers"] == 1 for q in status()["queues"]),
            30,
            "one active consumer counted on each partition queue",
        )
        table = runner.invoke(app, [*status_args, "--lang", "en"], env=status_env)
        assert "silent" in table.stdout and "lorawatch.events.5" in table.stdout, table.output

        # 2. SIGTERM another worker that owns partitions now: a clean stop hands them over.
        at_term = stored(pg_dsn)
        wait_until(lambda: stored(pg_dsn) > at_term + 100, 60, "progress after the kill")
        alive = [n for n in names if n != victim]
        counts = owners(pg_dsn)
        stopping = max(alive, key=lambda n: counts.get(n, 0))
        procs[stopping].send_signal(signal.SIGTERM)
        assert procs[stopping].wait(30) == 0, "a clean stop exits 0"
        survivor = next(n for n in alive if n != stopping)
        assert one(
            pg_dsn, "SELECT stopped_us IS NOT NULL FROM workers WHERE worker = %s", (stopping,)
        ) == [(True,)]
        wait_until(
            lambda: set(owners(pg_dsn)) == {survivor}, 60, f"{survivor} owning every partition"
        )

        # 3. Restart the broker mid-stream; the survivor reconnects, the publisher resends.
        at_restart = stored(pg_dsn)
        wait_until(lambda: stored(pg_dsn) > at_restart + 50, 60, "progress after the stop")
        restarted = time.monotonic()
        rabbitmq.restart()
        report.append(f"RabbitMQ restarted in {time.monotonic() - restarted:.1f} s")

        publisher.join(180)
        assert publisher.error is None, publisher.error
        unique = (ENERGY + WATER) * PER_DEVICE
        wait_until(lambda: stored(pg_dsn) >= unique, 90, "every uplink stored")
        wait_until(
            lambda: int(str(one(pg_dsn, "SELECT count(*) FROM dead_letters")[0][0])) >= len(bad),
            30,
            "every bad message dead-lettered",
        )
        # Quiet: the queues drained, nothing left to ack (the broker holds nothing more).
        connection = pika.BlockingConnection(rabbitmq.parameters(amqp_vhost))
        channel = connection.channel()
        wait_until(
            lambda: all(
                channel.queue_declare(f"lorawatch.events.{i}", passive=True).method.message_count
                == 0
                for i in range(PARTITIONS)
            ),
            60,
            "queues drained",
        )
        connection.close()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    # The survivor's last batch is acked once its stop finished: count now.
    assert_exact(pg_dsn, influxdb, influx_db, bad)
    devices = ENERGY + WATER
    handovers = one(pg_dsn, "SELECT count(*) FROM partition_handovers WHERE previous <> ''")
    elapsed = time.monotonic() - began
    print(
        "\n" + "\n".join(report) + f"\n{len(items)} messages ({devices * PER_DEVICE} uplinks, "
        f"{len(bad)} bad, copies and retransmissions), {handovers[0][0]} handovers, "
        f"publisher reconnects {publisher.reconnects}, test {elapsed:.0f} s"
    )


def test_workers_started_one_after_another_share_the_partitions_in_order(
    rabbitmq: RabbitMQ,
    amqp_vhost: str,
    pg_dsn: str,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
) -> None:
    """RabbitMQ keeps a queue on its first consumer: the first worker gets all six; the two
    started later get their share as it drains them one by one, with nothing lost, nothing
    twice and every device's order kept across each hand-over."""
    inventory(tmp_path / "inventory.toml")
    amqp.setup(
        AmqpConfig.model_validate({"url": rabbitmq.url(amqp_vhost), "partitions": PARTITIONS})
    )
    items, bad = stream()
    names = ["w1", "w2", "w3"]
    procs = {"w1": worker(tmp_path, "w1", rabbitmq, amqp_vhost, pg_dsn, influxdb, influx_db)}
    publisher = Publisher(rabbitmq, amqp_vhost, items, pace_s=0.02)
    try:
        wait_until(lambda: "amqp consuming" in (tmp_path / "w1.log").read_text(), 60, "w1")
        publisher.start()
        wait_until(lambda: owners(pg_dsn) == Counter({"w1": PARTITIONS}), 60, "w1 owning all")
        started = time.monotonic()
        for n in names[1:]:
            procs[n] = worker(tmp_path, n, rabbitmq, amqp_vhost, pg_dsn, influxdb, influx_db)
        wait_until(
            lambda: owners(pg_dsn) == Counter({n: PARTITIONS // 3 for n in names}),
            90,
            f"two partitions each (now {owners(pg_dsn)})",
        )
        shared_s = time.monotonic() - started
        publisher.join(120)
        assert publisher.error is None, publisher.error
        unique = (ENERGY + WATER) * PER_DEVICE
        wait_until(lambda: stored(pg_dsn) >= unique, 60, "every uplink stored")
        wait_until(
            lambda: int(str(one(pg_dsn, "SELECT count(*) FROM dead_letters")[0][0])) >= len(bad),
            30,
            "every bad message dead-lettered",
        )
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    assert_exact(pg_dsn, influxdb, influx_db, bad)
    drains = sum((tmp_path / f"{n}.log").read_text().count("partition handed over") for n in names)
    print(f"\nshared 2/2/2 {shared_s:.1f} s after two more workers started ({drains} hand-overs)")
