"""Each alert rule on its anomaly (fires at the right time, once) and on the matching normal
case (a normal night, an occupied evening event, a just-emptied bin, a dimmed lamp at 2 am).

Records are those of the reference village (Saint-Sulpice inventory, real opening hours and
coordinates); times are local wall-clock times there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lorawatch.alerts.config import Severity
from lorawatch.pipeline.records import Consumption
from tests.alert_kit import (
    PARIS,
    Kit,
    config,
    decode_error,
    delta,
    event,
    local,
    reading,
    uplink,
    water_deltas,
)

SCHOOL_WATER = "ecole-eau"


def school_day_flow(
    flush_from: datetime | None = None, flush_to: datetime | None = None
) -> Callable[[datetime], float]:
    """The school's water: 120 L/h while open (07:30-18:30 on weekdays), none at night,
    plus a stuck flush of 420 L/h between ``flush_from`` and ``flush_to``."""

    def flow(t: datetime) -> float:
        lt = t.astimezone(PARIS)
        minutes = lt.hour * 60 + lt.minute
        litres = 120.0 if lt.weekday() < 5 and 450 <= minutes < 1110 else 0.0
        if flush_from is not None and flush_from <= t < (
            flush_to or datetime.max.replace(tzinfo=PARIS)
        ):
            litres += 420.0
        return litres

    return flow


def feed_water(kit: Kit, start: datetime, end: datetime, flow: Callable[[datetime], float]) -> None:
    for hour in water_deltas(SCHOOL_WATER, start, end, flow):
        kit.feed(consumption=hour)


# -- water ----------------------------------------------------------------------------------


def test_leak_flag_fires_at_once_and_only_once(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 1, 19, 6, 50, 2)
    kit.feed(readings=[reading("ecole-fuite-sanitaires", "leak", False, t0 - timedelta(hours=1))])
    assert kit.alerts() == []
    for i in range(4):  # the sensor repeats its alarm
        kit.feed(
            readings=[
                reading("ecole-fuite-sanitaires", "leak", True, t0 + timedelta(minutes=10 * i))
            ]
        )
    [alert] = kit.alerts()
    assert (alert.rule, alert.severity, alert.opened_at) == ("water.leak", Severity.CRITICAL, t0)
    assert alert.count == 4
    assert "École élémentaire" in alert.title and "Sanitaires du rez-de-chaussée" in alert.title
    assert alert.evidence[0]["name"] == "leak" and alert.evidence[0]["value"] is True


def test_stuck_flush_continuous_flow_fires_24_hours_after_the_last_dry_hour(tmp_path: Path) -> None:
    kit = Kit(tmp_path, config(rules={"disabled": ["water.night_flow"]}))
    flush = local(2026, 3, 10, 19, 40)
    feed_water(kit, local(2026, 3, 9, 0, 0), local(2026, 3, 11, 12, 0), school_day_flow(flush))
    [alert] = kit.alerts()
    # The last hour without water ended on the 10th at 07:00 (the school opens at 07:30).
    assert alert.rule == "water.continuous_flow"
    assert alert.opened_at == local(2026, 3, 11, 7, 0)
    assert alert.subject == "24e124136b410002"
    assert len(alert.evidence) == 24
    assert datetime.fromisoformat(alert.evidence[0]["time"]) == local(2026, 3, 10, 7, 0)
    assert min(e["value"] for e in alert.evidence) == pytest.approx(60)  # 07:30-08:00 open


def test_stuck_flush_night_flow_fires_when_the_night_ends_and_resolves_after_a_dry_night(
    tmp_path: Path,
) -> None:
    kit = Kit(tmp_path)
    flow = school_day_flow(local(2026, 3, 10, 19, 40), local(2026, 3, 12, 8, 50))
    feed_water(kit, local(2026, 3, 9, 0, 0), local(2026, 3, 13, 12, 0), flow)
    alerts = kit.alerts()
    assert [a.rule for a in alerts] == ["water.night_flow"], "continuous flow is the same cause"
    [alert] = alerts
    assert alert.opened_at == local(2026, 3, 11, 5, 0)
    assert alert.count == 2  # two nights with the flush
    assert alert.values["night_min_l_h"] == pytest.approx(420)
    assert alert.resolved_at is not None and str(alert.state) == "resolved"
    assert alert.resolution.startswith("condition clear")


def test_a_normal_school_week_raises_nothing(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    feed_water(kit, local(2026, 3, 9, 0, 0), local(2026, 3, 16, 0, 0), school_day_flow())
    assert kit.alerts() == []


def test_burst_fires_on_litres_in_half_an_hour(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t = local(2026, 3, 9, 10, 0)
    normal = [
        delta(
            SCHOOL_WATER,
            "volume_delta_m3",
            t + timedelta(minutes=15 * i),
            t + timedelta(minutes=15 * (i + 1)),
            0.05,
        )
        for i in range(4)
    ]
    kit.feed(consumption=normal)
    assert kit.alerts() == []
    burst_at = t + timedelta(hours=1, minutes=30)
    kit.feed(
        consumption=[
            delta(
                SCHOOL_WATER,
                "volume_delta_m3",
                t + timedelta(hours=1),
                t + timedelta(hours=1, minutes=15),
                0.35,
            ),
            delta(
                SCHOOL_WATER, "volume_delta_m3", t + timedelta(hours=1, minutes=15), burst_at, 0.35
            ),
        ]
    )
    [alert] = kit.alerts()
    assert (alert.rule, alert.severity, alert.opened_at) == (
        "water.burst",
        Severity.CRITICAL,
        burst_at,
    )
    assert alert.values["litres"] == pytest.approx(700)


def test_a_redelivered_batch_changes_nothing(tmp_path: Path) -> None:
    kit = Kit(tmp_path, config(rules={"disabled": ["water.night_flow"]}))
    flow = school_day_flow(local(2026, 3, 10, 19, 40))
    hours = list(water_deltas(SCHOOL_WATER, local(2026, 3, 9), local(2026, 3, 11, 12), flow))
    for hour in hours:
        kit.feed(consumption=hour)
        kit.feed(consumption=hour)  # the same batch again (MQTT redelivery)
    [alert] = kit.alerts()
    assert alert.opened_at == local(2026, 3, 11, 7, 0)
    assert alert.evidence[0]["value"] == pytest.approx(60)  # 07:00-08:00 of the 10th, not doubled
    assert alert.evidence[-1]["value"] == pytest.approx(420)


# -- energy ---------------------------------------------------------------------------------

HALL = "salle-polyvalente-elec"


def hall_hours(
    start: datetime, end: datetime, kwh: Callable[[datetime, bool], float]
) -> list[Consumption]:
    """Hourly deltas of the hall's meter; ``kwh(t, occupied)`` by its real bookings."""
    from lorawatch.inventory.occupancy import Schedule
    from tests.alert_kit import INVENTORY

    schedule = Schedule.of(INVENTORY.buildings["salle-polyvalente"])
    out = []
    t = start
    while t < end:
        occupied = schedule.occupied_seconds(t, t + timedelta(hours=1)) > 0
        out.append(delta(HALL, "energy_delta_kwh", t, t + timedelta(hours=1), kwh(t, occupied)))
        t += timedelta(hours=1)
    return out


