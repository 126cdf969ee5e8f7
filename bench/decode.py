"""Decode cost per frame: the native Milesight EM300-DI decoder against the JS sandbox.

Both decode the EM300-DI example frames of lorawatch/decoders/devices/milesight_em300_di.yaml;
the JS side runs tests/js_codecs/em300_di.js (our TS013 codec of the same device) through the
``js`` decoder, so the numbers say what a vendor codec costs per uplink against a native
decoder. Each cost is the median over ``--repeat`` runs of ``--number`` decodes, timed in CPU
time of the decoding thread (time.thread_time_ns: QuickJS runs in the caller's thread, and
time the scheduler gives to other processes on a busy machine is not the decoder's cost); the
context is built before timing, as it is once per thread in service. Every JS decode includes
the sandbox's isolation (the codec's top level run afresh, globals and built-ins put back).

A second table runs a Device Repository style codec (tests/js_codecs/repository, WL-100: a
top-level result object, TS013 decodeUplink and TTN normalizeUplink) on its own examples,
through the repository lookup and the ``js`` decoder, against the per-call budget of
``PER_CALL_BUDGET_US``; the same run also measures the smallest codec (tests/js_codecs/
counter.js, a few lines), the floor under any codec's cost, isolation included, on this machine.

Run from the repository root: ``python -m bench.decode`` or ``python bench/decode.py``.
Exits 1 when the two decoders disagree on any frame's data (or on whether it decodes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from lorawatch.decoders import devices, registry, repository, vectors
from lorawatch.decoders.base import DecodeResult, Uplink
from lorawatch.decoders.js import JSCodec

ROOT = Path(__file__).resolve().parents[1]
CODEC = ROOT / "tests" / "js_codecs" / "em300_di.js"
REPOSITORY = ROOT / "tests" / "js_codecs" / "repository"
REPOSITORY_DEVICE = "lorawatch-labs/wl-100"
PER_CALL_BUDGET_US = 100.0
VECTORS = Path(devices.__file__).parent / "milesight_em300_di.yaml"
TARGET_RATIO = 10.0


def frames() -> list[tuple[str, Uplink]]:
    out = []
    for example in vectors.load(VECTORS):
        inp = example.raw["input"]
        payload = bytes.fromhex(str(inp.get("bytes", "")).replace(" ", ""))
        uplink = Uplink(payload, int(inp.get("fPort", 85)), vectors.DEFAULT_RECV_TIME)
        out.append((example.description, uplink))
    return out


def cost_us(
    decode: Callable[[Uplink], DecodeResult], uplink: Uplink, number: int, repeat: int
) -> float:
    """Median cost of one decode in µs."""
    runs = []
    for _ in range(repeat):
        start = time.thread_time_ns()
        for _ in range(number):
            decode(uplink)
        runs.append((time.thread_time_ns() - start) / number)
    return statistics.median(runs) / 1000


def disagreement(native: DecodeResult, js: DecodeResult) -> str | None:
    if native.ok != js.ok:
        return f"native ok={native.ok} {native.errors}, js ok={js.ok} {js.errors}"
    if native.data != js.data:
        return f"native data {native.data} != js data {js.data}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per frame (median)")
    parser.add_argument("--number", type=int, default=200, help="decodes per timed run")
    report.add_json_out(parser, "decode")
    args = parser.parse_args(argv)
    ctx = report.context()

    native = registry.get("milesight-em300-di")
    js = JSCodec(CODEC)
    problem = js.check()
    if problem:
        print(problem, file=sys.stderr)
        return 2

    rows = []
    disagreements = []
    for description, uplink in frames():
        wrong = disagreement(native.decode_uplink(uplink), js.decode_uplink(uplink))
        if wrong:
            disagreements.append(f"{description}: {wrong}")
        n_us = cost_us(native.decode_uplink, uplink, args.number, args.repeat)
        j_us = cost_us(js.decode_uplink, uplink, args.number, args.repeat)
        rows.append((description, len(uplink.payload), n_us, j_us))

    width = max(len(r[0]) for r in rows)
    print(f"{'frame':<{width}}  bytes  native µs      js µs   js/native")
    for description, size, n_us, j_us in rows:
        print(f"{description:<{width}}  {size:5d}  {n_us:9.1f}  {j_us:9.1f}  {j_us / n_us:9.1f}x")
    n_med = statistics.median(r[2] for r in rows)
    j_med = statistics.median(r[3] for r in rows)
    ratio = j_med / n_med
    print(f"{'median over frames':<{width}}  {'':5}  {n_med:9.1f}  {j_med:9.1f}  {ratio:9.1f}x")
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"target: native at least {TARGET_RATIO:g}x cheaper than the JS sandbox: {verdict}")

    within_budget = repository_table(args.number, args.repeat)

    report.write(
        args.json_out,
        "decode",
        ctx,
        {"repeat": args.repeat, "number": args.number, "clock": "thread CPU time"},
        {
            "frames": [
                {"frame": d, "bytes": size, "native_us": n, "js_us": j} for d, size, n, j in rows
            ],
            "native_median_us": n_med,
            "js_median_us": j_med,
            "ratio": ratio,
            "disagreements": disagreements,
        },
        [
            {
                "benchmark": f"`decode`: the {len(rows)} EM300-DI vector frames, median per frame,"
                " CPU time of the decoding thread",
                "figure": f"native {n_med:.1f} µs",
                "baseline": f"vendor-style JS codec in the QuickJS sandbox {j_med:.1f} µs",
                "ratio": f"{ratio:.1f}× cheaper (target {TARGET_RATIO:g}×)",
            }
        ],
    )
    if disagreements:
        print(f"\n{len(disagreements)} frame(s) decoded differently:", file=sys.stderr)
        for line in disagreements:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"native and JS decoders agree on all {len(rows)} frames")
    return 0 if within_budget else 1


def repository_table(number: int, repeat: int) -> bool:
    """Per-call cost of a repository codec on its examples; False when a frame is over budget
    or decodes differently from its example."""
    codec = repository.Repository(REPOSITORY).codec_of(REPOSITORY_DEVICE)
    decoder = JSCodec(codec.script)
    floor = JSCodec(ROOT / "tests" / "js_codecs" / "counter.js")
    ok = True
    print(f"\n{REPOSITORY_DEVICE} ({codec.script.name}) through the sandbox, per call")
    rows = []
    for example in codec.examples:
        uplink = Uplink(example.payload, example.f_port, vectors.DEFAULT_RECV_TIME)
        result = decoder.decode_uplink(uplink)
        if example.problems(result):
            print(f"  {example.description}: {'; '.join(example.problems(result))}")
            ok = False
        rows.append((example.description, cost_us(decoder.decode_uplink, uplink, number, repeat)))
    bare = cost_us(
        floor.decode_uplink, Uplink(b"\x05", 1, vectors.DEFAULT_RECV_TIME), number, repeat
    )
    width = max(len(r[0]) for r in rows)
    for description, us in rows:
        print(f"  {description:<{width}}  {us:7.1f} µs")
    worst = max(us for _, us in rows)
    verdict = "met" if worst < PER_CALL_BUDGET_US else "NOT met"
    print(f"  smallest codec (counter.js), the floor on this machine: {bare:.1f} µs")
    print(f"  budget: every call under {PER_CALL_BUDGET_US:g} µs, isolation included: {verdict}")
    return ok and worst < PER_CALL_BUDGET_US


if __name__ == "__main__":
    sys.exit(main())
