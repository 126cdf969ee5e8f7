"""What every dashboard shares: the commune's view of the inventory, uids, the dashboard frame
and the panels several dashboards use.

Periods are Grafana panel overrides on top of the panel's query, never ``now()`` in InfluxQL:
``now/d`` today so far, ``now/w`` this week so far (weeks start on Monday), ``now/M`` this
month so far; a time shift of ``1w`` is "the same moment last week" and ``52w`` "the same
period last year" (52 weeks, so weekdays line up: a school's Monday compares with a Monday).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from grafanalib import core as g

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.i18n import Lang, Translator
from lorawatch.dashboards.influxql import ENERGY, VOLUME, Scope
from lorawatch.inventory import Building, Commune, Inventory

SCHEMA_VERSION: Final = 39
"""Grafana 10.4/11 dashboard schema: Grafana runs no migration over what we generate."""

UID_MAX: Final = 40
TAG: Final = "lorawatch"
SCREEN_TAG: Final = "lorawatch-screen"

# How long a line may bridge missing data before it breaks: about two reporting intervals.
SPAN_METER_MS: Final = 2 * p.HOUR_MS
SPAN_DAILY_MS: Final = 36 * p.HOUR_MS
SPAN_HOURLY_DEVICE_MS: Final = 3 * p.HOUR_MS
SPAN_SLOW_DEVICE_MS: Final = 13 * p.HOUR_MS

PER_PANEL_LIMIT: Final = 60
"""Above this many devices a per-device panel (state timeline, one gauge per bin) would be
unreadable; large communes get the tables and aggregates only."""
PER_SITE_GAUGES_LIMIT: Final = 24
NAMED_DEVICES_LIMIT: Final = 200
"""Above this many devices, device names are shown as stored rather than mapped to "site ·
name": thousands of mappings would make the dashboard heavy for little gain."""

LEAK_FLOW_STEPS: Final = ((None, "green"), (5.0, "orange"), (20.0, "red"))
FILL_STEPS: Final = ((None, "green"), (70.0, "orange"), (90.0, "red"))
BATTERY_STEPS: Final = ((None, "red"), (15.0, "orange"), (30.0, "green"))
SAVING_STEPS: Final = ((None, "green"), (0.5, "orange"), (5.0, "red"))


def uid(*parts: str) -> str:
    """A Grafana uid derived from inventory ids only, so links and bookmarks survive any
    regeneration (and a change of language); ids too long for Grafana's 40 characters keep a
    readable prefix and a hash of the whole."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(["lw", *parts])).strip("-")
    if len(slug) <= UID_MAX:
        return slug
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    return slug[: UID_MAX - 9].rstrip("-") + "-" + digest


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as the dashboards see it: its tag values in InfluxDB, and where it is."""

    name: str
    kind: str
    building: str
    site: str


@dataclass(frozen=True)
class CommuneView:
    """One commune's slice of the inventory."""

    commune: Commune
    buildings: tuple[Building, ...]
    devices: tuple[DeviceView, ...]
    t: Translator = field(default_factory=Translator)

    @property
    def id(self) -> str:
        return self.commune.id

    @property
    def zone(self) -> str:
        return self.commune.timezone

    def kinds(self) -> set[str]:
        return {d.kind for d in self.devices}

    def of_kind(self, *kinds: str) -> list[DeviceView]:
        return [d for d in self.devices if d.kind in kinds]

    def metered_buildings(self, kind: str) -> list[Building]:
        ids = {d.building for d in self.devices if d.kind == kind and d.building}
        return [b for b in self.buildings if b.id in ids]

    def building_names(self) -> p.Names:
        return p.Names({b.id: b.name for b in self.buildings})

    def device_names(self, devices: Sequence[DeviceView]) -> p.Names:
        """Device tag -> "site · device", so a bin or a detector is found on the ground."""
        if len(devices) > NAMED_DEVICES_LIMIT:
            return p.Names()
        return p.Names({d.name: f"{d.site} · {d.name}" if d.site else d.name for d in devices})


def communes(inventory: Inventory, lang: Lang = "fr") -> list[CommuneView]:
    """Every commune of the inventory with its buildings and devices, in inventory order."""
    by_eui = {d.dev_eui: d for d in inventory.doc.devices}
    views = []
    for commune in inventory.doc.communes:
        devices = tuple(
            DeviceView(
                r.name, r.kind, r.building, by_eui[r.dev_eui].site if r.dev_eui in by_eui else ""
            )
            for r in inventory.devices.values()
            if r.commune == commune.id
        )
        buildings = tuple(b for b in inventory.doc.buildings if b.commune == commune.id)
        views.append(CommuneView(commune, buildings, devices, Translator(lang)))
    return views


