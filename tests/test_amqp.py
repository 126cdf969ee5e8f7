"""The AMQP source and its partitioned topology, against a private RabbitMQ.

ChirpStack's AMQP integration publishes to ``amq.topic`` with the routing key
``application.{id}.device.{dev_eui}.event.{event}``; these tests publish exactly that, with
publisher confirms, so every message is in a queue when ``publish`` returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika
import pytest
from typer.testing import CliRunner

from lorawatch.app import config as app_config
from lorawatch.app.cli.main import app
from lorawatch.app.service import Service
from lorawatch.gateway_bridge import amqp
from lorawatch.gateway_bridge.amqp import AmqpSource
from lorawatch.gateway_bridge.events import TopicMatcher, UplinkEvent, parse
from lorawatch.gateway_bridge.settings import AmqpConfig
from lorawatch.gateway_bridge.source import Message
from tests import fleet
from tests.conftest import REFERENCE
from tests.servers import RabbitMQ, free_port, wait_until

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "amqp-test-viewer-token"


def routing_key(d: int, event: str = "up") -> str:
    return f"application.{fleet.APP}.device.{fleet.eui(d)}.event.{event}"


def config(broker: RabbitMQ, vhost: str, **extra: object) -> AmqpConfig:
    return AmqpConfig.model_validate({"url": broker.url(vhost), "partitions": 4, **extra})


def publish(
    broker: RabbitMQ, vhost: str, items: list[tuple[str, bytes]], pace_s: float = 0
) -> None:
    connection = pika.BlockingConnection(broker.parameters(vhost))
    channel = connection.channel()
    channel.confirm_delivery()
    for key, body in items:
        channel.basic_publish(
            "amq.topic",
            key,
            body,
            pika.BasicProperties(content_type="application/json"),
            mandatory=True,
        )
        if pace_s:
            time.sleep(pace_s)
    connection.close()


def uplinks(devices: int, per_device: int) -> list[tuple[str, bytes]]:
    return [(routing_key(d), fleet.event(d, n)) for n in range(per_device) for d in range(devices)]


def receive(source: AmqpSource, n: int, timeout: float = 20) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += source.get_batch(n - len(got), 0.2)
    return got


@pytest.fixture
def source_factory() -> Iterator[list[AmqpSource]]:
    sources: list[AmqpSource] = []
    yield sources
    for s in sources:
        s.stop()


def started(sources: list[AmqpSource], cfg: AmqpConfig, prefetch: int = 200) -> AmqpSource:
    source = AmqpSource(cfg, prefetch)
    sources.append(source)
    source.start()
    assert source.wait_connected(20)
    return source


def queue_depths(broker: RabbitMQ, vhost: str, cfg: AmqpConfig) -> list[int]:
    connection = pika.BlockingConnection(broker.parameters(vhost))
    channel = connection.channel()
    depths = [channel.queue_declare(q, passive=True).method.message_count for q in cfg.queues()]
    connection.close()
    return depths


def test_setup_is_idempotent_and_spreads_devices_over_the_partitions(
    rabbitmq: RabbitMQ, amqp_vhost: str
) -> None:
    cfg = config(rabbitmq, amqp_vhost)
    assert amqp.setup(cfg) == [f"lorawatch.events.{i}" for i in range(4)]
    assert amqp.setup(cfg) == cfg.queues()  # again: nothing changes, nothing fails
    publish(rabbitmq, amqp_vhost, uplinks(devices=40, per_device=1))
    wait_until(lambda: sum(queue_depths(rabbitmq, amqp_vhost, cfg)) == 40, 10, "40 queued")
    depths = queue_depths(rabbitmq, amqp_vhost, cfg)
    assert sum(1 for d in depths if d) >= 3, depths  # spread, not all on one partition


def test_setup_explains_a_clash_with_an_existing_queue(rabbitmq: RabbitMQ, amqp_vhost: str) -> None:
    connection = pika.BlockingConnection(rabbitmq.parameters(amqp_vhost))
    connection.channel().queue_declare("lorawatch.events.0", durable=True)  # a classic queue
    connection.close()
    with pytest.raises(Exception, match="exists with other arguments"):
        amqp.setup(config(rabbitmq, amqp_vhost))


def test_source_hands_over_in_order_acks_and_redelivers_what_was_not_acked(
    rabbitmq: RabbitMQ, amqp_vhost: str, source_factory: list[AmqpSource]
) -> None:
    cfg = config(rabbitmq, amqp_vhost)
    amqp.setup(cfg)
    publish(rabbitmq, amqp_vhost, uplinks(devices=5, per_device=30))
    source = started(source_factory, cfg)
    got = receive(source, 150)
    assert len(got) == 150
    assert all(m.topic.startswith(f"application/{fleet.APP}/device/") for m in got)
    for d in range(5):  # per device, in publishing order
        counts = [json.loads(m.payload)["fCnt"] for m in got if fleet.eui(d) in m.topic]
        assert counts == list(range(30))
    source.ack(got[:100])
    source.stop()
    # The 50 not acked come again to the next consumer; the 100 acked do not.
    again = started(source_factory, cfg)
    redelivered = receive(again, 60, timeout=5)
    assert sorted(m.payload for m in redelivered) == sorted(m.payload for m in got[100:])
    again.ack(redelivered)
    assert again.health()["connected"] is True
    assert len(again.health()["active_partitions"]) >= 1  # type: ignore[arg-type]


def test_protobuf_and_json_events_parse_from_their_routing_keys(
    rabbitmq: RabbitMQ, amqp_vhost: str, source_factory: list[AmqpSource]
) -> None:
    cfg = config(rabbitmq, amqp_vhost)
    amqp.setup(cfg)
    pb = (REFERENCE / "v4-event-up.pb").read_bytes()
    js = (REFERENCE / "v4-event-up.json").read_bytes()
    dev_eui = json.loads(js)["deviceInfo"]["devEui"]
    key = f"application.{fleet.APP}.device.{dev_eui}.event.up"
    publish(rabbitmq, amqp_vhost, [(key, pb), (key, js), (routing_key(3, "status"), b"{")])
    got = receive(started(source_factory, cfg), 3)
    matcher = TopicMatcher()
    ups = [m for m in got if m.topic.endswith("/up")]  # one device: one queue, in order
    events = [parse(matcher.match(m.topic), m.payload, "auto", m.received) for m in ups]
    assert [e.format for e in events] == ["v4-protobuf", "v4-json"]
    assert all(isinstance(e, UplinkEvent) and e.dev_eui == dev_eui for e in events)
    assert [matcher.match(m.topic).event for m in got if m not in ups] == ["status"]


def test_acks_of_an_earlier_connection_are_dropped(
    rabbitmq: RabbitMQ, amqp_vhost: str, source_factory: list[AmqpSource]
) -> None:
    cfg = config(rabbitmq, amqp_vhost)
    amqp.setup(cfg)
    publish(rabbitmq, amqp_vhost, uplinks(devices=2, per_device=5))
    source = started(source_factory, cfg)
    got = receive(source, 10)
    stale = [Message(m.topic, m.payload, m.received, m.mid, 1, m.generation - 1) for m in got]
    source.ack(stale)  # tags of another channel: ignored, not sent
    source.stop()
    assert sum(queue_depths(rabbitmq, amqp_vhost, cfg)) == 10


class Proxy:
    """A TCP relay to the broker whose connections the test can cut, as a network fault."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.upstream_bytes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
                if b.getpeername()[1] == self.target:
                    self.upstream_bytes += len(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.server.close()
        self.cut()


def test_a_cut_connection_reconnects_and_what_was_not_acked_comes_again(
    rabbitmq: RabbitMQ, amqp_vhost: str, source_factory: list[AmqpSource]
) -> None:
    cfg = config(rabbitmq, amqp_vhost)
    amqp.setup(cfg)
    proxy = Proxy(rabbitmq.port)
    try:
        via = config(rabbitmq, amqp_vhost, reconnect_min_s=0.05)
        via = via.model_copy(update={"url": via.url.replace(str(rabbitmq.port), str(proxy.port))})
        publish(rabbitmq, amqp_vhost, uplinks(devices=3, per_device=10))
        source = started(source_factory, via)
        first = receive(source, 30)
        relayed = proxy.upstream_bytes
        source.ack(first[:10])
        wait_until(lambda: source.health()["acks_sent"] == 10, 10, "the acks sent")
        wait_until(lambda: proxy.upstream_bytes > relayed, 10, "the acks relayed")
        proxy.cut()
        wait_until(lambda: source.health()["connects"] == 2, 20, "a reconnection")
        assert source.health()["last_error"]  # the reason of the reconnection, reported
        source.ack(first[10:])  # received on the cut connection: dropped, not sent
        again = receive(source, 20)
        assert sorted(m.payload for m in again) == sorted(m.payload for m in first[10:])
        assert source.get_batch(10, 0.5) == []  # the 10 acked before the cut stay acked
        source.ack(again)
        wait_until(lambda: source.health()["acks_sent"] == 30, 10, "the acks sent")
        assert source.health()["connects"] == 2  # a stale ack would have closed the channel
        source.stop()
        assert sum(queue_depths(rabbitmq, amqp_vhost, cfg)) == 0  # nothing requeued
    finally:
        proxy.close()


def test_missing_queues_are_reported_with_the_command_that_declares_them(
    rabbitmq: RabbitMQ, amqp_vhost: str, source_factory: list[AmqpSource]
) -> None:
    source = AmqpSource(config(rabbitmq, amqp_vhost, reconnect_min_s=0.05), 10)
    source_factory.append(source)
    source.start()
    wait_until(lambda: bool(source.health()["last_error"]), 10, "an error")
    assert "NOT_FOUND" in str(source.health()["last_error"])
    assert "lorawatch amqp setup" in str(source.health()["last_error"])
    assert source.health()["connected"] is False


def test_unreachable_broker_is_retried_with_backoff_and_reported(
    source_factory: list[AmqpSource],
) -> None:
    cfg = AmqpConfig.model_validate(
        {"url": f"amqp://127.0.0.1:{free_port()}/%2F", "reconnect_min_s": 0.05}
    )
    source = AmqpSource(cfg, 10)
    source_factory.append(source)
    source.start()
    wait_until(lambda: bool(source.health()["last_error"]), 10, "a connection error")
    health = source.health()
    assert health["connected"] is False and health["connects"] == 0
    assert source.get_batch(10, 0.1) == []


def test_deploy_definitions_are_the_generated_topology_and_load_at_boot(
    rabbitmq: RabbitMQ,
) -> None:
    deployed = json.loads((ROOT / "deploy" / "rabbitmq-definitions.json").read_text())
    assert deployed == amqp.definitions(AmqpConfig.model_validate({}), "lorawatch")
    # The session's broker loaded that file at boot: a ChirpStack event reaches a partition.
    publish(rabbitmq, "lorawatch", [(routing_key(1), fleet.event(1, 0))])
    cfg = AmqpConfig.model_validate({"url": rabbitmq.url("lorawatch")})
    wait_until(lambda: sum(queue_depths(rabbitmq, "lorawatch", cfg)) == 1, 10, "routed")


def test_cli_setup_declares_once_and_prints_the_definitions(
    rabbitmq: RabbitMQ, amqp_vhost: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "inv.toml"\n[amqp]\nurl = "{rabbitmq.url(amqp_vhost)}"\n'
        "partitions = 3\n"
    )
    runner = CliRunner()
    for _ in range(2):  # idempotent
        result = runner.invoke(app, ["amqp", "setup", "-c", str(cfg)])
        assert result.exit_code == 0, result.output
        assert "3 partition queue(s) lorawatch.events.0 ... lorawatch.events.2" in result.output
    printed = runner.invoke(app, ["amqp", "definitions", "-c", str(cfg), "--vhost", "v"])
    assert printed.exit_code == 0
    queues = json.loads(printed.output)["queues"]
    assert [q["name"] for q in queues] == [f"lorawatch.events.{i}" for i in range(3)]
    # A name taken by another kind of exchange: a clear error, exit code 1.
    cfg.write_text(cfg.read_text().replace("partitions = 3", 'hash_exchange = "amq.direct"'))
    clash = runner.invoke(app, ["amqp", "setup", "-c", str(cfg)])
    assert clash.exit_code == 1
    assert "the broker refused the topology" in clash.output
    assert "exists with other arguments" in clash.output


def test_amqp_settings_refuse_credentials_in_the_url() -> None:
    with pytest.raises(ValueError, match="password_file"):
        AmqpConfig.model_validate({"url": "amqp://user:secret@broker:5672/%2F"})


# -- two workers, one killed ------------------------------------------------------------------


def worker(
    workdir: Path, broker: RabbitMQ, vhost: str, name: str, http_port: int = 0
) -> subprocess.Popen[bytes]:
    """A ``lorawatch run`` process with the AMQP source; both workers share one SQLite file."""
    http_port = http_port or free_port()
    cfg = workdir / f"{name}.toml"
    cfg.write_text(
        f"""[inventory]
path = "{workdir / "inventory.toml"}"
[bridge]
source = "amqp"
[amqp]
url = "{broker.url(vhost)}"
partitions = 4
reconnect_min_s = 0.2
[store]
outputs = ["sqlite"]
batch_size = 50
batch_interval_ms = 50
[store.sqlite]
path = "{workdir / "lorawatch.sqlite"}"
[http]
listen = "127.0.0.1:{http_port}"
[[http.tokens]]
name = "test"
sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"
[alerts]
enabled = false
[log]
level = "info"
format = "json"
"""
    )
    with (workdir / f"{name}.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "lorawatch", "run", "-c", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def logged(workdir: Path, name: str, text: str) -> bool:
    path = workdir / f"{name}.log"
    return path.exists() and text in path.read_text(errors="replace")


def stored(db: Path) -> list[tuple[str, int, int]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(
                "SELECT dev_eui, f_cnt, received_us FROM uplinks ORDER BY received_us"
            ).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []


def test_a_killed_worker_s_partitions_move_to_the_other_one_losing_nothing(
    rabbitmq: RabbitMQ, amqp_vhost: str, tmp_path: Path
) -> None:
    devices, per_device = 20, 60
    fleet.inventory(tmp_path / "inventory.toml", devices)
    amqp.setup(config(rabbitmq, amqp_vhost))
    db = tmp_path / "lorawatch.sqlite"
    first = worker(tmp_path, rabbitmq, amqp_vhost, "first")
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: logged(tmp_path, "first", "amqp consuming"), 60, "first worker")
        # The first consumer of each queue is its active one: the second stands by on all.
        second_http = free_port()
        second = worker(tmp_path, rabbitmq, amqp_vhost, "second", second_http)
        wait_until(lambda: logged(tmp_path, "second", "amqp consuming"), 60, "second worker")
        bad = (routing_key(0), b"{not json")  # a dead letter, as on the MQTT path
        items = [bad, *uplinks(devices, per_device)]
        publisher = threading.Thread(
            target=publish, args=(rabbitmq, amqp_vhost, items, 0.004), daemon=True
        )
        publisher.start()
        wait_until(lambda: len(stored(db)) >= len(items) // 3, 60, "a third stored")
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(10)
        at_kill = len(stored(db))
        wait_until(lambda: len(stored(db)) > at_kill, 30, "the second worker storing")
        takeover_s = time.monotonic() - killed_at
        publisher.join(60)
        wait_until(lambda: len(stored(db)) == len(items) - 1, 60, "every uplink stored")
        rows = stored(db)
        with sqlite3.connect(db) as conn:
            letters = conn.execute("SELECT reason, topic FROM dead_letters").fetchall()
        assert logged(tmp_path, "second", "amqp partition active")
        health = httpx.get(
            f"http://127.0.0.1:{second_http}/healthz",
            headers={"Authorization": f"Bearer {TOKEN}"},  # the details are for a viewer
            timeout=10,
        ).json()
        assert health["source"]["kind"] == "amqp" and health["source"]["connected"] is True
        assert health["source"]["active_partitions"], health["source"]
        assert logged(tmp_path, "first", "amqp partition active")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    keys = {(dev, n) for dev, n, _ in rows}
    expected = {(fleet.eui(d), n) for d in range(devices) for n in range(per_device)}
    assert keys == expected  # lost 0
    assert [(reason, topic.split("/")[-1]) for reason, topic in letters] == [
        ("malformed_json", "up")
    ]
    assert len(rows) == len(keys)  # stored once each
    for d in range(devices):  # per device, in order of receipt = in fCnt order
        counts = [n for dev, n, _ in rows if dev == fleet.eui(d)]
        assert counts == sorted(counts)
    print(f"\ntakeover after SIGKILL: {takeover_s:.2f} s ({at_kill} of {len(items)} stored before)")


def test_the_amqp_source_is_selected_and_its_prefetch_sized_from_the_batch() -> None:
    def source(**amqp_section: object) -> object:
        settings = app_config.load(
            None,
            {
                "inventory": {"path": "inv.toml"},
                "bridge": {"source": "amqp"},
                "store": {"batch_size": 700},
                "amqp": amqp_section,
            },
        )
        return Service._source(settings, 4 * 700)

    sized = source()
    assert isinstance(sized, AmqpSource) and sized.prefetch == 1400  # two batches
    assert source(prefetch=5000).prefetch == 5000  # type: ignore[attr-defined]
