"""A Saint-Sulpice service filled by the simulator, for the web tests.

The village is backfilled once per test session (about eleven days of uplinks, so that last
week and a typical week exist) into a SQLite file; each test gets its own copy, so one that
acknowledges an alert does not change what another sees. The service's clock is frozen at
``NOW``: figures are reproducible, and "today" is a school Thursday in winter. Two anomalies
are moved into the window, as the demo does: the school's leak sensor is wet and a flush is
stuck, so the alert engine has open alerts when the tests start.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from lorawatch.app import config
from lorawatch.app.service import Service
from lorawatch.gateway_bridge.source import NullSource
from lorawatch.simulators.run import backfill
from lorawatch.simulators.scenario import Scenario, builtin, load
from lorawatch.simulators.simulation import Simulation
from lorawatch.web import create_app
from lorawatch.web.security import hash_password, new_token
from lorawatch.web.server import WebServer

NOW = datetime(2026, 1, 15, 14, 20, tzinfo=UTC)  # Thursday 15:20 in Saint-Sulpice
HISTORY = timedelta(days=11)
OPERATOR = ("agent", "correct horse battery")
VIEWER = ("lecteur", "lecture seule 2026")
OPERATOR_TOKEN, OPERATOR_DIGEST = new_token()
VIEWER_TOKEN, VIEWER_DIGEST = new_token()
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"


def scene() -> Scenario:
    """Saint-Sulpice with its leak and stuck flush moved to the last hours before NOW."""
    base = load(builtin("saint-sulpice"))
    moved = []
    for anomaly in base.anomalies:
        if anomaly.type == "leak":
            moved.append(replace(anomaly, onset=NOW - timedelta(hours=3), end=None))
        elif anomaly.type == "stuck_flush":
            moved.append(replace(anomaly, onset=NOW - timedelta(hours=20), end=None))
    return replace(base, anomalies=tuple(moved))


def settings(db: Path, **http: Any) -> config.Settings:
    return config.load(
        None,
        {
            "inventory": {"path": str(builtin("saint-sulpice"))},
            "store": {"sqlite": {"path": str(db)}},
            "http": {"listen": "127.0.0.1:0", **http},
        },
    )


@cache
def _hashes() -> tuple[str, str]:
    return hash_password(OPERATOR[1]), hash_password(VIEWER[1])


def principals() -> dict[str, Any]:
    operator_hash, viewer_hash = _hashes()
    return {
        "users": [
            {"name": OPERATOR[0], "password_hash": operator_hash, "role": "operator"},
            {"name": VIEWER[0], "password_hash": viewer_hash, "role": "viewer"},
        ],
        "tokens": [
            {"name": "ops-script", "sha256": OPERATOR_DIGEST, "role": "operator"},
            {"name": "grafana", "sha256": VIEWER_DIGEST, "role": "viewer"},
        ],
    }


@cache
def village_db() -> Path:
    """The backfilled store, built once per session (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="lorawatch-web-"))
    atexit.register(shutil.rmtree, folder, True)
    db = folder / "village.sqlite"
    sc = scene()
    service = Service(settings(db), inventory=sc.inventory, source=NullSource())
    if service.alerts is not None:
        service.alerts.clock = lambda: NOW
    backfill(Simulation(sc, seed=7), NOW - HISTORY, NOW, service.bridge.process, progress=False)
    if service.alerts is not None:
        service.alerts.tick(NOW)
        service.alerts.flush_state()
    service.stop()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db


def make_service(folder: Path, **http: Any) -> Service:
    """A service on a private copy of the village, clock at NOW; not started."""
    db = folder / "lw.sqlite"
    shutil.copyfile(village_db(), db)
    service = Service(
        settings(db, **(principals() | http)), inventory=scene().inventory, source=NullSource()
    )
    service.clock = lambda: NOW
    if service.alerts is not None:
        service.alerts.clock = lambda: NOW
    return service


@contextmanager
def serve(service: Service) -> Iterator[httpx.Client]:
    """The service's web app on a free loopback port, and an HTTP client pointed at it."""
    server = WebServer(create_app(service), "127.0.0.1:0")
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        server.stop()