def feed_hall(
    kit: Kit, start: datetime, end: datetime, kwh: Callable[[datetime, bool], float]
) -> None:
    hours = hall_hours(start, end, kwh)
    for i in range(0, len(hours), 3):
        kit.feed(consumption=hours[i : i + 3])


def usual(t: datetime, occupied: bool) -> float:
    return 9.0 if occupied else 1.0 + 0.5 * (t.astimezone(PARIS).hour < 7)


def test_heating_left_on_in_the_closed_hall_over_the_holidays(tmp_path: Path) -> None:
    kit = Kit(tmp_path, config(rules={"disabled": ["energy.baseline"]}))
    onset = local(2025, 12, 22, 8, 0)  # the hall's closure starts on the 22nd

    def kwh(t: datetime, occupied: bool) -> float:
        return 9.5 if t >= onset else usual(t, occupied)

    feed_hall(kit, local(2025, 12, 1), onset, kwh)
    assert kit.alerts() == [], "three ordinary weeks of bookings"
    feed_hall(kit, onset, local(2025, 12, 25), kwh)
    [alert] = kit.alerts()
    assert alert.rule == "energy.unoccupied" and alert.subject == "salle-polyvalente"
    assert alert.opened_at == onset + timedelta(hours=6)
    assert "Salle polyvalente" in alert.title and "heating" in alert.message
    assert str(alert.state) == "open"
    assert alert.count == 59  # every closed hour from the sixth to the 25th: one alert


