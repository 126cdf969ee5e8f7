"""Drain of a pre-queued backlog by one worker: the AMQP source (RabbitMQ partition queues)
against the MQTT source (Mosquitto persistent session), same pipeline, same SQLite output.

The same realistic ChirpStack v4 ``up`` events as bench/ingest are queued once in a private
Mosquitto for a persistent session and once in a private RabbitMQ (published to ``amq.topic``
with ChirpStack's routing keys, hashed over P quorum queues). Then ``lorawatch`` drains each,
in its own process, with alerts on and SQLite as the output. Printed per round: both rates,
CPU per message (the MQTT receiver child's CPU added), the AMQP/MQTT ratio, and RabbitMQ's
quorum-queue enqueue rate. Rounds alternate who drains first (this machine's speed drifts).

    python -m bench.amqp [--messages 20000] [--rounds 2] [--partitions 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pika

from bench.ingest import backlog, inventory, queue_for
from bench.report import peak_rss_mb
from lorawatch.gateway_bridge import amqp
from lorawatch.gateway_bridge.settings import AmqpConfig
from tests.servers import Mosquitto, RabbitMQ, wait_until


def enqueue(broker: RabbitMQ, cfg: AmqpConfig, items: list[tuple[str, bytes]]) -> float:
    """Publish as ChirpStack does (no confirms, to amq.topic); seconds until all are queued."""
    connection = pika.BlockingConnection(broker.parameters("/"))
    channel = connection.channel()
    started = time.perf_counter()
    before = depth(channel, cfg)
    props = pika.BasicProperties(content_type="application/json")
    for topic, payload in items:
        channel.basic_publish("amq.topic", topic.replace("/", "."), payload, props)
    wait_until(lambda: depth(channel, cfg) - before >= len(items), 600, "enqueued")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def depth(channel: Any, cfg: AmqpConfig) -> int:
    return sum(channel.queue_declare(q, passive=True).method.message_count for q in cfg.queues())


def worker(role: str, port: int, n: int, partitions: int, workdir: Path) -> dict[str, float]:
    from lorawatch.app import config
    from lorawatch.app.service import Service
    from lorawatch.core import logs

    logs.setup("warning")
    overrides: dict[str, Any] = {
        "inventory": {"path": str(inventory(workdir / "inventory.toml"))},
        "store": {"outputs": ["sqlite"], "sqlite": {"path": str(workdir / "lw.sqlite")}},
    }
    if role == "amqp":
        overrides["bridge"] = {"source": "amqp"}
        overrides["amqp"] = {"url": f"amqp://127.0.0.1:{port}/%2F", "partitions": partitions}
    else:
        overrides["mqtt"] = {"url": f"mqtt://127.0.0.1:{port}", "client_id": "bench-pipeline"}
    service = Service(config.load(None, overrides))
    started = time.perf_counter()
    cpu = time.process_time()
    service.start(http=False)
    wait_until(lambda: service.bridge.acked >= n, 900, f"{role} drain")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    receiver_cpu = float(str(service.source.health().get("cpu_s", 0.0)))
    service.stop()
    return {"seconds": seconds, "messages": n, "cpu_s": cpu + receiver_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000, help="uplinks per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (median ratio printed)")
    parser.add_argument("--partitions", type=int, default=4, help="partition queues (P)")
    parser.add_argument("--role", choices=["mqtt", "amqp"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        result = worker(args.role, args.port, args.messages, args.partitions, Path(args.workdir))
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    cfg = AmqpConfig.model_validate({"partitions": args.partitions})
    rounds: list[dict[str, dict[str, float]]] = []
    enqueue_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mosquitto, rabbit = Mosquitto(root / "mosquitto"), RabbitMQ(root / "rabbitmq")
        mosquitto.start()
        rabbit.start()
        try:
            cfg = AmqpConfig.model_validate({"url": rabbit.url("/"), "partitions": args.partitions})
            amqp.setup(cfg)
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}: queuing {args.messages:,} uplinks...")
                items = backlog(args.messages, r * args.messages)
                queue_for(mosquitto, ["bench-pipeline"], items)
                enqueue_rates.append(len(items) / enqueue(rabbit, cfg, items))
                order = ("mqtt", "amqp") if r % 2 == 0 else ("amqp", "mqtt")
                rounds.append(
                    {
                        role: drain(role, args, mosquitto if role == "mqtt" else rabbit, root, r)
                        for role in order
                    }
                )
        finally:
            mosquitto.stop()
            rabbit.stop()

    ratios = []
    for i, results in enumerate(rounds, 1):
        rates = {k: v["messages"] / v["seconds"] for k, v in results.items()}
        ratios.append(rates["amqp"] / rates["mqtt"])
        for role in ("mqtt", "amqp"):
            v = results[role]
            print(
                f"round {i}: {role.upper()} source -> SQLite: {rates[role]:7,.0f} msg/s   CPU "
                f"{v['cpu_s'] / v['messages'] * 1e6:4.0f} µs/msg"
                f" ({v['messages'] / v['cpu_s']:,.0f} msg/s per core)"
                f" ({v['cpu_s'] / v['seconds']:.0%})   peak RSS {v['peak_rss_mb']:.0f} MB"
            )
        print(
            f"round {i}: RabbitMQ enqueue into {args.partitions} quorum queues: "
            f"{enqueue_rates[i - 1]:7,.0f} msg/s   ratio AMQP / MQTT {ratios[-1]:.2f}"
        )
    print(
        f"ratio AMQP / MQTT drain, median of {len(ratios)} round(s): "
        f"{statistics.median(ratios):.2f} (target >= 1.0 per core)"
    )


def drain(
    role: str, args: argparse.Namespace, broker: Mosquitto | RabbitMQ, root: Path, r: int
) -> dict[str, float]:
    workdir = root / f"{role}{r}"
    workdir.mkdir(exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "bench.amqp",
        "--role",
        role,
        "--messages",
        str(args.messages),
        "--partitions",
        str(args.partitions),
        "--port",
        str(broker.port),
        "--workdir",
        str(workdir),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
