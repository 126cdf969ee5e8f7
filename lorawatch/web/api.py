"""The JSON API under ``/api``: inventory, readings, consumption, alerts, dead letters.

Every route needs a principal (reading: ``viewer``; acting on alerts: ``operator``). Lists are
paged with ``limit`` and ``offset`` and answer ``total``; time ranges take ISO 8601 instants
(naive ones are local to the building's commune). Errors answer ``{"detail", "code"}``:
``code`` is stable, ``detail`` is in the request's language (``?lang=``, ``Accept-Language``,
else ``site.language``; :mod:`lorawatch.web.problems`); a 422 lists each bad field (``loc``)
with its reason (``type``, and ``msg`` in words). Alert titles and messages follow the same
language, rendered again from their catalogue id and values.
"""

from __future__ import annotations

import base64
import math
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse

from lorawatch.alerts import texts as alert_texts
from lorawatch.analytics import savings as savings_mod
from lorawatch.core import catalogue, timeutil
from lorawatch.core.reasons import Reason
from lorawatch.core.timeutil import from_us
from lorawatch.pipeline.store import Interval
from lorawatch.web.alerts import (
    AlertConflict,
    AlertNotFound,
    AlertOut,
    AlertsPort,
    AlertStateName,
    ResolveIn,
)
from lorawatch.web.deps import Ctx, Operator, Viewer, time_range
from lorawatch.web.figures import state_fetch
from lorawatch.web.models import (
    BuildingOut,
    BuildingSummary,
    CampaignProgress,
    CommuneOut,
    DeadLetterOut,
    DeviceDetail,
    DeviceOut,
    Occupancy,
    Page,
    Quantity,
    SavingsOut,
    Series,
)
from lorawatch.web.problems import ApiError, request_language

router = APIRouter(prefix="/api", tags=["api"])
alerts_router = APIRouter(prefix="/api/alerts", tags=["alerts"])

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
Name = Annotated[str, Path(min_length=1, max_length=128, description="An inventory id.")]
Filter = Annotated[str | None, Query(max_length=128, description="Only this id.")]
PAYLOAD_SHOWN = 4096

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown id."}}


def _page(items: list[T], limit: int, offset: int) -> Page[T]:
    return Page[T](
        items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
    )


def _building(ctx: Ctx, building: str) -> str:
    if building not in ctx.service.inventory.buildings:
        raise ApiError(404, "building.unknown", building=building)
    return building


