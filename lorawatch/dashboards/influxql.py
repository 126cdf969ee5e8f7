"""The InfluxQL behind every panel, written once so each dashboard asks the same questions.

Why InfluxQL: it is the one query language that InfluxDB 1.x, 2.x (v1 compatibility) and 3.x
all answer, and that Grafana supports on all three (field notes, "InfluxDB").

Rules every query here follows, and ``tests/test_dashboards.py`` checks:

- The time range comes from Grafana (``$timeFilter``, ``${__to}``), never from ``now()``, so a
  panel obeys the time picker and its panel overrides, and the queries can be run in tests on
  a fixed simulated "now".
- Days and weeks are cut in the commune's local time (``tz(...)``): a day total is a local
  day, and a DST day has 23 or 25 hours. Occupancy is not cut by the query: each delta
  carries its part outside the building's schedule (``<field>_unoccupied``), stored by the
  pipeline, since InfluxQL has no notion of opening hours or holidays.
- Sparse LoRa data is drawn honestly: a bucket with no reading is null (``fill(null)``) or
  absent (``fill(none)``), never zero; only counts of received frames may be filled with 0.
- A delta flagged ``gap`` (it spans an outage) counts in totals (the energy was consumed) but
  never in a power or flow curve (its average over hours would invent a flat line).
- In a sub-query, each level that groups by time repeats the time condition (InfluxDB 1.x
  otherwise fills empty buckets from the epoch to now); a level that does not group by time
  takes none: the inner level already bounds the data, and 1.6 answers nothing at all when
  such a level's lower bound falls after the start of the first inner bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from lorawatch.pipeline.records import unoccupied_field

TIME_FILTER: Final = "$timeFilter"
INTERVAL: Final = "$__interval"
INTERVAL_MS: Final = "$__interval_ms"

ENERGY: Final = "energy_delta_kwh"
VOLUME: Final = "volume_delta_m3"
TYPICAL_DAY: Final = "typical_day"
EXPECTED: Final = "expected"
EXPECTED_FIELD: Final = "energy_kwh"
"""The series the service writes for what InfluxQL cannot compute (``analytics.derived``)."""

# kWh -> W over a duration in ms: x 1000 Wh/kWh x 3 600 000 ms/h. The same constant turns m3
# over a duration in ms into L/h (x 1000 L/m3 x 3 600 000 ms/h).
PER_MS_TO_HOURLY_THOUSANDTHS: Final = 3_600_000_000
# kWh over a duration in s -> W (x 1000 x 3600); m3 over s -> L/h likewise.
PER_S_TO_HOURLY_THOUSANDTHS: Final = 3_600_000

_REGEX_SPECIAL: Final = frozenset("\\.+*?()|[]{}^$/")


def ident(name: str) -> str:
    """A double-quoted identifier (measurement, tag, field)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A single-quoted string literal; template variables such as ``$building`` pass through."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def regex_alternatives(values: Sequence[str]) -> str:
    """``/^(a|b)$/`` matching exactly these values (device names of one site)."""
    escaped = ["".join("\\" + c if c in _REGEX_SPECIAL else c for c in v) for v in values]
    return "/^(" + "|".join(escaped) + ")$/"


def tz(zone: str) -> str:
    return f"tz({literal(zone)})"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which series a query reads: equality on the low-cardinality tags of the data model."""

    commune: str = ""
    building: str = ""
    kinds: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()

    def conditions(self) -> list[str]:
        out: list[str] = []
        if self.commune:
            out.append(f"{ident('commune')} = {literal(self.commune)}")
        if self.building:
            out.append(f"{ident('building')} = {literal(self.building)}")
        if len(self.kinds) == 1:
            out.append(f"{ident('kind')} = {literal(self.kinds[0])}")
        elif self.kinds:
            out.append(
                "(" + " OR ".join(f"{ident('kind')} = {literal(k)}" for k in self.kinds) + ")"
            )
        if self.devices:
            out.append(f"{ident('device')} =~ {regex_alternatives(self.devices)}")
        return out


def where(scope: Scope, *extra: str, time: str = TIME_FILTER) -> str:
    return "WHERE " + " AND ".join([*scope.conditions(), *extra, time])


def group_by(*terms: str, fill: str = "", zone: str = "") -> str:
    parts = [f"GROUP BY {', '.join(terms)}"] if terms else []
    if fill:
        parts.append(f"fill({fill})")
    if zone:
        parts.append(tz(zone))
    return " ".join(parts)


def _tags(by: Sequence[str]) -> list[str]:
    return [ident(t) for t in by]


def _sql(*parts: str) -> str:
    return " ".join(p for p in parts if p)


# --- consumption (deltas) --------------------------------------------------------------------


def total(field: str, scope: Scope, by: Sequence[str] = (), scale: float = 1) -> str:
    """Consumption over the panel's range, one value per group: today, this week, this month."""
    value = f"sum({ident(field)})" + (f" * {scale:g}" if scale != 1 else "")
    return _sql(
        f"SELECT {value} AS {ident('total')} FROM {ident('consumption')}",
        where(scope),
        group_by(*_tags(by)),
    )


