"""Drain of a pre-queued MQTT backlog: the full pipeline into InfluxDB vs a bare JSON-parsing client.

100,000 realistic ChirpStack v4 ``up`` events (EM300-DI frames of 200 meters, rxInfo, txInfo)
are queued by a private Mosquitto for two persistent sessions; then, each in its own process,
a bare paho client that only parses the JSON, and ``lorawatch`` (bridge, decoders, meters,
alerts, SQLite + real InfluxDB 1.x, manual acks, its MQTT client in a receiver process as
recommended for production) drain their queue. Printed per round: both rates, CPU per
message, peak memory and the ratio; then the median ratio (target >= 0.5). Rounds alternate
who drains first and each gets new uplinks: this machine's speed drifts by tens of percent
from one minute to the next, and one round's ratio is at its mercy.

    python -m bench.ingest [--messages 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lorawatch.simulators import chirpstack
from tests.servers import InfluxDB, Mosquitto, wait_until

DEVICES = 200
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROFILE = "Milesight EM300-DI (EU868)"


def device(d: int) -> chirpstack.SimDevice:
    return chirpstack.SimDevice(
        f"24e1241300{d:06x}",
        f"meter-{d}",
        PROFILE,
        {"building": f"b{d % 20}", "commune": "c", "pulses_per_kwh": "1000"},
        distance_m=200 + 20 * d,
    )


def inventory(path: Path) -> Path:
    lines = ['[[communes]]\nid = "c"\nname = "C"\nlatitude = 48.2\nlongitude = -1.6\n']
    lines += [f'[[buildings]]\nid = "b{b}"\ncommune = "c"\nname = "B{b}"\n' for b in range(20)]
    lines.append(
        f'[[profiles]]\ndevice_profile = "{PROFILE}"\ndecoder = "milesight-em300-di"\nkind = "electricity"\n'
    )
    path.write_text("\n".join(lines))
    return path


def backlog(n: int, first: int = 0) -> list[tuple[str, bytes]]:
    """Uplinks ``first`` to ``first + n`` of the meters' stream (each round gets new ones)."""
    rng = random.Random(7 + first)
    devices = [device(d) for d in range(DEVICES)]
    out = []
    for i in range(first, first + n):
        d = devices[i % DEVICES]
        k = i // DEVICES
        frame = bytes.fromhex("01755c0367340104686505c8") + struct.pack("<I", 1000 + 37 * k)
        event = chirpstack.uplink_event(d, 85, frame, k, T0 + timedelta(minutes=15 * k), rng)
        out.append((chirpstack.topic(d), orjson.dumps(event)))
    return out


def queue_for(broker: Mosquitto, client_ids: list[str], items: list[tuple[str, bytes]]) -> None:
    """Create each persistent session, then publish the backlog while they are away."""
    for cid in client_ids:
        subscribed = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        c.on_subscribe = lambda *_, done=subscribed: done.set()
        c.connect("127.0.0.1", broker.port, clean_start=False, properties=_session_props())
        c.loop_start()
        c.subscribe("application/+/device/+/event/+", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError(f"{cid}: no SUBACK")
        c.disconnect()
        c.loop_stop()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    # Packet ids are 16-bit: publish in chunks so fewer than 65,535 are unacked at once.
    for start in range(0, len(items), 20_000):
        infos = [pub.publish(t, p, qos=1) for t, p in items[start : start + 20_000]]
        for info in infos:
            info.wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()


def _session_props():  # type: ignore[no-untyped-def]
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 2000
    return props


def bare(port: int, n: int) -> dict[str, float]:
    """Only receive and parse the JSON; ack each message (the baseline)."""
    done = {"n": 0, "first": 0.0, "last": 0.0}
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5, manual_ack=True
    )

    def on_message(client: mqtt.Client, _: object, msg: mqtt.MQTTMessage) -> None:
        orjson.loads(msg.payload)
        client.ack(msg.mid, msg.qos)
        if not done["n"]:
            done["first"] = time.perf_counter()
        done["n"] += 1
        done["last"] = time.perf_counter()

    c.on_message = on_message
    started = time.perf_counter()
    cpu = time.process_time()
    c.connect("127.0.0.1", port, clean_start=False, properties=_session_props())
    c.loop_start()
    wait_until(lambda: done["n"] >= n, 600, "bare drain")
    cpu = time.process_time() - cpu
    c.disconnect()
    c.loop_stop()
    return {"seconds": done["last"] - started, "messages": done["n"], "cpu_s": cpu}


