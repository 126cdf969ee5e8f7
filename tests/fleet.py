"""Sequence-numbered uplinks of a small fleet of pulse meters, for fault and load tests.

Device d's uplink n carries pulse count 100 * n at T0 + n x 15 min, so the consumption of every
device is known exactly: (last - first) x 100 / pulses_per_kwh. Published at QoS 1 by a
persistent-session client, so the broker holds them until they are delivered.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
PROFILE = "Milesight EM300-DI (EU868)"


def eui(d: int) -> str:
    return f"24e1241300{d:06x}"


def inventory(path: Path, devices: int) -> Path:
    lines = [
        '[[communes]]\nid = "c"\nname = "Commune"\nlatitude = 48.2\nlongitude = -1.6\n',
        '[[buildings]]\nid = "b"\ncommune = "c"\nname = "Building"\n',
    ]
    for d in range(devices):
        lines.append(
            f'[[devices]]\ndev_eui = "{eui(d)}"\nname = "meter-{d}"\ndecoder = "milesight-em300-di"\n'
            'building = "b"\nkind = "electricity"\nparams = { pulses_per_kwh = 1000 }\n'
        )
    path.write_text("\n".join(lines))
    return path


def topic(d: int) -> str:
    return f"application/{APP}/device/{eui(d)}/event/up"


def event(d: int, n: int) -> bytes:
    frame = bytes.fromhex("01755c05c8") + struct.pack("<I", 100 * n)
    return json.dumps(
        {
            "deduplicationId": f"{d:08x}-0000-4000-8000-{n:012x}",
            "time": (T0 + timedelta(minutes=15 * n)).isoformat(),
            "deviceInfo": {
                "devEui": eui(d),
                "deviceName": f"meter-{d}",
                "deviceProfileName": PROFILE,
            },
            "fCnt": n,
            "fPort": 85,
            "data": base64.b64encode(frame).decode(),
        }
    ).encode()


def messages(devices: int, per_device: int) -> Iterator[tuple[str, bytes]]:
    """Round-robin over devices, each device's uplinks in order."""
    for n in range(per_device):
        for d in range(devices):
            yield topic(d), event(d, n)


class Publisher:
    """A QoS 1 publisher that survives broker restarts (its unacked messages are resent)."""

    def __init__(self, port: int, client_id: str = "fleet-publisher") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, items: Iterator[tuple[str, bytes]]) -> list[mqtt.MQTTMessageInfo]:
        return [self.client.publish(t, p, qos=1) for t, p in items]

    def publish_in_background(self, items: list[tuple[str, bytes]]) -> threading.Thread:
        thread = threading.Thread(target=lambda: self.wait(self.publish(iter(items))), daemon=True)
        thread.start()
        return thread

    @staticmethod
    def wait(infos: list[mqtt.MQTTMessageInfo], timeout: float = 300) -> None:
        """Until the broker acknowledged every message (resent after a broker restart)."""
        deadline = time.monotonic() + timeout
        for info in infos:
            while not info.is_published():
                if time.monotonic() > deadline:
                    raise TimeoutError("the broker did not acknowledge every message")
                time.sleep(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