def _campaign_start(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/communes", summary="Communes of the inventory")
def communes(ctx: Ctx, _: Viewer, limit: Limit = 100, offset: Offset = 0) -> Page[CommuneOut]:
    inv = ctx.service.inventory
    items = [
        CommuneOut(
            id=c.id,
            name=c.name,
            latitude=c.latitude,
            longitude=c.longitude,
            population=c.population,
            timezone=c.timezone,
            buildings=sum(1 for b in inv.buildings.values() if b.commune == c.id),
            devices=sum(1 for d in inv.devices.values() if d.commune == c.id),
        )
        for c in inv.communes.values()
    ]
    return _page(items, limit, offset)


@router.get("/buildings", summary="Buildings, optionally of one commune")
def buildings(
    ctx: Ctx, _: Viewer, commune: Filter = None, limit: Limit = 100, offset: Offset = 0
) -> Page[BuildingOut]:
    inv = ctx.service.inventory
    items = [
        BuildingOut(
            id=b.id,
            commune=b.commune,
            name=b.name,
            usage=b.usage,
            surface_m2=b.surface_m2,
            campaign_start=_campaign_start(b.campaign_start),
            opening_hours=b.opening_hours,
            devices=sum(1 for d in inv.devices.values() if d.building == b.id),
        )
        for b in inv.buildings.values()
        if commune is None or b.commune == commune
    ]
    return _page(items, limit, offset)


@router.get(
    "/summary",
    summary="Today, this week and this month of every building, against their references",
)
def summary(ctx: Ctx, _: Viewer, commune: Filter = None) -> list[BuildingSummary]:
    return ctx.figures.summaries(commune)


@router.get("/buildings/{building}/summary", responses=NOT_FOUND, summary="One building's figures")
def building_summary(ctx: Ctx, _: Viewer, building: Name) -> BuildingSummary:
    return ctx.figures.summary(_building(ctx, building))


@router.get(
    "/buildings/{building}/campaign",
    responses=NOT_FOUND,
    summary="Progress since the building's campaign began (null: no campaign_start)",
)
def building_campaign(
    ctx: Ctx, _: Viewer, building: Name, quantity: Quantity = "energy"
) -> CampaignProgress | None:
    return ctx.figures.campaign(_building(ctx, building), quantity)


@router.get(
    "/buildings/{building}/occupancy",
    responses=NOT_FOUND,
    summary="The last days' energy while open, while closed, and the night baseload",
)
def building_occupancy(
    ctx: Ctx,
    _: Viewer,
    building: Name,
    days: Annotated[int, Query(ge=1, le=92, description="Whole local days before today.")] = 7,
) -> Occupancy:
    return ctx.figures.occupancy(_building(ctx, building), days)


@router.get(
    "/buildings/{building}/consumption",
    responses=NOT_FOUND,
    summary="Consumption per hour, day, week or month, with baseline and last year",
)
def consumption(
    ctx: Ctx,
    _: Viewer,
    building: Name,
    quantity: Quantity = "energy",
    interval: Interval = "day",
    start: Annotated[
        datetime | None,
        Query(description="First instant (ISO 8601; default: a usual span before end)."),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Instant after the last (default: now).")
    ] = None,
) -> Series:
    _building(ctx, building)
    tz = ctx.figures.timezone(building)
    first, last = time_range(start, end, interval, tz, ctx.figures.now())
    return ctx.figures.series(building, quantity, interval, first, last)


Period = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        description="FROM..TO, local dates (TO included) or ISO 8601 instants, e.g. "
        "2025-01-01..2025-12-31.",
    ),
]


def _refusal(field: str, key: str, message: str, figures: dict[str, Any]) -> JSONResponse:
    """A 422 shaped like the validation errors (``loc``, ``msg``, ``type``), ``type`` being
    the stable key and ``ctx`` what is known (the fit statistics, the hours found)."""
    item = {"loc": ["query", field], "msg": message, "type": key, "ctx": figures}
    return JSONResponse({"detail": [item]}, status_code=422)


