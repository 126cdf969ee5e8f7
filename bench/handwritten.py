"""The second baseline: the bridge an integrator writes by hand in an afternoon.

paho-mqtt on a persistent QoS 1 session, ``json.loads`` of each ChirpStack v4 ``up`` event,
the Milesight EM300-DI frame decoded inline (battery, temperature, humidity, pulse counter),
one InfluxDB line per uplink, written over HTTP in batches of ``--batch`` points or every
``--flush-s`` seconds, whichever comes first (the defaults of Telegraf and of Node-RED's
batch node are of that kind). paho acks each message when ``on_message`` returns, before the
point is written: a crash loses the batch in hand. No de-duplication, no meter semantics, no
dead letters, no alerts: that is what lorawatch's extra CPU per message buys, and what this
baseline prices. It imports nothing from lorawatch, on purpose.

Run by ``bench.ingest`` in its own process; prints one JSON line of figures when ``--messages``
points are written.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def decode_em300_di(data: bytes) -> dict[str, float]:
    """Channel/type pairs of the vendor's documentation; unknown channels end the frame."""
    out: dict[str, float] = {}
    i = 0
    while i + 2 <= len(data):
        channel, kind = data[i], data[i + 1]
        i += 2
        if channel == 0x01 and kind == 0x75:
            out["battery"] = data[i]
            i += 1
        elif channel == 0x03 and kind == 0x67:
            out["temperature"] = struct.unpack_from("<h", data, i)[0] / 10
            i += 2
        elif channel == 0x04 and kind == 0x68:
            out["humidity"] = data[i] / 2
            i += 1
        elif channel == 0x05 and kind == 0xC8:
            out["pulse_count"] = struct.unpack_from("<I", data, i)[0]
            i += 4
        else:
            break
    return out


class Bridge:
    def __init__(self, influx_url: str, database: str, batch: int, flush_s: float) -> None:
        self.http = httpx.Client(base_url=influx_url, timeout=30)
        self.database = database
        self.batch = batch
        self.flush_s = flush_s
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.written = 0
        self.first = 0.0
        """When the first message arrived (perf_counter): the drain is timed from it."""
        self.last_write = 0.0

    def on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        if not self.first:
            self.first = time.perf_counter()
        event = json.loads(msg.payload)
        values = decode_em300_di(base64.b64decode(event.get("data", "")))
        if not values:
            return
        info = event["deviceInfo"]
        ts = int(datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp() * 1e9)
        fields = ",".join(
            f"{k}={v}i" if k == "pulse_count" else f"{k}={float(v)}" for k, v in values.items()
        )
        line = f"em300di,dev_eui={info['devEui']},device={info['deviceName']} {fields} {ts}"
        with self.lock:
            self.lines.append(line)
            full = len(self.lines) >= self.batch
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            lines, self.lines = self.lines, []
        if not lines:
            return
        while True:
            try:
                r = self.http.post(
                    "/write", params={"db": self.database}, content="\n".join(lines).encode()
                )
                if r.status_code == 204:
                    break
                print(f"influxdb: {r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                print(f"influxdb: {exc}")
            time.sleep(1)
        with self.lock:
            self.written += len(lines)
            self.last_write = time.perf_counter()

    def flush_every(self, stop: threading.Event) -> None:
        while not stop.wait(self.flush_s):
            self.flush()


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--influx", required=True)
    parser.add_argument("--database", default="handwritten")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--client-id", default="bench-handwritten")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--flush-s", type=float, default=1.0)
    args = parser.parse_args()
    bridge = Bridge(args.influx, args.database, args.batch, args.flush_s)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5
    )
    client.on_message = bridge.on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 2000
    stop = threading.Event()
    flusher = threading.Thread(target=bridge.flush_every, args=(stop,), daemon=True)
    started, cpu = time.perf_counter(), time.process_time()
    client.connect("127.0.0.1", args.port, clean_start=False, properties=props)
    client.loop_start()
    flusher.start()
    deadline = time.monotonic() + 900
    while bridge.written < args.messages and time.monotonic() < deadline:
        time.sleep(0.02)  # the script polls its own count; the wait is not part of the figures
    cpu = time.process_time() - cpu
    stop.set()
    client.disconnect()
    client.loop_stop()
    figures = {
        "seconds": bridge.last_write - bridge.first,
        "seconds_from_start": bridge.last_write - started,
        "messages": bridge.written,
        "cpu_s": cpu,
        "peak_rss_mb": {"total": peak_rss_mb()},
        "settings": {"batch_points": args.batch, "flush_s": args.flush_s, "ack": "paho auto"},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
