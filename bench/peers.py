"""Peers for ``bench.ingest``: a bridge someone already runs, drained side by side with lorawatch.

The first thing an integrator does is compare lorawatch with the flow they have (a Node-RED
flow, a Telegraf configuration, a script). ``python -m bench.ingest --peer NAME=COMMAND`` runs
it in the same rounds, on the same backlog, measured as the others are. ``COMMAND`` is a
shell command; it gets, in its environment:

- ``LORAWATCH_BENCH_MQTT_HOST``, ``LORAWATCH_BENCH_MQTT_PORT``: the private Mosquitto;
- ``LORAWATCH_BENCH_CLIENT_ID``: its persistent session (MQTT 5, session expiry 3600 s), where
  the round's uplinks are queued on ``LORAWATCH_BENCH_TOPIC`` at QoS 1: it must connect with
  this client id and without a clean start;
- ``LORAWATCH_BENCH_INFLUX_URL`` (and ``_HOST``, ``_PORT``), ``LORAWATCH_BENCH_INFLUX_DB``:
  the private InfluxDB 1.x database it writes to, one point per uplink in measurement
  ``em300di`` with the frame's ``pulse_count`` as a field, tagged so that points of different
  uplinks never collide (``dev_eui`` and the event's time), as ``bench.handwritten`` does;
- ``LORAWATCH_BENCH_WORKDIR``: a directory of its own; ``LORAWATCH_BENCH_FREE_PORT``: a free
  loopback port, for a peer that must listen somewhere;
- ``LORAWATCH_BENCH_FIRST_FILE``: where it may write the epoch time (seconds or
  milliseconds) at which its first message arrived.

The bench counts the points until the round's are all stored, then stops the command's
process group. Drain time runs from the first message when the peer wrote it (a runtime's own
start, seconds for Node-RED, is not part of a drain), else from the command's start. CPU is
that of the command's processes, less what its start alone takes: measured first, by the same
command on a session with nothing queued, until its CPU stops moving. Peak RSS is the sum of
its processes' peaks. ``bench/peers/node-red`` holds such a peer: a Node-RED flow.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import report
from bench.ingest_amqp import tree_cpu_s

if TYPE_CHECKING:
    from tests.servers import InfluxDB, Mosquitto

MEASUREMENT = "em300di"
TOPIC = "application/+/device/+/event/+"
BOOT_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 900.0
POLL_S = 0.05


@dataclass(frozen=True)
class Peer:
    name: str
    command: str

    @classmethod
    def parse(cls, text: str) -> Peer:
        name, sep, command = text.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not command.strip():
            raise ValueError(
                f"--peer {text!r}: expected NAME=COMMAND, NAME in lower-case letters, digits"
                " and _ (it names the peer's MQTT session and InfluxDB database)"
            )
        if name in ("bare", "handwritten", "lorawatch"):
            raise ValueError(f"--peer {text!r}: {name!r} is one of the bench's own systems")
        return cls(name, command)

    @property
    def client_id(self) -> str:
        return f"bench-{self.name}"

    @property
    def database(self) -> str:
        return f"peer_{self.name}"


def environment(
    client_id: str, database: str, broker: Mosquitto, influx: InfluxDB, workdir: Path
) -> dict[str, str]:
    from tests.servers import free_port  # the parent's (see bench.ingest's imports)

    return {
        **os.environ,
        "LORAWATCH_BENCH_MQTT_HOST": "127.0.0.1",
        "LORAWATCH_BENCH_MQTT_PORT": str(broker.port),
        "LORAWATCH_BENCH_CLIENT_ID": client_id,
        "LORAWATCH_BENCH_TOPIC": TOPIC,
        "LORAWATCH_BENCH_INFLUX_URL": influx.url,
        "LORAWATCH_BENCH_INFLUX_HOST": "127.0.0.1",
        "LORAWATCH_BENCH_INFLUX_PORT": str(influx.port),
        "LORAWATCH_BENCH_INFLUX_DB": database,
        "LORAWATCH_BENCH_WORKDIR": str(workdir),
        "LORAWATCH_BENCH_FREE_PORT": str(free_port()),
        "LORAWATCH_BENCH_FIRST_FILE": str(workdir / "first-message"),
    }


def _start(command: str, env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "peer.log").open("ab") as log:  # the child has its own copy of it
        return subprocess.Popen(
            command,
            shell=True,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _failed(proc: subprocess.Popen[bytes], workdir: Path, peer: Peer, what: str) -> RuntimeError:
    tail = (workdir / "peer.log").read_text(errors="replace")[-2000:] or "(it printed nothing)"
    return RuntimeError(
        f"peer {peer.name}: its command ended during its {what} (exit {proc.returncode}),"
        f" see {workdir / 'peer.log'}:\n{tail}"
    )


def boot_cpu(peer: Peer, broker: Mosquitto, influx: InfluxDB, workdir: Path) -> float:
    """CPU seconds of the command's start alone: on a session with nothing queued, until its
    processes' CPU has not moved for two seconds."""
    influx.create_database(f"{peer.database}_boot")
    env = environment(f"{peer.client_id}-boot", f"{peer.database}_boot", broker, influx, workdir)
    proc = _start(peer.command, env, workdir)
    try:
        last, flat_since = -1.0, time.monotonic()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            time.sleep(0.25)
            if proc.poll() is not None:
                raise _failed(proc, workdir, peer, "start")
            now = tree_cpu_s(proc.pid)
            if now != last:
                last, flat_since = now, time.monotonic()
            elif time.monotonic() - flat_since >= 2.0:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"peer {peer.name}: still busy {BOOT_TIMEOUT_S:.0f} s after start"
                )
    finally:
        _stop(proc)


def drain(
    peer: Peer,
    broker: Mosquitto,
    influx: InfluxDB,
    workdir: Path,
    messages: int,
    expected_total: int,
    boot: float,
) -> dict[str, Any]:
    """Run the peer until the database holds ``expected_total`` points (the rounds so far)."""
    from bench.ingest import stored_points  # bench.ingest imports this module

    env = environment(peer.client_id, peer.database, broker, influx, workdir)
    first_file = Path(env["LORAWATCH_BENCH_FIRST_FILE"])
    first_file.unlink(missing_ok=True)
    wall_at_start, started = time.time(), time.perf_counter()
    proc = _start(peer.command, env, workdir)
    try:
        deadline = started + DRAIN_TIMEOUT_S
        while stored_points(influx, peer.database, MEASUREMENT)["points"] < expected_total:
            if proc.poll() is not None:
                raise _failed(proc, workdir, peer, "drain")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"peer {peer.name}: not drained after {DRAIN_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        done = time.perf_counter()
        cpu = tree_cpu_s(proc.pid)
        rss = report.tree_peak_rss_mb(proc.pid)
    finally:
        _stop(proc)
    from_start = done - started
    seconds, timed_from = from_start, "command start"
    if first_file.exists():
        first = float(first_file.read_text().strip())
        first = first / 1000 if first > 1e11 else first  # milliseconds
        seconds, timed_from = done - started - (first - wall_at_start), "first message"
    return {
        "seconds": seconds,
        "seconds_from_start": from_start,
        "messages": messages,
        "cpu_s": max(0.0, cpu - boot),
        "cpu_s_with_start": cpu,
        "peak_rss_mb": rss,
        "settings": {"command": peer.command, "timed_from": timed_from, "start_cpu_s": boot},
    }
