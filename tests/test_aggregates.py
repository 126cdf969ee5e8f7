"""Aggregates on both stores: a real SQLite file and the session's real InfluxDB 1.6, fed the
same batches, must give the same answers, and the right ones.

Deltas are multiples of 1/64, so every sum is exact in floating point whatever order a store
adds in: the stores are compared for equality, not closeness. Expected values come from the
generated deltas with plain Python (local dates from zoneinfo), not from the code under test.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lorawatch import inventory as inventory_mod
from lorawatch.analytics import aggregates
from lorawatch.inventory import occupancy
from lorawatch.pipeline.records import Batch, Consumption, Place
from lorawatch.pipeline.store import Bucket, Interval, Store
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.settings import InfluxConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.conftest import DATA
from tests.servers import InfluxDB
from tests.test_sqlite_series import old_file

pytestmark = pytest.mark.servers

PARIS = ZoneInfo("Europe/Paris")
Q = timedelta(minutes=15)
KWH, M3 = "energy_delta_kwh", "volume_delta_m3"
INTERVALS: tuple[Interval, ...] = ("hour", "day", "week", "month")

MAIRIE = Place("saint-sulpice", "mairie", "mairie-elec", "electricity")
ECOLE = Place("saint-sulpice", "ecole", "ecole-elec", "electricity")
GYMNASE = Place("rennes", "gymnase", "gymnase-elec", "electricity")


def local(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)  # type: ignore[misc]


@dataclasses.dataclass(frozen=True)
class Meter:
    dev_eui: str
    name: str
    place: Place


METERS = [
    Meter("0000000000000001", KWH, MAIRIE),
    Meter("0000000000000002", KWH, ECOLE),
    Meter("0000000000000003", KWH, ECOLE.__class__("saint-sulpice", "ecole", "cantine", "")),
    Meter("0000000000000004", KWH, GYMNASE),
    Meter("0000000000000011", M3, Place("saint-sulpice", "mairie", "mairie-eau", "water")),
    Meter("0000000000000012", M3, Place("saint-sulpice", "ecole", "ecole-eau", "water")),
]


def deltas(
    meter: Meter,
    first_end: datetime,
    count: int,
    value: Callable[[datetime], float] | float = 0.25,
    step: timedelta = Q,
) -> list[Consumption]:
    """``count`` consecutive deltas of one meter, the first ending at ``first_end``."""
    out = []
    end = first_end.astimezone(UTC)
    for _ in range(count):
        v = value(end) if callable(value) else value
        out.append(
            Consumption(meter.dev_eui, meter.name, "", end - step, end, v, False, meter.place)
        )
        end += step
    return out


def varied(i: int) -> Callable[[datetime], float]:
    """A daily and weekly pattern, different per meter, in multiples of 1/64."""

    def value(end: datetime) -> float:
        t = end.astimezone(PARIS)
        return ((t.hour * 3 + t.weekday() * 5 + i * 7 + t.minute // 15) % 13) / 64

    return value


def write(stores: Sequence[Store], *batches: Batch) -> None:
    for batch in batches:
        for store in stores:
            store.write(batch)
    for store in stores:
        assert not store.health().get("spooled_batches"), f"{store.name} spooled a batch"


def plain(buckets: Sequence[Bucket]) -> list[tuple[str, datetime, float]]:
    """Buckets with their instants in UTC: local datetimes that differ only by fold (the two
    02:00 hours of the autumn DST day) compare equal, UTC instants never do."""
    return [(b.group, b.start.astimezone(UTC), b.value) for b in buckets]


def normalised(results: Sequence[object]) -> list[tuple[object, ...]]:
    out = []
    for r in results:
        values = []
        for f in dataclasses.fields(r):  # type: ignore[arg-type]
            v = getattr(r, f.name)
            values.append(v.astimezone(UTC) if isinstance(v, datetime) else v)
        out.append((type(r).__name__, *values))
    return out


def expected(
    records: Sequence[Consumption],
    name: str,
    interval: Interval,
    group_by: str,
    start: datetime,
    end: datetime,
) -> dict[tuple[str, object], float]:
    """The answer worked out from the deltas themselves, with zoneinfo and nothing else."""
    sums: dict[tuple[str, object], float] = defaultdict(float)
    for c in records:
        if c.name != name or not start <= c.end < end:
            continue
        t = c.end.astimezone(PARIS)
        key: object
        if interval == "hour":
            key = c.end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        elif interval == "day":
            key = t.date()
        elif interval == "week":
            key = t.date() - timedelta(days=t.weekday())
        else:
            key = (t.year, t.month)
        group = c.place.building if group_by == "building" else c.place.commune
        sums[(group, key)] += c.value
    return dict(sums)


def keyed(buckets: Sequence[Bucket], interval: Interval) -> dict[tuple[str, object], float]:
    out: dict[tuple[str, object], float] = {}
    for b in buckets:
        key: object
        if interval == "hour":
            key = b.start.astimezone(UTC)
        elif interval in ("day", "week"):
            key = b.start.date()
        else:
            key = (b.start.year, b.start.month)
        assert (b.group, key) not in out, f"two buckets for {b.group} {key}"
        out[(b.group, key)] = b.value
    return out


def make_stores(workdir: Path, influx: InfluxDB, database: str) -> tuple[SqliteStore, InfluxStore]:
    sqlite = SqliteStore(workdir / "lw.sqlite")
    store = InfluxStore(
        InfluxConfig(url=influx.url, database=database, spool_dir=workdir / "spool")
    )
    return sqlite, store


@pytest.fixture
def stores(
    tmp_path: Path, influxdb: InfluxDB, influx_db: str
) -> Iterator[tuple[SqliteStore, InfluxStore]]:
    pair = make_stores(tmp_path, influxdb, influx_db)
    yield pair
    pair[1].close()
    pair[0].close()


# --- a commune's worth of data, written once for the module ---------------------------------

SPANS = [
    # five weeks around the spring DST change, the autumn one, and last year's March
    (local(2026, 3, 2), local(2026, 4, 6)),
    (local(2026, 10, 12), local(2026, 11, 2)),
    (local(2025, 3, 3), local(2025, 4, 7)),
]
EVERYTHING = (local(2025, 1, 1), local(2027, 1, 1))


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB
) -> Iterator[tuple[list[Consumption], tuple[SqliteStore, InfluxStore]]]:
    influxdb.create_database("aggregates_fleet")
    pair = make_stores(tmp_path_factory.mktemp("fleet"), influxdb, "aggregates_fleet")
    records: list[Consumption] = []
    for start, end in SPANS:
        count = (end.astimezone(UTC) - start.astimezone(UTC)) // Q
        for i, meter in enumerate(METERS):
            records += deltas(meter, start, count, varied(i))
    # batches as the bridge makes them: all meters, a few hours at a time, in time order
    records.sort(key=lambda c: c.end)
    write(pair, *(Batch(consumption=records[i : i + 2000]) for i in range(0, len(records), 2000)))
    yield records, pair
    pair[1].close()
    pair[0].close()


@pytest.mark.parametrize("name", [KWH, M3])
@pytest.mark.parametrize("group_by", ["building", "commune"])
@pytest.mark.parametrize("interval", INTERVALS)
def test_both_stores_give_the_right_totals(
    fleet: tuple[list[Consumption], tuple[SqliteStore, InfluxStore]],
    interval: Interval,
    group_by: aggregates.GroupBy,
    name: aggregates.Quantity,
) -> None:
    records, (sqlite, influx) = fleet
    start, end = EVERYTHING
    truth = expected(records, name, interval, group_by, start, end)
    answers = {
        s.name: aggregates.totals(s, name, start, end, interval, group_by=group_by)  # type: ignore[arg-type]
        for s in (sqlite, influx)
    }
    assert plain(answers["sqlite"]) == plain(answers["influxdb"])
    assert keyed(answers["sqlite"], interval) == truth
    assert len(truth) >= 6  # 3 spans, several groups: not vacuous


def test_every_aggregate_is_the_same_on_both_stores(
    fleet: tuple[list[Consumption], tuple[SqliteStore, InfluxStore]],
) -> None:
    _, (sqlite, influx) = fleet
    schedule = occupancy.Schedule(
        {"mon": ["08:30-12:00", "13:30-17:30"], "wed": ["08:30-12:00"], "sat": ["20:00-01:00"]}
    )
    calls: list[tuple[str, Callable[[Store], Sequence[object]]]] = [
        *[
            (
                f"baseline {interval} {group_by} {statistic}",
                lambda s, i=interval, g=group_by, st=statistic: aggregates.baseline(
                    s, KWH, *SPANS[0], interval=i, group_by=g, statistic=st, weeks=3
                ),
            )
            for interval, group_by, statistic in itertools.product(
                ("hour", "day"), ("building", "commune"), ("median", "mean")
            )
        ],
        (
            "baseline around the autumn DST change",
            lambda s: aggregates.baseline(s, M3, local(2026, 10, 25), local(2026, 10, 27)),
        ),
        *[
            (
                f"occupancy {interval}",
                lambda s, i=interval: aggregates.occupancy_split(
                    s, KWH, *SPANS[0], {"mairie": schedule.is_occupied}, interval=i
                ),
            )
            for interval in INTERVALS
        ],
        ("night", lambda s: aggregates.night_baseload(s, KWH, *SPANS[0])),
        ("night autumn", lambda s: aggregates.night_baseload(s, M3, *SPANS[1])),
        (
            "intensity",
            lambda s: aggregates.intensity(s, KWH, *EVERYTHING, {"mairie": 420, "ecole": 1350}),
        ),
        *[
            (
                f"last year {interval} {group_by}",
                lambda s, i=interval, g=group_by: aggregates.vs_last_year(
                    s, KWH, local(2026, 3, 2), local(2026, 4, 1), i, group_by=g
                ),
            )
            for interval, group_by in itertools.product(INTERVALS, ("building", "commune"))
        ],
    ]
    for what, call in calls:
        on_sqlite, on_influx = call(sqlite), call(influx)
        assert on_sqlite, what
        assert normalised(on_sqlite) == normalised(on_influx), what


# --- DST, midnight, replays, order ----------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 3, 28), 24)]
)
def test_dst_days_have_23_and_25_hours(
    stores: tuple[SqliteStore, InfluxStore], day: date, hours: int
) -> None:
    meter = METERS[0]
    midnight = local(day.year, day.month, day.day)
    before, following = midnight - timedelta(days=1), midnight + timedelta(days=1)  # wall clock
    three_days = (following + timedelta(days=1)).astimezone(UTC) - before.astimezone(UTC)
    write(stores, Batch(consumption=deltas(meter, before, three_days // Q)))  # 0.25 each
    for store in stores:
        hourly = aggregates.totals(store, KWH, midnight, following, "hour")
        assert len(hourly) == hours, store.name
        assert [b.value for b in hourly] == [1.0] * hours, store.name
        assert len({b.start.astimezone(UTC) for b in hourly}) == hours, store.name
        daily = aggregates.totals(store, KWH, before, following + timedelta(days=1), "day")
        assert [(b.start.date(), b.value) for b in daily] == [
            (day - timedelta(days=1), 24.0),
            (day, float(hours)),
            (day + timedelta(days=1), 24.0 if day.day != 28 else 23.0),
        ], store.name
        night = aggregates.night_baseload(store, KWH, midnight, following)
        assert [(n.day, n.hours, n.per_hour, n.day_total, n.day_hours) for n in night] == [
            (day, hours - 20, 1.0, float(hours), hours)
        ], store.name
        assert night[0].share == 1.0
    if hours == 25:
        # ending at the second 02:00: the first 02:00 hour is a bucket of its own
        first_hours = aggregates.totals(
            stores[0], KWH, midnight, local(2026, 10, 25, 2, fold=1), "hour"
        )
        assert [(b.start.hour, b.value) for b in first_hours] == [(0, 1.0), (1, 1.0), (2, 1.0)]
        labels = [
            b.start.isoformat()
            for b in aggregates.totals(stores[1], KWH, midnight, following, "hour")
        ]
        assert labels[2:4] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]


def test_a_delta_at_local_midnight_belongs_to_the_new_day_week_and_month(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    midnight = local(2026, 6, 1)  # a Monday: new day, new week and new month at once
    meter = METERS[0]
    write(
        stores,
        Batch(
            consumption=[
                *deltas(meter, midnight, 1, 1.0),
                *deltas(meter, midnight - timedelta(microseconds=1), 1, 0.5),
            ]
        ),
    )
    span = (local(2026, 5, 1), local(2026, 7, 1))
    for store in stores:
        for interval, new in [
            ("day", midnight),
            ("week", midnight),
            ("month", midnight),
            ("hour", midnight),
        ]:
            buckets = aggregates.totals(store, KWH, *span, interval)  # type: ignore[arg-type]
            assert [(b.start.astimezone(UTC) >= new.astimezone(UTC), b.value) for b in buckets] == [
                (False, 0.5),
                (True, 1.0),
            ], (store.name, interval)
            assert buckets[1].start == new, (store.name, interval)
        # a query starting at midnight sees only the new day's delta
        assert plain(aggregates.totals(store, KWH, midnight, span[1], "day")) == [
            ("mairie", midnight.astimezone(UTC), 1.0)
        ], store.name


def test_a_replayed_batch_counts_once_and_a_corrected_one_replaces(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    sqlite, influx = stores
    batch = Batch(
        consumption=[
            *deltas(METERS[0], local(2026, 2, 2, 8), 8),
            *deltas(METERS[1], local(2026, 2, 2, 8), 8, 0.5),
        ]
    )
    span = (local(2026, 2, 1), local(2026, 2, 3))
    write(stores, batch)
    write(stores, batch)
    for store in stores:
        got = aggregates.totals(store, KWH, *span, "hour")
        assert [(b.group, b.value) for b in got] == [
            ("ecole", 2.0),
            ("ecole", 2.0),
            ("mairie", 1.0),
            ("mairie", 1.0),
        ], store.name
    assert sqlite.fetch("SELECT COUNT(*) FROM consumption")[0][0] == 16
    assert (
        influx.query('SELECT COUNT("energy_delta_kwh") FROM "consumption"')[0]["values"][0][1] == 16
    )
    # A late reading changed the last delta of the mairie: the same key, a new value.
    corrected = deltas(METERS[0], local(2026, 2, 2, 9, 45), 1, 2.0)
    write(stores, Batch(consumption=corrected))
    for store in stores:
        got = aggregates.totals(store, KWH, *span, "day", group_by="commune")
        assert [(b.group, b.value) for b in got] == [("saint-sulpice", 2.0 + 4.0 + 1.75)], (
            store.name
        )


def test_out_of_order_batches_give_the_same_totals(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    records = [
        c
        for i, meter in enumerate(METERS[:4])
        for c in deltas(meter, local(2026, 1, 10, 22), 4 * 30, varied(i))
    ]
    chunks = [records[i : i + 50] for i in range(0, len(records), 50)]
    order = [*chunks[5::2], *reversed(chunks[0:5]), *chunks[6::2]]
    assert sorted(map(id, itertools.chain(*order))) == sorted(map(id, records))
    write(stores, *(Batch(consumption=chunk) for chunk in order))
    span = (local(2026, 1, 10), local(2026, 1, 13))
    for interval in ("hour", "day"):
        truth = expected(records, KWH, interval, "building", *span)  # type: ignore[arg-type]
        for store in stores:
            got = aggregates.totals(store, KWH, *span, interval)  # type: ignore[arg-type]
            assert keyed(got, interval) == truth, (store.name, interval)  # type: ignore[arg-type]


def test_unaligned_times_and_bounds_agree_to_the_microsecond(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    """SQLite reads whole quarter hours from its rollup and the edges from the deltas."""
    odd = timedelta(minutes=7, seconds=13, microseconds=500)
    records = [
        *deltas(METERS[0], local(2026, 1, 5, 6) + odd, 40, 0.125, step=timedelta(minutes=11)),
        *deltas(METERS[1], local(2026, 1, 5, 6) + odd, 20, 0.25, step=timedelta(minutes=23)),
    ]
    write(stores, Batch(consumption=records))
    sqlite, influx = stores
    bounds = [
        (
            local(2026, 1, 5, 6, 20) + timedelta(seconds=s),
            local(2026, 1, 5, 11, 3) + timedelta(seconds=e),
        )
        for s, e in [(0, 0), (13, 47), (-60, 1)]
    ] + [
        (records[3].end, records[4].end),
        (records[3].end, records[3].end + timedelta(microseconds=1)),
    ]
    for start, end in bounds:
        for interval in ("hour", "day"):
            truth = expected(records, KWH, interval, "building", start, end)  # type: ignore[arg-type]
            on_sqlite = aggregates.totals(sqlite, KWH, start, end, interval)  # type: ignore[arg-type]
            assert keyed(on_sqlite, interval) == truth, (start, end, interval)  # type: ignore[arg-type]
            assert plain(on_sqlite) == plain(
                aggregates.totals(influx, KWH, start, end, interval)  # type: ignore[arg-type]
            ), (start, end, interval)


def test_an_older_sqlite_file_gets_its_rollup_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = SqliteStore(tmp_path / "new.sqlite")
    records = deltas(METERS[0], local(2026, 1, 5), 96, 0.25)
    store.write(Batch(consumption=records))
    span = (local(2026, 1, 5), local(2026, 1, 7))
    before = plain(store.consumption(KWH, *span, "day", "Europe/Paris"))
    # As a file written before the rollup existed: its deltas in the wide layout of then.
    old_file(path, 0, {"readings": [], "consumption": store.fetch("SELECT * FROM consumption")})
    store.close()
    assert before == [("mairie", local(2026, 1, 5).astimezone(UTC), 24.0)]
    reopened = SqliteStore(path)
    assert plain(reopened.consumption(KWH, *span, "day", "Europe/Paris")) == before
    assert reopened.fetch("PRAGMA user_version")[0][0] >= 1
    reopened.close()


# --- what each comparison says ---------------------------------------------------------------


def test_baseline_is_the_median_of_the_same_hour_of_the_previous_weeks(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    monday = local(2026, 2, 23)
    records = []
    for weeks_back, value in [(4, 1.0), (3, 2.0), (2, 3.0), (1, 10.0), (0, 5.0)]:
        at = monday.replace(tzinfo=None) - timedelta(weeks=weeks_back, hours=-10, minutes=-15)
        records += deltas(METERS[0], at.replace(tzinfo=PARIS), 1, value)
    records += deltas(METERS[0], local(2026, 2, 9, 11, 15), 1, 0.5)  # one week only at 11:00
    write(stores, Batch(consumption=records))
    day = (monday, monday + timedelta(days=1))
    for store in stores:
        points = aggregates.baseline(store, KWH, *day)
        assert len(points) == 24
        by_hour = {p.start.hour: p for p in points}
        assert (by_hour[10].value, by_hour[10].typical, by_hour[10].samples) == (5.0, 2.5, 4)
        assert by_hour[10].ratio == 2.0
        assert (by_hour[11].value, by_hour[11].typical, by_hour[11].samples) == (None, 0.5, 1)
        assert (by_hour[9].value, by_hour[9].typical, by_hour[9].samples) == (None, None, 0)
        mean = aggregates.baseline(store, KWH, *day, statistic="mean")
        assert [p.typical for p in mean if p.start.hour == 10] == [4.0]
        recent = aggregates.baseline(store, KWH, *day, weeks=2)
        assert [(p.typical, p.samples) for p in recent if p.start.hour == 10] == [(6.5, 2)]
        daily = aggregates.baseline(store, KWH, monday + timedelta(hours=5), day[1], interval="day")
        # previous Mondays: 10, 3 + 0.5, 2 and 1 kWh
        assert [(p.start, p.value, p.typical) for p in daily] == [(monday, 5.0, 2.75)]


def test_baseline_across_dst_changes(stores: tuple[SqliteStore, InfluxStore]) -> None:
    records = [
        *deltas(METERS[0], local(2026, 10, 18, 2, 15), 1, 1.0),
        *deltas(METERS[0], local(2026, 3, 29, 1, 15), 1, 1.0),
        *deltas(METERS[0], local(2026, 3, 29, 3, 15), 1, 3.0),
    ]
    write(stores, Batch(consumption=records))
    for store in stores:
        autumn = aggregates.baseline(store, KWH, local(2026, 10, 25), local(2026, 10, 26), weeks=1)
        assert len(autumn) == 25
        two_am = [(p.start.isoformat(), p.typical) for p in autumn if p.start.hour == 2]
        assert two_am == [("2026-10-25T02:00:00+02:00", 1.0), ("2026-10-25T02:00:00+01:00", 1.0)]
        spring = aggregates.baseline(store, KWH, local(2026, 4, 5), local(2026, 4, 6), weeks=1)
        assert len(spring) == 24
        early = {p.start.hour: p.typical for p in spring if p.start.hour < 4}
        assert early == {0: None, 1: 1.0, 2: None, 3: 3.0}


def test_consumption_inside_and_outside_opening_hours(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    inventory = inventory_mod.load(DATA / "inventory.toml")
    schedules = aggregates.schedules(inventory)
    assert set(schedules) == {"mairie"}
    monday = local(2026, 2, 2)  # mairie: 08:30-12:00 and 13:30-17:30; no school calendar
    write(
        stores,
        Batch(
            consumption=[
                *deltas(METERS[0], monday, 2 * 96),  # 1 kWh an hour, Monday and Tuesday
                *deltas(METERS[1], monday, 96),  # the école has no schedule: left out
            ]
        ),
    )
    for store in stores:
        split = aggregates.occupancy_split(
            store, KWH, monday, monday + timedelta(days=2), schedules
        )
        assert [(s.group, s.start, s.occupied, s.unoccupied) for s in split] == [
            ("mairie", monday, 7.5, 16.5),
            ("mairie", monday + timedelta(days=1), 7.5, 16.5),
        ], store.name
        assert split[0].unoccupied_share == 16.5 / 24
        weekly = aggregates.occupancy_split(
            store,
            KWH,
            monday + timedelta(hours=3),
            monday + timedelta(days=1),
            schedules,
            interval="week",
        )
        assert [(s.start, s.occupied, s.total) for s in weekly] == [(monday, 15.0, 48.0)]


def test_kwh_per_m2_ranks_the_buildings_with_a_surface(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    day = local(2026, 2, 2)
    write(
        stores,
        Batch(
            consumption=[
                *deltas(METERS[0], day, 96, 0.5),  # mairie: 48 kWh on 420 m²
                *deltas(METERS[1], day, 96, 1.0),  # école: 96 kWh on 1350 m²
                *deltas(METERS[3], day, 96, 2.0),  # gymnase: no surface known
            ]
        ),
    )
    surfaces = aggregates.surfaces(inventory_mod.load(DATA / "inventory.toml"))
    assert surfaces == {"mairie": 420}
    for store in stores:
        ranked = aggregates.intensity(
            store, KWH, day, day + timedelta(days=1), {**surfaces, "ecole": 1350}
        )
        assert [(r.rank, r.group, r.total, r.per_m2) for r in ranked] == [
            (1, "mairie", 48.0, 48.0 / 420),
            (2, "ecole", 96.0, 96.0 / 1350),
        ], store.name


def test_same_period_last_year(stores: tuple[SqliteStore, InfluxStore]) -> None:
    this_monday, last_year_monday = local(2026, 3, 2), local(2025, 3, 3)  # 52 weeks apart
    write(
        stores,
        Batch(
            consumption=[
                *deltas(METERS[0], this_monday, 96, 0.25),  # 24 kWh
                *deltas(METERS[0], last_year_monday, 96, 0.5),  # 48 kWh
                *deltas(METERS[0], local(2025, 3, 2), 96, 1.0),  # the same date, a Sunday
            ]
        ),
    )
    for store in stores:
        days = aggregates.vs_last_year(
            store, KWH, this_monday, this_monday + timedelta(days=2), "day"
        )
        assert [(y.start.date(), y.value, y.previous_start.date(), y.previous) for y in days] == [
            (date(2026, 3, 2), 24.0, date(2025, 3, 3), 48.0),
            (date(2026, 3, 3), None, date(2025, 3, 4), None),
        ], store.name
        assert days[0].change == -0.5
        months = aggregates.vs_last_year(
            store, KWH, this_monday, this_monday + timedelta(days=1), "month"
        )
        assert [(y.start, y.value, y.previous_start, y.previous) for y in months] == [
            (local(2026, 3, 1), 24.0, local(2025, 3, 1), 96.0 + 48.0)
        ], store.name


def test_bad_questions_are_refused(stores: tuple[SqliteStore, InfluxStore]) -> None:
    store = stores[0]
    day = (local(2026, 1, 1), local(2026, 1, 2))
    with pytest.raises(ValueError, match="unknown quantity"):
        aggregates.totals(store, 'x" FROM secrets --', *day, "day")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        aggregates.totals(store, KWH, datetime(2026, 1, 1), day[1], "day")
    with pytest.raises(ValueError, match="after start"):
        aggregates.totals(store, KWH, day[1], day[0], "day")
    with pytest.raises((KeyError, ValueError)):
        aggregates.totals(store, KWH, *day, "day", tz="Europe/Nowhere')")
    with pytest.raises(ValueError, match="weeks"):
        aggregates.baseline(store, KWH, *day, weeks=0)


def test_deltas_and_readings_between_are_the_same_on_both_stores(
    stores: tuple[SqliteStore, InfluxStore],
) -> None:
    """What the elected evaluator reads (lorawatch.alerts.evaluator): every delta with its
    device, span, gap and place, and every reading of a name, in [start, end)."""
    from lorawatch.core.readings import OUTDOOR
    from lorawatch.pipeline.records import StoredReading

    start = local(2026, 3, 9, 6)
    records = deltas(METERS[0], start, 12) + deltas(METERS[1], start, 12, varied(1))
    records += deltas(METERS[4], start, 12, 0.5)  # water: another name
    records[3] = dataclasses.replace(records[3], gap=True, start=records[3].end - 4 * Q)
    probe = Place("saint-sulpice", "", "sonde", "outdoor")
    temps = [
        StoredReading("00000000000000aa", OUTDOOR, "", start + i * Q, 4.0 + i / 8, probe)
        for i in range(8)
    ]
    temps.append(StoredReading("00000000000000aa", "humidity_pct", "", start, 80.0, probe))
    write(stores, Batch(readings=temps, consumption=records))
    lo, hi = start + Q, start + 10 * Q  # edges: end/time == lo is in, == hi is out
    want = sorted(
        (c for c in records if c.name == KWH and lo <= c.end < hi),
        key=lambda c: (c.end, c.dev_eui),
    )
    for store in stores:
        got = store.deltas_between(KWH, lo, hi)
        assert normalised(got) == normalised(want), store.name
        found = store.readings_between(OUTDOOR, lo, hi)
        assert normalised(found) == normalised(
            [t for t in temps if t.name == OUTDOOR and lo <= t.time < hi]
        ), store.name
