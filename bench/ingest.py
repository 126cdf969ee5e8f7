"""Drain of a pre-queued MQTT backlog: lorawatch into InfluxDB against two baselines.

100,000 realistic ChirpStack v4 ``up`` events (EM300-DI frames of 200 meters, rxInfo, txInfo)
are queued by a private Mosquitto for three persistent sessions; then, each in its own
process, three systems drain their queue into a private InfluxDB 1.x:

- ``bare``: a paho client that only parses the JSON and acks (the floor of any Python bridge);
- ``handwritten``: :mod:`bench.handwritten`, the paho + decode + batched InfluxDB writes script
  an integrator writes by hand (the comparison people make first);
- ``lorawatch``: the service with InfluxDB as its only readings output (SQLite still holds
  dead letters, meter state and alert state), bridge, decoders, meters, de-duplication,
  alerts, acks after the write, its MQTT client in a receiver child process as in production,
  its pages, /metrics and /healthz served and its command line loaded, as ``lorawatch run``;
  its CPU counted from the end of its start (the CPU of its start, the web app built, its
  threads and the receiver child started, is reported apart; the child's connection and
  subscription are in it).

Every system's drain runs from its first message to its last write, as a peer's does
(bench/peers.py): ``bare`` and ``handwritten`` note when their first message arrived, and
lorawatch's is the earliest reception time in its state file (the receiver child stamps each
message as it arrives). Timed from the end of its start instead, lorawatch's drain also held
the child's boot, connection and subscription, 0.10-0.16 s of a 10-15 s drain on a 2-core
machine, which no peer's did; that time is still reported (``seconds_from_start``).

Then the AMQP path (docs/scaling.md): the same uplinks published by ChirpStack's AMQP
integration's routing keys to ``amq.topic`` of a private RabbitMQ, hashed over P quorum queues
with single active consumer, drained by 1, 2 and 3 worker processes (the service as ``lorawatch
run`` builds it, ``bridge.source = "amqp"``, each with its own local state; started together
so that RabbitMQ spreads the queues among them). Per worker count: the drain rate of the
backlog (from the go to the last point in InfluxDB), the CPU per message of all the workers,
the queues each one held and the messages it acked, and the ratios to the MQTT ``lorawatch``
of the same round.

Per round and system: drain rate, CPU per message of all its processes (lorawatch: service +
receiver child), peak RSS of all its processes (sum of each one's VmHWM), and the ratios; the
points each wrote are counted and their pulse counters summed against the expected sum.
InfluxDB's CPU while each system drains is reported apart: it runs on the same two cores, and
what a system writes (points per uplink: lorawatch writes three, its reading, its consumption
delta and its radio frame; the hand-written script one) is part of what the drain costs. It
includes InfluxDB's background work (compactions of what was written before) that overlaps the
drain: read it over the rounds, not from one.
Rounds rotate who drains first and each gets new uplinks: this machine's speed drifts by tens
of percent from one minute to the next, and one round's ratio is at its mercy; ratios are
reported as the median over rounds. Figures and settings go to bench/results/ingest.json.

    python -m bench.ingest [--messages 100000] [--rounds 3] [--workers 1,2,3] [--partitions 6]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench import report

if TYPE_CHECKING:
    from lorawatch.simulators import chirpstack
    from tests.servers import InfluxDB, Mosquitto

# The role processes (--role bare, --role lorawatch) import this module: what only the
# parent needs (the simulator, the test servers and their HTTP client, pika) is imported
# where it is used, so a role's peak RSS is its system's, not the bench's.

ROLES = ("bare", "handwritten", "lorawatch")
DEVICES = 200
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROFILE = "Milesight EM300-DI (EU868)"


def device(d: int) -> chirpstack.SimDevice:
    from lorawatch.simulators import chirpstack  # the parent's (see the imports)

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


def pulse_sum(n: int, first: int = 0) -> int:
    """The sum of the pulse counters of uplinks ``first`` to ``first + n`` (see backlog)."""
    return sum(1000 + 37 * (i // DEVICES) for i in range(first, first + n))


def backlog(n: int, first: int = 0) -> list[tuple[str, bytes]]:
    """Uplinks ``first`` to ``first + n`` of the meters' stream (each round gets new ones)."""
    from lorawatch.simulators import chirpstack  # the parent's (see the imports)

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


