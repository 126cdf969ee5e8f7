"""Panel builders on top of grafanalib, carrying the conventions every lorawatch panel shares.

grafanalib gives the dashboard model; these helpers add what it does not decide for us:

- every panel reads the one provisioned InfluxDB data source, by uid, so renaming the data
  source in Grafana never breaks a dashboard;
- every panel has a unit (kWh, m3, W, L/h, %...), so a number is never read without one;
- time series never bridge an outage: buckets without data are null and lines are only
  connected across gaps shorter than ``span_nulls_ms`` (about two reporting intervals), so a
  silent meter shows as a hole, not as a straight line or as zero consumption;
- panels are laid out left to right on Grafana's 24-column grid by :class:`Grid`.

Where grafanalib 0.7 still writes a Grafana 6 shape (bar gauge ``fieldOptions``) or lacks an
option (a numeric ``spanNulls`` threshold), the modern field is set through ``extraJson``
and the legacy one is removed by :func:`modernise`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from grafanalib import core as g
from grafanalib.influxdb import InfluxDBTarget

DATASOURCE_UID: Final = "lorawatch-influxdb"
DATASOURCE: Final[dict[str, str]] = {"type": "influxdb", "uid": DATASOURCE_UID}
EXPRESSION: Final[dict[str, str]] = {"type": "__expr__", "uid": "__expr__"}

# Grafana unit ids.
KWH: Final = "kwatth"
M3: Final = "m3"
LITRE: Final = "litre"
WATT: Final = "watt"
LITRE_PER_HOUR: Final = "litreh"
PERCENT: Final = "percent"
KWH_PER_M2: Final = "suffix: kWh/m²"
DBM: Final = "dBm"
DB: Final = "dB"
DAYS: Final = "d"
COUNT: Final = "none"
BOOL_ON_OFF: Final = "bool_on_off"
BOOL: Final = "bool"
FROM_NOW: Final = "dateTimeFromNow"
DATE_TIME: Final = "dateTimeAsIso"

HOUR_MS: Final = 3_600_000


def count_unit(what: str) -> str:
    """A count's unit spelled out ("12 frames"): Grafana's custom ``suffix:`` unit."""
    return f"suffix: {what}"


def target(
    query: str, ref: str, alias: str = "", table: bool = False, hide: bool = False
) -> dict[str, Any]:
    """A raw InfluxQL target on the lorawatch data source."""
    data: dict[str, Any] = InfluxDBTarget(
        query=query,
        refId=ref,
        alias=alias,
        format="table" if table else "time_series",
        datasource=DATASOURCE,
        rawQuery=True,
    ).to_json_data()
    if hide:
        data["hide"] = True
    return data


def reduce_expression(ref: str, of: str) -> dict[str, Any]:
    """A server-side expression taking the last non-null value of query ``of``."""
    return {
        "refId": ref,
        "datasource": EXPRESSION,
        "type": "reduce",
        "expression": of,
        "reducer": "last",
        "settings": {"mode": "dropNN"},
        "hide": True,
    }


def math_expression(ref: str, expression: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": EXPRESSION, "type": "math", "expression": expression}


@dataclass
class Grid:
    """Places panels left to right on the 24-column grid, wrapping to a new line when full."""

    x: int = 0
    y: int = 0
    line_height: int = 0

    def place(self, w: int, h: int) -> g.GridPos:
        if self.x + w > 24:
            self.newline()
        pos = g.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.line_height = max(self.line_height, h)
        return pos

    def newline(self) -> None:
        if self.x:
            self.y += self.line_height
        self.x, self.line_height = 0, 0

    def row(self, title: str) -> g.RowPanel:
        self.newline()
        panel = g.RowPanel(title=title, gridPos=g.GridPos(h=1, w=24, x=0, y=self.y))
        self.y += 1
        return panel


@dataclass(frozen=True)
class Names:
    """Display names of series and table cells: tag values are ids, people read names."""

    names: Mapping[str, str] = field(default_factory=dict)

    def overrides(self) -> list[dict[str, Any]]:
        """Rename series whose name is a tag value (alias ``$tag_building``)."""
        return [
            {
                "matcher": {"id": "byName", "options": key},
                "properties": [{"id": "displayName", "value": name}],
            }
            for key, name in sorted(self.names.items())
            if key != name
        ]

    def cell_override(self, column: str) -> list[dict[str, Any]]:
        """Rename the values of a table column (the ``building`` or ``device`` tag)."""
        mapping = {k: {"text": v} for k, v in sorted(self.names.items()) if k != v}
        if not mapping:
            return []
        return [
            {
                "matcher": {"id": "byName", "options": column},
                "properties": [
                    {"id": "mappings", "value": [{"type": "value", "options": mapping}]}
                ],
            }
        ]


def _steps(steps: Sequence[tuple[float | None, str]]) -> list[dict[str, Any]]:
    return [{"value": v, "color": c} for v, c in steps]


NEUTRAL: Final = ((None, "blue"),)


def _common(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    grid_pos: g.GridPos,
    time_from: str | None,
    time_shift: str | None,
    interval: str | None,
    max_points: int,
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": targets,
        "gridPos": grid_pos,
        "timeFrom": time_from,
        "timeShift": time_shift,
        "interval": interval,
        "maxDataPoints": max_points,
    }


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    grid_pos: g.GridPos,
    time_from: str | None = None,
    time_shift: str | None = None,
    decimals: int | None = None,
    no_value: str = "—",
    steps: Sequence[tuple[float | None, str]] = NEUTRAL,
    overrides: Sequence[Mapping[str, Any]] = (),
    big: bool = False,
) -> g.Stat:
    """A single figure; ``no_value`` shows "—" when nothing was received, never 0."""
    extra: dict[str, Any] = {"options": {"text": {"valueSize": 96, "titleSize": 28}}} if big else {}
    return g.Stat(
        **_common(title, description, targets, grid_pos, time_from, time_shift, None, 100),
        format=unit,
        color={"mode": "thresholds"},
        decimals=decimals,
        graphMode="none",
        colorMode="value",
        textMode="value_and_name" if overrides else "auto",
        reduceCalc="lastNotNull",
        noValue=no_value,
        thresholds=_steps(steps),
        overrides=list(overrides),
        extraJson=extra or None,
    )


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    grid_pos: g.GridPos,
    span_nulls_ms: int,
    bars: bool = False,
    stacked: bool = False,
    interval: str | None = None,
    time_from: str | None = None,
    max_points: int = 500,
    overrides: Sequence[Mapping[str, Any]] = (),
    steps: Sequence[tuple[float | None, str]] = NEUTRAL,
    threshold_line: bool = False,
    decimals: int | None = None,
) -> g.TimeSeries:
    """Lines (or bars) that break across outages longer than ``span_nulls_ms``."""
    custom: dict[str, Any] = {"spanNulls": span_nulls_ms}
    return g.TimeSeries(
        **_common(title, description, targets, grid_pos, time_from, None, interval, max_points),
        unit=unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=80 if bars else 10,
        lineWidth=1 if bars else 2,
        showPoints="never" if bars else "auto",
        stacking={"mode": "normal", "group": "A"} if stacked else {},
        legendDisplayMode="table" if overrides else "list",
        legendCalcs=["sum"] if bars else ["min", "mean", "max"],
        tooltipMode="multi",
        overrides=list(overrides),
        thresholds=_steps(steps),
        thresholdsStyleMode="line" if threshold_line else "off",
        valueMin=0,
        valueDecimals=decimals,
        extraJson={"fieldConfig": {"defaults": {"custom": custom}}},
    )


def bargauge(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    grid_pos: g.GridPos,
    time_from: str | None = None,
    time_shift: str | None = None,
    overrides: Sequence[Mapping[str, Any]] = (),
    decimals: int | None = None,
    steps: Sequence[tuple[float | None, str]] = NEUTRAL,
    maximum: float | None = None,
) -> g.BarGauge:
    """One bar per series (per building, per bin), each reduced to its last value."""
    return g.BarGauge(
        **_common(title, description, targets, grid_pos, time_from, time_shift, None, 100),
        format=unit,
        displayMode="gradient",
        orientation="horizontal",
        calc="lastNotNull",
        decimals=decimals,
        max=maximum,
        thresholds=_steps(steps),
        extraJson={
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "decimals": decimals,
                    "min": 0,
                    "max": maximum,
                    "noValue": "—",
                    "thresholds": {"mode": "absolute", "steps": _steps(steps)},
                },
                "overrides": list(overrides),
            },
            "options": {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showUnfilled": True,
                "valueMode": "color",
                "namePlacement": "auto",
                "sizing": "auto",
            },
        },
    )


def table(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    grid_pos: g.GridPos,
    sort_by: str = "",
    descending: bool = True,
    overrides: Sequence[Mapping[str, Any]] = (),
    transformations: Sequence[Mapping[str, Any]] = (),
    time_from: str | None = None,
    decimals: int | None = None,
) -> g.Table:
    """A table (table-format targets); ``sort_by`` names the column to sort on."""
    return g.Table(
        **_common(title, description, targets, grid_pos, time_from, None, None, 100),
        unit=unit,
        overrides=list(overrides),
        transformations=list(transformations),
        sortBy=[g.TableSortByField(displayName=sort_by, desc=descending)] if sort_by else [],
        filterable=True,
        extraJson={
            "fieldConfig": {
                "defaults": {
                    "decimals": decimals,
                    "noValue": "—",
                    "thresholds": {"mode": "absolute", "steps": _steps(NEUTRAL)},
                }
            }
        },
    )


def state_timeline(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    grid_pos: g.GridPos,
    mappings: Sequence[Mapping[str, Any]],
    span_nulls_ms: int,
    interval: str | None = None,
) -> g.StateTimeline:
    """States over time (lamp on/off, leak); a silent device leaves a hole."""
    return g.StateTimeline(
        **_common(title, description, targets, grid_pos, None, None, interval, 500),
        mappings=list(mappings),
        colorMode="thresholds",
        mergeValues=True,
        showValue="never",
        extraJson={
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "custom": {"spanNulls": span_nulls_ms},
                }
            }
        },
    )


def text(title: str, content: str, grid_pos: g.GridPos, description: str = "") -> g.Text:
    """Markdown: tips on the occupant screen, and notes where Grafana cannot show the data."""
    return g.Text(
        title=title, description=description, content=content, gridPos=grid_pos, mode="markdown"
    )


def bool_mappings(true_text: str, false_text: str, true_color: str) -> list[dict[str, Any]]:
    """Value mappings of a boolean state; the false state is green unless it is the alarm."""
    false_color = "green" if true_color != "green" else "dark-red"
    return [
        {
            "type": "value",
            "options": {
                "true": {"text": true_text, "color": true_color, "index": 0},
                "false": {"text": false_text, "color": false_color, "index": 1},
            },
        }
    ]


def by_name(column: str, *properties: dict[str, Any]) -> dict[str, Any]:
    """A field override: these properties for the column (or series) called ``column``."""
    return {"matcher": {"id": "byName", "options": column}, "properties": list(properties)}


def unit_override(column: str, unit: str) -> dict[str, Any]:
    """Show one column of a table in its own unit."""
    return by_name(column, {"id": "unit", "value": unit})


def thresholds_property(steps: Sequence[tuple[float | None, str]]) -> dict[str, Any]:
    """Absolute colour thresholds, as a field-override property."""
    return {"id": "thresholds", "value": {"mode": "absolute", "steps": _steps(steps)}}


def organize(
    rename: Mapping[str, str], *, hide_time: bool = True, hide: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The transformations of a table: rename its columns, hiding ``Time`` unless it is shown,
    and the columns in ``hide`` (keys a query needs that nobody needs to read)."""
    hidden = {name: True for name in (["Time"] if hide_time else []) + list(hide)}
    options: dict[str, Any] = {"excludeByName": hidden} if hidden else {}
    options["renameByName"] = dict(rename)
    return [{"id": "organize", "options": options}]


def value_texts(values: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Field-override properties showing stored words (``critical``, ``resolved``) in the
    dashboard's language and in colour: (stored value, text, colour) triples."""
    options = {
        v: {"text": text, "color": color, "index": i} for i, (v, text, color) in enumerate(values)
    }
    return [
        {"id": "mappings", "value": [{"type": "value", "options": options}]},
        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
    ]


def bool_property(true_text: str, false_text: str, true_color: str) -> dict[str, Any]:
    """:func:`bool_mappings` as a field-override property, for one column of a table."""
    return {"id": "mappings", "value": bool_mappings(true_text, false_text, true_color)}


def modernise(panel: dict[str, Any]) -> dict[str, Any]:
    """Drop the Grafana 6 ``fieldOptions`` grafanalib still writes for bar gauges: Grafana would
    migrate it over the modern ``fieldConfig`` set through ``extraJson``."""
    options = panel.get("options")
    if isinstance(options, dict):
        options.pop("fieldOptions", None)
    for child in panel.get("panels", []) or []:
        if isinstance(child, dict):
            modernise(child)
    return panel