def test_the_same_overconsumption_is_one_alert_under_the_baseline_rule(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    onset = local(2025, 12, 22, 8, 0)
    feed_hall(
        kit,
        local(2025, 12, 1),
        local(2025, 12, 23),
        lambda t, o: 9.5 if t >= onset else usual(t, o),
    )
    [alert] = kit.alerts()
    assert alert.rule == "energy.baseline" and alert.opened_at == onset + timedelta(hours=4)
    assert "closed" in alert.message


def test_an_occupied_evening_event_is_not_consumption_while_closed(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    # Friday evening bookings (18:00-23:30) draw 12 kWh/h instead of 9: a busy event.
    party = (local(2025, 12, 19, 18), local(2025, 12, 20, 0))
    feed_hall(
        kit,
        local(2025, 12, 1),
        local(2025, 12, 21),
        lambda t, o: 12.0 if party[0] <= t < party[1] else usual(t, o),
    )
    assert kit.alerts() == []
    # The same draw on a Monday evening, when nobody booked the hall, is an alert.
    feed_hall(kit, local(2025, 12, 21), local(2025, 12, 22, 12), lambda t, o: usual(t, o))
    monday = (local(2025, 12, 22, 16), local(2025, 12, 22, 23))
    feed_hall(
        kit,
        local(2025, 12, 22, 12),
        local(2025, 12, 23),
        lambda t, o: 12.0 if monday[0] <= t < monday[1] else usual(t, o),
    )
    assert [a.rule for a in kit.alerts()] == ["energy.baseline"]
    assert kit.alerts()[0].opened_at == monday[0] + timedelta(hours=4)


def test_daily_budget_per_building_from_an_override(tmp_path: Path) -> None:
    cfg = config(overrides=[{"building": "mairie", "energy": {"daily_budget_kwh": 50}}])
    kit = Kit(tmp_path, cfg)
    start = local(2026, 3, 9)
    for h in range(30):
        t = start + timedelta(hours=h)
        kit.feed(
            consumption=[delta("mairie-elec", "energy_delta_kwh", t, t + timedelta(hours=1), 5.0)]
        )
    [alert] = kit.alerts("energy.daily_budget")
    assert alert.opened_at == start + timedelta(hours=11)  # 55 kWh > 50 after 11 hours
    assert alert.resolved_at is not None, "a new day starts under the budget"
    other = Kit(tmp_path / "other")
    for h in range(30):
        t = start + timedelta(hours=h)
        other.feed(
            consumption=[delta("ecole-elec", "energy_delta_kwh", t, t + timedelta(hours=1), 5.0)]
        )
    assert other.alerts("energy.daily_budget") == [], "only the mairie has a budget"


# -- waste ----------------------------------------------------------------------------------

BIN = "pav-salle-glass"


def test_full_glass_bin_before_the_weekend_escalates_then_a_collection_resolves(
    tmp_path: Path,
) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 5, 15, 6, 0)  # a Friday
    levels = [60, 65, 70, 75, 80, 86, 90, 97, 98, 99]
    for i, level in enumerate(levels):
        kit.feed(readings=[reading(BIN, "fill_pct", float(level), t0 + timedelta(hours=i))])
    alerts = kit.alerts("waste.fill")
    assert len(alerts) == 1
    [alert] = alerts
    # 86 % at hour 5 is confirmed by the next hourly reading (fill_confirm_min = 45), and
    # 97 % at hour 7 escalates at hour 8.
    assert alert.opened_at == t0 + timedelta(hours=6)
    assert alert.severity == Severity.CRITICAL and "full" in alert.title.lower()
    events = kit.engine.api.show(alert.id).events
    assert [e["event"] for e in events] == ["opened", "escalated"]
    kit.feed(readings=[reading(BIN, "fill_pct", 3.0, local(2026, 5, 18, 9, 0))])
    assert str(kit.alerts("waste.fill")[0].state) == "open", "one low reading is not an emptying"
    kit.feed(readings=[reading(BIN, "fill_pct", 4.0, local(2026, 5, 18, 10, 0))])
    assert str(kit.alerts("waste.fill")[0].state) == "resolved"


def test_time_to_full_warns_ahead_and_a_just_emptied_bin_is_quiet(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 5, 14, 8, 0)
    for i in range(14):  # 2 % an hour from 50 %
        kit.feed(readings=[reading(BIN, "fill_pct", 50.0 + 2 * i, t0 + timedelta(hours=i))])
    [alert] = kit.alerts("waste.time_to_full")
    # At 60 % (hour 5) the bin is full (95 %) in 17.5 h; at 72 % (hour 11), in 11.5 h < 12 h.
    assert alert.opened_at == t0 + timedelta(hours=11)
    assert alert.severity == Severity.INFO
    emptied = t0 + timedelta(hours=14)
    for i in range(12):
        kit.feed(readings=[reading(BIN, "fill_pct", 2.0 + 0.5 * i, emptied + timedelta(hours=i))])
    assert [str(a.state) for a in kit.alerts()] == ["resolved"]
    assert len(kit.alerts()) == 1


def test_tilted_sensor(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 5, 14, 8, 0)
    kit.feed(readings=[reading("pav-eglise-glass", "tilted", False, t0)])
    assert kit.alerts() == []
    kit.feed(readings=[reading("pav-eglise-glass", "tilted", True, t0 + timedelta(hours=1))])
    assert kit.alerts() == [], "one tilted reading: a collection, maybe"
    kit.feed(readings=[reading("pav-eglise-glass", "tilted", True, t0 + timedelta(hours=2))])
    assert [a.rule for a in kit.alerts()] == ["waste.tilt"]


# -- lighting -------------------------------------------------------------------------------

LAMP = "ep-rue-des-landes-3"


def lamp(t: datetime, on: bool, dim: float, failure: bool = False) -> list:  # type: ignore[type-arg]
    return [
        reading(LAMP, "lamp_on", on, t),
        reading(LAMP, "dim_pct", dim, t),
        reading(LAMP, "lamp_failure", failure, t),
    ]


def test_a_dimmed_lamp_at_2_am_is_normal(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    for h in (23, 24, 25, 26, 27):  # 23:10 to 03:10, dimmed to 50 %
        kit.feed(readings=lamp(local(2026, 2, 2, 0, 10) + timedelta(hours=h), True, 50.0))
    kit.feed(readings=lamp(local(2026, 2, 3, 12, 0), False, 0.0))
    assert kit.alerts() == []


def test_lamp_failure_fires_on_the_controllers_alarm(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    kit.feed(readings=lamp(local(2026, 2, 3, 20, 0), True, 100.0))
    failed = local(2026, 2, 3, 21, 10, 20)
    kit.feed(readings=lamp(failed, False, 0.0, failure=True))
    kit.feed(readings=lamp(failed + timedelta(hours=1), False, 0.0, failure=True))
    kit.feed(readings=lamp(failed + timedelta(hours=2), False, 0.0, failure=True))
    [alert] = kit.alerts()
    assert (alert.rule, alert.opened_at) == ("lighting.failure", failed)
    assert "rue-des-landes" in alert.title


def test_lamp_on_in_daylight_off_at_night_and_not_dimmed(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    # Sunrise 08:32, sunset 18:09 on 3 February 2026 in Saint-Sulpice.
    kit.feed(readings=lamp(local(2026, 2, 3, 11, 0), True, 100.0))
    assert kit.alerts() == [], "one reading is not enough"
    kit.feed(readings=lamp(local(2026, 2, 3, 12, 0), True, 100.0))
    kit.feed(readings=lamp(local(2026, 2, 3, 18, 15), True, 100.0))  # near sunset: fine
    kit.feed(readings=lamp(local(2026, 2, 3, 19, 0), False, 0.0))
    kit.feed(readings=lamp(local(2026, 2, 3, 20, 0), False, 0.0))
    kit.feed(readings=lamp(local(2026, 2, 4, 1, 0), True, 100.0))
    kit.feed(readings=lamp(local(2026, 2, 4, 2, 0), True, 100.0))
    rules = {a.rule: a for a in kit.alerts()}
    assert set(rules) == {"lighting.day_burning", "lighting.dark", "lighting.dimming"}
    assert rules["lighting.day_burning"].opened_at == local(2026, 2, 3, 12, 0)
    assert rules["lighting.dark"].opened_at == local(2026, 2, 3, 20, 0)
    assert rules["lighting.dimming"].opened_at == local(2026, 2, 4, 2, 0)
    # Lit at night at 01:00 and 02:00: the clear state held 30 minutes, so it resolved.
    assert str(rules["lighting.dark"].state) == "resolved"
    assert str(rules["lighting.dimming"].state) == "open"
    kit.feed(readings=lamp(local(2026, 2, 4, 3, 0), True, 50.0))
    kit.feed(readings=lamp(local(2026, 2, 4, 4, 0), True, 50.0))
    assert str(kit.alerts("lighting.dimming")[0].state) == "resolved"
    assert len(kit.alerts()) == 3


# -- fleet ----------------------------------------------------------------------------------


def test_silent_device_is_judged_against_the_rest_of_the_fleet(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 4, 19, 12, 0)
    for h in range(8):
        t = t0 + timedelta(hours=h)
        kit.feed(
            uplinks=[
                uplink("pav-foret-paper", t),
                uplink("pav-foret-glass", t + timedelta(minutes=7)),
            ]
        )
    last = t0 + timedelta(hours=7)
    # The whole network goes quiet for ten hours: nobody is blamed.
    kit.engine.tick(last + timedelta(hours=10))
    assert kit.alerts() == []
    # Only the paper bin stops; the glass bin goes on every hour.
    for h in range(1, 8):
        t = last + timedelta(hours=h, minutes=7)
        kit.feed(uplinks=[uplink("pav-foret-glass", t)])
        kit.engine.tick(t)
    [alert] = kit.alerts()
    assert alert.rule == "fleet.silent" and alert.subject == "24e124713b43000a"
    # Five usual intervals (1 h) after the last uplink, at the first tick past them.
    assert alert.opened_at == last + timedelta(hours=5, minutes=7)
    kit.feed(uplinks=[uplink("pav-foret-paper", last + timedelta(hours=9))])
    assert str(kit.alerts()[0].state) == "resolved"


def test_battery_low_and_back(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 4, 18, 3, 0)
    kit.feed(readings=[reading("pav-foret-paper", "battery_pct", 40.0, t0)])
    for h in (1, 2, 3):  # battery_confirm_readings
        assert kit.alerts("fleet.battery") == []
        at = t0 + timedelta(hours=h)
        kit.feed(readings=[reading("pav-foret-paper", "battery_pct", 12.0, at)])
        kit.feed(readings=[reading("pav-salle-glass", "battery_v", 3.05, at)])
    assert {a.subject for a in kit.alerts("fleet.battery")} == {
        "24e124713b43000a",
        "a840418875440004",
    }
    kit.feed(readings=[reading("pav-foret-paper", "battery_pct", 95.0, t0 + timedelta(hours=4))])
    kit.feed(readings=[reading("pav-foret-paper", "battery_pct", 95.0, t0 + timedelta(hours=5))])
    states = {a.subject: str(a.state) for a in kit.alerts("fleet.battery")}
    assert states == {"24e124713b43000a": "resolved", "a840418875440004": "open"}


def test_decoder_errors_above_a_share_of_uplinks(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 4, 18, 3, 0)
    for i in range(6):
        kit.feed(uplinks=[uplink("mairie-eau", t0 + timedelta(minutes=15 * i))])
    kit.feed(
        uplinks=[uplink("mairie-eau", t0 + timedelta(hours=2))],
        dead_letters=[decode_error("mairie-eau", t0 + timedelta(hours=2))],
    )
    assert kit.alerts() == [], "one error in seven uplinks"
    for i in range(1, 3):
        t = t0 + timedelta(hours=2, minutes=15 * i)
        kit.feed(uplinks=[uplink("mairie-eau", t)], dead_letters=[decode_error("mairie-eau", t)])
    [alert] = kit.alerts()
    assert alert.rule == "fleet.decode_errors" and alert.values["errors"] == 3


def test_frame_counter_reset_without_a_join(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    t0 = local(2026, 4, 18, 3, 0)
    kit.feed(
        uplinks=[
            uplink("mairie-eau", t0, 100),
            uplink("mairie-eau", t0 + timedelta(minutes=15), 101),
        ]
    )
    kit.feed(events=[event("mairie-eau", t0 + timedelta(minutes=20), "join")])
    kit.feed(uplinks=[uplink("mairie-eau", t0 + timedelta(minutes=30), 0)])
    assert kit.alerts() == [], "a join resets the counter"
    kit.feed(
        uplinks=[uplink("ecole-eau", t0, 7000), uplink("ecole-eau", t0 + timedelta(hours=2), 3)]
    )
    kit.feed(events=[event("ateliers-eau", t0, "log", "UPLINK_F_CNT_RESET", "frame-counter reset")])
    assert {a.subject for a in kit.alerts("fleet.fcnt_reset")} == {
        "24e124136b410002",
        "24e124136b410007",
    }
