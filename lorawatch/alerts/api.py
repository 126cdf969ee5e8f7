"""The alerts as the CLI and the HTTP layer see them: list, show, acknowledge, resolve.

It works on the SQLite file alone, so ``lorawatch alerts ack`` can run beside the service;
the running engine notices a change made from another process at its next update of that
alert (the update finds it resolved), and its notifier workers poll the outbox, so an
acknowledgement made here is notified by the service within seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from lorawatch.alerts.config import AlertsConfig, Severity
from lorawatch.alerts.model import Alert, AlertState
from lorawatch.alerts.routing import EventInfo, Router
from lorawatch.alerts.store import (
    ALERT_COLUMNS,
    Database,
    add_event,
    alert_from_row,
    create,
    get_alert,
)
from lorawatch.core.errors import LorawatchError
from lorawatch.core.timeutil import from_us, us

if TYPE_CHECKING:
    from lorawatch.alerts.lifecycle import Lifecycle

StateFilter = Literal["unresolved", "open", "acknowledged", "resolved", "all"]


class AlertError(LorawatchError):
    """An alert operation that cannot be done; ``code`` says which (``not_found``,
    ``already_resolved``) for a caller that words it in its user's language."""

    def __init__(self, message: str, code: str, alert_id: int) -> None:
        self.code = code
        self.alert_id = alert_id
        super().__init__(message)


@dataclass(slots=True)
class AlertDetail:
    alert: Alert
    events: list[dict[str, Any]]
    notifications: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert.to_json(),
            "events": self.events,
            "notifications": self.notifications,
        }


class AlertsApi:
    def __init__(
        self,
        db: Database,
        config: AlertsConfig | None = None,
        lifecycle: Lifecycle | None = None,
        on_enqueued: Callable[[], None] = lambda: None,
        builtin: Sequence[str] = (),
    ) -> None:
        """``builtin``: the built-in notifiers of the service (``influxdb`` when it writes to
        InfluxDB), so an acknowledgement made from the CLI reaches them too."""
        self.db = db
        self.config = config or AlertsConfig.model_validate({})
        self.router = Router(self.config, builtin)
        self.lifecycle = lifecycle
        self.on_enqueued = on_enqueued
        create(db)

    def list(
        self,
        state: StateFilter = "unresolved",
        *,
        kind: str = "",
        building: str = "",
        commune: str = "",
        min_severity: Severity = Severity.INFO,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts, newest first; ``kind`` is a domain (water...) or a rule id."""
        where: list[str] = ["1=1"]
        args: list[object] = []
        if state == "unresolved":
            where.append("state != 'resolved'")
        elif state != "all":
            where.append("state = ?")
            args.append(state)
        if kind:
            where.append("(kind = ? OR rule = ?)")
            args += [kind, kind]
        if building:
            where.append("building = ?")
            args.append(building)
        if commune:
            where.append("commune = ?")
            args.append(commune)
        ranks = [s.value for s in Severity if s.rank >= min_severity.rank]
        where.append(f"severity IN ({','.join('?' * len(ranks))})")
        args += ranks
        rows = self.db.fetch(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        return [alert_from_row(r) for r in rows]

    def show(self, alert_id: int) -> AlertDetail:
        rows = self.db.fetch(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
        if not rows:
            raise AlertError(f"no alert #{alert_id}", "not_found", alert_id)
        events = [
            {
                "id": id_,
                "time": from_us(t).isoformat(),
                "event": kind,
                "actor": actor,
                "severity": severity,
                "detail": detail,
            }
            for id_, t, kind, actor, severity, detail in self.db.fetch(
                "SELECT id, time_us, kind, actor, severity, detail FROM alert_events"
                " WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            )
        ]
        notifications = [
            {
                "event_id": event_id,
                "notifier": notifier,
                "route": route,
                "state": state,
                "attempts": attempts,
                "held": held,
                "not_before": from_us(not_before).isoformat(),
                "sent": from_us(sent).isoformat() if sent is not None else None,
                "last_error": error,
            }
            for event_id, notifier, route, state, attempts, held, not_before, sent, error in self.db.fetch(
                "SELECT event_id, notifier, route, state, attempts, held, not_before_us, sent_us,"
                " last_error FROM notifications WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            )
        ]
        return AlertDetail(alert_from_row(rows[0]), events, notifications)

    def ack(self, alert_id: int, by: str, note: str = "", now: datetime | None = None) -> Alert:
        """Acknowledge: someone is on it. The alert stays until its condition clears."""
        now = now or datetime.now(UTC)
        with self.db.transaction() as conn:
            alert = get_alert(conn, alert_id)
            if alert is None:
                raise AlertError(f"no alert #{alert_id}", "not_found", alert_id)
            if alert.state is AlertState.RESOLVED:
                raise AlertError(
                    f"alert #{alert_id} is already resolved", "already_resolved", alert_id
                )
            if alert.state is AlertState.ACKNOWLEDGED:
                return alert
            conn.execute(
                "UPDATE alerts SET state = 'acknowledged', acked_us = ?, acked_by = ? WHERE id = ?",
                (us(now), by, alert_id),
            )
            self._event(conn, alert, "acknowledged", by, note or f"acknowledged by {by}", now)
            updated = get_alert(conn, alert_id)
        self.on_enqueued()
        assert updated is not None
        return updated

    def resolve(self, alert_id: int, by: str, note: str = "", now: datetime | None = None) -> Alert:
        """Resolve by hand (the cause was fixed). While the condition still holds, the rule
        does not reopen it: it must clear first."""
        now = now or datetime.now(UTC)
        with self.db.transaction() as conn:
            alert = get_alert(conn, alert_id)
            if alert is None:
                raise AlertError(f"no alert #{alert_id}", "not_found", alert_id)
            if alert.state is AlertState.RESOLVED:
                raise AlertError(
                    f"alert #{alert_id} is already resolved", "already_resolved", alert_id
                )
            why = note or f"resolved by {by}"
            conn.execute(
                "UPDATE alerts SET state = 'resolved', resolved_us = ?, resolved_by = ?,"
                " resolution = ?, rearmed = 0, clearing_since_us = NULL WHERE id = ?",
                (us(now), by, why, alert_id),
            )
            self._event(conn, alert, "resolved", by, why, now)
            updated = get_alert(conn, alert_id)
        if self.lifecycle is not None:
            self.lifecycle.forget(alert.rule, alert.subject)
        self.on_enqueued()
        assert updated is not None
        return updated

    def _event(
        self, conn: Any, alert: Alert, kind: str, actor: str, detail: str, now: datetime
    ) -> None:
        event_id = add_event(conn, alert.id, us(now), kind, actor, alert.severity, detail)
        info = EventInfo(
            alert.id, event_id, kind, alert.rule, alert.commune, alert.building, alert.severity
        )
        self.router.enqueue(conn, info, now)


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
