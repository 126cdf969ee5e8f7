"""The shapes the HTTP API answers with; the OpenAPI schema is generated from them.

Pages and screens render the same objects, so a figure on a page is the figure of the API.
Values that may be unknown (no data yet, no baseline learnt yet) are ``null``, never 0: a
zero means "measured nothing", which is a different fact.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

Quantity = Literal["energy", "water"]
UNITS: dict[str, str] = {"energy": "kWh", "water": "m³"}


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference - 1``, or None when either is unknown or the reference is ~0."""
    if value is None or reference is None or abs(reference) < 1e-9:
        return None
    return value / reference - 1


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, and ``total`` matches for further pages."""

    items: list[T]
    total: int = Field(description="Items matching the filters, over all pages.")
    limit: int
    offset: int


class CommuneOut(BaseModel):
    id: str
    name: str
    latitude: float
    longitude: float
    population: int | None
    timezone: str
    buildings: int = Field(description="Number of buildings in the inventory.")
    devices: int = Field(description="Number of devices in the inventory.")


class BuildingOut(BaseModel):
    id: str
    commune: str
    name: str
    usage: str
    surface_m2: float | None
    campaign_start: date | None
    opening_hours: dict[str, list[str]]
    devices: int


class Compared(BaseModel):
    """A figure and what it is compared with; ``ratio`` is value/reference - 1."""

    value: float | None
    reference: float | None
    ratio: float | None


class QuantitySummary(BaseModel):
    """Today, this week and this month so far, each against its reference over the same span."""

    quantity: Quantity
    unit: str
    today: Compared = Field(description="Since local midnight, vs a typical day to this time.")
    week: Compared = Field(
        description="Since Monday, vs last week to the same time; vs a typical week when the "
        "two do not have as many open days (week_against)."
    )
    week_against: Literal["last_week", "typical_week"] = Field(
        "last_week",
        description="What week is compared with: last week, or a typical week when last week "
        "had more or fewer open days (holidays, closures) than this one so far.",
    )
    week_baseline: float | None = Field(description="A typical week to this time.")
    month: Compared = Field(description="Since the 1st, vs a typical month to this time.")
    today_per_m2: float | None


class CampaignProgress(BaseModel):
    """Consumption since the campaign began, against the same days before it."""

    start: date
    days: int = Field(description="Days since the campaign began.")
    total: float | None = Field(description="Consumed since the campaign began (as measured).")
    measured_since: date | None = Field(
        description="First day with data since the campaign began (later when installed later)."
    )
    compared_days: int = Field(
        description="Whole days with data both now and one year before the campaign."
    )
    current: float | None = Field(description="Consumed on the compared days.")
    reference: float | None = Field(description="Consumed on the same days before the campaign.")
    ratio: float | None
    saved: float | None = Field(description="reference - current; negative: more consumed.")


class BuildingSummary(BaseModel):
    building: str
    name: str
    commune: str
    timezone: str
    at: datetime = Field(description="When the figures were computed (the service's clock).")
    last_data: datetime | None = Field(description="End of the latest consumption delta.")
    energy: QuantitySummary
    water: QuantitySummary
    open_alerts: int | None = Field(description="Open alerts; null when alerts are not enabled.")


class Occupancy(BaseModel):
    """Where the energy of the last days went: while open, while closed, and at night."""

    building: str
    start: datetime
    end: datetime
    occupied_kwh: float | None = Field(description="Consumed during opening hours.")
    unoccupied_kwh: float | None = Field(description="Consumed while the building was closed.")
    unoccupied_share: float | None = Field(description="unoccupied / total, 0..1.")
    night_baseload_kwh_h: float | None = Field(
        description="Mean hourly consumption 01:00-05:00: what the building uses doing nothing."
    )
    night_share: float | None = Field(
        description="Part of the consumption the night baseload alone explains, 0..1."
    )


class SavingsOut(BaseModel):
    """Energy avoided in a reporting period against a weather-aware model of a baseline
    period (ASHRAE Guideline 14, avoided-energy method): what the building would have used
    with the reporting period's weather and calendar, minus what it used."""

    building: str
    baseline_start: datetime
    baseline_end: datetime
    reporting_start: datetime
    reporting_end: datetime
    baseline_hours: int = Field(description="Hours with energy and temperature fitted.")
    reporting_hours: int = Field(description="Hours of the reporting period compared.")
    measured_kwh: float
    adjusted_baseline_kwh: float = Field(
        description="What the baseline model predicts for the reporting period's weather."
    )
    avoided_kwh: float = Field(description="adjusted_baseline_kwh - measured_kwh.")
    avoided_pct: float = Field(description="avoided_kwh in percent of adjusted_baseline_kwh.")
    avoided_kwh_90_low: float
    avoided_kwh_90_high: float
    fsu_90_pct: float | None = Field(
        description="Fractional savings uncertainty at 90 % (percent of the savings); null "
        "when the savings are zero."
    )
    significant: bool = Field(
        description="fsu_90_pct below 50 %: the savings stand out of the model's noise."
    )
    r2: float
    cv_rmse_pct: float = Field(description="Baseline model CV(RMSE); Guideline 14: ≤ 30 %.")
    nmbe_pct: float = Field(description="Baseline model NMBE; Guideline 14: within ±10 %.")
    autocorrelation: float = Field(description="Lag-1 autocorrelation of the residuals.")
    parameters: int = Field(description="Parameters of the fitted model.")


