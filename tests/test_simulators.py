"""The simulator: deterministic, split-independent, decodable, and physically plausible.

Every uplink goes through the real bridge parser and the real decoders, and must decode into
the state the simulator says it sent; the physical models must show what the product brief
promises (school days against holidays, lamps lit at night, bins emptied on collection days)
and every injected anomaly must be visible from its onset.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
import threading
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from queue import Queue
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from lorawatch.core.errors import InventoryError
from lorawatch.decoders import Uplink, readings_of
from lorawatch.gateway_bridge.events import TopicMatcher, UplinkEvent, parse
from lorawatch.gateway_bridge.source import Message
from lorawatch.inventory import load as load_inventory
from lorawatch.inventory.sun import sun_times
from lorawatch.simulators import scenario as scenarios
from lorawatch.simulators.models import BinModel, StreetlightModel
from lorawatch.simulators.run import backfill, live, parse_duration
from lorawatch.simulators.scenario import Scenario
from lorawatch.simulators.simulation import Simulation, SimUplink
from tests.servers import Mosquitto

PARIS = ZoneInfo("Europe/Paris")
SCHOOL_ELEC = "24e124136b400002"
SCHOOL_WATER = "24e124136b410002"
SALLE_ELEC = "24e124136b400004"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@pytest.fixture(scope="module")
def scene() -> Scenario:
    return scenarios.load(scenarios.builtin("saint-sulpice"))


@pytest.fixture(scope="module")
def sim(scene: Scenario) -> Simulation:
    return Simulation(scene, seed=7)


def key(u: SimUplink) -> tuple[datetime, str, bytes, str, bool, int]:
    return (u.time, u.topic, u.payload, u.dev_eui, u.duplicate, u.f_cnt)


# ---- determinism ---------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_data(scene: Scenario) -> None:
    a, b = local("2024-10-15T06:00"), local("2024-10-15T12:00")
    first = [key(u) for u in Simulation(scene, seed=3).uplinks(a, b)]
    again = [key(u) for u in Simulation(scene, seed=3).uplinks(a, b)]
    other = [key(u) for u in Simulation(scene, seed=4).uplinks(a, b)]
    assert len(first) > 300
    assert first == again
    assert {k[2] for k in first}.isdisjoint({k[2] for k in other})


def test_interval_split_does_not_change_anything(scene: Scenario) -> None:
    a, c = local("2024-10-20T20:00"), local("2024-10-21T08:00")
    b = a + timedelta(hours=5, minutes=17, seconds=3, microseconds=500)
    whole = [key(u) for u in Simulation(scene, seed=5).uplinks(a, c)]
    split_sim = Simulation(scene, seed=5)
    parts = [key(u) for u in split_sim.uplinks(b, c)]
    parts = [key(u) for u in split_sim.uplinks(a, b)] + parts  # computed out of order on purpose
    assert whole == parts
    times = [k[0] for k in whole]
    assert times == sorted(times)
    assert a <= times[0] and times[-1] < c


def test_losses_duplicates_and_fcnt(sim: Simulation) -> None:
    ups = list(sim.uplinks(local("2026-03-02T00:00"), local("2026-03-04T00:00")))
    originals = [u for u in ups if not u.duplicate]
    duplicates = [u for u in ups if u.duplicate]
    assert 0 < len(duplicates) < 0.02 * len(ups)
    by_fcnt = {(u.dev_eui, u.f_cnt): u.payload for u in originals}
    for d in duplicates:  # a redelivery carries the very same bytes, a few seconds later
        assert by_fcnt.get((d.dev_eui, d.f_cnt), d.payload) == d.payload
    per_device: dict[str, list[int]] = defaultdict(list)
    for u in originals:
        per_device[u.dev_eui].append(u.f_cnt)
    gaps = sent = 0
    for counts in per_device.values():
        assert counts == sorted(counts) and len(set(counts)) == len(counts)
        gaps += counts[-1] - counts[0] + 1 - len(counts)
        sent += counts[-1] - counts[0] + 1
    assert 0.005 < gaps / sent < 0.05  # about 2 % lost on the air


# ---- round trip through the real bridge parser and decoders ---------------------------------


@pytest.mark.parametrize("fmt", ["v4-json", "v4-protobuf", "v3"])
def test_every_uplink_parses_and_decodes_into_its_state(scene: Scenario, fmt: str) -> None:
    sim = Simulation(scene, seed=11, fmt=fmt)  # type: ignore[arg-type]
    start = local("2026-02-03T12:00")
    ups = list(sim.uplinks(start, start + timedelta(hours=18)))
    matcher = TopicMatcher()
    seen: set[str] = set()
    compared = 0
    for u in ups:
        event = parse(matcher.match(u.topic), u.payload, "auto")
        assert isinstance(event, UplinkEvent)
        assert event.dev_eui == u.dev_eui and event.f_cnt == u.f_cnt
        if not u.duplicate:
            assert event.time == u.time
        resolved = scene.inventory.resolve(u.dev_eui)
        assert resolved is not None and resolved.decoder is not None
        result = resolved.decoder.decode_uplink(Uplink(event.payload, event.f_port, event.time))
        assert result.ok, (u.dev_eui, u.kind, result.errors)
        readings = readings_of(resolved.decoder, result, resolved.params, event.time)
        decoded = {r.name: r.value for r in readings}
        common = set(decoded) & set(u.state)
        assert common, (u.dev_eui, u.kind, decoded, u.state)
        for name in common:
            want, got = u.state[name], decoded[name]
            if isinstance(want, bool):
                assert got is want, (u.dev_eui, name, got, want)
            else:
                assert math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-6), (
                    u.dev_eui,
                    name,
                    got,
                    want,
                )
            compared += 1
        seen.add(u.dev_eui)
        if not u.duplicate:  # meter indexes are the model's, to the last whole pulse
            physical = sim.model(u.dev_eui).state(u.time.timestamp())
            for name in {"energy_kwh", "volume_m3"} & set(u.state):
                assert 0 <= float(physical[name]) - float(u.state[name]) < 0.011, (u.dev_eui, name)
    assert seen == set(sim.devices)
    assert compared > 3 * len(ups)


# ---- physical plausibility -----------------------------------------------------------------


def day_kwh(sim: Simulation, building: str, day: str) -> float:
    load = sim.load(building)
    t0 = local(f"{day}T00:00").timestamp()
    return load.energy_kwh(t0 + 86400) - load.energy_kwh(t0)


def day_litres(sim: Simulation, building: str, day: str) -> float:
    load = sim.load(building)
    t0 = local(f"{day}T00:00").timestamp()
    return load.volume_l(t0 + 86400) - load.volume_l(t0)


def test_school_days_against_holidays(sim: Simulation) -> None:
    school = ["2026-03-02", "2026-03-03", "2026-03-05", "2026-03-06"]
    holiday = ["2026-02-16", "2026-02-17", "2026-02-19", "2026-02-20"]  # winter holidays, zone B
    school_kwh = sum(day_kwh(sim, "ecole", d) for d in school) / 4
    holiday_kwh = sum(day_kwh(sim, "ecole", d) for d in holiday) / 4
    assert 2.0 < school_kwh / holiday_kwh < 6.0
    # The night baseload goes on in the holidays: neither zero nor a school day's.
    assert 15 < holiday_kwh < 60
    # The canteen cooks on school days only; water follows.
    assert day_kwh(sim, "restaurant-scolaire", "2026-03-03") > 2 * day_kwh(
        sim, "restaurant-scolaire", "2026-02-17"
    )
    assert day_litres(sim, "restaurant-scolaire", "2026-03-03") > 500
    assert day_litres(sim, "restaurant-scolaire", "2026-02-17") == 0
    assert day_litres(sim, "ecole", "2026-03-03") > 300
    # No class on Wednesday afternoon: less than a full Tuesday.
    assert day_kwh(sim, "ecole", "2026-03-04") < day_kwh(sim, "ecole", "2026-03-03")


def test_heating_follows_the_cold(sim: Simulation) -> None:
    # The salle polyvalente is heated electrically: a cold-snap Tuesday against a mild one.
    cold, mild = (
        day_kwh(sim, "salle-polyvalente", "2026-01-13"),
        day_kwh(sim, "salle-polyvalente", "2026-04-14"),
    )
    assert cold > 2 * mild


def test_streetlights_on_at_night_off_by_day(sim: Simulation, scene: Scenario) -> None:
    lamps = [d.dev_eui for d in scene.devices if d.kind == "streetlight"]
    assert len(lamps) == 40
    day = date(2026, 1, 6)
    sun = sun_times(day, 48.217, -1.580)
    assert sun.sunrise is not None and sun.sunset is not None
    for lamp in lamps[:8]:
        model = sim.model(lamp)
        assert isinstance(model, StreetlightModel)
        midday = model.state(local("2026-01-06T12:30").timestamp())
        dusk = model.state((sun.sunset + timedelta(minutes=1)).timestamp())
        dawn = model.state((sun.sunrise + timedelta(minutes=1)).timestamp())
        night = model.state(local("2026-01-06T02:00").timestamp())
        assert not midday["lamp_on"] and midday["dim_pct"] == 0
        assert dusk["lamp_on"] and dusk["dim_pct"] == 100
        assert night["lamp_on"] and night["dim_pct"] == 50
        assert not dawn["lamp_on"]
    # And on the air: the status frames of one lamp over a day say the same.
    start = local("2026-01-06T00:00")
    status = [
        u
        for u in sim.uplinks(start, start + timedelta(days=1), dev_euis=[lamps[0]])
        if u.kind == "report"
    ]
    assert len(status) >= 12
    for u in status:
        dark = u.time < sun.sunrise or u.time >= sun.sunset
        assert u.state["lamp_on"] == dark, u.time


def test_bins_fill_and_are_emptied_on_collection_days(sim: Simulation, scene: Scenario) -> None:
    bins = [d.dev_eui for d in scene.devices if d.kind == "bin"]
    assert len(bins) == 12
    start = local("2026-03-02T00:00").timestamp()
    for dev_eui in bins:
        model = sim.model(dev_eui)
        assert isinstance(model, BinModel)
        levels = [(start + h * 3600, model.fill(start + h * 3600)) for h in range(21 * 24)]
        drops = [
            (t, before - after)
            for (_, before), (t, after) in itertools.pairwise(levels)
            if after < before
        ]
        assert drops, dev_eui
        for t, _ in drops:  # every fall is a collection, on a collection day
            when = model.collected_at(datetime.fromtimestamp(t, PARIS).date())
            assert when is not None and t - 3600 < when <= t, (
                dev_eui,
                datetime.fromtimestamp(t, PARIS),
            )
        assert max(level for _, level in levels) > 35
        # Weekends fill faster than weekdays on average.
    glass = [sim.model(d) for d in bins if scene.inventory.devices[d].name.endswith("glass")]
    saturday = sum(m.deposited(date(2026, 3, 7)) for m in glass if isinstance(m, BinModel))
    tuesday = sum(m.deposited(date(2026, 3, 3)) for m in glass if isinstance(m, BinModel))
    assert saturday > tuesday


def test_batteries_drain_slowly(sim: Simulation) -> None:
    model = sim.model(SCHOOL_ELEC)
    early, late = (
        model.battery.pct(local("2024-10-01T00:00").timestamp()),
        model.battery.pct(local("2026-10-01T00:00").timestamp()),
    )
    assert 0 < early - late < 20 and late > 50


# ---- injected anomalies ---------------------------------------------------------------------


def first_after(
    sim: Simulation, dev_eui: str, t: datetime, span: timedelta = timedelta(hours=2)
) -> SimUplink:
    return next(u for u in sim.uplinks(t, t + span, dev_euis=[dev_eui]) if not u.duplicate)


def last_before(
    sim: Simulation, dev_eui: str, t: datetime, span: timedelta = timedelta(hours=3)
) -> SimUplink:
    return [u for u in sim.uplinks(t - span, t, dev_euis=[dev_eui]) if not u.duplicate][-1]


def volume_over(sim: Simulation, dev_eui: str, a: datetime, b: datetime) -> float:
    ups = [u for u in sim.uplinks(a, b, dev_euis=[dev_eui]) if not u.duplicate]
    return float(ups[-1].state["volume_m3"]) - float(ups[0].state["volume_m3"])


def anomaly(scene: Scenario, kind: str) -> scenarios.Anomaly:
    return next(a for a in scene.anomalies if a.type == kind)


def test_scenario_injects_every_kind_of_anomaly(scene: Scenario) -> None:
    assert {a.type for a in scene.anomalies} == {
        "stuck_flush",
        "heating_left_on",
        "bin_full",
        "lamp_out",
        "flat_battery",
        "leak",
    }


def test_stuck_flush_runs_all_night(sim: Simulation, scene: Scenario) -> None:
    flush = anomaly(scene, "stuck_flush")
    night = flush.onset + timedelta(hours=3)  # 22:40, the school is empty
    during = volume_over(sim, SCHOOL_WATER, night, night + timedelta(hours=4))
    before = volume_over(
        sim,
        SCHOOL_WATER,
        night - timedelta(days=1),
        night - timedelta(days=1) - timedelta(hours=-4),
    )
    assert before < 0.02
    assert during > 0.9 * 4 * flush.size["flow_l_h"] / 1000
    # Visible from the onset: the first quarter hours already run.
    assert volume_over(sim, SCHOOL_WATER, flush.onset, flush.onset + timedelta(minutes=50)) > 0.15


def test_heating_left_on_in_the_closed_salle(sim: Simulation, scene: Scenario) -> None:
    heating = anomaly(scene, "heating_left_on")
    schedule = sim.load("salle-polyvalente").schedule
    assert not schedule.is_open_day(heating.onset.astimezone(PARIS).date())  # closed for Christmas

    def kwh(a: datetime) -> float:
        ups = [
            u
            for u in sim.uplinks(a, a + timedelta(hours=6), dev_euis=[SALLE_ELEC])
            if not u.duplicate
        ]
        return float(ups[-1].state["energy_kwh"]) - float(ups[0].state["energy_kwh"])

    assert kwh(heating.onset) > 3 * kwh(heating.onset - timedelta(days=7))


def test_full_glass_bin_before_the_weekend(sim: Simulation, scene: Scenario) -> None:
    full = anomaly(scene, "bin_full")
    assert full.onset.astimezone(PARIS).weekday() == 4  # a Friday
    assert float(last_before(sim, full.device, full.onset).state["fill_pct"]) < 80
    assert float(first_after(sim, full.device, full.onset).state["fill_pct"]) >= 95
    saturday = full.onset + timedelta(hours=20)
    assert float(first_after(sim, full.device, saturday).state["fill_pct"]) >= 95


def test_lamp_out(sim: Simulation, scene: Scenario) -> None:
    out = anomaly(scene, "lamp_out")
    before = [
        u
        for u in sim.uplinks(out.onset - timedelta(hours=2), out.onset, dev_euis=[out.device])
        if "lamp_on" in u.state
    ]
    assert before and all(u.state["lamp_on"] and not u.state["lamp_failure"] for u in before)
    alert = first_after(sim, out.device, out.onset)
    assert alert.kind == "dali_alert" and alert.time - out.onset < timedelta(minutes=1)
    assert alert.state["lamp_failure"] is True and alert.state["lamp_on"] is False
    assert out.end is not None
    fixed = first_after(
        sim, out.device, out.end.replace(hour=18) + timedelta(hours=1), timedelta(hours=3)
    )
    assert fixed.state["lamp_failure"] is False


def test_flat_battery_then_silence(sim: Simulation, scene: Scenario) -> None:
    flat = anomaly(scene, "flat_battery")
    last = last_before(sim, flat.device, flat.onset)
    level = last.state.get("battery_pct", last.state.get("battery_v"))
    assert level is not None and float(level) <= 5
    month_before = first_after(sim, flat.device, flat.onset - timedelta(days=30))
    assert float(month_before.state["battery_pct"]) > 50
    assert not list(sim.uplinks(flat.onset, flat.onset + timedelta(days=3), dev_euis=[flat.device]))


def test_leak_reported_at_once(sim: Simulation, scene: Scenario) -> None:
    leak = anomaly(scene, "leak")
    assert last_before(sim, leak.device, leak.onset).state["leak"] is False
    first = first_after(sim, leak.device, leak.onset)
    assert first.state["leak"] is True and first.time - leak.onset < timedelta(seconds=10)
    assert leak.end is not None
    assert first_after(sim, leak.device, leak.end).state["leak"] is False


# ---- the metropolis and fleets --------------------------------------------------------------


def test_rennes_expands_to_ten_thousand_unique_devices() -> None:
    metro = scenarios.load(scenarios.builtin("rennes-metropole"))
    euis = [d.dev_eui for d in metro.devices]
    assert len(metro.inventory.communes) == 36
    assert len(euis) >= 10_000
    assert len(set(euis)) == len(euis)
    assert all(len(e) == 16 and int(e, 16) >= 0 and e == e.lower() for e in euis)
    kinds = {d.kind for d in metro.devices}
    assert {"bin", "streetlight"} <= kinds
    sim = Simulation(metro, seed=1)
    a = local("2026-03-10T10:00")
    ups = list(sim.uplinks(a, a + timedelta(seconds=90)))
    assert len(ups) > 100
    assert len({u.dev_eui for u in ups}) == len([u for u in ups if not u.duplicate])


def test_fleet_expansion_is_stable_and_checked(tmp_path: Path) -> None:
    text = """