@router.get(
    "/buildings/{building}/savings",
    responses={
        **NOT_FOUND,
        422: {
            "description": "Bad periods, or no verifiable figure: each error's `type` is a "
            "stable key: `savings.period` (not FROM..TO, overlapping, reporting before "
            "baseline, longer than 800 days), `savings.coverage` (under 80 % of a period's "
            "hours have both energy and an outdoor temperature; `ctx` counts them), "
            "`savings.too_short` (too few hours to fit), `savings.guideline_14` (the baseline "
            "model misses CV(RMSE) ≤ 30 % or |NMBE| ≤ 10 %; `ctx` holds its fit statistics)."
        },
    },
    summary="Energy avoided, weather-normalised, against a baseline period (ASHRAE G14)",
    response_model=SavingsOut,
)
def building_savings(
    request: Request, ctx: Ctx, _: Viewer, building: Name, baseline: Period, reporting: Period
) -> SavingsOut | JSONResponse:
    """A time-of-week-and-temperature model of the building's hourly energy is fitted on the
    baseline period, then fed the reporting period's outdoor temperatures and calendar: what
    it predicts minus what was measured is the energy avoided, weather aside. Refused (422)
    when the model does not meet ASHRAE Guideline 14's calibration criteria."""
    _building(ctx, building)
    zone = timeutil.zone(ctx.figures.timezone(building))
    try:
        base, rep = savings_mod.parse_periods(baseline, reporting, zone)
    except savings_mod.PeriodError as exc:
        why = Reason.of(exc.error).text(request_language(request))
        return _refusal(exc.field, "savings.period", why, {})
    try:
        found = ctx.figures.savings(building, base, rep)
    except savings_mod.SavingsRefused as exc:
        field = "reporting" if exc.figures.get("period") == "reporting" else "baseline"
        why = exc.said(request_language(request))
        return _refusal(field, f"savings.{exc.reason}", why, exc.figures)
    low, high = found.avoided_kwh_90
    return SavingsOut(
        building=building,
        baseline_start=base[0],
        baseline_end=base[1],
        reporting_start=rep[0],
        reporting_end=rep[1],
        baseline_hours=found.baseline_hours,
        reporting_hours=found.reporting_hours,
        measured_kwh=round(found.measured_kwh, 3),
        adjusted_baseline_kwh=round(found.adjusted_baseline_kwh, 3),
        avoided_kwh=round(found.avoided_kwh, 3),
        avoided_pct=round(found.avoided_pct, 3),
        avoided_kwh_90_low=round(low, 3),
        avoided_kwh_90_high=round(high, 3),
        fsu_90_pct=round(found.fsu_90_pct, 2) if math.isfinite(found.fsu_90_pct) else None,
        significant=found.significant,
        r2=round(found.r2, 4),
        cv_rmse_pct=round(found.cv_rmse_pct, 3),
        nmbe_pct=round(found.nmbe_pct, 4),
        autocorrelation=round(found.autocorrelation, 4),
        parameters=found.parameters,
    )


def _device_filter(
    ctx: Ctx,
    commune: str | None,
    building: str | None,
    kind: str | None,
    problem: str | None,
) -> list[DeviceOut]:
    return [
        d
        for d in ctx.figures.devices()
        if (commune is None or d.commune == commune)
        and (building is None or d.building == building)
        and (kind is None or d.kind == kind)
        and (
            problem is None
            or (problem == "silent" and d.silent)
            or (problem == "low_battery" and d.low_battery)
            or (problem == "any" and (d.silent or d.low_battery))
        )
    ]