def per_area(field: str, scope: Scope, surface_m2: float) -> str:
    """Consumption per square metre of one building (kWh/m2), for a fair ranking."""
    return _sql(
        f"SELECT sum({ident(field)}) / {surface_m2:g} AS {ident('per_m2')} "
        f"FROM {ident('consumption')}",
        where(scope),
    )


def daily(field: str, scope: Scope, zone: str, by: Sequence[str] = ()) -> str:
    """Local-day totals; a day without any delta is null (no bar), never zero."""
    return _sql(
        f"SELECT sum({ident(field)}) AS {ident('total')} FROM {ident('consumption')}",
        where(scope),
        group_by("time(1d)", *_tags(by), fill="null", zone=zone),
    )


def hourly(field: str, scope: Scope, zone: str, scale: float = 1) -> str:
    """Hour-by-hour totals (the occupant screen's "today, hour by hour")."""
    value = f"sum({ident(field)})" + (f" * {scale:g}" if scale != 1 else "")
    return _sql(
        f"SELECT {value} AS {ident('total')} FROM {ident('consumption')}",
        where(scope),
        group_by("time(1h)", fill="null", zone=zone),
    )


def typical_day(field: str, scope: Scope, by: Sequence[str] = ()) -> str:
    """Today's typical day, like with like: the ``typical_day`` point the service writes at
    local midnight (:mod:`lorawatch.analytics.derived`: an open day against open days, a
    closed one against closed days, as the web's hall screen). InfluxQL cannot tell a
    holiday from a school day, so the figure is computed where the calendars are known.
    The series has no ``kind`` tag: only the commune and building conditions apply."""
    plain = Scope(commune=scope.commune, building=scope.building)
    return _sql(
        f"SELECT last({ident(field)}) AS {ident('typical')} FROM {ident(TYPICAL_DAY)}",
        where(plain),
        group_by(*_tags(by)),
    )


def expected_hourly(scope: Scope, zone: str) -> str:
    """What the weather-aware model expected each hour, for the actual weather (the
    ``expected`` points the service writes; null where it has none)."""
    plain = Scope(commune=scope.commune, building=scope.building)
    return _sql(
        f"SELECT sum({ident(EXPECTED_FIELD)}) AS {ident('expected')} FROM {ident(EXPECTED)}",
        where(plain),
        group_by("time(1h)", fill="null", zone=zone),
    )


def mean_day_between(field: str, scope: Scope, zone: str, start: str, end: str) -> str:
    """Mean local-day total between two InfluxQL times (absolute, or ``${__to}ms - 52w``)."""
    window = f"time >= {start} AND time <= {end}"
    inner = _sql(
        f"SELECT sum({ident(field)}) AS {ident('day')} FROM {ident('consumption')}",
        where(scope, time=window),
        group_by("time(1d)", fill="none", zone=zone),
    )
    return f"SELECT mean({ident('day')}) AS {ident('mean_day')} FROM ({inner})"


def rate_curve(field: str, scope: Scope, zone: str, by: Sequence[str] = ()) -> str:
    """Average power (W, from kWh) or flow (L/h, from m3) per ``$__interval``.

    Summing the deltas of every meter in the bucket and dividing by the bucket's length gives
    the building's total; the panel's minimum interval (1 h) is at least the meters' reporting
    interval, so a bucket normally holds whole deltas. A bucket without data is null: with the
    panel's null threshold the line breaks across an outage instead of bridging it.
    """
    return _sql(
        f"SELECT sum({ident(field)}) * {PER_MS_TO_HOURLY_THOUSANDTHS} / {INTERVAL_MS} "
        f"AS {ident('rate')} FROM {ident('consumption')}",
        where(scope, f"{ident('gap')} = false"),
        group_by(f"time({INTERVAL})", *_tags(by), fill="null", zone=zone),
    )


