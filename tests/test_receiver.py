"""The MQTT client in a child process (``mqtt.receiver = "process"``), against a real broker.

What arrives is handed over in order; an ack travels back and the broker forgets the message;
what was not acked comes again after a reconnection; a child that dies is replaced, and acks
of messages it received are dropped (their packet ids belong to its connection), so the
broker redelivers them to the new child.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import types
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from lorawatch.core.memory import ARENA_VARIABLE, ARENAS
from lorawatch.gateway_bridge.receiver import ProcessSource
from lorawatch.gateway_bridge.settings import MqttConfig
from lorawatch.gateway_bridge.source import Message
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.servers


def publish(broker: Mosquitto, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for info in [client.publish(topic, p, qos=1) for p in payloads]:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def receive(source: ProcessSource, n: int, timeout: float = 15) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += source.get_batch(n - len(got), 0.2)
    return got


def config(broker: Mosquitto, client_id: str) -> MqttConfig:
    return MqttConfig.model_validate(
        {
            "url": f"mqtt://127.0.0.1:{broker.port}",
            "client_id": client_id,
            "topics": [f"{client_id}/#"],
        }
    )


def test_messages_in_order_and_acks_back(mosquitto: Mosquitto) -> None:
    source = ProcessSource(config(mosquitto, "receiver-order"))
    source.start()
    try:
        assert source.wait_subscribed(15)
        publish(mosquitto, "receiver-order/up", [str(i).encode() for i in range(300)])
        got = receive(source, 300)
        assert [m.payload for m in got] == [str(i).encode() for i in range(300)]
        assert all(m.topic == "receiver-order/up" and m.qos == 1 for m in got)
        source.ack(got)
        health = source.health()
        assert health["connected"] is True and health["receiver"] == "process"
        assert source._process is not None
        environ = Path(f"/proc/{source._process.pid}/environ").read_bytes().split(b"\0")
        assert f"{ARENA_VARIABLE}={ARENAS}".encode() in environ, "its allocator's heaps capped"
    finally:
        source.stop()
    # Acked: a new session for the same client id gets nothing back.
    again = ProcessSource(config(mosquitto, "receiver-order"))
    again.start()
    try:
        assert again.wait_subscribed(15)
        assert again.get_batch(10, 1.0) == []
    finally:
        again.stop()


def test_a_dead_child_is_replaced_and_its_unacked_messages_come_again(
    mosquitto: Mosquitto,
) -> None:
    source = ProcessSource(config(mosquitto, "receiver-restart"))
    source.start()
    try:
        assert source.wait_subscribed(15)
        publish(mosquitto, "receiver-restart/up", [b"a", b"b", b"c"])
        first = receive(source, 3)
        assert [m.payload for m in first] == [b"a", b"b", b"c"]
        assert source._process is not None
        os.kill(source._process.pid, signal.SIGKILL)
        wait_until(lambda: source.restarts == 1 and source.wait_subscribed(0), 20, "a new child")
        source.ack(first)  # from the dead child's connection: dropped, not misapplied
        again = receive(source, 3)
        assert sorted(m.payload for m in again) == [b"a", b"b", b"c"]
        source.ack(again)
    finally:
        source.stop()
    assert source._process is not None and source._process.poll() is not None


def publish_v5(broker: Mosquitto, items: list[tuple[str, bytes, int]]) -> None:
    """Publish (topic, payload, qos) as an MQTT 5 client, each with properties attached."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"pub5-{time.monotonic_ns()}",
        protocol=mqtt.MQTTv5,
    )
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = []
    for i, (topic, payload, qos) in enumerate(items):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("site", "mairie"), ("n", str(i))]
        props.ContentType = "application/json"
        props.MessageExpiryInterval = 3600
        infos.append(client.publish(topic, payload, qos=qos, properties=props))
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


