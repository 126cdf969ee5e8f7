"""Debounce of the rules that could fire on one frame: the simulated village's real frames
(vendor payloads in ChirpStack events) go through the bridge and the meters into the engine,
with one frame swapped for an outlier the way a sensor sends one now and then."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lorawatch.alerts.config import AlertsConfig
from lorawatch.alerts.engine import AlertEngine
from lorawatch.core.metrics import Metrics
from lorawatch.gateway_bridge.source import Message, NullSource
from lorawatch.pipeline.bridge import Bridge
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.simulators import encoders
from lorawatch.simulators.chirpstack import encode, uplink_event
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation, SimUplink
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import EUI, config, local

SCENE = load(builtin("saint-sulpice"))
BATCH = timedelta(minutes=15)


def frames(name: str, start: datetime, end: datetime) -> list[SimUplink]:
    sim = Simulation(SCENE, 1)
    return [u for u in sim.uplinks(start, end, [EUI[name]]) if not u.duplicate]


def forged(sim_uplink: SimUplink, **state: Any) -> SimUplink:
    """The same uplink (time, fCnt, radio) with a frame encoding ``state`` instead: what the
    device would have sent had it measured that."""
    sim = Simulation(SCENE, 1)
    d = sim.devices[sim_uplink.dev_eui]
    values = {**sim_uplink.state, **state}
    frame = encoders.get(d.decoder)(values, d.params, sim_uplink.kind)
    rng = random.Random(sim_uplink.f_cnt)
    event = uplink_event(
        d.sim_device, frame.f_port, frame.payload, sim_uplink.f_cnt, sim_uplink.time, rng
    )
    event["devAddr"] = d.dev_addr
    return replace(sim_uplink, payload=encode(event), state=values)


def run(tmp_path: Path, uplinks: Iterable[SimUplink], cfg: AlertsConfig | None = None) -> Any:
    """Feed the uplinks through the bridge in quarter-hour batches, as the service does."""
    engine = AlertEngine(SqliteStore(tmp_path / "alerts.sqlite"), SCENE.inventory, cfg or config())
    bridge = Bridge(NullSource(), Ingestor(SCENE.inventory), [], Metrics(), on_stored=None)
    pending: list[Message] = []
    ordered = sorted(uplinks, key=lambda u: u.time)
    edge = ordered[0].time + BATCH
    for u in ordered:
        while u.time >= edge:
            if pending:
                engine.on_batch(bridge.process(pending), edge)
                pending.clear()
            edge += BATCH
        pending.append(u.message())
    engine.on_batch(bridge.process(pending), edge)
    return engine


def alerts(engine: AlertEngine, rule: str) -> list[Any]:
    return [a for a in reversed(engine.api.list("all", limit=1000)) if a.rule == rule]


def fill_of(u: SimUplink) -> float:
    return float(u.state["fill_pct"]) if "fill_pct" in u.state else -1.0


@pytest.mark.parametrize(
    ("distance", "fill", "severity"), [(350.0, 100.0, "critical"), (485.0, 90.0, "warning")]
)
def test_a_single_full_frame_raises_nothing(
    tmp_path: Path, distance: float, fill: float, severity: str
) -> None:
    ups = frames("pav-salle-glass", local(2026, 5, 5), local(2026, 5, 8))
    assert len(ups) >= 40 and max(fill_of(u) for u in ups) < 50, "a bin far from full"
    i = len(ups) // 2
    ups[i] = forged(ups[i], distance_mm=distance, fill_pct=fill)  # full distance 350 mm: 100 %
    engine = run(tmp_path, ups)
    assert engine.errors == 0 and engine.batches >= 60
    assert alerts(engine, "waste.fill") == []
    assert alerts(engine, "waste.time_to_full") == [], "the outlier is out of the fill rate"
    # Without the debounce the same frames do raise the alert: the test can fail.
    eager = config(rules={"waste": {"fill_confirm_readings": 1}})
    [alert] = alerts(run(tmp_path / "eager", ups, eager), "waste.fill")
    assert str(alert.severity) == severity and alert.opened_at == ups[i].time


def test_a_bin_that_stays_full_fires_at_its_next_report(tmp_path: Path) -> None:
    onset = local(2026, 5, 15, 17, 30)  # the scenario's glass bin, full before the weekend
    ups = frames("pav-salle-glass", local(2026, 5, 14), local(2026, 5, 16))
    after = [u for u in ups if u.time >= onset]
    assert fill_of(after[0]) >= 95 and fill_of(after[1]) >= 95
    engine = run(tmp_path, ups)
    [alert] = alerts(engine, "waste.fill")
    assert str(alert.severity) == "critical"
    assert alert.opened_at == after[1].time, "the second full report confirms the first"


def test_one_empty_frame_in_a_full_bin_resolves_nothing(tmp_path: Path) -> None:
    onset = local(2026, 5, 15, 17, 30)
    ups = frames("pav-salle-glass", local(2026, 5, 15), local(2026, 5, 16, 12))
    after = [i for i, u in enumerate(ups) if u.time >= onset]
    k = after[4]
    ups[k] = forged(ups[k], distance_mm=1700.0, fill_pct=0.0)  # the echo lost: "empty"
    engine = run(tmp_path, ups)
    [alert] = alerts(engine, "waste.fill")
    assert str(alert.state) == "open", "still full: one empty frame is not a collection"
    events = engine.api.show(alert.id).events
    assert [e["event"] for e in events] == ["opened"]


def test_a_collection_tilts_the_bin_for_one_frame_a_lid_left_open_stays(tmp_path: Path) -> None:
    ups = frames("pav-eglise-glass", local(2026, 3, 2), local(2026, 3, 3, 12))
    assert len(ups) >= 30 and not any(u.state.get("tilted") for u in ups)
    ups[5] = forged(ups[5], tilted=True)
    engine = run(tmp_path, ups)
    assert alerts(engine, "waste.tilt") == []
    for k in (20, 21):
        ups[k] = forged(ups[k], tilted=True)
    [alert] = alerts(run(tmp_path / "again", ups), "waste.tilt")
    assert alert.opened_at == ups[21].time


def test_a_cold_morning_battery_dip_is_not_a_flat_battery(tmp_path: Path) -> None:
    ups = frames("pav-eglise-glass", local(2026, 3, 2), local(2026, 3, 3, 12))
    assert all(u.state.get("battery_pct", 100) > 50 for u in ups)
    for k in (3, 10, 11):
        ups[k] = forged(ups[k], battery_pct=9.0)
    engine = run(tmp_path, ups)
    assert alerts(engine, "fleet.battery") == []
    for k in (25, 26, 27):
        ups[k] = forged(ups[k], battery_pct=9.0)
    [alert] = alerts(run(tmp_path / "flat", ups), "fleet.battery")
    assert alert.opened_at == ups[27].time
