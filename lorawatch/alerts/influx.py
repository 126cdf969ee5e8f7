"""Alert events as InfluxDB points, so Grafana can show open alerts beside the consumption.

The alerts live in SQLite; when the service also writes to InfluxDB, a built-in notifier
(``influxdb``) hears every lifecycle event at once (no route, no quiet hours) and writes it
as a point of the ``alert`` measurement through the InfluxDB store's own path: posted, or
spooled while InfluxDB is unreachable. The outbox marks an event sent only once InfluxDB or
the spool has it, and retries otherwise, so no event is lost.

Schema (docs/data-model.md): tags ``alert_id``, ``building``, ``commune``, ``device``,
``kind`` (the rule's domain) and ``rule``, so each alert is one series and ``last()`` of a
field is its current value; fields ``state``, ``active`` (not resolved), ``severity`` (a
field, since escalation changes it), ``title``, ``event`` and ``opened_ms`` (when it opened,
ms since the epoch). A point is stamped at the event's data time (:class:`Delivery` ``at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from lorawatch.alerts.config import INFLUXDB_NOTIFIER, NotifierConfig
from lorawatch.alerts.model import AlertState
from lorawatch.alerts.notify import Delivery, NotifyError
from lorawatch.core import timeutil
from lorawatch.core.errors import StoreUnavailable
from lorawatch.pipeline import line_protocol

NAME: Final = INFLUXDB_NOTIFIER

INFLUX_CONFIG: Final = NotifierConfig.model_validate(
    {
        "name": NAME,
        "type": "influxdb",
        # Only a full spool fails a write, and that stops ingestion too: keep retrying,
        # never give up an event.
        "max_attempts": 1_000_000_000,
        "backoff_initial_s": 1.0,
        "backoff_max_s": 60.0,
    }
)


class LineSink(Protocol):
    """What the notifier needs of :class:`~lorawatch.stores.influx.InfluxStore`."""

    def write_lines(self, lines: Sequence[str]) -> None:
        """Return once InfluxDB or the spool has the lines; StoreUnavailable otherwise."""


def builtin(outputs: Sequence[str]) -> tuple[str, ...]:
    """The built-in notifiers for these ``store.outputs``."""
    return (NAME,) if "influxdb" in outputs else ()


def state_at(d: Delivery) -> AlertState:
    """The alert's state right after the event (the alert row is read later, at delivery)."""
    if d.event == "resolved":
        return AlertState.RESOLVED
    if d.event == "acknowledged":
        return AlertState.ACKNOWLEDGED
    acked = d.alert.acked_at
    if d.event == "escalated" and acked is not None and acked <= d.time:
        return AlertState.ACKNOWLEDGED
    return AlertState.OPEN


def point(d: Delivery) -> str:
    """The line-protocol point of one alert event."""
    a = d.alert
    state = state_at(d)
    tags = {
        "alert_id": str(a.id),
        "building": a.building,
        "commune": a.commune,
        "device": a.device,
        "kind": a.kind,
        "rule": a.rule,
    }
    fields: dict[str, str | bool | int] = {
        "state": str(state),
        "active": state is not AlertState.RESOLVED,
        "severity": str(d.severity),
        "title": a.title,
        "event": d.event,
        "opened_ms": timeutil.ns(a.opened_at) // 1_000_000,
    }
    return line_protocol.alert(tags, fields, d.at)


class InfluxNotifier:
    """Writes alert events to InfluxDB, many per request (``digest``: one write per batch)."""

    name = NAME
    digest = True

    def __init__(self, sink: LineSink) -> None:
        self.sink = sink

    def send(self, deliveries: list[Delivery]) -> None:
        try:
            self.sink.write_lines([point(d) for d in deliveries])
        except StoreUnavailable as exc:
            raise NotifyError(str(exc)) from None

    def close(self) -> None:
        return None
