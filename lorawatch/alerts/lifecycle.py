"""From findings to alerts: open -> acknowledged -> resolved, once per (rule, subject).

- A firing finding opens an alert unless one is unresolved for the same (rule, subject); then
  it only refreshes it (last seen, count), or escalates it when the severity rose. So a
  condition that lasts a week is one alert and one notification, not one per uplink.
- A clearing finding starts the clear period; the alert resolves once the condition stayed
  clear for the hold time (hysteresis in time; rules add hysteresis in value). A firing
  finding meanwhile cancels the clear period.
- An alert resolved by hand while its condition still holds is not reopened at the next
  reading: the (rule, subject) is latched until the condition has cleared once.
- A finding whose cause is already alerted under a related rule for the same subject (the
  night flow of a meter whose leak flag is raised) does not open a second alert.

Every change, its lifecycle event and its outbox rows are one SQLite transaction (the stored
batch's, when the findings come from one), and open
alerts are reloaded at start, so a restart neither forgets an alert nor notifies it again.
Each event carries the data time of the finding behind it (``at_us``: an automatic
resolution is at the clearing finding's time), besides the wall-clock time it was recorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog

from lorawatch.alerts.config import AlertsConfig, Severity
from lorawatch.alerts.model import Finding
from lorawatch.alerts.routing import EventInfo, Router
from lorawatch.alerts.store import Database, add_event
from lorawatch.core.timeutil import from_us, us

log = structlog.get_logger(__name__)

SUPPRESSED_BY: Final[dict[str, tuple[str, ...]]] = {
    "water.continuous_flow": ("water.leak", "water.night_flow", "water.burst"),
    "water.night_flow": ("water.leak", "water.burst"),
    "energy.baseline": ("energy.unoccupied", "energy.daily_budget"),
    "energy.unoccupied": ("energy.baseline",),
    "energy.drift": ("energy.baseline", "energy.unoccupied"),
    "waste.time_to_full": ("waste.fill",),
    "lighting.dark": ("lighting.failure",),
    "lighting.dimming": ("lighting.failure",),
    "lighting.day_burning": ("lighting.failure",),
}
"""A rule is not opened for a subject while one of these is unresolved for it: same cause."""

Key = tuple[str, str]


@dataclass(slots=True)
class OpenAlert:
    id: int
    severity: Severity
    clearing_since_us: int | None
    evidence: list[dict[str, object]]


class Lifecycle:
    def __init__(
        self,
        db: Database,
        config: AlertsConfig,
        router: Router,
        on_enqueued: Callable[[], None] = lambda: None,
        on_opened: Callable[[str], None] = lambda rule: None,
    ) -> None:
        self.db = db
        self.config = config
        self.router = router
        self.on_enqueued = on_enqueued
        self.on_opened = on_opened
        self.hold = timedelta(minutes=config.lifecycle.resolve_after_min)
        self.open: dict[Key, OpenAlert] = {}
        self.latched: set[Key] = set()
        self.load()

    def load(self) -> None:
        """Reload unresolved alerts and latches from the store (at start, or after a change
        made by another process)."""
        self.open.clear()
        self.latched.clear()
        for id_, rule, subject, severity, clearing, evidence in self.db.fetch(
            "SELECT id, rule, subject, severity, clearing_since_us, evidence FROM alerts"
            " WHERE state != 'resolved'"
        ):
            self.open[(rule, subject)] = OpenAlert(
                id_, Severity(severity), clearing, json.loads(evidence)
            )
        for rule, subject in self.db.fetch(
            "SELECT DISTINCT rule, subject FROM alerts WHERE state = 'resolved' AND rearmed = 0"
        ):
            if (rule, subject) not in self.open:
                self.latched.add((rule, subject))

    def is_open(self, rule: str, subject: str) -> bool:
        return (rule, subject) in self.open

    def tracked(self, rule: str, subject: str) -> bool:
        """Whether a clearing finding for (rule, subject) would change anything."""
        return (rule, subject) in self.open or (rule, subject) in self.latched

    def forget(self, rule: str, subject: str) -> None:
        """An alert was resolved by hand: latch its (rule, subject) until it clears."""
        if self.open.pop((rule, subject), None) is not None:
            self.latched.add((rule, subject))

    def apply(self, findings: Iterable[Finding], now: datetime) -> int:
        """Apply findings in order in one transaction; return the outbox rows written."""
        relevant = [
            f
            for f in findings
            if f.firing or (f.rule, f.subject) in self.open or (f.rule, f.subject) in self.latched
        ]
        if not relevant:
            return 0
        with self.db.transaction() as conn:
            enqueued = self.apply_in(conn, relevant, now)
        if enqueued:
            self.on_enqueued()
        return enqueued

    def apply_in(self, conn: sqlite3.Connection, findings: Iterable[Finding], now: datetime) -> int:
        """:meth:`apply` inside the caller's transaction (a stored batch's): the caller wakes
        the notifiers once it committed, and reloads (:meth:`load`) if it rolled back."""
        enqueued = 0
        for f in findings:
            if f.firing or (f.rule, f.subject) in self.open or (f.rule, f.subject) in self.latched:
                enqueued += self._apply(conn, f, now)
        return enqueued

    def _apply(self, conn: sqlite3.Connection, f: Finding, now: datetime) -> int:
        key = (f.rule, f.subject)
        current = self.open.get(key)
        if not f.firing:
            if key in self.latched:
                self.latched.discard(key)
                conn.execute(
                    "UPDATE alerts SET rearmed = 1 WHERE rule = ? AND subject = ? AND rearmed = 0",
                    key,
                )
            if current is None:
                return 0
            hold = self.hold if f.hold is None else f.hold
            at = us(f.at)
            if hold > timedelta(0) and current.clearing_since_us is None:
                current.clearing_since_us = at
                return self._touch(conn, key, current, "clearing_since_us = ?", (at,))
            since = current.clearing_since_us if current.clearing_since_us is not None else at
            if hold > timedelta(0) and at - since < hold // timedelta(microseconds=1):
                return 0
            return self._resolve(conn, key, current, f, now)
        if key in self.latched:
            return 0
        if current is None:
            if any((other, f.subject) in self.open for other in SUPPRESSED_BY.get(f.rule, ())):
                return 0
            return self._open(conn, f, now)
        if f.severity.rank > current.severity.rank:
            return self._escalate(conn, key, current, f, now)
        current.clearing_since_us = None
        return self._touch(
            conn,
            key,
            current,
            "last_seen_us = MAX(last_seen_us, ?), count = count + 1, clearing_since_us = NULL,"
            " vals = ?",
            (us(f.at), json.dumps(dict(f.values))),
        )

    def _touch(
        self,
        conn: sqlite3.Connection,
        key: Key,
        current: OpenAlert,
        sets: str,
        args: tuple[object, ...],
    ) -> int:
        cur = conn.execute(
            f"UPDATE alerts SET {sets} WHERE id = ? AND state != 'resolved'", (*args, current.id)
        )
        if cur.rowcount == 0:  # resolved meanwhile by another process (the CLI)
            self.forget(*key)
        return 0

    def _evidence(self, old: list[dict[str, object]], f: Finding) -> list[dict[str, object]]:
        merged = old + [e.to_json() for e in f.evidence]
        return merged[-self.config.lifecycle.evidence_max :]

    def _open(self, conn: sqlite3.Connection, f: Finding, now: datetime) -> int:
        evidence = self._evidence([], f)
        place = f.place
        try:
            cur = conn.execute(
                "INSERT INTO alerts (rule, kind, subject, severity, state, commune, building,"
                " device, title, message, opened_us, created_us, last_seen_us, count, evidence,"
                " vals) VALUES (?,?,?,?,'open',?,?,?,?,?,?,?,?,1,?,?)",
                (
                    f.rule,
                    f.kind,
                    f.subject,
                    str(f.severity),
                    place.commune,
                    place.building,
                    place.device,
                    f.title,
                    f.message,
                    us(f.at),
                    us(now),
                    us(f.at),
                    json.dumps(evidence),
                    json.dumps(dict(f.values)),
                ),
            )
        except sqlite3.IntegrityError:  # opened meanwhile by another process
            row = conn.execute(
                "SELECT id, severity, clearing_since_us, evidence FROM alerts"
                " WHERE rule = ? AND subject = ? AND state != 'resolved'",
                (f.rule, f.subject),
            ).fetchone()
            if row is not None:
                self.open[(f.rule, f.subject)] = OpenAlert(
                    row[0], Severity(row[1]), row[2], json.loads(row[3])
                )
            return 0
        alert_id = int(cur.lastrowid or 0)
        self.open[(f.rule, f.subject)] = OpenAlert(alert_id, f.severity, None, evidence)
        self.on_opened(f.rule)
        log.info(
            "alert opened",
            alert=alert_id,
            rule=f.rule,
            subject=f.subject,
            severity=str(f.severity),
            title=f.title,
        )
        return self._event(conn, alert_id, f, "opened", f.severity, f.message, now)

    def _escalate(
        self, conn: sqlite3.Connection, key: Key, current: OpenAlert, f: Finding, now: datetime
    ) -> int:
        evidence = self._evidence(current.evidence, f)
        cur = conn.execute(
            "UPDATE alerts SET severity = ?, title = ?, message = ?, evidence = ?, vals = ?,"
            " last_seen_us = MAX(last_seen_us, ?), count = count + 1, clearing_since_us = NULL"
            " WHERE id = ? AND state != 'resolved'",
            (
                str(f.severity),
                f.title,
                f.message,
                json.dumps(evidence),
                json.dumps(dict(f.values)),
                us(f.at),
                current.id,
            ),
        )
        if cur.rowcount == 0:
            self.forget(*key)
            return 0
        current.severity, current.evidence, current.clearing_since_us = f.severity, evidence, None
        return self._event(conn, current.id, f, "escalated", f.severity, f.message, now)

    def _resolve(
        self, conn: sqlite3.Connection, key: Key, current: OpenAlert, f: Finding, now: datetime
    ) -> int:
        since = current.clearing_since_us
        why = (
            f"condition clear since {from_us(since if since is not None else us(f.at)).isoformat()}"
        )
        cur = conn.execute(
            "UPDATE alerts SET state = 'resolved', resolved_us = ?, resolved_by = 'lorawatch',"
            " resolution = ?, clearing_since_us = NULL WHERE id = ? AND state != 'resolved'",
            (us(now), why, current.id),
        )
        self.open.pop(key, None)
        if cur.rowcount == 0:
            self.latched.add(key)
            return 0
        log.info("alert resolved", alert=current.id, rule=f.rule, subject=f.subject)
        return self._event(conn, current.id, f, "resolved", current.severity, why, now)

    def _event(
        self,
        conn: sqlite3.Connection,
        alert_id: int,
        f: Finding,
        kind: str,
        severity: Severity,
        detail: str,
        now: datetime,
    ) -> int:
        event_id = add_event(
            conn, alert_id, us(now), kind, "lorawatch", severity, detail, at_us=us(f.at)
        )
        info = EventInfo(
            alert_id, event_id, kind, f.rule, f.place.commune, f.place.building, severity
        )
        return self.router.enqueue(conn, info, now)
