"""Imported outdoor temperatures: Météo-France's hourly climatological files as readings.

A commune without an outdoor LoRa probe still needs the weather for its baselines, and the
national weather service publishes it: per department, one semicolon-separated file (often
gzipped) of hourly observations per station, with a header row naming the columns.
``NUM_POSTE`` is the station number, ``NOM_USUEL`` its name, ``AAAAMMJJHH`` the hour in UTC
(the observation closing that hour), ``T`` the air temperature in °C with a dot as decimal
separator, empty when missing. Only those columns are read, found by name, so the many other
columns (rain, wind, humidity, their quality codes) may come in any order.

Gaps are part of real station data. A short one (up to ``max_fill_h`` hours) is filled by
linear interpolation between its neighbours: a baseline needs a temperature every hour and
the air does not jump. A longer one is left empty and reported, so that hours without a
temperature fall back to the weather-blind rules instead of using an invented value.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from lorawatch.core.errors import LorawatchError
from lorawatch.core.readings import OUTDOOR
from lorawatch.pipeline.records import Batch, DeviceEvent, Place, StoredReading

HOUR = timedelta(hours=1)
REQUIRED = ("NUM_POSTE", "AAAAMMJJHH", "T")


class WeatherFileError(LorawatchError):
    """The file is not in the expected layout; the message says what is missing."""


@dataclass(slots=True)
class Station:
    number: str
    name: str = ""
    hours: dict[datetime, float] = field(default_factory=dict)
    bad_rows: int = 0


@dataclass(slots=True)
class Imported:
    """One station's series once gaps are dealt with."""

    station: Station
    values: dict[datetime, float]
    filled: int
    gaps: list[tuple[datetime, datetime]]
    """Long gaps left empty: (last hour before, first hour after)."""


def _open(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8-sig", errors="replace")
    return io.StringIO(text)


def read(path: Path) -> dict[str, Station]:
    """Every station of the file with its hourly temperatures; raise on a foreign layout."""
    try:
        handle = _open(path)
    except OSError as exc:
        raise WeatherFileError(f"{path}: cannot read: {exc}") from None
    except (EOFError, gzip.BadGzipFile) as exc:
        raise WeatherFileError(f"{path}: not a valid gzip file: {exc}") from None
    return parse(handle, str(path))


def parse(lines: Iterable[str], source: str = "") -> dict[str, Station]:
    reader = csv.reader(lines, delimiter=";")
    header = [h.strip().upper() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise WeatherFileError(
            f"{source or 'file'}: not a Météo-France hourly file: no column "
            f"{', '.join(missing)} in the header (expected NUM_POSTE;...;AAAAMMJJHH;...;T;...)"
        )
    i_num, i_hour, i_t = (header.index(c) for c in REQUIRED)
    i_name = header.index("NOM_USUEL") if "NOM_USUEL" in header else None
    stations: dict[str, Station] = {}
    for row in reader:
        if len(row) <= max(i_num, i_hour, i_t):
            continue
        number = row[i_num].strip()
        if not number:
            continue
        station = stations.get(number)
        if station is None:
            name = row[i_name].strip() if i_name is not None and len(row) > i_name else ""
            station = stations[number] = Station(number, name)
        text = row[i_t].strip()
        if not text:
            continue  # a missing observation: a gap
        try:
            hour = datetime.strptime(row[i_hour].strip(), "%Y%m%d%H").replace(tzinfo=UTC)
            value = float(text.replace(",", "."))
        except ValueError:
            station.bad_rows += 1
            continue
        if not math.isfinite(value) or not -60 <= value <= 60:
            station.bad_rows += 1
            continue
        station.hours[hour] = value
    return stations


def fill(station: Station, max_fill_h: int = 3) -> Imported:
    """Interpolate gaps of at most ``max_fill_h`` missing hours; report the longer ones."""
    values = dict(station.hours)
    filled = 0
    gaps: list[tuple[datetime, datetime]] = []
    hours = sorted(station.hours)
    for a, b in pairwise(hours):
        missing = round((b - a) / HOUR) - 1
        if missing <= 0:
            continue
        if missing > max_fill_h:
            gaps.append((a, b))
            continue
        va, vb = station.hours[a], station.hours[b]
        for k in range(1, missing + 1):
            values[a + k * HOUR] = va + (vb - va) * k / (missing + 1)
            filled += 1
    return Imported(station, dict(sorted(values.items())), filled, gaps)


def source_id(station: str) -> str:
    """The ``dev_eui`` column of imported readings: not a LoRa device, told apart by prefix."""
    return f"meteo-france-{station}"


def to_batch(imported: Imported, commune: str) -> Batch:
    """The readings of one station for ``commune``, and one event per long gap.

    The hour ``AAAAMMJJHH`` closes the observation period, so the reading is stored at that
    instant, as a sensor's reading is stored at its own time.
    """
    s = imported.station
    place = Place(commune, "", f"Météo-France {s.name or s.number}", "environment")
    dev = source_id(s.number)
    batch = Batch()
    batch.readings = [
        StoredReading(dev, OUTDOOR, "", t, v, place) for t, v in imported.values.items()
    ]
    batch.events = [
        DeviceEvent(
            dev,
            a + HOUR,
            "quality",
            "weather_gap",
            f"no temperature from {(a + HOUR).isoformat()} to {(b - HOUR).isoformat()} "
            f"({round((b - a) / HOUR) - 1} h): left empty, baselines use the weather-blind "
            "rules there",
            place,
        )
        for a, b in imported.gaps
    ]
    return batch
