"""Simulator publish rate at metropolis scale against a real private Mosquitto.

1. ``lorawatch simulate rennes-metropole --speed 60`` for a fixed time: the offered rate (uplinks
   whose simulated time has come), the published rate and what a QoS 1 subscriber received;
   the run sustains its rate when published/offered stays at 1.00.
2. The highest publish rate the simulator reaches (speed unbounded), next to a bare paho client
   publishing the same pre-built events in the same run: their ratio is the simulator's cost.

    python -m bench.simulate [--seconds 30]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench import report
from lorawatch.core import logs
from lorawatch.simulators import scenario
from lorawatch.simulators.run import live
from lorawatch.simulators.simulation import Simulation
from tests.servers import Mosquitto

START = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


class Counter:
    def __init__(self, port: int) -> None:
        self.n = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("application/#", qos=1)
        subscribed.wait(10)

    def _on_message(self, *_: object) -> None:
        self.n += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def paced(broker: Mosquitto, sim: Simulation, seconds: float, speed: float) -> dict[str, float]:
    counter = Counter(broker.port)
    stop = threading.Event()
    published: list[datetime] = []
    thread = threading.Thread(
        target=live,
        args=(sim, broker.url, speed, stop),
        kwargs={"start": START, "on_publish": lambda u: published.append(u.time)},
    )
    began = time.monotonic()
    thread.start()
    stop.wait(seconds)
    elapsed = time.monotonic() - began
    stop.set()
    thread.join(30)
    offered = sum(1 for _ in sim.uplinks(START, START + timedelta(seconds=elapsed * speed)))
    deadline = time.monotonic() + 10  # the last QoS 1 deliveries may still be on their way
    while counter.n < len(published) and time.monotonic() < deadline:
        time.sleep(0.05)
    counter.close()
    return {
        "seconds": elapsed,
        "offered": offered,
        "published": len(published),
        "received": counter.n,
    }


def fastest(broker: Mosquitto, sim: Simulation, seconds: float) -> tuple[float, float]:
    stop = threading.Event()
    count = {"n": 0}

    def on_publish(_: object) -> None:
        count["n"] += 1

    thread = threading.Thread(
        target=live,
        args=(sim, broker.url, 1e9, stop),
        kwargs={"start": START, "on_publish": on_publish},
    )
    began = time.monotonic()
    thread.start()
    stop.wait(seconds)
    stop.set()
    thread.join(30)
    sim_rate = count["n"] / (time.monotonic() - began)
    # Baseline: the same events, already built, published by a bare client.
    events = [(u.topic, u.payload) for u in sim.uplinks(START, START + timedelta(hours=2))][
        : count["n"]
    ]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    began = time.monotonic()
    infos = [client.publish(t, p, qos=1) for t, p in events]
    for info in infos:
        info.wait_for_publish(60)
    raw_rate = len(events) / (time.monotonic() - began)
    client.disconnect()
    client.loop_stop()
    return sim_rate, raw_rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    report.add_json_out(parser, "simulate")
    args = parser.parse_args()
    ctx = report.context()
    logs.setup("warning")
    scene = scenario.load(scenario.builtin("rennes-metropole"))
    sim = Simulation(scene, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        try:
            r = paced(broker, sim, args.seconds, 60.0)
            sim_rate, raw_rate = fastest(broker, sim, min(10.0, args.seconds))
        finally:
            broker.stop()
    print(
        f"rennes-metropole: {len(scene.inventory.devices):,} devices, --speed 60 for {r['seconds']:.0f} s"
    )
    print(
        f"  offered {r['offered'] / r['seconds']:7.0f} msg/s, published {r['published'] / r['seconds']:7.0f} msg/s, "
        f"received {r['received']:,} of {r['published']:,}; sustained: {r['published'] / max(1, r['offered']):.2f}"
    )
    print(
        f"fastest simulator publish: {sim_rate:7.0f} msg/s; bare paho client, same events: {raw_rate:7.0f} msg/s; "
        f"ratio {sim_rate / raw_rate:.2f}"
    )
    devices = len(scene.inventory.devices)
    report.write(
        args.json_out,
        "simulate",
        ctx,
        {"scenario": "rennes-metropole", "speed": 60, "seconds": args.seconds, "seed": 1},
        {"paced": r, "fastest_msg_s": sim_rate, "bare_client_msg_s": raw_rate},
        [
            {
                "benchmark": f"`simulate`: Rennes Métropole, {devices:,} devices at ×60 for"
                f" {r['seconds']:.0f} s, QoS 1 to Mosquitto",
                "figure": f"{r['offered'] / r['seconds']:,.0f} msg/s offered,"
                f" {r['published'] / r['seconds']:,.0f} published, {r['received']:,} of"
                f" {r['published']:,} received",
                "baseline": "—",
                "ratio": f"published/offered {r['published'] / max(1, r['offered']):.2f}",
            },
            {
                "benchmark": "`simulate`: fastest publish (speed unbounded)",
                "figure": f"{sim_rate:,.0f} msg/s",
                "baseline": f"bare paho client, same events pre-built: {raw_rate:,.0f} msg/s",
                "ratio": f"{sim_rate / raw_rate:.2f}",
            },
        ],
    )


if __name__ == "__main__":
    main()
