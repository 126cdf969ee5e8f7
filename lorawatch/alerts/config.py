"""The ``[alerts]`` section: rule thresholds, per-place overrides, notifiers, routes, quiet hours.

Every threshold has a default that keeps a clean simulated month of Saint-Sulpice silent while
catching its injected faults; a commune, a building, a device kind or one device can change any
of them through ``[[alerts.overrides]]`` (the most specific override wins). Notifier URLs often
embed tokens, so they are secrets (printed as ``**********``) and can be read from a file.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lorawatch.core.reasons import Items, OneOf
from lorawatch.core.settings import read_secret


class Severity(StrEnum):
    """How urgent an alert is; routes and quiet hours compare them in this order."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

RuleId = Literal[
    "water.leak",
    "water.continuous_flow",
    "water.night_flow",
    "water.burst",
    "energy.baseline",
    "energy.unoccupied",
    "energy.daily_budget",
    "energy.drift",
    "waste.fill",
    "waste.time_to_full",
    "waste.tilt",
    "lighting.failure",
    "lighting.day_burning",
    "lighting.dark",
    "lighting.dimming",
    "fleet.silent",
    "fleet.battery",
    "fleet.decode_errors",
    "fleet.fcnt_reset",
]
RULE_IDS: tuple[str, ...] = get_args(RuleId)
EventKind = Literal["opened", "escalated", "acknowledged", "resolved"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
INFLUXDB_NOTIFIER = "influxdb"
"""The built-in notifier writing every alert event to InfluxDB (:mod:`lorawatch.alerts.influx`);
its name and type are reserved."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


@lru_cache(maxsize=256)
def parse_clock_range(text: str) -> tuple[int, int]:
    """``"01:00-05:00"`` -> minutes after midnight (start, end); end may be past midnight."""
    try:
        a, b = (part.strip() for part in text.split("-"))
        ha, ma = (int(x) for x in a.split(":"))
        hb, mb = (int(x) for x in b.split(":"))
        start, end = time(ha, ma), time(hb % 24, mb)
    except ValueError:
        raise PydanticCustomError(
            "clock_range", "{text} is not a time range HH:MM-HH:MM", {"text": repr(text)}
        ) from None
    s = start.hour * 60 + start.minute
    e = end.hour * 60 + end.minute
    return s, e if e > s else e + 24 * 60


class WaterRules(_Model):
    continuous_flow_h: float = Field(
        24.0,
        ge=2,
        description="water.continuous_flow: fire when a meter had no hour without flow for this "
        "many hours (a stuck flush, a running tap, a leak after the meter).",
    )
    zero_hour_l: float = Field(
        1.0,
        ge=0,
        description="An hour with less water than this (litres) counts as an hour without flow.",
    )
    night_window: str = Field(
        "01:00-05:00",
        description="water.night_flow: the local night hours when a building should draw no water.",
    )
    night_flow_l_h: float = Field(
        20.0,
        gt=0,
        description="water.night_flow: fire when every hour of the night window drew at least "
        "this flow (L/h), i.e. the night minimum is above it.",
    )
    burst_l: float = Field(
        600.0,
        gt=0,
        description="water.burst: fire when more than this many litres ran within burst_window_min.",
    )
    burst_window_min: int = Field(30, ge=5, description="water.burst: the sliding window.")

    @model_validator(mode="after")
    def _window(self) -> WaterRules:
        parse_clock_range(self.night_window)
        return self


class EnergyRules(_Model):
    baseline_margin_pct: float = Field(
        50.0,
        gt=0,
        description="energy.baseline: an hour is over the building's time-of-week baseline when "
        "it exceeds it by this margin plus the minimum excess.",
    )
    baseline_hours: int = Field(
        4, ge=1, description="energy.baseline: consecutive hours over the baseline before firing."
    )
    baseline_weeks: int = Field(
        4,
        ge=1,
        le=12,
        description="energy.baseline: the baseline of an hour is the highest of the last this "
        "many values of the same weekday, hour and occupancy (the highest, so that ordinary "
        "weather swings of the last weeks are in it).",
    )
    baseline_min_weeks: int = Field(
        2, ge=1, description="energy.baseline: values needed before the baseline is trusted."
    )
    min_excess_w_m2: float = Field(
        5.0,
        ge=0,
        description="energy.baseline, energy.unoccupied: smallest excess that counts, in watts "
        "per m² of the building (5 W/m² is 3 kWh/h for a 600 m² hall), so noise and small "
        "weather swings do not.",
    )
    min_excess_kwh: float = Field(
        1.0,
        ge=0,
        description="energy.baseline, energy.unoccupied: and never less than this (kWh in the "
        "hour); the only floor for a building without surface_m2.",
    )
    unoccupied_ratio: float = Field(
        1.5,
        gt=1,
        description="energy.unoccupied: an unoccupied hour is too high above this multiple of "
        "the highest unoccupied consumption at that hour of the day in the last 14 days.",
    )
    unoccupied_max_kwh: float | None = Field(
        None,
        gt=0,
        description="energy.unoccupied: an absolute limit (kWh per unoccupied hour) that fires "
        "whatever the history says; set it per building in an override.",
    )
    unoccupied_hours: int = Field(
        6, ge=1, description="energy.unoccupied: consecutive unoccupied hours too high to fire."
    )
    daily_budget_kwh: float | None = Field(
        None,
        gt=0,
        description="energy.daily_budget: a building's budget per local day (kWh); set it per "
        "building in an override. Unset: no budget.",
    )
    baseline_model: Literal["towt", "recent"] = Field(
        "towt",
        description="energy.baseline, energy.unoccupied: 'towt' judges each hour against a "
        "time-of-week-and-temperature regression of the building (docs/baselines.md) once it "
        "has model_min_days of hours with an outdoor temperature, and the weather-blind "
        "'recent' rules until then (their alerts say so); 'recent' never uses the model.",
    )
    min_excess_pct: float = Field(
        20.0,
        ge=0,
        description="towt: and above the prediction by this percentage of it, so a kitchen's "
        "busy day or a full hall does not count as a fault.",
    )
    model_weeks: int = Field(
        8,
        ge=3,
        le=52,
        description="towt: the model is refitted every local day on this many weeks of hours.",
    )
    model_min_days: int = Field(
        21,
        ge=7,
        description="towt: days of hours with an outdoor temperature before the model is used.",
    )
    interval_z: float = Field(
        2.33,
        gt=0,
        description="towt: an hour is over when above the prediction by this many standard "
        "deviations of the model's residuals (2.33: a one-sided 99 % prediction interval) and "
        "by the minimum excess (min_excess_w_m2, min_excess_kwh).",
    )
    drift_k_sigma: float = Field(
        1.0,
        gt=0,
        description="energy.drift: allowance of the CUSUM of daily residuals, in standard "
        "deviations of a day's relative residual: days within it bring the sum down.",
    )
    drift_h_sigma: float = Field(
        8.0,
        gt=0,
        description="energy.drift: the CUSUM fires above this many standard deviations.",
    )
    drift_min_pct: float = Field(
        4.0,
        gt=0,
        description="energy.drift: floor of a day's residual standard deviation (percent of "
        "the expected day), so a very regular building does not flag a 2 % wobble.",
    )


class WasteRules(_Model):
    near_full_pct: float = Field(
        85.0, gt=0, le=100, description="waste.fill: warning at this fill level (%)."
    )
    full_pct: float = Field(
        95.0,
        gt=0,
        le=100,
        description="waste.fill: critical (full, about to overflow) at this fill level (%).",
    )
    clear_drop_pct: float = Field(
        10.0,
        ge=0,
        description="waste.fill: hysteresis; the alert clears once the level is this far below "
        "near_full_pct (the bin was emptied).",
    )
    fill_confirm_readings: int = Field(
        3,
        ge=1,
        description="waste.fill: a level (nearly full, full, or emptied) counts once it held "
        "for this many readings in a row, or for fill_confirm_min; 1 = at once. So one outlier "
        "frame (an echo off a bag, a hand over the sensor) neither raises nor resolves it.",
    )
    fill_confirm_min: float = Field(
        45.0,
        ge=0,
        description="waste.fill: or once it held this many minutes, from its first reading to "
        "a later one (0: readings only). 45 min confirms an hourly sensor at its next report.",
    )
    tilt_confirm_readings: int = Field(
        2,
        ge=1,
        description="waste.tilt: tilted readings in a row before firing (a collection tilts "
        "the container for a minute; a lid left open stays so).",
    )
    tilt_confirm_min: float = Field(
        0.0, ge=0, description="waste.tilt: or tilted this many minutes (0: readings only)."
    )
    time_to_full_h: float = Field(
        12.0,
        gt=0,
        description="waste.time_to_full: fire when the fill rate of the last day predicts a "
        "full bin within this many hours.",
    )
    time_to_full_min_pct: float = Field(
        60.0, ge=0, le=100, description="waste.time_to_full: only above this fill level."
    )


class LightingRules(_Model):
    margin_min: int = Field(
        20,
        ge=0,
        description="Minutes around sunrise and sunset when a lamp may be either on or off "
        "(controllers switch on their own clock or photocell).",
    )
    readings_to_fire: int = Field(
        2,
        ge=1,
        description="lighting.day_burning, lighting.dark, lighting.dimming: consecutive readings "
        "in the wrong state before firing.",
    )
    dim_window: str = Field(
        "23:00-05:00", description="lighting.dimming: local hours when lamps should be dimmed."
    )
    dim_max_pct: float = Field(
        60.0,
        gt=0,
        le=100,
        description="lighting.dimming: a lit lamp above this level in the dim window is not dimmed.",
    )

    @model_validator(mode="after")
    def _window(self) -> LightingRules:
        parse_clock_range(self.dim_window)
        return self


class FleetRules(_Model):
    silence_factor: float = Field(
        5.0,
        gt=1,
        description="fleet.silent: a device is silent after this many times its usual interval "
        "between uplinks (5 tolerates four lost frames in a row).",
    )
    silence_min_min: int = Field(
        60, ge=1, description="fleet.silent: never call a device silent before this many minutes."
    )
    battery_low_pct: float = Field(
        15.0, ge=0, le=100, description="fleet.battery: low below this level (%)."
    )
    battery_low_v: float = Field(
        3.1,
        ge=0,
        description="fleet.battery: low below this voltage (a lithium cell is 3.6 V new, 3.0 V "
        "spent; override it per kind for other chemistries).",
    )
    battery_confirm_readings: int = Field(
        3,
        ge=1,
        description="fleet.battery: readings in a row below the threshold before firing (a "
        "cell's voltage dips on a cold morning or under the radio's load, then recovers).",
    )
    battery_confirm_min: float = Field(
        0.0, ge=0, description="fleet.battery: or low this many minutes (0: readings only)."
    )
    decode_error_pct: float = Field(
        20.0,
        gt=0,
        le=100,
        description="fleet.decode_errors: fire when this share of a device's uplinks in the "
        "window could not be decoded.",
    )
    decode_error_min: int = Field(
        3, ge=1, description="fleet.decode_errors: and at least this many decode errors."
    )
    decode_window_h: float = Field(24.0, gt=0, description="fleet.decode_errors: the window.")
    fcnt_log_codes: list[str] = Field(
        ["UPLINK_F_CNT_RESET", "UPLINK_FCNT_RESET"],
        description="fleet.fcnt_reset: ChirpStack log codes that report a frame-counter reset "
        "(a decreasing fCnt without a join fires too).",
    )


class RuleSet(_Model):
    """Thresholds of every rule, by domain; ``disabled`` switches rules off."""

    disabled: list[RuleId] = Field(
        default_factory=list, description="Rules switched off (e.g. ['lighting.dimming'])."
    )
    water: WaterRules = Field(default_factory=WaterRules)  # type: ignore[arg-type]
    energy: EnergyRules = Field(default_factory=EnergyRules)  # type: ignore[arg-type]
    waste: WasteRules = Field(default_factory=WasteRules)  # type: ignore[arg-type]
    lighting: LightingRules = Field(default_factory=LightingRules)  # type: ignore[arg-type]
    fleet: FleetRules = Field(default_factory=FleetRules)  # type: ignore[arg-type]


DOMAINS: tuple[str, ...] = ("water", "energy", "waste", "lighting", "fleet")
_DOMAIN_MODELS: dict[str, type[_Model]] = {
    "water": WaterRules,
    "energy": EnergyRules,
    "waste": WasteRules,
    "lighting": LightingRules,
    "fleet": FleetRules,
}


class RuleOverride(_Model):
    """Thresholds for some places: every criterion given must match; the most specific wins."""

    commune: str = Field("", description="Commune id ('' matches any).")
    building: str = Field("", description="Building id ('' matches any).")
    kind: str = Field("", description="Device kind: water, electricity, bin... ('' matches any).")
    device: str = Field("", description="Device name or dev_eui ('' matches any).")
    disabled: list[RuleId] | None = Field(None, description="Replaces the disabled list.")
    enabled: list[RuleId] = Field(
        default_factory=list, description="Rules switched back on for these places."
    )
    water: dict[str, Any] = Field(default_factory=dict)
    energy: dict[str, Any] = Field(default_factory=dict)
    waste: dict[str, Any] = Field(default_factory=dict)
    lighting: dict[str, Any] = Field(default_factory=dict)
    fleet: dict[str, Any] = Field(default_factory=dict)

    @field_validator(*DOMAINS)
    @classmethod
    def _check(cls, values: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The domain's thresholds as its rules would read them: a ValidationError raised
        here reports each bad one under its own key (``alerts.overrides.0.water.burst_l``)."""
        if values and info.field_name:
            _DOMAIN_MODELS[info.field_name].model_validate(values)
        return values

    @property
    def specificity(self) -> int:
        return sum(bool(x) for x in (self.commune, self.building, self.kind, self.device))


class LifecycleConfig(_Model):
    resolve_after_min: float = Field(
        30.0,
        ge=0,
        description="Hysteresis in time: an alert resolves once its condition stayed clear "
        "this long (data time), so a flapping sensor does not open and close it repeatedly.",
    )
    evidence_max: int = Field(
        48, ge=1, description="Readings kept as evidence with each alert (the newest)."
    )


class QuietHours(_Model):
    start: str = Field(
        "22:00", description="Start of the quiet hours (local HH:MM; '' disables them)."
    )
    end: str = Field("07:00", description="End of the quiet hours (local HH:MM).")
    timezone: str = Field("Europe/Paris", description="Time zone of start and end.")
    urgent: Severity = Field(
        Severity.CRITICAL,
        description="Alerts at or above this severity are sent at once; the others are held "
        "and sent as one digest when the quiet hours end.",
    )

    @model_validator(mode="after")
    def _range(self) -> QuietHours:
        if self.start:
            parse_clock_range(f"{self.start}-{self.end}")
        return self


class NotifierConfig(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Referenced by routes.")
    type: Literal["apprise", "webhook", "mqtt", "influxdb"] = Field(
        description="apprise: any Apprise URL (mailto://, ntfy://, matrix://, slack://...); "
        "webhook: POST of each alert event as JSON; mqtt: JSON on a topic. influxdb is "
        "reserved: lorawatch adds that notifier itself when store.outputs includes influxdb."
    )
    url: SecretStr = Field(
        SecretStr(""),
        description="Apprise URL, webhook URL, or MQTT broker URL (mqtt:// or mqtts://; empty: "
        "the broker of [mqtt]).",
    )
    url_file: Path | None = Field(None, description="File holding the URL (keeps tokens out).")
    topic: str = Field(
        "lorawatch/alerts/{commune}/{building}/{rule}",
        description="mqtt: topic template; {commune} {building} {device} {kind} {rule} "
        "{severity} {event} ('-' when empty).",
    )
    username: str = Field("", description="mqtt: user name.")
    password: SecretStr = Field(SecretStr(""), description="mqtt: password.")
    secret: SecretStr = Field(
        SecretStr(""),
        description="webhook: key of an HMAC-SHA256 of the body, sent as X-Lorawatch-Signature.",
    )
    timeout_s: float = Field(10.0, gt=0, description="Time allowed for one delivery.")
    rate_limit_per_hour: int = Field(
        0,
        ge=0,
        description="Deliveries per hour at most (0: unlimited); beyond, events wait and Apprise "
        "sends them as one digest.",
    )
    max_attempts: int = Field(
        12, ge=1, description="Attempts before a notification is given up and reported failed."
    )
    backoff_initial_s: float = Field(2.0, gt=0, description="First retry delay (doubled).")
    backoff_max_s: float = Field(900.0, gt=0, description="Longest retry delay.")

    def secret_url(self) -> str:
        return read_secret(self.url, self.url_file)

    @model_validator(mode="after")
    def _url(self) -> NotifierConfig:
        url = self.url.get_secret_value()
        if self.url_file is None and not url and self.type not in ("mqtt", "influxdb"):
            raise PydanticCustomError(
                "notifier_url",
                "notifier {name}: url or url_file is required",
                {"name": repr(self.name)},
            )
        schemes = {"webhook": ("http://", "https://"), "mqtt": ("mqtt://", "mqtts://")}
        wanted = schemes.get(self.type)
        if url and wanted and not url.startswith(wanted):
            raise PydanticCustomError(
                "notifier_url_scheme",
                "notifier {name}: a {type} url starts with {schemes}",
                {"name": repr(self.name), "type": repr(self.type), "schemes": OneOf(wanted)},
            )
        return self


class RouteConfig(_Model):
    name: str = Field("", description="For logs and the notifications table.")
    kinds: list[str] = Field(
        default_factory=list,
        description="Domains (water, energy, waste, lighting, fleet) or rule ids; empty: all.",
    )
    communes: list[str] = Field(default_factory=list, description="Commune ids; empty: all.")
    buildings: list[str] = Field(default_factory=list, description="Building ids; empty: all.")
    min_severity: Severity = Field(Severity.INFO, description="Lowest severity routed.")
    events: list[EventKind] = Field(
        ["opened", "escalated", "resolved"], description="Lifecycle events routed."
    )
    notifiers: list[str] = Field(description="Notifier names.")
    quiet_hours: bool = Field(True, description="Hold non-urgent events during quiet hours.")


class AlertsConfig(_Model):
    enabled: bool = Field(True, description="Evaluate the alert rules on every stored batch.")
    max_delay_ms: int = Field(
        300,
        ge=10,
        description="Longest an uplink waits in the bridge before the rules see it: caps "
        "store.batch_interval_ms while alerts are enabled, so a leak is notified within a "
        "second (batches still fill up to store.batch_size under load).",
    )
    tick_interval_s: float = Field(
        60.0, gt=0, description="How often time-based rules (silent devices) are evaluated."
    )
    state_flush_s: float = Field(
        60.0,
        gt=0,
        description="Unused, kept so that older files load: rule state (baselines, hourly "
        "series) is now saved with each stored batch, in its transaction.",
    )
    evaluator: Literal["local", "elected"] = Field(
        "local",
        description="Where the building rules (energy.baseline, energy.unoccupied, "
        "energy.drift, energy.daily_budget: they need every meter of a building) run. "
        '"local": in this process, on every stored batch (one worker). "elected": in one '
        "worker of several, elected by a PostgreSQL advisory lock, reading the deltas from "
        "the store every evaluator_interval_s; the device rules stay in every worker "
        "(docs/scaling.md).",
    )
    evaluator_interval_s: float = Field(
        60.0,
        gt=0,
        description="elected: how often the elected worker reads the store and judges the "
        "buildings' hours.",
    )
    evaluator_retry_s: float = Field(
        5.0,
        gt=0,
        description="elected: how often a standby tries to take the lock, and the leader "
        "checks that it still holds it (a takeover takes at most about this long).",
    )
    evaluator_lookback_h: float = Field(
        6.0,
        gt=0,
        description="elected: the hours of deltas read from the store at each step (48 at the "
        "first step of a new leader). Deltas written later than this after their time (a "
        "worker catching up a long backlog) leave their hour unjudged.",
    )
    evaluator_history_days: int = Field(
        56,
        ge=1,
        description="elected: the days of the store's history the first leader (no saved "
        "building state) learns from, a day at a time: the weather-aware model fits on up to "
        "8 weeks.",
    )
    timezone: str = Field(
        "Europe/Paris", description="Local time of rules for places whose commune has none."
    )
    language: Literal["fr", "en"] | None = Field(
        None,
        description="Language of stored alert titles and messages, notifications and Grafana "
        "annotations (unset: site.language, else fr); the web pages render them again in the "
        "language of each request.",
    )
    notifiers: list[NotifierConfig] = Field(
        default_factory=list,
        description="Where alerts go: [[alerts.notifiers]] tables (name, type, url...).",
    )
    routes: list[RouteConfig] = Field(
        default_factory=list,
        description="Which alerts go to which notifiers: [[alerts.routes]] tables; none: every "
        "alert to every notifier.",
    )
    overrides: list[RuleOverride] = Field(
        default_factory=list,
        description="Thresholds per commune, building, device kind or device: "
        "[[alerts.overrides]] tables.",
    )
    rules: RuleSet = Field(default_factory=RuleSet)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)  # type: ignore[arg-type]
    quiet_hours: QuietHours = Field(default_factory=QuietHours)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _names(self) -> AlertsConfig:
        names = [n.name for n in self.notifiers]
        if any(n.name == INFLUXDB_NOTIFIER or n.type == "influxdb" for n in self.notifiers):
            raise PydanticCustomError(
                "notifier_reserved",
                "notifiers: {name} is built in: lorawatch writes every alert event to InfluxDB "
                "itself when store.outputs includes influxdb; remove or rename that notifier",
                {"name": repr(INFLUXDB_NOTIFIER)},
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PydanticCustomError(
                "notifier_duplicate",
                "notifiers: duplicate name(s) {names}",
                {"names": Items(duplicates)},
            )
        for i, route in enumerate(self.routes):
            unknown = [n for n in route.notifiers if n not in names]
            if unknown:
                raise PydanticCustomError(
                    "route_notifier",
                    "routes[{index}]: unknown notifier(s) {names}",
                    {"index": i, "names": Items(unknown)},
                )
        return self
