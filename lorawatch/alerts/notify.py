"""Notifications: the outbox, one worker thread per notifier, and the notifiers themselves.

The rules never send anything: the lifecycle writes outbox rows (``notifications``) in the
transaction that records the alert event, then wakes the workers. So ingestion never waits
for a mail server, and a notification survives a crash between the event and its delivery.
Each notifier has its own worker, so a notifier that is down (HTTP 500, connection refused,
a timeout) only delays itself: its rows are retried with exponential backoff and jitter, its
failures are logged and counted (``lorawatch_alert_notification_failures_total``), shown in
``/healthz``, and a row is given up (state ``failed``) after ``max_attempts``.

Delivery is at least once: a crash after a receiver got an event and before the row was
marked sent repeats it, so every event carries a stable ``id`` to de-duplicate on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from lorawatch.alerts import texts
from lorawatch.alerts.config import AlertsConfig, NotifierConfig, Severity
from lorawatch.alerts.model import Alert
from lorawatch.alerts.store import ALERT_COLUMNS, Database, alert_from_row
from lorawatch.core import catalogue
from lorawatch.core.errors import LorawatchError
from lorawatch.core.formats import Lang
from lorawatch.core.logs import OncePer
from lorawatch.core.timeutil import from_us, us
from lorawatch.gateway_bridge.settings import MqttConfig

log = structlog.get_logger(__name__)

POLL_S = 5.0
"""Longest a worker sleeps: rows written by another process (the CLI's ack) are seen then."""
BATCH = 50


class NotifyError(LorawatchError):
    """A delivery failed; it will be retried."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row with what it announces."""

    row_id: int
    event_id: int
    event: str
    time: datetime
    actor: str
    detail: str
    severity: Severity
    attempts: int
    alert: Alert
    at: datetime
    """The data time the event is about (``time`` is when it was recorded)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": f"lorawatch-alert-event-{self.event_id}",
            "event": self.event,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "detail": self.detail,
            "severity": str(self.severity),
            "alert": self.alert.to_json(),
        }


class Notifier(Protocol):
    name: str
    digest: bool
    """True when several events are better sent as one message (a human reads them)."""

    def send(self, deliveries: list[Delivery]) -> None:
        """Deliver, or raise NotifyError."""

    def close(self) -> None: ...


def text_of(d: Delivery, zone: ZoneInfo, lang: Lang = "fr") -> tuple[str, str]:
    """Title and body for a human, in ``lang``: what, where, why, since when."""
    a = d.alert
    severity = catalogue.text(lang, f"severity.{a.severity}").upper()
    key = f"notify.{d.event}"
    tag = (
        catalogue.text(lang, key, severity=severity, who=d.actor)
        if catalogue.has(lang, key)
        else d.event.upper()
    )
    title_text, message = texts.again(a.title, a.message, a.values, lang)
    title = f"[{tag}] {title_text}"
    opened = a.opened_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    lines = [message if d.event in ("opened", "escalated") else d.detail or message]
    lines.append(catalogue.text(lang, "notify.footer", id=a.id, rule=a.rule, since=opened))
    if d.event == "resolved" and a.resolution:
        lines.append(catalogue.text(lang, "notify.resolution", resolution=a.resolution))
    return title, "\n".join(lines)


class WebhookNotifier:
    digest = False

    def __init__(self, config: NotifierConfig) -> None:
        self.name = config.name
        self.url = config.secret_url()
        self.key = config.secret.get_secret_value().encode()
        # Here, not at the top: httpx loads only when a webhook is configured.
        import httpx

        self.client = httpx.Client(timeout=config.timeout_s)

    def send(self, deliveries: list[Delivery]) -> None:
        # Loaded by __init__ already (see there).
        import httpx

        for d in deliveries:
            body = json.dumps(d.to_json()).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Lorawatch-Event": str(d.to_json()["id"]),
            }
            if self.key:
                digest = hmac.new(self.key, body, hashlib.sha256).hexdigest()
                headers["X-Lorawatch-Signature"] = f"sha256={digest}"
            try:
                response = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise NotifyError(f"{type(exc).__name__}: {exc}") from None
            if not 200 <= response.status_code < 300:
                raise NotifyError(f"HTTP {response.status_code}: {response.text[:200]}")

    def close(self) -> None:
        self.client.close()


class MqttNotifier:
    """JSON alert events on a topic; one connection, kept open, reconnected by paho."""

    digest = False

    def __init__(self, config: NotifierConfig, default: MqttConfig | None) -> None:
        # lazy: paho loads only when an MQTT notifier is configured
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.name = config.name
        self.config = config
        url = config.secret_url()
        base = default or MqttConfig.model_validate({})
        self.broker = MqttConfig.model_validate({"url": url}) if url else base
        self.username = config.username or (base.username if not url else "")
        self.password = config.password.get_secret_value() or (base.secret() if not url else "")
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"lorawatch-alerts-{config.name}-{random.getrandbits(32):08x}",
        )
        if self.username:
            self.client.username_pw_set(self.username, self.password or None)
        if self.broker.tls:
            self.client.tls_set(ca_certs=str(self.broker.ca_file) if self.broker.ca_file else None)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.started = False

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()

    def _ensure(self) -> None:
        if not self.started:
            try:
                self.client.connect(self.broker.host, self.broker.port, keepalive=30)
            except OSError as exc:
                raise NotifyError(
                    f"cannot connect to {self.broker.host}:{self.broker.port}: {exc}"
                ) from None
            self.client.loop_start()
            self.started = True
        if not self.connected.wait(self.config.timeout_s):
            raise NotifyError(f"not connected to {self.broker.host}:{self.broker.port}")

    def topic(self, d: Delivery) -> str:
        a = d.alert
        fields = {
            "commune": a.commune,
            "building": a.building,
            "device": a.device,
            "kind": a.kind,
            "rule": a.rule,
            "severity": str(a.severity),
            "event": d.event,
        }
        safe = {
            k: (v or "-").replace("/", "_").replace("+", "_").replace("#", "_")
            for k, v in fields.items()
        }
        return self.config.topic.format(**safe)

    def send(self, deliveries: list[Delivery]) -> None:
        self._ensure()
        for d in deliveries:
            info = self.client.publish(self.topic(d), json.dumps(d.to_json()), qos=1)
            try:
                info.wait_for_publish(self.config.timeout_s)
            except (RuntimeError, ValueError) as exc:
                raise NotifyError(f"publish failed: {exc}") from None
            if not info.is_published():
                raise NotifyError("publish not acknowledged in time")

    def close(self) -> None:
        if self.started:
            self.client.disconnect()
            self.client.loop_stop()


class AppriseNotifier:
    """Any Apprise URL: e-mail, ntfy, Matrix, Slack, Telegram, Gotify, SMS gateways..."""

    digest = True

    def __init__(self, config: NotifierConfig, zone: ZoneInfo, lang: Lang = "fr") -> None:
        self.name = config.name
        self.zone = zone
        self.lang = lang
        self.timeout = config.timeout_s
        with warnings.catch_warnings():
            # Apprise loads its plugins on the first URL, and its PGP helper imports imghdr,
            # deprecated since Python 3.11: not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            # lazy: apprise loads only when an Apprise notifier is configured
            import apprise

            self.apprise = apprise.Apprise()
            self.valid = bool(self.apprise.add(config.secret_url()))
        if not self.valid:
            log.error("apprise URL not understood; nothing will be sent", notifier=config.name)

    def send(self, deliveries: list[Delivery]) -> None:
        # lazy: apprise loads only when an Apprise notifier is configured
        from apprise import NotifyType

        if not self.valid:
            raise NotifyError("the Apprise URL is not understood (check its scheme)")
        if len(deliveries) == 1:
            title, body = text_of(deliveries[0], self.zone, self.lang)
        else:
            title = catalogue.text(self.lang, "notify.digest", n=len(deliveries))
            body = "\n\n".join("\n".join(text_of(d, self.zone, self.lang)) for d in deliveries)
        worst = max(deliveries, key=lambda d: d.severity.rank)
        kind = (
            NotifyType.SUCCESS
            if all(d.event == "resolved" for d in deliveries)
            else NotifyType.FAILURE
            if worst.severity is Severity.CRITICAL
            else NotifyType.WARNING
            if worst.severity is Severity.WARNING
            else NotifyType.INFO
        )
        result = self.apprise.notify(body=body, title=title, notify_type=kind, timeout=self.timeout)
        if not result:
            raise NotifyError(f"apprise delivery failed: {result.results!r}"[:300])

    def close(self) -> None:
        return None


def make_notifier(
    config: NotifierConfig, mqtt: MqttConfig | None, zone: ZoneInfo, lang: Lang = "fr"
) -> Notifier:
    if config.type == "webhook":
        return WebhookNotifier(config)
    if config.type == "mqtt":
        return MqttNotifier(config, mqtt)
    return AppriseNotifier(config, zone, lang)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.sent = Counter(
            "lorawatch_alert_notifications_sent",
            "Notifications delivered",
            ["notifier"],
            registry=r,
        )
        self.failures = Counter(
            "lorawatch_alert_notification_failures",
            "Failed delivery attempts (each is retried)",
            ["notifier"],
            registry=r,
        )
        self.given_up = Counter(
            "lorawatch_alert_notifications_given_up",
            "Notifications abandoned after max_attempts",
            ["notifier"],
            registry=r,
        )
        self.opened = Counter("lorawatch_alerts_opened", "Alerts opened", ["rule"], registry=r)
        self.errors = Counter(
            "lorawatch_alert_engine_errors", "Batches the alert rules failed on", registry=r
        )
        self.pending = Gauge(
            "lorawatch_alert_outbox_pending", "Notifications waiting", ["notifier"], registry=r
        )


class Worker:
    """Delivers one notifier's outbox rows, in order, with backoff and rate limiting."""

    def __init__(
        self,
        db: Database,
        notifier: Notifier,
        config: NotifierConfig,
        metrics: Metrics,
        clock: Callable[[], datetime],
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        """``active``: whether this process delivers now (with several workers sharing the
        outbox, only the elected one does, so nothing is sent twice)."""
        self.db = db
        self.active = active
        self.notifier = notifier
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.sent: deque[datetime] = deque()
        self.retry_at: datetime | None = None
        self.failures = 0
        self.last_error = ""
        self.failing_since: datetime | None = None
        self._once = OncePer(60.0)
        for (sent_us,) in db.fetch(
            "SELECT sent_us FROM notifications WHERE notifier = ? AND state = 'sent'"
            " AND sent_us >= ? ORDER BY sent_us",
            (config.name, us(clock() - timedelta(hours=1))),
        ):
            self.sent.append(from_us(sent_us))

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.run, name=f"notify-{self.config.name}", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.wake.clear()
                try:
                    delay = self.run_once()
                except Exception as exc:
                    log.exception("notification worker error", notifier=self.config.name)
                    self.last_error = str(exc)
                    delay = POLL_S
                self.wake.wait(min(max(delay, 0.0), POLL_S))
        finally:
            self.notifier.close()
            close = getattr(self.db, "close", None)
            if callable(close):
                close()

    def due(self, now: datetime) -> list[Delivery]:
        rows = self.db.fetch(
            "SELECT n.id, n.event_id, n.attempts, e.kind, e.time_us, e.actor, e.detail, e.severity,"
            " COALESCE(e.at_us, e.time_us), "
            + ", ".join(f"a.{c.strip()}" for c in ALERT_COLUMNS.split(","))
            + " FROM notifications n JOIN alert_events e ON e.id = n.event_id"
            " JOIN alerts a ON a.id = n.alert_id"
            " WHERE n.notifier = ? AND n.state = 'pending' AND n.not_before_us <= ?"
            " ORDER BY n.id LIMIT ?",
            (self.config.name, us(now), BATCH),
        )
        return [
            Delivery(
                row[0],
                row[1],
                row[3],
                from_us(row[4]),
                row[5],
                row[6],
                Severity(row[7]),
                row[2],
                alert_from_row(row[9:]),
                from_us(row[8]),
            )
            for row in rows
        ]

    def next_due(self, now: datetime) -> float:
        rows = self.db.fetch(
            "SELECT MIN(not_before_us), COUNT(*) FROM notifications WHERE notifier = ? AND state = 'pending'",
            (self.config.name,),
        )
        first, count = rows[0]
        self.metrics.pending.labels(self.config.name).set(count)
        if first is None:
            return POLL_S
        return (from_us(first) - now).total_seconds()

    def run_once(self) -> float:
        """Deliver what is due now; return seconds until something may be due again."""
        now = self.clock()
        if self.retry_at is not None and now < self.retry_at:
            return (self.retry_at - now).total_seconds()
        if not self.active():
            return POLL_S
        deliveries = self.due(now)
        if not deliveries:
            return self.next_due(now)
        if not self.active():  # another worker was elected while these were read: its turn
            return POLL_S
        limit = self.config.rate_limit_per_hour
        while self.sent and self.sent[0] <= now - timedelta(hours=1):
            self.sent.popleft()
        if limit:
            room = limit - len(self.sent)
            if room <= 0:
                allowed = self.sent[0] + timedelta(hours=1)
                self._hold(deliveries, allowed)
                return (allowed - now).total_seconds()
            if not self.notifier.digest:
                deliveries = deliveries[:room]
        groups = [deliveries] if self.notifier.digest else [[d] for d in deliveries]
        for group in groups:
            try:
                self.notifier.send(group)
            except Exception as exc:  # noqa: BLE001 - every notifier failure is retried
                self._failed(group, exc, now)
                return (self.retry_at - now).total_seconds() if self.retry_at else POLL_S
            self._sent(group)
        return 0.0

    def _hold(self, deliveries: list[Delivery], until: datetime) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE notifications SET not_before_us = ?, held = 'rate_limit' WHERE id = ?",
                [(us(until), d.row_id) for d in deliveries],
            )

    def _sent(self, group: list[Delivery]) -> None:
        now = self.clock()
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE notifications SET state = 'sent', sent_us = ?, attempts = attempts + 1,"
                " last_error = '' WHERE id = ?",
                [(us(now), d.row_id) for d in group],
            )
        self.sent.append(now)
        self.metrics.sent.labels(self.config.name).inc(len(group))
        if self.failing_since is not None:
            log.info("notifier recovered", notifier=self.config.name, after_failures=self.failures)
        self.failures, self.failing_since, self.retry_at = 0, None, None

    def _failed(self, group: list[Delivery], exc: Exception, now: datetime) -> None:
        cfg = self.config
        self.failures += 1
        self.failing_since = self.failing_since or now
        self.last_error = str(exc)[:300]
        self.metrics.failures.labels(cfg.name).inc()
        delay = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** (self.failures - 1))
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        self.retry_at = now + timedelta(seconds=delay)
        given_up = [d for d in group if d.attempts + 1 >= cfg.max_attempts]
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?,"
                " not_before_us = ?, state = ? WHERE id = ?",
                [
                    (
                        self.last_error,
                        us(self.retry_at),
                        "failed" if d in given_up else "pending",
                        d.row_id,
                    )
                    for d in group
                ],
            )
        if self._once(cfg.name, now.timestamp()) or given_up:
            log.warning(
                "notification failed, will retry",
                notifier=cfg.name,
                error=self.last_error,
                attempt=self.failures,
                retry_in_s=round(delay, 1),
            )
        for d in given_up:
            self.metrics.given_up.labels(cfg.name).inc()
            log.error(
                "notification given up",
                notifier=cfg.name,
                alert=d.alert.id,
                alert_event=d.event,
                attempts=d.attempts + 1,
                error=self.last_error,
            )

    def health(self) -> dict[str, object]:
        return {
            "type": self.config.type,
            "failing": self.failing_since is not None,
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "consecutive_failures": self.failures,
            "last_error": self.last_error,
        }


class Outbox:
    """The workers of every configured notifier."""

    def __init__(
        self,
        db: Database,
        config: AlertsConfig,
        metrics: Metrics,
        mqtt: MqttConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        notifiers: dict[str, Notifier] | None = None,
        builtin: Sequence[tuple[NotifierConfig, Notifier]] = (),
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        """``builtin``: notifiers lorawatch adds itself (the InfluxDB writer), with their
        configuration; ``notifiers`` replaces configured ones by name (tests); ``active``:
        whether this process delivers now (:class:`Worker`)."""
        zone = ZoneInfo(config.timezone)
        made = notifiers or {}
        self.workers = [
            Worker(
                db,
                made.get(n.name) or make_notifier(n, mqtt, zone, config.language or "fr"),
                n,
                metrics,
                clock,
                active,
            )
            for n in config.notifiers
        ]
        self.workers += [Worker(db, n, c, metrics, clock, active) for c, n in builtin]

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def wake(self) -> None:
        for w in self.workers:
            w.wake.set()

    def stop(self) -> None:
        for w in self.workers:
            w.stop_event.set()
            w.wake.set()
        for w in self.workers:
            w.stop()

    def health(self) -> dict[str, object]:
        return {w.config.name: w.health() for w in self.workers}
