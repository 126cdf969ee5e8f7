"""The AMQP path of bench/ingest: N workers draining a backlog queued in RabbitMQ partitions.

The backlog is published as ChirpStack's AMQP integration publishes it (to ``amq.topic``,
routing key ``application.{id}.device.{dev_eui}.event.up``, no confirms), and lands, through
the consistent-hash exchange of ``lorawatch amqp setup``, in P quorum queues with single
active consumer. N worker processes, each the service as ``lorawatch run`` builds it (AMQP
source, InfluxDB output, each its own local state file until the shared state is wired),
connect and wait; at the go they start together, so RabbitMQ spreads the queues among them
(it never moves a queue from a living consumer: a worker that subscribed late stands by).
The drain time runs from the go to the moment the last point is in InfluxDB; the CPU is each
worker process's own (pika runs in a thread, there is no child), summed over the workers.

``python -m bench.ingest`` runs this after its MQTT systems, in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pika

from bench import report
from lorawatch.gateway_bridge import amqp
from lorawatch.gateway_bridge.settings import AmqpConfig
from tests.servers import InfluxDB, RabbitMQ, wait_until

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants: a
    broker's (RabbitMQ's Erlang VM is a child of its start script)."""
    if pid is None:
        return 0.0
    total = 0
    for p in [pid, *report.descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def broker_pid(broker: RabbitMQ | Any) -> int | None:
    return broker.proc.pid if broker.proc is not None else None


def topology(broker: RabbitMQ, partitions: int) -> AmqpConfig:
    cfg = AmqpConfig.model_validate({"url": broker.url("/"), "partitions": partitions})
    amqp.setup(cfg)
    return cfg


def enqueue(
    broker: RabbitMQ, cfg: AmqpConfig, items: list[tuple[str, bytes]]
) -> tuple[float, float]:
    """Publish as ChirpStack does; seconds until every message is in a partition queue, and
    the broker's CPU seconds meanwhile (the quorum queues' replicated writes)."""
    connection = pika.BlockingConnection(broker.parameters("/"))
    channel = connection.channel()

    def depth() -> int:
        return sum(
            channel.queue_declare(q, passive=True).method.message_count for q in cfg.queues()
        )

    before = depth()
    cpu = tree_cpu_s(broker_pid(broker))
    started = time.perf_counter()
    props = pika.BasicProperties(content_type="application/json")
    for topic, payload in items:
        channel.basic_publish("amq.topic", topic.replace("/", "."), payload, props)
    wait_until(lambda: depth() - before >= len(items), 600, "the backlog in the partitions")
    seconds = time.perf_counter() - started
    cpu = tree_cpu_s(broker_pid(broker)) - cpu
    connection.close()
    return seconds, cpu


def points(influx: InfluxDB, database: str) -> int:
    result = influx.query('SELECT COUNT("pulse_count") FROM "reading"', database)["results"][0]
    return int(result["series"][0]["values"][0][1]) if "series" in result else 0


def drain(
    workers: int,
    broker: RabbitMQ,
    influx: InfluxDB,
    database: str,
    partitions: int,
    target: int,
    workdir: Path,
) -> dict[str, Any]:
    """Start ``workers`` processes, say go to all at once, wait until InfluxDB holds
    ``target`` points, stop them; their figures and the drain's."""
    procs = []
    for i in range(workers):
        wd = workdir / f"w{i}"
        wd.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "bench.ingest_amqp", "--port", str(broker.port)]
        cmd += ["--influx", influx.url, "--database", database, "--workdir", str(wd)]
        cmd += ["--partitions", str(partitions)]
        procs.append(
            subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    try:
        for p in procs:
            assert p.stdout is not None and p.stdin is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker did not start: {line!r}")
        before = points(influx, database)
        broker_cpu = tree_cpu_s(broker_pid(broker))
        started = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        wait_until(lambda: points(influx, database) >= target, 1800, f"{workers} workers' drain")
        seconds = time.perf_counter() - started
        broker_cpu = tree_cpu_s(broker_pid(broker)) - broker_cpu
        results = []
        for p in procs:
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write("stop\n")
            p.stdin.flush()
            results.append(json.loads(p.stdout.readline()))
        for p in procs:
            p.wait(60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            for pipe in (p.stdin, p.stdout):
                if pipe is not None:
                    pipe.close()
    messages = target - before
    return {
        "workers": workers,
        "seconds": seconds,
        "messages": messages,
        "cpu_s": sum(r["cpu_s"] for r in results),
        "broker_cpu_s": broker_cpu,
        "acked": [r["acked"] for r in results],
        "active_partitions": [r["active_partitions"] for r in results],
        "peak_rss_mb": {"total": round(sum(r["peak_rss_mb"] for r in results), 1)},
    }


def worker(args: argparse.Namespace) -> None:
    """One worker: build the service, say ready, start at the go, report at the stop."""
    # Imported here: the parent process, which only orchestrates, never loads the service;
    # bench.ingest imports this module (a top-level import back would be circular).
    from bench.ingest import inventory
    from lorawatch.app import config
    from lorawatch.app.service import Service
    from lorawatch.core import logs

    report.load_as_run()
    logs.setup("warning")
    workdir = Path(args.workdir)
    settings = config.load(
        None,
        {
            "inventory": {"path": str(inventory(workdir / "inventory.toml"))},
            "http": report.DEPLOYED_HTTP,
            "bridge": {"source": "amqp"},
            "amqp": {"url": f"amqp://127.0.0.1:{args.port}/%2F", "partitions": args.partitions},
            "store": {
                "outputs": ["influxdb"],
                "sqlite": {"path": str(workdir / "lw.sqlite")},
                "influxdb": {
                    "url": args.influx,
                    "database": args.database,
                    "spool_dir": str(workdir / "spool"),
                },
            },
        },
    )
    service = Service(settings)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu = time.process_time()
    service.start()
    sys.stdin.readline()
    cpu = time.process_time() - cpu
    health = service.source.health()
    acked = service.bridge.acked
    rss = report.peak_rss_mb()
    service.stop()
    active = health.get("active_partitions", [])
    print(
        json.dumps(
            {
                "cpu_s": cpu,
                "acked": acked,
                "active_partitions": len(active) if isinstance(active, list) else 0,
                "peak_rss_mb": rss,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--influx", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    worker(parser.parse_args())


if __name__ == "__main__":
    main()