@pytest.mark.parametrize("qos", [1, 2])
def test_what_paho_is_spared_arrives_whole_and_is_acked(mosquitto: Mosquitto, qos: int) -> None:
    """The receiver's own reading of PUBLISH packets (QoS 1: block reads, properties skipped;
    QoS 2: paho's) and its acks in one write: messages with MQTT 5 properties, payloads of
    every size up to several socket reads, a topic in UTF-8, all arrive as sent and in order,
    and once acked the broker forgets them."""
    cid = f"receiver-fast-{qos}"
    cfg = config(mosquitto, cid).model_copy(update={"qos": qos})
    sizes = [0, 1, 127, 128, 16_383, 16_384, 70_000, 300_000, 5]
    items = [(f"{cid}/été/{i}", bytes([i % 251]) * n, qos) for i, n in enumerate(sizes)]
    items += [(f"{cid}/up", f"{i}".encode(), qos) for i in range(2_000)]
    source = ProcessSource(cfg)
    source.start()
    try:
        assert source.wait_subscribed(15)
        publish_v5(mosquitto, items)
        got: list[Message] = []
        deadline = time.monotonic() + 30
        while len(got) < len(items) and time.monotonic() < deadline:
            batch = source.get_batch(500, 0.2)  # acked as it comes: the window is 2,000
            source.ack(batch)
            got += batch
        assert [(m.topic, m.payload) for m in got] == [(t, p) for t, p, _ in items]
        assert {m.qos for m in got} == {qos}
    finally:
        source.stop()
    again = ProcessSource(cfg)
    again.start()
    try:
        assert again.wait_subscribed(15)
        assert again.get_batch(10, 1.0) == []
    finally:
        again.stop()


def test_the_child_does_not_import_the_parents_main(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line imports every part of the service; the child needs none of it."""
    marker = tmp_path / "imported"
    script = tmp_path / "cli.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    source = ProcessSource(config(mosquitto, "receiver-main"))
    source.start()
    try:
        assert source.wait_subscribed(15)
        assert main.__file__ == str(script) and main.__spec__ is None, "put back"
        publish(mosquitto, "receiver-main/up", [b"1"])
        assert [m.payload for m in receive(source, 1)] == [b"1"]
    finally:
        source.stop()
    assert not marker.exists(), "the child ran the parent's main module"


def test_a_backlog_comes_in_at_most_receive_maximum_unacked(mosquitto: Mosquitto) -> None:
    """Mosquitto sends a whole queued backlog once the first acks came back; the receiver
    holds it to Receive Maximum unacknowledged messages, so memory does not grow with it."""
    cid = "receiver-window"
    cfg = config(mosquitto, cid).model_copy(update={"receive_maximum": 40})
    source = ProcessSource(cfg)
    source.start()
    try:
        assert source.wait_subscribed(15)
        source.stop()
        publish(mosquitto, f"{cid}/up", [f"{i}".encode() for i in range(400)])
        source = ProcessSource(cfg)
        source.start()
        got: list[Message] = []
        while len(got) < 400:
            window: list[Message] = []
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:  # all that comes without an ack, for 1 s
                window += source.get_batch(1000, 0.1)
            assert 0 < len(window) <= 40, f"{len(window)} unacknowledged messages at once"
            source.ack(window)
            got += window
        assert [int(m.payload) for m in got] == list(range(400))
    finally:
        source.stop()


def test_acks_reach_the_broker_while_the_socket_stays_full(mosquitto: Mosquitto) -> None:
    """A slow consumer of a deep backlog: the socket never runs dry (the broker sends past
    Receive Maximum once acks came back), yet the acks must go out as they come. Written
    only once the socket is empty, none went out for longer than the keep-alive allows, the
    broker dropped the connection and sent the unacknowledged messages again, and again."""
    cid = "receiver-full"
    cfg = config(mosquitto, cid).model_copy(update={"receive_maximum": 2000, "keepalive_s": 5})
    source = ProcessSource(cfg)
    source.start()
    try:
        assert source.wait_subscribed(15)
        source.stop()
        n = 24_000
        publish(mosquitto, f"{cid}/up", [b"%06d" % i + b"x" * 1000 for i in range(n)])
        source = ProcessSource(cfg)
        source.start()
        got: list[Message] = []
        started = time.monotonic()
        while len(got) < n and time.monotonic() - started < 60:
            window = source.get_batch(1000, 0.1)
            time.sleep(0.5)  # the consumer's work: the broker keeps sending meanwhile
            source.ack(window)
            got += window
        seconds = time.monotonic() - started
        assert seconds > 2 * cfg.keepalive_s, f"drained in {seconds:.1f} s: too fast to tell"
        assert [int(m.payload[:6]) for m in got] == list(range(n)), "copies or gaps"
        assert source.health()["connects"] == 1, "the broker dropped the connection"
    finally:
        source.stop()
