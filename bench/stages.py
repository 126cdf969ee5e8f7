"""CPU per message of each stage of the pipeline, against a bare ``orjson.loads``.

The ingest bench's uplinks (200 EM300-DI meters, ChirpStack v4 JSON) go through the stages
of the service's bridge one at a time, each over the whole backlog, timed in CPU time of
the thread (time.thread_time: another process's turn on a busy machine is not the stage's
cost). No broker and no InfluxDB server: the receiver child's cost is in ``bench.ingest``,
and the HTTP post is the server's time. What profiling chooses from, and where a change
shows up: the stages add up to the service's own CPU per message in ``bench.ingest``.

Then the service's whole loop (prepare, line protocol and body, state file, finish) on fresh
files, once in batches of 1,000 (a drain) and once in batches of ``--live-batch`` (20: a
town's 80 uplinks a second gathered for 250 ms), where what a batch costs whatever its size
(the transaction, the rules' per-subject saves) falls on a few uplinks; each half of the
uplinks timed apart, so that a cost growing with the state kept shows.

    python -m bench.stages [--messages 20000] [--live-batch 20]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from bench import report
from bench.ingest import backlog, inventory
from bench.wide import WideStore
from lorawatch.app import config
from lorawatch.core import logs
from lorawatch.gateway_bridge.events import parse
from lorawatch.gateway_bridge.source import Message, NullSource
from lorawatch.pipeline import line_protocol
from lorawatch.pipeline.records import Batch
from lorawatch.stores.sqlite import SqliteStore

if TYPE_CHECKING:
    from lorawatch.app.service import Service

SERIES = "SQLite readings+deltas+rollup, series layout"
WIDE = "SQLite readings+deltas+rollup, schema 2 wide rows"


def timed(action: Callable[[], object]) -> float:
    start = time.thread_time()
    action()
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--live-batch", type=int, default=20, help="batch size of the live-rate loop"
    )
    report.add_json_out(parser, "stages")
    args = parser.parse_args()
    if not 0 < args.live_batch < 1000:
        parser.error("--live-batch must be between 1 and 999 (the drain's batches are 1,000)")
    ctx = report.context()
    logs.setup("warning")
    from lorawatch.app.service import Service

    n = args.messages
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = config.load(
            None,
            {
                "inventory": {"path": str(inventory(root / "inventory.toml"))},
                "store": {"outputs": ["sqlite"], "sqlite": {"path": str(root / "lw.sqlite")}},
            },
        )
        service = Service(settings, source=NullSource())
        state = influx_only(root / "inventory.toml", root)
        bridge = service.bridge
        now = datetime.now(UTC)
        messages = [Message(t, p, now) for t, p in backlog(n)]
        gc.collect()
        size = bridge.batch_size
        chunks = [messages[i : i + size] for i in range(0, n, size)]
        spent: dict[str, float] = {}
        timed(lambda: [orjson.loads(m.payload) for m in messages])  # warm up: caches, pages
        spent["bare: orjson.loads"] = timed(lambda: [orjson.loads(m.payload) for m in messages])
        spent["parse: topic, JSON, UplinkEvent"] = timed(
            lambda: [
                parse(bridge.topics.match(m.topic), m.payload, bridge.fmt, m.received)
                for m in messages
            ]
        )
        prepared = []
        spent["prepare: parse + dedup + decode + meters"] = timed(
            lambda: prepared.extend(bridge.prepare(c) for c in chunks)
        )
        lines: list[list[str]] = []
        spent["line protocol"] = timed(
            lambda: lines.extend(line_protocol.encode(p.batch) for p in prepared)
        )
        spent["InfluxDB body: join + gzip level 1"] = timed(
            lambda: [
                gzip.compress(("\n".join(ls) + "\n").encode(), compresslevel=1) for ls in lines
            ]
        )
        spent["SQLite write (readings, deltas, rollup, alert rules)"] = timed(
            lambda: [service.sqlite.write(p.batch) for p in prepared]
        )
        spent["state file write, InfluxDB only (uplinks, states, alert rules)"] = timed(
            lambda: [state.sqlite.write(p.batch) for p in prepared]
        )
        # The readings part alone, series layout against the wide rows of schema 2, batch by
        # batch in turn on fresh files: the layout's own cost, in the same run.
        only = [Batch(readings=p.batch.readings, consumption=p.batch.consumption) for p in prepared]
        series, wide = SqliteStore(root / "series.sqlite"), WideStore(root / "wide.sqlite")
        layouts = {"series": 0.0, "wide": 0.0}
        for b in only:
            layouts["series"] += timed(lambda b=b: series.write(b))  # type: ignore[misc]
            layouts["wide"] += timed(lambda b=b: wide.write(b))  # type: ignore[misc]
        series.close()
        wide.close()
        spent[SERIES] = layouts["series"]
        spent[WIDE] = layouts["wide"]
        spent["finish: dedup commit, ack, metrics"] = timed(
            lambda: [bridge._finish(p, True) for p in prepared]
        )
        for store in [*service.stores, *state.stores]:
            store.close()
        loops = {b: whole_loop(root / f"loop{b}", messages, b) for b in (size, args.live_batch)}
    per_msg = {k: v / n * 1e6 for k, v in spent.items()}
    per_msg["of which dedup + decode + meters (prepare - parse)"] = (
        per_msg["prepare: parse + dedup + decode + meters"]
        - per_msg["parse: topic, JSON, UplinkEvent"]
    )
    service_influx = sum(
        per_msg[k]
        for k in (
            "prepare: parse + dedup + decode + meters",
            "line protocol",
            "InfluxDB body: join + gzip level 1",
            "state file write, InfluxDB only (uplinks, states, alert rules)",
            "finish: dedup commit, ack, metrics",
        )
    )
    for k, v in per_msg.items():
        print(f"{k:<64} {v:7.1f} µs/msg")
    print(f"{'service with InfluxDB output, sum of its stages':<64} {service_influx:7.1f} µs/msg")
    bare = per_msg["bare: orjson.loads"]
    layout = per_msg[SERIES] / per_msg[WIDE]
    print(f"readings part, series layout / wide rows: {layout:.2f} (CPU)")
    drain, live = loops[size], loops[args.live_batch]
    for b, (first, second) in loops.items():
        print(
            f"{f'whole loop, batches of {b:,}: first half / second half':<64}"
            f" {first:7.1f} / {second:.1f} µs/msg"
        )
    live_ratio = (live[0] + live[1]) / (drain[0] + drain[1])
    growth = live[1] / live[0]
    report.write(
        args.json_out,
        "stages",
        ctx,
        {
            "messages": n,
            "batch_size": size,
            "live_batch_size": args.live_batch,
            "clock": "thread CPU time",
            "alerts": True,
        },
        {
            "us_per_message": per_msg,
            "service_influx_us": service_influx,
            "sqlite_series_over_wide_cpu": layout,
            "whole_loop_us_per_message_halves": {str(b): list(v) for b, v in loops.items()},
            "live_over_drain_cpu": live_ratio,
            "live_second_over_first_half": growth,
        },
        [
            {
                "benchmark": f"`stages`: CPU per message of each pipeline stage, {n:,} v4"
                " uplinks of the ingest backlog, thread CPU time",
                "figure": "; ".join(
                    f"{k.split(':')[0]} {v:.1f} µs"
                    for k, v in per_msg.items()
                    if k != "bare: orjson.loads"
                ),
                "baseline": f"bare orjson.loads {bare:.1f} µs",
                "ratio": f"service stages for InfluxDB output {service_influx:.0f} µs"
                f" ({service_influx / bare:.0f}× the bare parse); SQLite readings part, series"
                f" layout / wide rows of schema 2: {layout:.2f} (CPU)",
            },
            {
                "benchmark": f"`stages`: the service's whole loop (prepare, line protocol and"
                f" body, state file with the alert rules, finish) on fresh files, {n:,} uplinks"
                f" in batches of {size:,} (a drain) and of {args.live_batch} (a town's live"
                " rate), thread CPU time, each half of the uplinks apart",
                "figure": f"batches of {args.live_batch}: {live[0]:.0f} µs an uplink in the"
                f" first half, {live[1]:.0f} in the second",
                "baseline": f"batches of {size:,}: {drain[0]:.0f} and {drain[1]:.0f} µs",
                "ratio": f"live/drain {live_ratio:.2f}; live second/first half {growth:.2f}",
            },
        ],
    )


def influx_only(inventory_path: Path, root: Path) -> Service:
    """The service with InfluxDB as its only output (never called here): its SQLite file, in
    ``root``, is the state file, written in each batch's transaction with the alert rules."""
    from lorawatch.app.service import Service

    settings = config.load(
        None,
        {
            "inventory": {"path": str(inventory_path)},
            "store": {
                "outputs": ["influxdb"],
                "sqlite": {"path": str(root / "state.sqlite")},
                "influxdb": {"url": "http://127.0.0.1:9", "spool_dir": str(root / "spool")},
            },
        },
    )
    return Service(settings, source=NullSource())


def whole_loop(root: Path, messages: list[Message], size: int) -> tuple[float, float]:
    """CPU per uplink of the service's loop in batches of ``size``, InfluxDB as its only
    output (never called: its body is made, not sent), for each half of ``messages``."""
    root.mkdir()
    service = influx_only(root.parent / "inventory.toml", root)
    bridge = service.bridge
    copies = [Message(m.topic, m.payload, m.received) for m in messages]
    halves = []
    for half in (copies[: len(copies) // 2], copies[len(copies) // 2 :]):
        chunks = [half[i : i + size] for i in range(0, len(half), size)]

        def run(chunks: list[list[Message]] = chunks) -> None:
            for chunk in chunks:
                prepared = bridge.prepare(chunk)
                lines = line_protocol.encode(prepared.batch)
                gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
                service.sqlite.write(prepared.batch)
                bridge._finish(prepared, True)

        halves.append(timed(run) / len(half) * 1e6)
    for store in service.stores:
        store.close()
    return halves[0], halves[1]


if __name__ == "__main__":
    main()