def daily_min_rate(field: str, scope: Scope, zone: str, by: Sequence[str] = ()) -> str:
    """The lowest power (W) or flow (L/h) of each local day, summed over the meters.

    Each delta's own average rate is taken (delta / its interval), so the result does not
    depend on how the meter's reports fall into buckets. The day's minimum is the night
    baseload of a building; for water, a minimum above zero means water ran all night (a
    stuck flush, a leak). Gap deltas are left out: their average over an outage is no rate.
    """
    per_delta = _sql(
        f"SELECT {ident(field)} * {PER_S_TO_HOURLY_THOUSANDTHS} / {ident('interval_s')} "
        f"AS {ident('rate')} FROM {ident('consumption')}",
        where(scope, f"{ident('gap')} = false"),
        group_by(ident("device"), *_tags(by)),
    )
    per_meter = _sql(
        f"SELECT min({ident('rate')}) AS {ident('rate')} FROM ({per_delta})",
        f"WHERE {TIME_FILTER}",
        group_by("time(1d)", ident("device"), *_tags(by), zone=zone),
    )
    return _sql(
        f"SELECT sum({ident('rate')}) AS {ident('min_rate')} FROM ({per_meter})",
        f"WHERE {TIME_FILTER}",
        group_by("time(1d)", *_tags(by), fill="null", zone=zone),
    )


def _unoccupied_known(field: str) -> str:
    """Keeps only the deltas that carry their part outside occupancy: those of buildings with
    a schedule, stored since occupancy is (older deltas would count as all occupied)."""
    return f"{ident(unoccupied_field(field))} >= 0"


def unoccupied_share(field: str, scope: Scope, by: Sequence[str] = ()) -> str:
    """Share (%) of the consumption that fell outside occupancy over the range.

    Each delta carries its own part outside the building's schedule (opening hours, closure
    calendars, closures: ``lorawatch.inventory.occupancy``), computed by the pipeline; a building
    without a schedule has none and is left out rather than counted as closed.
    """
    unoccupied = ident(unoccupied_field(field))
    return _sql(
        f"SELECT 100 * sum({unoccupied}) / sum({ident(field)}) AS {ident('unoccupied_pct')} "
        f"FROM {ident('consumption')}",
        where(scope, _unoccupied_known(field)),
        group_by(*_tags(by)),
    )


def occupancy_daily(field: str, scope: Scope, zone: str, part: str, by: Sequence[str] = ()) -> str:
    """Local-day consumption inside (``occupied``) or outside (``unoccupied``) occupancy,
    from the part of each delta the pipeline stored; a day without data is null."""
    unoccupied = f"sum({ident(unoccupied_field(field))})"
    if part == "unoccupied":
        value = unoccupied
    elif part == "occupied":
        value = f"sum({ident(field)}) - {unoccupied}"
    else:
        raise ValueError(f"part must be 'occupied' or 'unoccupied', not {part!r}")
    return _sql(
        f"SELECT {value} AS {ident(part)} FROM {ident('consumption')}",
        where(scope, _unoccupied_known(field)),
        group_by("time(1d)", *_tags(by), fill="null", zone=zone),
    )


# --- alerts ----------------------------------------------------------------------------------

ALERT_SERIES: Final = ("alert_id", "building", "device", "rule")
"""One row per alert: its id, and the tags a table shows (they never change for an alert)."""


def open_alerts(scope: Scope) -> str:
    """Alerts still active (not resolved) with an event in the range, one row per alert.

    Each alert is one series of the ``alert`` measurement, so ``last()`` of its fields is
    its current state; the outer level keeps the active ones. Only the inner level has a
    time condition (it does not group by time, see the module's rules).
    """
    series = _tags(ALERT_SERIES)
    inner = _sql(
        f"SELECT last({ident('active')}) AS {ident('active')}, "
        f"last({ident('title')}) AS {ident('title')}, "
        f"last({ident('severity')}) AS {ident('severity')}, "
        f"last({ident('opened_ms')}) AS {ident('opened')} FROM {ident('alert')}",
        where(scope),
        group_by(*series),
    )
    return _sql(
        f"SELECT {ident('title')}, {ident('severity')}, {ident('opened')} FROM ({inner})",
        f"WHERE {ident('active')} = true",
        group_by(*series),
    )


def alert_history(scope: Scope) -> str:
    """Every alert with an event in the range, open or resolved: its last state."""
    return _sql(
        f"SELECT last({ident('state')}) AS {ident('state')}, "
        f"last({ident('title')}) AS {ident('title')}, "
        f"last({ident('severity')}) AS {ident('severity')}, "
        f"last({ident('opened_ms')}) AS {ident('opened')} FROM {ident('alert')}",
        where(scope),
        group_by(*_tags(ALERT_SERIES)),
    )


# --- readings and uplinks --------------------------------------------------------------------