# --- shared pieces ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meter:
    """What a meter kind is read as: the delta field, its unit, its names."""

    kind: str
    field: str
    unit: str
    decimals: int


ELECTRICITY: Final = Meter("electricity", ENERGY, p.KWH, 1)
WATER: Final = Meter("water", VOLUME, p.M3, 2)


def _json_data(obj: Any) -> Any:
    """grafanalib objects serialise through their public ``to_json_data``."""
    if hasattr(obj, "to_json_data"):
        return obj.to_json_data()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dashboard(
    view: CommuneView,
    key: tuple[str, ...],
    title: str,
    description: str,
    panels: list[Any],
    time_from: str = "now-7d",
    templating: Sequence[g.Template] = (),
    kiosk: bool = False,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The dashboard as plain JSON data, in the commune's time zone, weeks from Monday.

    ``key`` makes the uid: (commune, dashboard) for the technical ones, ("screen", building)
    for an occupant screen (building ids are unique across the inventory)."""
    links = (
        []
        if kiosk
        else [
            g.DashboardLink(
                title=view.t("dash.dashboards"),
                tags=[f"{TAG}-{view.id}"],
                asDropdown=True,
                includeVars=False,
                keepTime=True,
                type="dashboards",
            )
        ]
    )
    dashboard = g.Dashboard(
        title=title,
        uid=uid(*key),
        description=description,
        tags=[TAG, *tags] if kiosk else [TAG, f"{TAG}-{view.id}", *tags],
        timezone=view.zone,
        time=g.Time(time_from, "now"),
        refresh="5m",
        editable=not kiosk,
        hideControls=kiosk,
        graphTooltip=0 if kiosk else 1,
        schemaVersion=SCHEMA_VERSION,
        panels=panels,
        links=links,
        templating=g.Templating(list=list(templating)),
        timePicker=g.TimePicker(
            refreshIntervals=["1m", "5m", "15m", "1h"],
            timeOptions=["24h", "7d", "30d", "90d", "1y"],
            hidden=kiosk,
        ),
    ).auto_panel_ids()
    data: dict[str, Any] = json.loads(json.dumps(dashboard.to_json_data(), default=_json_data))
    data["weekStart"] = "monday"
    data["fiscalYearStartMonth"] = 0
    data["liveNow"] = False
    data["panels"] = [p.modernise(panel) for panel in data["panels"]]
    if kiosk:
        data["links"] = []
    return data


def refs() -> Iterator[str]:
    """Query refIds A..Z, AA..ZZ: a panel may carry one query per building."""
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    yield from letters
    for a in letters:
        for b in letters:
            yield a + b


def last_seen_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    t = view.t
    return p.table(
        t("dash.last_heard_oldest_first"),
        t(
            "dash.last_frame_received_from_each_sensor",
        ),
        [p.target(q.last_seen(Scope(commune=view.id), ("device", "kind")), "A", table=True)],
        p.COUNT,
        pos,
        time_from="30d",
        sort_by=t("dash.last_frame"),
        descending=False,
        overrides=[p.unit_override(t("dash.last_frame"), p.FROM_NOW)],
        transformations=p.organize(
            {
                "Time": t("dash.last_frame"),
                "device": t("dash.sensor"),
                "kind": t("dash.kind"),
                "f_cnt": "fCnt",
            },
            hide_time=False,
        ),
    )


def daily_energy(view: CommuneView, title: str, scope: Scope, grid: p.Grid) -> g.TimeSeries:
    """kWh per local day, as bars: building detail and street lighting show it alike."""
    t = view.t
    return p.timeseries(
        title,
        t(
            "dash.local_days_a_day_without_data",
        ),
        [p.target(q.daily(ENERGY, scope, view.zone), "A", "kWh")],
        p.KWH,
        grid.place(12, 8),
        SPAN_DAILY_MS,
        bars=True,
        interval="1d",
        decimals=1,
    )


class Raw:
    """A template variable already in JSON form (grafanalib's custom variable lacks text:value
    pairs, which show building names while queries use ids)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_json_data(self) -> dict[str, Any]:
        return self.data


def custom_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" : ", " \\: ")
