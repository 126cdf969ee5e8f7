"""What rules say and what the lifecycle keeps: findings, evidence, alerts.

A rule never opens or closes an alert itself: it reports, per subject (a device or a
building), whether its condition holds now (a firing finding, with the readings that show it)
or clearly does not (a clearing finding). The lifecycle turns that stream into one alert per
(rule, subject), with hysteresis, so rules stay small and testable and the "do not repeat"
promise is kept in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from lorawatch.alerts.config import Severity
from lorawatch.pipeline.records import Place

__all__ = ["Alert", "AlertState", "Evidence", "Finding", "Severity"]


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reading (or a derived value such as an hourly total) that made a rule fire."""

    time: datetime
    name: str
    value: float | bool | str
    unit: str = ""
    device: str = ""
    note: str = ""
    end: datetime | None = None
    """For values over an interval (an hourly total): the interval is [time, end)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": self.time.astimezone(UTC).isoformat(),
            "name": self.name,
            "value": round(self.value, 6) if isinstance(self.value, float) else self.value,
        }
        if self.end is not None:
            out["end"] = self.end.astimezone(UTC).isoformat()
        for key in ("unit", "device", "note"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass(slots=True)
class Finding:
    """A rule's verdict on one subject at one (data) time."""

    rule: str
    subject: str
    at: datetime
    firing: bool
    severity: Severity = Severity.WARNING
    place: Place = field(default_factory=Place)
    title: str = ""
    message: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    values: Mapping[str, float | str] = field(default_factory=dict)
    hold: timedelta | None = None
    """For a clearing finding: how long the condition must stay clear before the alert
    resolves; None takes ``lifecycle.resolve_after_min``, 0 resolves at once (the rule's own
    evidence is conclusive: a bin emptied, an hour without flow)."""

    @property
    def kind(self) -> str:
        return self.rule.split(".", 1)[0]


@dataclass(slots=True)
class Alert:
    """An alert as stored (the ``alerts`` table), for the API, the CLI and notifications."""

    id: int
    rule: str
    kind: str
    subject: str
    severity: Severity
    state: AlertState
    commune: str
    building: str
    device: str
    title: str
    message: str
    opened_at: datetime
    created_at: datetime
    last_seen_at: datetime
    count: int
    acked_at: datetime | None
    acked_by: str
    resolved_at: datetime | None
    resolved_by: str
    resolution: str
    evidence: list[dict[str, Any]]
    values: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id,
            "rule": self.rule,
            "kind": self.kind,
            "subject": self.subject,
            "severity": str(self.severity),
            "state": str(self.state),
            "commune": self.commune,
            "building": self.building,
            "device": self.device,
            "title": self.title,
            "message": self.message,
            "opened_at": iso(self.opened_at),
            "created_at": iso(self.created_at),
            "last_seen_at": iso(self.last_seen_at),
            "count": self.count,
            "acked_at": iso(self.acked_at),
            "acked_by": self.acked_by,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "resolution": self.resolution,
            "evidence": self.evidence,
            "values": self.values,
        }
