"""Which notifiers hear of an alert event, and when: routes and quiet hours.

Routing happens when the event is recorded, inside the same transaction, so the outbox holds
exactly what must be sent, each row with the instant before which it must not be (the end of
the quiet hours for a held, non-urgent event).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lorawatch.alerts.config import (
    EVENT_KINDS,
    AlertsConfig,
    QuietHours,
    RouteConfig,
    Severity,
    parse_clock_range,
)
from lorawatch.core.timeutil import us


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What routing looks at: the alert's kind, place and severity, and the event kind."""

    alert_id: int
    event_id: int
    event: str
    rule: str
    commune: str
    building: str
    severity: Severity


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """The end of the quiet hours ``now`` falls in, or None outside them."""
    if not quiet.start:
        return None
    start, end = parse_clock_range(f"{quiet.start}-{quiet.end}")
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    day = local.date()
    if end <= 24 * 60:
        if not start <= minute < end:
            return None
    elif minute >= start:
        day += timedelta(days=1)
    elif minute >= end - 24 * 60:
        return None
    end_min = end % (24 * 60)
    stop = datetime.combine(day, time(end_min // 60, end_min % 60)).replace(tzinfo=zone)
    return stop.astimezone(UTC)


class Router:
    def __init__(self, config: AlertsConfig, builtin: Sequence[str] = ()) -> None:
        """``builtin`` notifiers (the InfluxDB writer) hear every event at once, whatever the
        configured routes and quiet hours say: they keep a record, they wake nobody."""
        self.config = config
        names = [n.name for n in config.notifiers]
        self.routes: list[RouteConfig] = list(config.routes) or (
            [RouteConfig.model_validate({"name": "default", "notifiers": names})] if names else []
        )
        if builtin:
            self.routes.append(
                RouteConfig.model_validate(
                    {
                        "name": "builtin",
                        "notifiers": list(builtin),
                        "events": list(EVENT_KINDS),
                        "quiet_hours": False,
                    }
                )
            )

    @staticmethod
    def matches(route: RouteConfig, info: EventInfo) -> bool:
        kind = info.rule.split(".", 1)[0]
        return (
            info.event in route.events
            and info.severity.rank >= route.min_severity.rank
            and (not route.kinds or kind in route.kinds or info.rule in route.kinds)
            and (not route.communes or info.commune in route.communes)
            and (not route.buildings or info.building in route.buildings)
        )

    def enqueue(self, conn: sqlite3.Connection, info: EventInfo, now: datetime) -> int:
        """Write the outbox rows of one event; return how many."""
        held = quiet_until(self.config.quiet_hours, now)
        urgent = info.severity.rank >= self.config.quiet_hours.urgent.rank
        rows: dict[str, tuple[str, int, str]] = {}
        for i, route in enumerate(self.routes):
            if not self.matches(route, info):
                continue
            hold = held is not None and route.quiet_hours and not urgent
            when = us(held) if hold and held is not None else us(now)
            for notifier in route.notifiers:
                previous = rows.get(notifier)
                # Two routes to one notifier: send once, as early as either route allows.
                if previous is None or when < previous[1]:
                    rows[notifier] = (
                        route.name or f"routes[{i}]",
                        when,
                        "quiet_hours" if hold else "",
                    )
        conn.executemany(
            "INSERT OR IGNORE INTO notifications (event_id, alert_id, notifier, route, created_us,"
            " not_before_us, state, held) VALUES (?,?,?,?,?,?,'pending',?)",
            [
                (info.event_id, info.alert_id, notifier, route, us(now), when, held_why)
                for notifier, (route, when, held_why) in rows.items()
            ],
        )
        return len(rows)
