"""A backfill hands the alert rules' state to the service that runs after it: no storm of
"Device silent for days" when ``lorawatch run`` starts on a store a backfill filled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from lorawatch.app import config
from lorawatch.app.cli.main import app
from lorawatch.app.service import Service
from lorawatch.gateway_bridge.source import NullSource
from lorawatch.simulators import scenario as scenarios

END = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_the_service_after_a_backfill_sees_no_silent_device(tmp_path: Path) -> None:
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        '[inventory]\npath = "inventory.toml"\n'
        f'[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n'
        "[store]\nbatch_size = 200\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "saint-sulpice",
            "--backfill",
            "8h",
            "--start",
            END.isoformat(),
            "-c",
            str(cfg),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "alert rule state of" in result.output

    settings = config.load(cfg)
    scene = scenarios.load(scenarios.builtin("saint-sulpice"))
    service = Service(settings, inventory=scene.inventory, source=NullSource())
    try:
        rows = service.sqlite.fetch("SELECT subject, state FROM alert_state WHERE rule = 'fleet'")
        states = {s: json.loads(state) for s, state in rows}
        last_seen = {s: st["last_seen"] for s, st in states.items() if "last_seen" in st}
        assert any(st.get("newest", 0) >= END.timestamp() - 3600 for st in states.values())
        heard = dict(
            service.sqlite.fetch(
                "SELECT dev_eui, MAX(time_us) / 1e6 FROM readings GROUP BY dev_eui"
            )
        )
        assert heard and set(heard) <= set(last_seen), "every device heard has its state saved"
        # Each device's state is as of its last uplink, not of an earlier periodic flush.
        stale = {s: heard[s] - t for s, t in last_seen.items() if s in heard and heard[s] - t > 900}
        assert not stale, f"state behind the device's last reading (s): {stale}"
        assert service.alerts is not None
        service.alerts.tick(END + timedelta(minutes=10))
        silent = service.sqlite.fetch("SELECT COUNT(*) FROM alerts WHERE rule = 'fleet.silent'")
        assert silent[0][0] == 0
    finally:
        for store in service.stores:
            store.close()