def reading_series(
    aggregate: str,
    field: str,
    scope: Scope,
    zone: str,
    by: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> str:
    """A gauge or state over time (fill %, dimming, battery, lamp on), null where silent."""
    return _sql(
        f"SELECT {aggregate}({ident(field)}) AS {ident(field)} FROM {ident('reading')}",
        where(scope, *extra),
        group_by(f"time({INTERVAL})", *_tags(by), fill="null", zone=zone),
    )


def latest(
    fields: Sequence[str], scope: Scope, by: Sequence[str], measurement: str = "reading"
) -> str:
    """The last value of each field per group, for tables of current state."""
    select = ", ".join(f"last({ident(f)}) AS {ident(f)}" for f in fields)
    return _sql(f"SELECT {select} FROM {ident(measurement)}", where(scope), group_by(*_tags(by)))


def count_where(field: str, condition: str, scope: Scope, zone: str, by: Sequence[str] = ()) -> str:
    """Per local day, how many readings met a condition (bins at 95 % or more)."""
    return _sql(
        f"SELECT count({ident(field)}) AS {ident('readings')} FROM {ident('reading')}",
        where(scope, condition),
        group_by("time(1d)", *_tags(by), fill="none", zone=zone),
    )


def days_to_full(scope: Scope, by: Sequence[str] = ("device",)) -> str:
    """Days until each bin is full: (100 - last fill) / mean filling rate (%/day).

    The rate is the mean non-negative slope between 6 h buckets over the panel's range, so the
    drop of a collection does not count, and a bin that has not been filling gives no answer
    rather than "never".
    """
    fill = ident("fill_pct")
    slopes = _sql(
        f"SELECT last({fill}) AS {ident('f')}, "
        f"non_negative_derivative(last({fill}), 1d) AS {ident('rate')} FROM {ident('reading')}",
        where(scope),
        group_by("time(6h)", *_tags(by), fill="none"),
    )
    per_bin = _sql(
        f"SELECT last({ident('f')}) AS {ident('f')}, mean({ident('rate')}) AS {ident('rate')} "
        f"FROM ({slopes})",
        group_by(*_tags(by)),
    )
    return _sql(
        f"SELECT (100 - {ident('f')}) / {ident('rate')} AS {ident('days_to_full')} "
        f"FROM ({per_bin})",
        f"WHERE {ident('rate')} > 0",
        group_by(*_tags(by)),
    )


def frames_per_hour(scope: Scope, zone: str, by: Sequence[str]) -> str:
    """Frames received per hour; an hour without any frame is a true 0 here."""
    return _sql(
        f"SELECT count({ident('f_cnt')}) AS {ident('frames')} FROM {ident('uplink')}",
        where(scope),
        group_by("time(1h)", *_tags(by), fill="0", zone=zone),
    )


def frames_missing(scope: Scope, by: Sequence[str] = ("device",)) -> str:
    """Frames a device sent that never reached the store over the range (lost on air, or
    rejected by the decoder and dead-lettered): its fCnt span minus the frames received.
    A counter reset (rejoin) inflates the span; the table shows it as a large count to check."""
    f_cnt = ident("f_cnt")
    return _sql(
        f"SELECT spread({f_cnt}) - count({f_cnt}) + 1 AS {ident('missing')} FROM {ident('uplink')}",
        where(scope, f"{f_cnt} >= 0"),
        group_by(*_tags(by)),
    )


def last_seen(scope: Scope, by: Sequence[str]) -> str:
    """The last frame of each device: its time is when the device was last heard."""
    return _sql(
        f"SELECT last({ident('f_cnt')}) AS {ident('f_cnt')} FROM {ident('uplink')}",
        where(scope),
        group_by(*_tags(by)),
    )


def devices_heard(scope: Scope) -> str:
    """How many devices sent at least one frame over the range, to hold against the number the
    inventory expects: a device silent over the whole range appears in no table at all."""
    per_device = _sql(
        f"SELECT last({ident('f_cnt')}) AS {ident('f_cnt')} FROM {ident('uplink')}",
        where(scope),
        group_by(ident("device")),
    )
    return f"SELECT count({ident('f_cnt')}) AS {ident('devices')} FROM ({per_device})"


def radio_series(field: str, scope: Scope, zone: str, by: Sequence[str]) -> str:
    return _sql(
        f"SELECT mean({ident(field)}) AS {ident(field)} FROM {ident('uplink')}",
        where(scope),
        group_by(f"time({INTERVAL})", *_tags(by), fill="null", zone=zone),
    )


# --- absolute times --------------------------------------------------------------------------


def at(t: datetime) -> str:
    """An absolute InfluxQL time literal (RFC 3339, UTC), e.g. a campaign's start."""
    return literal(t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
