"""The web side's view of the alerts package: list, show, acknowledge, resolve, count.

The routes talk to :class:`AlertsPort` only; :func:`probe` builds one over the engine the
service runs (``service.alerts``). With alerts disabled (``[alerts] enabled = false``) the
alert routes are not mounted at all, so the OpenAPI schema does not promise them, and the
pages show no alert column.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field

from lorawatch.alerts.api import AlertError

if TYPE_CHECKING:
    from lorawatch.alerts.api import AlertsApi, StateFilter
    from lorawatch.alerts.model import Alert
    from lorawatch.app.service import Service

AlertStateName = Literal["open", "acknowledged", "resolved"]


class AlertOut(BaseModel):
    """An alert as the API shows it (the alerts package's ``Alert.to_json``)."""

    id: int
    rule: str
    kind: str
    subject: str
    severity: str = Field(description="info, warning or critical (stable).")
    severity_text: str = Field("", description="The severity in the request's language.")
    state: AlertStateName
    commune: str
    building: str
    device: str
    title: str = Field(description="In the request's language.")
    message: str = Field(description="In the request's language.")
    opened_at: datetime
    last_seen_at: datetime
    count: int = Field(description="Findings folded into this alert (it never repeats).")
    acked_at: datetime | None
    acked_by: str
    resolved_at: datetime | None
    resolved_by: str
    resolution: str
    evidence: list[dict[str, Any]]
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="The figures of its title and message; `text` names their catalogue entry.",
    )


class ResolveIn(BaseModel):
    resolution: str = Field("", max_length=500, description="What was done (free text).")


class AlertNotFound(LookupError):
    pass


class AlertConflict(ValueError):
    """The alert is not in a state that allows the action (e.g. resolving a resolved one);
    ``code`` names which (``already_resolved``)."""

    def __init__(self, message: str, code: str) -> None:
        self.code = code
        super().__init__(message)


class AlertsPort(Protocol):
    def list(
        self,
        states: list[AlertStateName],
        building: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[AlertOut], int]: ...

    def show(self, alert_id: int) -> AlertOut | None: ...

    def ack(self, alert_id: int, by: str) -> AlertOut: ...

    def resolve(self, alert_id: int, by: str, resolution: str) -> AlertOut: ...

    def open_count(self, building: str) -> int: ...


class _EngineAlerts:
    """:class:`AlertsPort` over ``lorawatch.alerts.AlertsApi`` (the engine's, in the service).

    That API filters on one state and has no offset; alerts are few (one per cause, never
    repeated), so the whole filtered list is read and paged here.
    """

    SCAN = 100_000

    def __init__(self, api: AlertsApi, clock: Callable[[], datetime]) -> None:
        self.api = api
        self.clock = clock

    @staticmethod
    def out(alert: Alert) -> AlertOut:
        return AlertOut.model_validate(alert.to_json())

    def list(
        self,
        states: list[AlertStateName],
        building: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[AlertOut], int]:
        wanted = set(states)
        state: StateFilter
        if wanted == {"open", "acknowledged"}:
            state = "unresolved"
        elif len(wanted) == 1:
            state = states[0]
        else:
            state = "all"
        found = [
            a
            for a in self.api.list(state, building=building or "", limit=self.SCAN)
            if str(a.state) in wanted
        ]
        return [self.out(a) for a in found[offset : offset + limit]], len(found)

    def show(self, alert_id: int) -> AlertOut | None:
        try:
            detail = self.api.show(alert_id)
        except AlertError:
            return None
        return self.out(detail.alert)

    def _act(self, alert_id: int, action: Callable[[], Alert]) -> AlertOut:
        if self.show(alert_id) is None:
            raise AlertNotFound(alert_id)
        try:
            return self.out(action())
        except AlertError as exc:
            raise AlertConflict(str(exc), exc.code) from None

    def ack(self, alert_id: int, by: str) -> AlertOut:
        return self._act(alert_id, lambda: self.api.ack(alert_id, by, now=self.clock()))

    def resolve(self, alert_id: int, by: str, resolution: str) -> AlertOut:
        return self._act(
            alert_id, lambda: self.api.resolve(alert_id, by, resolution, now=self.clock())
        )

    def open_count(self, building: str) -> int:
        return len(self.api.list("unresolved", building=building, limit=self.SCAN))


def probe(service: Service) -> AlertsPort | None:
    """The alerts of the service's engine, or None when alerts are disabled."""
    engine = getattr(service, "alerts", None)
    api = getattr(engine, "api", None)
    if api is None:
        return None
    return _EngineAlerts(api, service.clock)