def pipeline(port: int, influx_url: str, n: int, workdir: Path) -> dict[str, float]:
    from lorawatch.app import config
    from lorawatch.app.service import Service
    from lorawatch.core import logs

    logs.setup("warning")
    settings = config.load(
        None,
        {
            "inventory": {"path": str(inventory(workdir / "inventory.toml"))},
            "mqtt": {
                "url": f"mqtt://127.0.0.1:{port}",
                "client_id": "bench-pipeline",
            },
            "store": {
                "outputs": ["influxdb"],
                "sqlite": {"path": str(workdir / "lw.sqlite")},
                "influxdb": {
                    "url": influx_url,
                    "database": "bench",
                    "spool_dir": str(workdir / "spool"),
                },
            },
        },
    )
    service = Service(settings)
    started = time.perf_counter()
    cpu = time.process_time()
    service.start(http=False)
    # The bridge's own count, not the Prometheus registry: collecting every metric family
    # 50 times a second would cost the pipeline a tenth of its CPU.
    wait_until(lambda: service.bridge.acked >= n, 900, "pipeline drain")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    receiver_cpu = float(str(service.source.health().get("cpu_s", 0.0)))
    readings = service.metrics.registry.get_sample_value("lorawatch_readings_stored_total") or 0
    service.stop()
    return {
        "seconds": seconds,
        "messages": n,
        "readings": readings,
        "cpu_s": cpu,
        "receiver_cpu_s": receiver_cpu,
    }


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM: unlike ru_maxrss, not inherited by fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="uplinks per round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds (the ratio printed is their median)"
    )
    parser.add_argument("--role", choices=["bare", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--influx", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        if args.role == "bare":
            result = bare(args.port, args.messages)
        else:
            result = pipeline(args.port, args.influx, args.messages, Path(args.workdir))
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker, influx = Mosquitto(root / "mosquitto"), InfluxDB(root / "influxdb")
        broker.start()
        influx.start()
        try:
            influx.create_database("bench")
            for r in range(args.rounds):
                print(
                    f"round {r + 1}/{args.rounds}: queuing {args.messages:,} v4 uplinks for two "
                    "persistent sessions...",
                    flush=True,
                )
                items = backlog(args.messages, r * args.messages)
                queue_for(broker, ["bench-bare", "bench-pipeline"], items)
                # Alternate who goes first, so a drift of the machine's speed cancels out.
                order = ("bare", "pipeline") if r % 2 == 0 else ("pipeline", "bare")
                rounds.append(
                    {role: drain(role, args, broker, influx, root / f"r{r}") for role in order}
                )
            points = influx.query('SELECT COUNT("pulse_count") FROM "reading"', "bench")["results"][
                0
            ]["series"][0]["values"][0][1]
        finally:
            broker.stop()
            influx.stop()

    def cpu(r: dict[str, float]) -> str:
        return (
            f"CPU {r['cpu_s'] / r['messages'] * 1e6:4.0f} µs/msg ({r['cpu_s'] / r['seconds']:.0%})"
        )

    ratios = []
    for i, results in enumerate(rounds, 1):
        b, p = results["bare"], results["pipeline"]
        bare_rate, pipe_rate = b["messages"] / b["seconds"], p["messages"] / p["seconds"]
        ratios.append(pipe_rate / bare_rate)
        print(
            f"round {i}: bare client (parse JSON, ack): {bare_rate:7,.0f} msg/s   {cpu(b)}"
            f"   peak RSS {b['peak_rss_mb']:.0f} MB"
        )
        print(
            f"round {i}: lorawatch -> InfluxDB:          {pipe_rate:7,.0f} msg/s   {cpu(p)}"
            f" + receiver {p['receiver_cpu_s'] / p['messages'] * 1e6:.0f} µs/msg"
            f"   peak RSS {p['peak_rss_mb']:.0f} MB   ({p['readings']:,.0f} readings)"
            f"   ratio {pipe_rate / bare_rate:.2f}"
        )
    print(f"{points:,} points in InfluxDB for {args.rounds * args.messages:,} uplinks")
    print(
        f"ratio pipeline / bare, median of {len(ratios)} round(s): "
        f"{statistics.median(ratios):.2f} (target >= 0.5)"
    )


def drain(
    role: str, args: argparse.Namespace, broker: Mosquitto, influx: InfluxDB, workdir: Path
) -> dict[str, float]:
    """Run one side in its own process and return its figures."""
    workdir.mkdir(exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "bench.ingest",
        "--role",
        role,
        "--messages",
        str(args.messages),
        "--port",
        str(broker.port),
        "--influx",
        influx.url,
        "--workdir",
        str(workdir),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
