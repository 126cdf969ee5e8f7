"""Memory against the backlog's size: does draining twice as many uplinks hold more memory?

The ingest bench's 200 EM300-DI meters (one uplink every 15 simulated minutes each) go
through the service's pipeline in process, in batches of the bridge's size, with SQLite as
the output and the alert engine on, as ``--sizes`` growing backlogs; after each size the
resident memory is read (after a garbage collection) and, with ``--attribute``, what the
growth since the first size is made of, by the code that allocated it (tracemalloc: slow,
so off by default). No broker: what the receiver child holds is bounded by the MQTT receive
window and measured by ``bench.ingest``'s peak RSS of all processes. Written to
bench/results/memory.json; the figure that matters is the growth per 1,000 uplinks between
the last two sizes (0 when memory is bounded).

    python -m bench.memory [--sizes 20000 60000 100000] [--attribute]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.ingest import DEVICES, backlog, inventory
from lorawatch.app import config
from lorawatch.core import logs
from lorawatch.gateway_bridge.source import Message, NullSource

CHUNK = 10_000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def owner(frames: Any) -> str:
    """The lorawatch module that allocated, the innermost one in the traceback."""
    for frame in frames:
        if "/lorawatch/" in frame.filename:
            return frame.filename.split("/lorawatch/", 1)[1]
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 60_000, 100_000])
    parser.add_argument("--attribute", action="store_true", help="tracemalloc attribution")
    report.add_json_out(parser, "memory")
    args = parser.parse_args()
    ctx = report.context()
    logs.setup("warning")
    from lorawatch.app.service import Service

    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = config.load(
            None,
            {
                "inventory": {"path": str(inventory(root / "inventory.toml"))},
                "store": {"sqlite": {"path": str(root / "lw.sqlite")}},
            },
        )
        service = Service(settings, source=NullSource())
        batch = service.bridge.batch_size
        points: list[dict[str, float]] = []
        first: Any = None
        done = 0
        for size in sizes:
            while done < size:
                n = min(CHUNK, size - done)
                now = datetime.now(UTC)
                messages = [Message(t, p, now) for t, p in backlog(n, done)]
                for i in range(0, n, batch):
                    service.bridge.process(messages[i : i + batch])
                done += n
                del messages
            gc.collect()
            points.append(
                {"uplinks": done, "rss_mb": rss_mb(), "peak_rss_mb": report.peak_rss_mb()}
            )
            print(f"after {done:>9,} uplinks: RSS {points[-1]['rss_mb']:6.1f} MB", flush=True)
            if args.attribute and first is None:
                tracemalloc.start(8)
                first = tracemalloc.take_snapshot()
        growth: dict[str, float] = {}
        if first is not None:
            last = tracemalloc.take_snapshot()
            by_owner: dict[str, float] = defaultdict(float)
            for stat in last.compare_to(first, "traceback"):
                by_owner[owner(reversed(stat.traceback))] += stat.size_diff / 2**20
            growth = dict(sorted(by_owner.items(), key=lambda kv: -kv[1])[:10])
            tracemalloc.stop()
        for store in service.stores:
            store.close()
    a, b = points[-2], points[-1]
    per_k = (b["rss_mb"] - a["rss_mb"]) / (b["uplinks"] - a["uplinks"]) * 1000
    print(f"growth between the last two sizes: {per_k:.2f} MB per 1,000 uplinks")
    for where, mb in growth.items():
        print(f"  {mb:7.1f} MB  {where}")
    event_days = sizes[-1] / DEVICES / 96
    report.write(
        args.json_out,
        "memory",
        ctx,
        {
            "sizes": sizes,
            "devices": DEVICES,
            "batch_size": batch,
            "outputs": list(settings.store.outputs),
            "alerts": service.alerts is not None,
            "dedup_window_s": settings.bridge.dedup_window_s,
            "attribute": args.attribute,
        },
        {"points": points, "mb_per_1000_uplinks": per_k, "growth_by_module_mb": growth},
        [
            {
                "benchmark": f"`memory`: the ingest backlog ({DEVICES} meters, up to"
                f" {sizes[-1]:,} uplinks = {event_days:.1f} days of event time) through the"
                " pipeline in process (SQLite, alerts on), RSS after a GC at each size",
                "figure": ", ".join(f"{p['uplinks']:,}: {p['rss_mb']:.0f} MB" for p in points),
                "baseline": f"the first size ({points[0]['uplinks']:,} uplinks)",
                "ratio": f"{per_k:.2f} MB per 1,000 more uplinks (bounded: 0)",
            }
        ],
    )


if __name__ == "__main__":
    main()