[[communes]]
id = "a"
name = "A"
latitude = 48.1
longitude = -1.6
[[communes]]
id = "b"
name = "B"
latitude = 48.2
longitude = -1.7
[[fleets]]
name = "bins"
kind = "bin"
decoder = "milesight-em310-udl"
count = 3
counts = { b = 5 }
dev_eui_prefix = "abcd"
params = { empty_distance_mm = 1500, full_distance_mm = 300 }
"""
    path = tmp_path / "inv.toml"
    path.write_text(text)
    inventory = load_inventory(path)
    assert sorted(inventory.devices) == [
        *(f"abcd0000{n:08x}" for n in range(3)),
        *(f"abcd0001{n:08x}" for n in range(5)),
    ]
    assert inventory.devices["abcd000100000004"].commune == "b"
    path.write_text(text.replace("counts = { b = 5 }", "counts = { nowhere = 5 }"))
    with pytest.raises(InventoryError, match="nowhere"):
        load_inventory(path)


# ---- driving a simulation: backfill, CLI, live ----------------------------------------------


def test_backfill_batches_in_time_order(sim: Simulation) -> None:
    batches: list[list[Message]] = []
    start = local("2026-03-10T00:00")
    count = backfill(
        sim, start, start + timedelta(hours=6), batches.append, batch=100, progress=False
    )
    assert count == sum(len(b) for b in batches) > 500
    assert all(len(b) == 100 for b in batches[:-1])
    received = [m.received for b in batches for m in b]
    assert received == sorted(received)
    assert parse_duration("365d") == timedelta(days=365)
    assert parse_duration("12h") == timedelta(hours=12)
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_backfill_producers_hand_over_the_same_messages_in_order(sim: Simulation) -> None:
    """Two producer processes taking days in turn: the same messages, in the same order, as
    the simulation in process, across window boundaries that are not midnight."""
    start = local("2026-03-10T07:30")
    end = start + timedelta(days=2, hours=12)
    serial: list[Message] = []
    produced: list[Message] = []
    n = backfill(sim, start, end, serial.extend, batch=700, progress=False, workers=0)
    m = backfill(sim, start, end, produced.extend, batch=700, progress=False, workers=2)
    assert n == m == len(serial) > 1000
    assert produced == serial


def test_cli_backfill_goes_through_the_pipeline(tmp_path: Path) -> None:
    from lorawatch.app.cli.main import app

    db = tmp_path / "lw.sqlite"
    config = tmp_path / "lorawatch.toml"
    config.write_text(
        f'[inventory]\npath = "{scenarios.builtin("saint-sulpice")}"\n'
        f'[store]\noutputs = ["sqlite"]\n[store.sqlite]\npath = "{db}"\n'
    )
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "saint-sulpice",
            "--backfill",
            "6h",
            "--config",
            str(config),
            "--start",
            "2026-03-11T06:00:00+00:00",
            "--seed",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as con:
        names = dict(con.execute("SELECT name, COUNT(*) FROM readings GROUP BY name").fetchall())
    for name in ("energy_kwh", "volume_m3", "fill_pct", "lamp_on", "leak"):
        assert names.get(name, 0) > 0, names
    bad = CliRunner().invoke(app, ["simulate", "nowhere-to-be-found"])
    assert bad.exit_code == 2


@pytest.mark.servers
def test_live_publishes_at_qos1_in_accelerated_time_and_stops(
    mosquitto: Mosquitto, sim: Simulation
) -> None:
    url = mosquitto.url
    host, port = url.removeprefix("mqtt://").split(":")
    received: Queue[tuple[str, bytes, int]] = Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sim-listener")
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda _c, _u, m: received.put((m.topic, m.payload, m.qos))
    client.connect(host, int(port))
    client.subscribe("application/+/device/+/event/up", qos=1)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        stop = threading.Event()
        start = local("2026-03-10T08:00")
        published: Queue[SimUplink] = Queue()
        worker = threading.Thread(
            target=live,
            args=(sim, url, 1800.0, stop),
            kwargs={"start": start, "on_publish": published.put},
        )
        worker.start()
        got = [received.get(timeout=20) for _ in range(30)]
        stop.set()
        worker.join(timeout=5)
        assert not worker.is_alive()
        expected = list(sim.uplinks(start, start + timedelta(minutes=30)))[:30]
        assert [(t, p) for t, p, _ in got] == [(u.topic, u.payload) for u in expected]
        assert all(qos == 1 for _, _, qos in got)
        first = published.get(timeout=1)
        assert first.time >= start
    finally:
        client.loop_stop()
        client.disconnect()