@router.get("/devices", summary="Devices with their last uplink, battery and silence")
def devices(
    ctx: Ctx,
    _: Viewer,
    commune: Filter = None,
    building: Filter = None,
    kind: Filter = None,
    problem: Annotated[
        str | None,
        Query(pattern="^(silent|low_battery|any)$", description="Only devices with this problem."),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DeviceOut]:
    return _page(_device_filter(ctx, commune, building, kind, problem), limit, offset)


@router.get("/devices/{dev_eui}", responses=NOT_FOUND, summary="A device and its last readings")
def device(
    ctx: Ctx,
    _: Viewer,
    dev_eui: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{16}$", description="16 hex digits.")],
) -> DeviceDetail:
    eui = dev_eui.lower()
    found = next((d for d in ctx.figures.devices() if d.dev_eui == eui), None)
    if found is None:
        raise ApiError(404, "device.unknown", dev_eui=eui)
    return DeviceDetail(**found.model_dump(), readings=ctx.figures.readings(eui, found.last_seen))


@router.get("/dead-letters", summary="Messages that could not be read, newest first")
def dead_letters(
    ctx: Ctx,
    _: Viewer,
    reason: Annotated[str | None, Query(max_length=64, description="Only this reason.")] = None,
    replayed: Annotated[
        bool | None, Query(description="true: only replayed ones; false: only pending ones.")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DeadLetterOut]:
    where, args = ["1 = 1"], []
    if reason is not None:
        where.append("reason = ?")
        args.append(reason)
    if replayed is not None:
        where.append("replayed_us IS NOT NULL" if replayed else "replayed_us IS NULL")
    clause = " AND ".join(where)
    fetch = state_fetch(ctx.service)
    total = int(fetch(f"SELECT COUNT(*) FROM dead_letters WHERE {clause}", args)[0][0])
    rows = fetch(
        "SELECT id, received_us, topic, reason, detail, dev_eui, length(payload),"
        f" substr(payload, 1, {PAYLOAD_SHOWN}), replayed_us FROM dead_letters WHERE {clause}"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )
    items = [
        DeadLetterOut(
            id=i,
            received=from_us(received),
            topic=topic,
            reason=why,
            detail=detail,
            dev_eui=eui,
            size=size,
            payload_base64=base64.b64encode(bytes(payload)).decode(),
            replayed=from_us(done) if done is not None else None,
        )
        for i, received, topic, why, detail, eui, size, payload, done in rows
    ]
    return Page[DeadLetterOut](items=items, total=total, limit=limit, offset=offset)


# -- alerts (mounted only when the alerts package is there) ------------------------------------


def _alerts(ctx: Ctx) -> AlertsPort:
    if ctx.alerts is None:  # pragma: no cover - the router is not mounted then
        raise ApiError(404, "alerts.disabled")
    return ctx.alerts


AlertId = Annotated[int, Path(ge=1, le=2**62, description="Alert id.")]


def _spoken(alert: AlertOut, request: Request) -> AlertOut:
    """``alert`` with its title, message and severity in the request's language."""
    lang = request_language(request)
    title, message = alert_texts.again(alert.title, alert.message, alert.values, lang)
    severity = catalogue.text(lang, f"severity.{alert.severity}")
    return alert.model_copy(update={"title": title, "message": message, "severity_text": severity})


@alerts_router.get("", summary="Alerts, newest first")
def list_alerts(
    request: Request,
    ctx: Ctx,
    _: Viewer,
    state: Annotated[
        list[AlertStateName] | None,
        Query(
            description="Only these states (repeat the parameter); default: open and acknowledged."
        ),
    ] = None,
    building: Filter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AlertOut]:
    states = state or ["open", "acknowledged"]
    items, total = _alerts(ctx).list(states, building, limit, offset)
    return Page[AlertOut](
        items=[_spoken(a, request) for a in items], total=total, limit=limit, offset=offset
    )


@alerts_router.get("/{alert_id}", responses=NOT_FOUND, summary="One alert with its evidence")
def show_alert(request: Request, ctx: Ctx, _: Viewer, alert_id: AlertId) -> AlertOut:
    found = _alerts(ctx).show(alert_id)
    if found is None:
        raise ApiError(404, "alert.not_found", id=alert_id)
    return _spoken(found, request)


CONFLICT: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert."},
    409: {"description": "Not in a state for it."},
}


@alerts_router.post("/{alert_id}/ack", responses=CONFLICT, summary="Acknowledge an alert")
def ack_alert(request: Request, ctx: Ctx, who: Operator, alert_id: AlertId) -> AlertOut:
    try:
        return _spoken(_alerts(ctx).ack(alert_id, who.name), request)
    except AlertNotFound:
        raise ApiError(404, "alert.not_found", id=alert_id) from None
    except AlertConflict as exc:
        raise ApiError(409, f"alert.{exc.code}", id=alert_id) from None


@alerts_router.post("/{alert_id}/resolve", responses=CONFLICT, summary="Resolve an alert")
def resolve_alert(
    request: Request,
    ctx: Ctx,
    who: Operator,
    alert_id: AlertId,
    body: Annotated[ResolveIn | None, Body()] = None,
) -> AlertOut:
    try:
        done = _alerts(ctx).resolve(alert_id, who.name, body.resolution if body else "")
        return _spoken(done, request)
    except AlertNotFound:
        raise ApiError(404, "alert.not_found", id=alert_id) from None
    except AlertConflict as exc:
        raise ApiError(409, f"alert.{exc.code}", id=alert_id) from None
