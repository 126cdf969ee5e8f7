"""ChirpStack's other events (status, join...) are stored once, across restarts.

A status event re-published with a new deduplicationId and a later time is the same event:
its battery reading is not added again (in process, a restart being a new Service on the same
file, as in tests/test_idempotency.py). The same content said again after the horizon (a
device reporting the same battery and margin days later) is a new event.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from lorawatch.gateway_bridge.source import Message
from tests.conftest import REFERENCE
from tests.test_bridge import EUI, T0, count
from tests.test_idempotency import restarted, service

TOPIC = f"application/17c82e96-be03-4f38-aef3-f83d48582d97/device/{EUI}/event/"
JOIN_ID = "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"


def status(
    battery: float, at: timedelta, dedup: str = "9a1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d"
) -> Message:
    event = json.loads((REFERENCE / "v4-event-status.json").read_text())
    event.update(batteryLevel=battery, deduplicationId=dedup, time=(T0 + at).isoformat())
    return Message(TOPIC + "status", json.dumps(event).encode(), T0 + at, 1, 1)


def join(at: timedelta) -> Message:
    event = json.loads((REFERENCE / "v4-event-join.json").read_text())
    event.update(deduplicationId=JOIN_ID, time=(T0 + at).isoformat())
    return Message(TOPIC + "join", json.dumps(event).encode(), T0 + at, 1, 1)


def republished(message: Message, later: timedelta) -> Message:
    """The same event published again: a new deduplicationId, a later time."""
    event = json.loads(message.payload)
    event["deduplicationId"] = "ffffffff" + event["deduplicationId"][8:]
    event["time"] = (T0 + later).isoformat()
    return Message(message.topic, json.dumps(event).encode(), T0 + later, 2, 1)


def test_a_republished_status_adds_no_reading_across_restarts(tmp_path: Path) -> None:
    first = status(91.34, timedelta(0))
    svc = service(tmp_path)
    svc.bridge.process([first, join(timedelta(minutes=1))])
    svc = restarted(svc, tmp_path)
    svc.bridge.process(
        [
            republished(first, timedelta(minutes=7)),
            republished(first, timedelta(minutes=8)),  # twice in one batch
            republished(join(timedelta(minutes=1)), timedelta(minutes=9)),
        ]
    )
    svc = restarted(svc, tmp_path)
    svc.bridge.process([republished(first, timedelta(hours=5))])
    assert count(svc, "SELECT COUNT(*) FROM readings WHERE name = 'battery_pct'") == 1
    assert count(svc, "SELECT COUNT(*) FROM device_events WHERE kind = 'status'") == 1
    assert count(svc, "SELECT COUNT(*) FROM device_events WHERE kind = 'join'") == 1
    assert count(svc, "SELECT time_us FROM device_events WHERE kind = 'status'") == int(
        T0.timestamp() * 1e6
    ), "the first copy is kept"
    assert svc.metrics.registry.get_sample_value("lorawatch_duplicates_total") == 1


def test_the_same_content_days_later_is_a_new_status(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.bridge.process([status(91.0, timedelta(0)), status(90.0, timedelta(hours=2), "b" * 8)])
    svc = restarted(svc, tmp_path)
    # The same battery and margin as the first, two and three days later: new reports, each
    # followed by its own copy a few minutes afterwards.
    days = (2, 3)
    later = [status(91.0, timedelta(days=d), f"{d}" * 8) for d in days]
    copies = [
        republished(m, timedelta(days=d, minutes=4)) for m, d in zip(later, days, strict=True)
    ]
    svc.bridge.process([*later, *copies])
    assert count(svc, "SELECT COUNT(*) FROM readings WHERE name = 'battery_pct'") == 4
    assert count(svc, "SELECT COUNT(*) FROM device_events WHERE kind = 'status'") == 4
    assert count(svc, "SELECT COUNT(DISTINCT uid) FROM device_events WHERE kind = 'status'") == 4
    assert svc.metrics.registry.get_sample_value("lorawatch_duplicates_total") == 2