class SeriesPoint(BaseModel):
    start: datetime = Field(description="Local start of the period.")
    value: float | None = Field(description="Consumed in the period (so far); null: no data.")
    baseline: float | None = Field(description="A typical period over the same span.")
    last_year: float | None = Field(description="The same span one year earlier.")
    per_m2: float | None


class Series(BaseModel):
    building: str
    quantity: Quantity
    unit: str
    interval: Literal["hour", "day", "week", "month"]
    timezone: str
    start: datetime
    end: datetime
    points: list[SeriesPoint]
    total: float | None
    baseline_total: float | None


class ReadingOut(BaseModel):
    name: str
    channel: str
    time: datetime
    value: float


class DeviceOut(BaseModel):
    dev_eui: str
    name: str
    kind: str
    commune: str
    building: str
    decoder: str
    last_seen: datetime | None = Field(description="Time of the last stored uplink.")
    interval_s: float | None = Field(description="Typical time between its last uplinks.")
    silent: bool = Field(description="Not heard for over three of its intervals (or never).")
    battery_pct: float | None
    low_battery: bool


class DeviceDetail(DeviceOut):
    readings: list[ReadingOut] = Field(description="The latest value of each reading.")


class DeadLetterOut(BaseModel):
    id: int
    received: datetime
    topic: str
    reason: str
    detail: str
    dev_eui: str
    size: int = Field(description="Payload size in bytes.")
    payload_base64: str = Field(description="The payload as received, base64 (first 4 KiB).")
    replayed: datetime | None


class PublicHealth(BaseModel):
    """What ``/healthz`` tells anyone: up or not, and which part is not; no path, no error text.

    A probe needs the status code and, at most, which part failed; the reasons (store paths,
    broker and notifier errors) help an attacker as much as an operator, so they need a viewer.
    """

    status: Literal["ok", "degraded"]
    time: datetime
    source_connected: bool
    stores: dict[str, Literal["ok", "blocked"]]
    details: str = "the same URL with a viewer's credentials gives the reasons"


class Health(BaseModel):
    """Same content as ``Service.health()``: ``/healthz`` with a viewer's credentials."""

    status: Literal["ok", "degraded"]
    time: datetime
    source: dict[str, object]
    stores: dict[str, dict[str, object]]
    batches: int
    quality_events: dict[str, int]
    alerts: dict[str, object] | None = None
    warnings: list[dict[str, object]] = Field(
        default_factory=list,
        description="Needs a human soon, without degrading the service: each has a stable "
        "`key` (calendar_ends_soon, calendar_ended) and a `message`.",
    )