def bare(port: int, n: int) -> dict[str, Any]:
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
    _until(lambda: done["n"] >= n, 600, "bare drain")
    cpu = time.process_time() - cpu
    c.disconnect()
    c.loop_stop()
    return {
        "seconds": done["last"] - done["first"],
        "seconds_from_start": done["last"] - started,
        "messages": done["n"],
        "cpu_s": cpu,
        "peak_rss_mb": report.tree_peak_rss_mb(),
    }


def pipeline(port: int, influx_url: str, n: int, workdir: Path) -> dict[str, Any]:
    from lorawatch.app import config
    from lorawatch.app.service import Service
    from lorawatch.core import logs

    report.load_as_run()
    logs.setup("warning")
    settings = config.load(
        None,
        {
            "inventory": {"path": str(inventory(workdir / "inventory.toml"))},
            "http": report.DEPLOYED_HTTP,
            "mqtt": {
                "url": f"mqtt://127.0.0.1:{port}",
                "client_id": "bench-lorawatch",
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
    applied = {
        "outputs": list(settings.store.outputs),
        "batch_size": service.bridge.batch_size,
        "batch_interval_ms_applied": round(service.bridge.batch_interval_s * 1000),
        "batch_interval_ms_configured": settings.store.batch_interval_ms,
        "receiver": settings.mqtt.receiver,
        "receive_maximum": getattr(service.source, "cfg", settings.mqtt).receive_maximum,
        "alerts": service.alerts is not None,
        "http": report.AS_RUN,
    }
    begun = time.perf_counter()
    cpu = time.process_time()
    service.start()
    # As a peer is (bench/peers.py), timed once started: its start's CPU (the web app built,
    # its threads and the receiver child started) is reported apart; the child's connection
    # and subscription are in the drain.
    start_cpu = time.process_time() - cpu
    wall_at_start, started = time.time(), time.perf_counter()
    cpu = time.process_time()
    # The bridge's own count, not the Prometheus registry: collecting every metric family
    # 50 times a second would cost the pipeline a tenth of its CPU.
    _until(lambda: service.bridge.acked >= n, 900, "pipeline drain")
    done = time.perf_counter()
    seconds, from_start = done - started, done - begun
    cpu = time.process_time() - cpu
    receiver_cpu = float(str(service.source.health().get("cpu_s", 0.0)))
    readings = service.metrics.registry.get_sample_value("lorawatch_readings_stored_total") or 0
    rss = report.tree_peak_rss_mb()  # before stop: the receiver child is still alive
    service.stop()
    first = first_received(workdir / "lw.sqlite")
    return {
        "seconds": seconds - max(0.0, first - wall_at_start),
        "seconds_from_start": from_start,
        "messages": n,
        "readings": readings,
        "cpu_s": cpu + receiver_cpu,
        "cpu_s_with_start": cpu + receiver_cpu + start_cpu,
        "service_cpu_s": cpu,
        "receiver_cpu_s": receiver_cpu,
        "peak_rss_mb": rss,
        "settings": {**applied, "timed_from": "first message", "start_cpu_s": start_cpu},
    }


def first_received(state_file: Path) -> float:
    """When the service's first message arrived (epoch seconds): the earliest reception time
    of the uplinks in its state file, stamped by the receiver child as each arrives."""
    with contextlib.closing(sqlite3.connect(f"file:{state_file}?mode=ro", uri=True)) as db:
        (first_us,) = db.execute("SELECT min(received_us) FROM uplinks").fetchone()
    if first_us is None:
        raise RuntimeError(f"{state_file}: no uplink stored")
    return float(first_us) / 1e6


def _until(done: Any, timeout: float, what: str) -> None:
    """Poll ``done`` (the roles' wait: tests.servers is the parent's)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout} s")
        time.sleep(0.02)


def rate(r: dict[str, Any]) -> float:
    return float(r["messages"] / r["seconds"])


def us_per_msg(r: dict[str, Any]) -> float:
    return float(r["cpu_s"] / r["messages"] * 1e6)


def influx_cpu_s(influx: InfluxDB) -> float:
    """CPU seconds the private InfluxDB has used so far."""
    from bench import ingest_amqp  # the parent's (see the imports)

    return ingest_amqp.tree_cpu_s(influx.proc.pid if influx.proc is not None else None)


def influx_us(r: dict[str, Any]) -> float:
    """InfluxDB's CPU per message while the system drained: the price of what it writes
    (points per uplink, fields, request sizes), paid on the same two cores."""
    return float(r.get("influx_cpu_s", 0.0) / r["messages"] * 1e6)


def spread(values: list[float], fmt: str = ",.0f") -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}–{hi:{fmt}}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="uplinks per round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds (the ratios printed are their median)"
    )
    parser.add_argument(
        "--workers",
        default="1,2,3",
        help="worker counts of the AMQP path, comma-separated (empty: MQTT systems only)",
    )
    parser.add_argument(
        "--partitions", type=int, default=6, help="AMQP partition queues (P; 6 divides by 1-3)"
    )
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="also drain with this command, a bridge of your own (bench/peers.py says how)",
    )
    parser.add_argument("--role", choices=["bare", "lorawatch"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--influx", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    report.add_json_out(parser, "ingest")
    args = parser.parse_args()
    if args.role:
        if args.role == "bare":
            result = bare(args.port, args.messages)
        else:
            result = pipeline(args.port, args.influx, args.messages, Path(args.workdir))
        print(json.dumps(result))
        return
    from bench import ingest_amqp, peers  # the parent's (see the imports)
    from tests.servers import InfluxDB, Mosquitto, RabbitMQ

    try:
        others = [peers.Peer.parse(text) for text in args.peer]
    except ValueError as exc:
        parser.error(str(exc))
    by_name = {p.name: p for p in others}
    systems = (*ROLES, *by_name)
    ctx = report.context()
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    rounds: list[dict[str, dict[str, Any]]] = []
    enqueue_rates: list[float] = []
    enqueue_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Mosquitto(root / "mosquitto", report.BROKER_OPTIONS)
        influx = InfluxDB(root / "influxdb")
        rabbit = RabbitMQ(root / "rabbitmq") if workers else None
        broker.start()
        influx.start()
        try:
            influx.create_database("bench")
            influx.create_database("handwritten")
            boots: dict[str, float] = {}
            for peer in others:
                influx.create_database(peer.database)
                boots[peer.name] = peers.boot_cpu(peer, broker, influx, root / f"{peer.name}-start")
                print(
                    f"{peer.name}: its start alone takes {boots[peer.name]:.2f} CPU s", flush=True
                )
            if rabbit is not None:
                rabbit.start()
                topology = ingest_amqp.topology(rabbit, args.partitions)
                for n in workers:
                    influx.create_database(f"amqp{n}")
            for r in range(args.rounds):
                print(
                    f"round {r + 1}/{args.rounds}: queuing {args.messages:,} v4 uplinks for"
                    f" {len(systems)} persistent sessions...",
                    flush=True,
                )
                items = backlog(args.messages, r * args.messages)
                queue_for(broker, [f"bench-{system}" for system in systems], items)
                # Rotate who goes first, so a drift of the machine's speed cancels out.
                order = systems[r % len(systems) :] + systems[: r % len(systems)]
                results: dict[str, dict[str, Any]] = {}
                for system in order:
                    theirs = by_name.get(system)
                    influx_cpu = influx_cpu_s(influx)
                    if theirs is None:
                        results[system] = drain(system, args, broker, influx, root / f"r{r}")
                    else:
                        results[system] = peers.drain(
                            theirs,
                            broker,
                            influx,
                            root / f"r{r}" / theirs.name,
                            args.messages,
                            (r + 1) * args.messages,
                            boots[theirs.name],
                        )
                    results[system]["influx_cpu_s"] = influx_cpu_s(influx) - influx_cpu
                rounds.append(results)
                show(r + 1, rounds[-1])
                if rabbit is not None:
                    for n in workers[r % len(workers) :] + workers[: r % len(workers)]:
                        seconds, cpu = ingest_amqp.enqueue(rabbit, topology, items)
                        enqueue_rates.append(len(items) / seconds)
                        enqueue_cpu.append(cpu / len(items) * 1e6)
                        result = ingest_amqp.drain(
                            n,
                            rabbit,
                            influx,
                            f"amqp{n}",
                            args.partitions,
                            (r + 1) * args.messages,
                            root / f"r{r}" / f"amqp{n}",
                        )
                        rounds[-1][f"amqp{n}"] = result
                        show_amqp(r + 1, result, rounds[-1]["lorawatch"], enqueue_rates[-1])
                del items
            stored = {
                "lorawatch": stored_points(influx, "bench", "reading"),
                "handwritten": stored_points(influx, "handwritten", "em300di"),
            }
            for peer in others:
                stored[peer.name] = stored_points(influx, peer.database, peers.MEASUREMENT)
            for n in workers:
                stored[f"amqp{n}"] = stored_points(influx, f"amqp{n}", "reading")
        finally:
            broker.stop()
            influx.stop()
            if rabbit is not None:
                rabbit.stop()
    total = args.rounds * args.messages
    expected = pulse_sum(total)
    checks = {
        system: {
            **found,
            "expected_points": total,
            "expected_pulse_sum": expected,
            "ok": found["points"] == total and found["pulse_sum"] == expected,
        }
        for system, found in stored.items()
    }
    for system, check in checks.items():
        print(
            f"{system}: {check['points']:,} points in InfluxDB for {total:,} uplinks, pulse"
            f" counters sum {check['pulse_sum']:,} (expected {expected:,}): "
            + ("right" if check["ok"] else "WRONG")
        )
    summary = summarise(rounds)
    summary["amqp"] = summarise_amqp(rounds, workers, enqueue_rates, enqueue_cpu)
    for n in workers:
        figures = summary["amqp"][str(n)]
        print(
            f"median over {len(rounds)} round(s): AMQP {n} worker(s) / MQTT lorawatch: drain"
            f" {figures['drain_vs_mqtt']:.2f}, CPU per message {figures['cpu_vs_mqtt']:.2f},"
            f" messages per CPU-second {figures['msg_per_cpu_s']:,.0f}"
            f" (MQTT {figures['mqtt_msg_per_cpu_s']:,.0f}); with the broker's CPU"
            f" {figures['msg_per_cpu_s_with_broker']:,.0f}"
            f" (MQTT {figures['mqtt_msg_per_cpu_s_with_broker']:,.0f})"
        )
    if enqueue_rates:
        print(
            f"RabbitMQ enqueue into {args.partitions} quorum queues (one publisher): median"
            f" {summary['amqp']['enqueue_msg_s']:,.0f} msg/s,"
            f" {summary['amqp']['enqueue_broker_us_per_msg']:.0f} µs broker CPU per message"
        )
    print(
        f"median over {len(rounds)} round(s): drain lorawatch/bare {summary['drain_vs_bare']:.2f},"
        f" lorawatch/handwritten {summary['drain_vs_handwritten']:.2f};"
        f" CPU per message lorawatch/bare {summary['cpu_vs_bare']:.2f},"
        f" lorawatch/handwritten {summary['cpu_vs_handwritten']:.2f} (target <= 1.3)"
    )
    print(
        f"median over {len(rounds)} round(s): InfluxDB's CPU per message while each drained: "
        + ", ".join(f"{k} {v:.0f} µs" for k, v in summary["influx_us_per_msg"].items())
    )
    for peer in others:
        print(
            f"median over {len(rounds)} round(s): drain lorawatch/{peer.name}"
            f" {summary[f'drain_vs_{peer.name}']:.2f}, CPU per message lorawatch/{peer.name}"
            f" {summary[f'cpu_vs_{peer.name}']:.2f}"
        )
    settings = {
        "messages_per_round": args.messages,
        "rounds": args.rounds,
        "devices": DEVICES,
        "lorawatch": rounds[0]["lorawatch"]["settings"],
        "handwritten": rounds[0]["handwritten"]["settings"],
        "bare": {"ack": "manual, after parsing"},
        "peers": {p.name: rounds[0][p.name]["settings"] for p in others},
        "broker": "Mosquitto (private), QoS 1, persistent sessions, MQTT 5, autosave every 1800 s",
        "amqp": {
            "workers": workers,
            "partitions": args.partitions,
            "broker": "RabbitMQ 3.10 (private, one node), quorum queues, single active consumer",
            "state": "each worker's own SQLite file (shared PostgreSQL state not yet wired)",
        },
        "influxdb": "InfluxDB 1.x (private)",
    }
    report.write(
        args.json_out,
        "ingest",
        ctx,
        settings,
        {"rounds": rounds, "summary": summary, "checks": checks},
        readme_rows(rounds, summary, args.messages, checks, [p.name for p in others])
        + amqp_rows(rounds, summary, workers, args.partitions),
    )
    if not all(c["ok"] for c in checks.values()):
        raise SystemExit(1)


def stored_points(influx: InfluxDB, database: str, measurement: str) -> dict[str, int]:
    result = influx.query(
        f'SELECT COUNT("pulse_count"), SUM("pulse_count") FROM "{measurement}"', database
    )["results"][0]
    values = result["series"][0]["values"][0] if "series" in result else [0, 0, 0]
    # A count of nothing is null, not 0: the measurement can exist before a point holding
    # pulse_count is readable (a peer's first write landing while the bench polls).
    return {"points": int(values[1] or 0), "pulse_sum": int(values[2] or 0)}


def show(n: int, results: dict[str, dict[str, Any]]) -> None:
    bare_rate = rate(results["bare"])
    for role in results:
        r = results[role]
        extra = (
            f" (service {r['service_cpu_s'] / r['messages'] * 1e6:.0f} + receiver"
            f" {r['receiver_cpu_s'] / r['messages'] * 1e6:.0f}; start"
            f" {r['settings']['start_cpu_s']:.2f} CPU s apart)"
            if role == "lorawatch"
            else ""
        )
        print(
            f"round {n}: {role:<11} {rate(r):7,.0f} msg/s  CPU {us_per_msg(r):4.0f} µs/msg{extra}"
            f"  peak RSS {r['peak_rss_mb']['total']:.0f} MB  drain/bare {rate(r) / bare_rate:.2f}"
            f"  InfluxDB's CPU {influx_us(r):.0f} µs/msg",
            flush=True,
        )


def summarise(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    def med(f: Any) -> float:
        return float(statistics.median(f(r) for r in rounds))

    out: dict[str, Any] = {}
    for other in rounds[0]:
        if other == "lorawatch" or other.startswith("amqp"):
            continue
        out[f"drain_vs_{other}"] = med(lambda r, o=other: rate(r["lorawatch"]) / rate(r[o]))
        out[f"cpu_vs_{other}"] = med(
            lambda r, o=other: us_per_msg(r["lorawatch"]) / us_per_msg(r[o])
        )
    out["influx_us_per_msg"] = {
        system: med(lambda r, s=system: influx_us(r[s]))
        for system in rounds[0]
        if not system.startswith("amqp")
    }
    return out


def readme_rows(
    rounds: list[dict[str, dict[str, Any]]],
    summary: dict[str, Any],
    messages: int,
    checks: dict[str, Any],
    peers: list[str],
) -> list[dict[str, str]]:
    def col(role: str, f: Any) -> list[float]:
        return [float(f(r[role])) for r in rounds]

    def figures(role: str) -> str:
        return (
            f"{spread(col(role, rate))} msg/s, {spread(col(role, us_per_msg))} µs CPU/msg,"
            f" peak RSS {spread(col(role, lambda r: r['peak_rss_mb']['total']))} MB;"
            f" InfluxDB's CPU for its writes {spread(col(role, influx_us))} µs/msg"
        )

    lw = rounds[0]["lorawatch"]["settings"]
    receiver = col("lorawatch", lambda r: r["receiver_cpu_s"] / r["messages"] * 1e6)
    ok = (
        "all points stored and right" if all(c["ok"] for c in checks.values()) else "POINTS MISSING"
    )
    what = (
        f"drain of {messages:,} queued v4 uplinks (QoS 1) into InfluxDB 1.x, {len(rounds)} round(s)"
        f" rotating who drains first; {ok}"
    )
    return [
        {
            "benchmark": f"`ingest`: {what}; lorawatch with outputs = {lw['outputs']}, batches of"
            f" {lw['batch_size']} / {lw['batch_interval_ms_applied']} ms, receiver {lw['receiver']},"
            f" HTTP {lw.get('http', 'off')}; every system timed from its"
            f" {lw.get('timed_from', 'start')}, lorawatch's start's CPU apart"
            f" ({spread(col('lorawatch', lambda r: r['settings'].get('start_cpu_s', 0.0)), '.2f')}"
            " s)",
            "figure": f"lorawatch {figures('lorawatch')} (receiver child"
            f" {spread(receiver)} µs/msg of its CPU; CPU and RSS of all its processes)",
            "baseline": f"bare paho client parsing JSON: {figures('bare')}",
            "ratio": f"drain {summary['drain_vs_bare']:.2f}, CPU/msg {summary['cpu_vs_bare']:.2f}"
            " (medians)",
        },
        {
            "benchmark": f"`ingest`, second baseline: {what}",
            "figure": f"lorawatch {figures('lorawatch')}",
            "baseline": "hand-written bridge (paho + json + inline decode + InfluxDB batches of"
            f" {rounds[0]['handwritten']['settings']['batch_points']:,} points / "
            f"{rounds[0]['handwritten']['settings']['flush_s']:g} s, bench/handwritten.py):"
            f" {figures('handwritten')}",
            "ratio": f"drain {summary['drain_vs_handwritten']:.2f} (target ≥ 1.0), CPU/msg"
            f" {summary['cpu_vs_handwritten']:.2f} (target ≤ 1.3) (medians)",
        },
    ] + [
        {
            "benchmark": f"`ingest`, peer `{peer}`: {what}",
            "figure": f"lorawatch {figures('lorawatch')}",
            "baseline": f"`{rounds[0][peer]['settings']['command']}` (bench/peers.py; timed from"
            f" its {rounds[0][peer]['settings']['timed_from']}, CPU less its start's"
            f" {rounds[0][peer]['settings']['start_cpu_s']:.2f} s): {figures(peer)}",
            "ratio": f"drain {summary[f'drain_vs_{peer}']:.2f}, CPU/msg"
            f" {summary[f'cpu_vs_{peer}']:.2f} (medians)",
        }
        for peer in peers
    ]


def show_amqp(n: int, r: dict[str, Any], mqtt: dict[str, Any], enqueue_rate: float) -> None:
    print(
        f"round {n}: AMQP, {r['workers']} worker(s) {rate(r):7,.0f} msg/s  CPU"
        f" {us_per_msg(r):4.0f} µs/msg  queues held {r['active_partitions']}, acked {r['acked']};"
        f" drain/MQTT lorawatch {rate(r) / rate(mqtt):.2f}, CPU/msg"
        f" {us_per_msg(r) / us_per_msg(mqtt):.2f}; enqueue {enqueue_rate:,.0f} msg/s",
        flush=True,
    )


def summarise_amqp(
    rounds: list[dict[str, dict[str, Any]]],
    workers: list[int],
    enqueue_rates: list[float],
    enqueue_cpu: list[float],
) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def med(f: Any) -> float:
        return float(statistics.median(f(r) for r in rounds))

    def mqtt_per_cpu_s(r: dict[str, Any]) -> float:
        return float(r["lorawatch"]["messages"] / r["lorawatch"]["cpu_s"])

    def with_broker(r: dict[str, Any]) -> float:
        return float(r["messages"] / (r["cpu_s"] + r["broker_cpu_s"]))

    for n in workers:
        runs = [r[f"amqp{n}"] for r in rounds]
        mqtt = [r["lorawatch"] for r in rounds]
        out[str(n)] = {
            "drain_vs_mqtt": statistics.median(
                rate(a) / rate(m) for a, m in zip(runs, mqtt, strict=True)
            ),
            "cpu_vs_mqtt": statistics.median(
                us_per_msg(a) / us_per_msg(m) for a, m in zip(runs, mqtt, strict=True)
            ),
            "msg_s": statistics.median(rate(a) for a in runs),
            "msg_per_cpu_s": statistics.median(a["messages"] / a["cpu_s"] for a in runs),
            "mqtt_msg_per_cpu_s": med(mqtt_per_cpu_s),
            "msg_per_cpu_s_with_broker": statistics.median(with_broker(a) for a in runs),
            "mqtt_msg_per_cpu_s_with_broker": statistics.median(with_broker(m) for m in mqtt),
            "broker_us_per_msg": statistics.median(
                a["broker_cpu_s"] / a["messages"] * 1e6 for a in runs
            ),
        }
    if enqueue_rates:
        out["enqueue_msg_s"] = float(statistics.median(enqueue_rates))
        out["enqueue_broker_us_per_msg"] = float(statistics.median(enqueue_cpu))
    return out


def amqp_rows(
    rounds: list[dict[str, dict[str, Any]]],
    summary: dict[str, Any],
    workers: list[int],
    partitions: int,
) -> list[dict[str, str]]:
    rows = []
    mqtt = [rate(r["lorawatch"]) for r in rounds]
    for n in workers:
        key, figures = f"amqp{n}", summary["amqp"][str(n)]
        held = [r[key]["active_partitions"] for r in rounds]
        rows.append(
            {
                "benchmark": f"`ingest`, AMQP path: {n} worker process(es) draining the same"
                f" backlog from {partitions} quorum queues (consistent hash, single active"
                " consumer) of a private RabbitMQ into InfluxDB, each worker its own local state",
                "figure": f"{spread([rate(r[key]) for r in rounds])} msg/s,"
                f" {spread([us_per_msg(r[key]) for r in rounds])} µs CPU/msg (all workers),"
                f" {figures['msg_per_cpu_s']:,.0f} msg per CPU-second"
                f" ({figures['msg_per_cpu_s_with_broker']:,.0f} counting RabbitMQ's CPU,"
                f" {figures['broker_us_per_msg']:.0f} µs/msg); queues held per worker {held}",
                "baseline": f"the MQTT path (lorawatch above, same round): {spread(mqtt)} msg/s,"
                f" {figures['mqtt_msg_per_cpu_s']:,.0f} msg per CPU-second"
                f" ({figures['mqtt_msg_per_cpu_s_with_broker']:,.0f} counting Mosquitto's)",
                "ratio": f"drain {figures['drain_vs_mqtt']:.2f}, CPU/msg"
                f" {figures['cpu_vs_mqtt']:.2f} (medians; target: msg per core ≥ MQTT's)",
            }
        )
    return rows


def drain(
    role: str, args: argparse.Namespace, broker: Mosquitto, influx: InfluxDB, workdir: Path
) -> dict[str, Any]:
    """Run one system in its own process and return its figures."""
    from bench import ingest_amqp  # the parent's (see the imports)

    workdir.mkdir(exist_ok=True)
    common = ["--messages", str(args.messages), "--port", str(broker.port)]
    if role == "handwritten":
        cmd = [sys.executable, "-m", "bench.handwritten", *common, "--influx", influx.url]
    else:
        cmd = [sys.executable, "-m", "bench.ingest", "--role", role, *common]
        cmd += ["--influx", influx.url, "--workdir", str(workdir)]
    broker_cpu = ingest_amqp.tree_cpu_s(ingest_amqp.broker_pid(broker))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    result["broker_cpu_s"] = ingest_amqp.tree_cpu_s(ingest_amqp.broker_pid(broker)) - broker_cpu
    return result


if __name__ == "__main__":
    main()
