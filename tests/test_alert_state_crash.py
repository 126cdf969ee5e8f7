"""A crash right after a batch commit restarts with the alert rules exactly where they were.

The service (real Service, SQLite store, and InfluxDB when configured) is fed the simulated
school's water meter with its stuck flush, batch by batch; in the crashed run it dies right
after the commit of some batches, before the acknowledgement and before anything else runs
(nothing in memory survives, no stop handler), is started again on the same files, and the
broker delivers the unacknowledged batch again. The redelivered uplinks are recognised as
stored and dropped before the rules, so the rules must already have their effect: the
stored rule state, the alerts and the meter states end equal to an uninterrupted run's,
with the alert opened once and its notification queued once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lorawatch.app import config as app_config
from lorawatch.app.service import Service
from lorawatch.gateway_bridge.source import Message, NullSource
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation
from tests.alert_kit import EUI, config, local
from tests.servers import InfluxDB

SCENE = load(builtin("saint-sulpice"))
BATCH = timedelta(minutes=15)
START, END = local(2026, 3, 8, 12), local(2026, 3, 11, 9)
DEVICES = ["ecole-eau", "ecole-elec"]


def batches() -> list[tuple[datetime, list[Message]]]:
    """The deliveries in 15-minute batches, each with the time it ends."""
    sim = Simulation(SCENE, 1)
    uplinks = sim.uplinks(START, END, [EUI[n] for n in DEVICES])
    out: list[tuple[datetime, list[Message]]] = []
    edge, pending = START + BATCH, []
    for u in uplinks:
        while u.time >= edge:
            out.append((edge, pending))
            edge, pending = edge + BATCH, []
        pending.append(Message(u.topic, u.payload, u.time))
    out.append((END, pending))
    return out


def service(root: Path, outputs: list[str], influx: tuple[InfluxDB, str] | None) -> Service:
    store: dict[str, Any] = {"outputs": outputs, "sqlite": {"path": str(root / "lw.sqlite")}}
    if influx is not None:
        store["influxdb"] = {
            "url": influx[0].url,
            "database": influx[1],
            "spool_dir": str(root / "spool"),
        }
    settings = app_config.load(None, {"inventory": {"path": "unused.toml"}, "store": store})
    return Service(settings, inventory=SCENE.inventory, source=NullSource(), alerts=config())


def close(s: Service) -> None:
    for store in s.stores:
        store.close()


def run(
    root: Path,
    outputs: list[str],
    influx: tuple[InfluxDB, str] | None,
    crash_after: set[int] = frozenset(),  # type: ignore[assignment]
) -> tuple[Service, list[int]]:
    """Feed every batch (a tick after each, at its end); crash after the commit of the
    batches in ``crash_after``. Returns the last service and the batches that opened an
    alert."""
    s = service(root, outputs, influx)
    opened: list[int] = []
    for i, (edge, messages) in enumerate(batches()):
        before = s.sqlite.fetch("SELECT COUNT(*) FROM alerts")[0][0]
        if i in crash_after:
            prepared = s.bridge.prepare(messages)
            assert s.bridge._commit(prepared.batch, None)
            close(s)  # killed here: not acknowledged, nothing else saved
            s = service(root, outputs, influx)
            s.bridge.process(messages)  # the broker delivers the batch again
            assert s.bridge.metrics.duplicates._value.get() == sum(
                1 for m in messages if m.topic.endswith("/up")
            ), "every redelivered uplink is recognised as stored"
        else:
            s.bridge.process(messages)
        assert s.alerts is not None
        s.alerts.tick(edge)
        if s.sqlite.fetch("SELECT COUNT(*) FROM alerts")[0][0] > before:
            opened.append(i)
    return s, opened


def snapshot(s: Service) -> dict[str, Any]:
    """What a restart continues from, and what the operator sees (data times only)."""
    q = s.sqlite.fetch
    return {
        "rule state": q("SELECT rule, subject, state FROM alert_state ORDER BY 1, 2"),
        "alerts": q(
            "SELECT rule, subject, severity, state, opened_us, last_seen_us, count, evidence,"
            " vals, clearing_since_us FROM alerts ORDER BY id"
        ),
        "events": q("SELECT kind, at_us FROM alert_events ORDER BY id"),
        "notifications": q("SELECT notifier, route FROM notifications ORDER BY id"),
        "meters": q("SELECT key, state FROM meter_state ORDER BY key"),
        "uplinks": q("SELECT COUNT(*), COUNT(DISTINCT uid) FROM uplinks"),
        "readings": q("SELECT COUNT(*), SUM(value) FROM readings"),
        "consumption": q("SELECT COUNT(*), ROUND(SUM(value), 9) FROM consumption"),
    }


@pytest.mark.parametrize("outputs", [["sqlite"], ["influxdb"], ["sqlite", "influxdb"]])
def test_sigkill_right_after_a_commit_keeps_the_rules_where_they_were(
    tmp_path: Path, influxdb: InfluxDB, outputs: list[str]
) -> None:
    def influx(name: str) -> tuple[InfluxDB, str] | None:
        if "influxdb" not in outputs:
            return None
        db = f"crash_{name}_{uuid.uuid4().hex[:8]}"
        influxdb.create_database(db)
        return influxdb, db

    steady, opened = run(tmp_path / "steady", outputs, influx("steady"))
    expected = snapshot(steady)
    close(steady)
    assert len(expected["alerts"]) == 1 and expected["alerts"][0][0] == "water.night_flow"
    assert len(opened) == 1
    # Early (state being learnt), the batch that opens the alert, and the batch after it.
    crashes = {12, 130, opened[0], opened[0] + 1}
    crashed, reopened = run(tmp_path / "crashed", outputs, influx("crashed"), crashes)
    got = snapshot(crashed)
    close(crashed)
    assert reopened == opened, "the alert is opened once, by the same batch"
    for part, rows in expected.items():
        assert got[part] == rows, part
