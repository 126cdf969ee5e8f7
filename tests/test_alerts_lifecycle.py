"""The alert lifecycle: one alert per cause, hysteresis, acknowledgement, manual resolution,
and restarts that neither forget an alert nor notify it again. Also the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from lorawatch.alerts.api import AlertsApi
from lorawatch.app.cli.main import app
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import Kit, local, reading, recorded_config, water_deltas
from tests.test_alerts_rules import SCHOOL_WATER, school_day_flow

LEAK = "ecole-fuite-sanitaires"
T0 = local(2026, 1, 19, 6, 50)


def leak(kit: Kit, minutes: float, wet: bool) -> None:
    kit.feed(readings=[reading(LEAK, "leak", wet, T0 + timedelta(minutes=minutes))])


def deliver(kit: Kit) -> list[tuple[str, str, int]]:
    """Run the notifier once, here (no thread), and return what it got so far."""
    for worker in kit.engine.outbox.workers:
        worker.run_once()
    return kit.recorder.events


def test_hysteresis_keeps_one_alert_through_a_flapping_sensor(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config())
    leak(kit, 0, True)
    leak(kit, 10, False)
    leak(kit, 20, True)  # wet again within the hold time: same alert
    leak(kit, 30, False)
    leak(kit, 50, False)  # clear for 20 min only
    [alert] = kit.alerts()
    assert str(alert.state) == "open" and alert.count == 2
    leak(kit, 61, False)  # clear for 31 min: resolved
    [alert] = kit.alerts()
    assert str(alert.state) == "resolved"
    assert alert.resolved_at is not None
    assert deliver(kit) == [("opened", "water.leak", 1), ("resolved", "water.leak", 1)]
    leak(kit, 120, True)  # a new leak is a new alert
    assert [a.id for a in kit.alerts()] == [1, 2]


def test_a_restart_does_not_notify_again(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config())
    leak(kit, 0, True)
    assert deliver(kit) == [("opened", "water.leak", 1)]
    kit.restart()
    leak(kit, 15, True)
    leak(kit, 30, True)
    assert deliver(kit) == [("opened", "water.leak", 1)], "nothing new after the restart"
    [alert] = kit.alerts()
    assert alert.count == 3
    assert len(kit.outbox()) == 1


def test_a_crash_before_delivery_delivers_once_after_restart(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config())
    leak(kit, 0, True)
    # The process dies here: no stop, nothing delivered. A new one opens the same file.
    kit.open()
    leak(kit, 15, True)
    assert deliver(kit) == [("opened", "water.leak", 1)]
    assert deliver(kit) == [("opened", "water.leak", 1)]
    assert [r[3] for r in kit.outbox()] == ["sent"]


def test_rule_state_survives_a_restart(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config(rules={"disabled": ["water.night_flow"]}))
    hours = list(
        water_deltas(
            SCHOOL_WATER,
            local(2026, 3, 9),
            local(2026, 3, 11, 12),
            school_day_flow(local(2026, 3, 10, 19, 40)),
        )
    )
    for i, hour in enumerate(hours):
        if i == 36:
            kit.restart()  # mid-way through the 24 hours of flow
        kit.feed(consumption=hour)
    [alert] = kit.alerts()
    assert alert.opened_at == local(2026, 3, 11, 7, 0)


def test_ack_then_the_condition_clears(tmp_path: Path) -> None:
    cfg = recorded_config(
        routes=[{"notifiers": ["rec"], "events": ["opened", "acknowledged", "resolved"]}]
    )
    kit = Kit(tmp_path, cfg)
    leak(kit, 0, True)
    alert = kit.engine.api.ack(1, "camille", "plumber called", now=T0 + timedelta(minutes=5))
    assert str(alert.state) == "acknowledged" and alert.acked_by == "camille"
    leak(kit, 10, True)
    leak(kit, 20, False)
    leak(kit, 60, False)
    [alert] = kit.alerts()
    assert str(alert.state) == "resolved" and alert.resolved_by == "lorawatch"
    assert deliver(kit) == [
        ("opened", "water.leak", 1),
        ("acknowledged", "water.leak", 1),
        ("resolved", "water.leak", 1),
    ]


def test_resolved_by_hand_while_still_wet_is_not_reopened_until_it_dries(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config())
    leak(kit, 0, True)
    kit.engine.api.resolve(1, "camille", "mopped up")
    leak(kit, 15, True)
    leak(kit, 30, True)
    assert [a.id for a in kit.alerts()] == [1]
    leak(kit, 45, False)  # it dried: the rule is armed again
    leak(kit, 60, True)
    assert [(a.id, str(a.state)) for a in kit.alerts()] == [(1, "resolved"), (2, "open")]


def test_a_resolution_made_by_another_process_is_respected(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config())
    leak(kit, 0, True)
    other = AlertsApi(SqliteStore(tmp_path / "lorawatch.sqlite"))  # the CLI, say
    other.resolve(1, "cli", "fixed")
    leak(kit, 15, True)
    assert [(a.id, str(a.state)) for a in kit.alerts()] == [(1, "resolved")]
    kit.restart()
    leak(kit, 30, True)
    assert len(kit.alerts()) == 1, "still latched after a restart"


def test_cli_list_show_ack_resolve(tmp_path: Path) -> None:
    kit = Kit(tmp_path, recorded_config())
    leak(kit, 0, True)
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{tmp_path / "none.toml"}"\n'
        f'[store.sqlite]\npath = "{tmp_path / "lorawatch.sqlite"}"\n'
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["alerts", "list", "--config", str(cfg)])
    assert listed.exit_code == 0, listed.output
    assert "water.leak" in listed.output and "1 alert(s)" in listed.output
    shown = runner.invoke(app, ["alerts", "show", "1", "--config", str(cfg), "--json"])
    assert shown.exit_code == 0 and '"rule": "water.leak"' in shown.output
    acked = runner.invoke(app, ["alerts", "ack", "1", "--by", "camille", "--config", str(cfg)])
    assert acked.exit_code == 0 and "acknowledged by camille" in acked.output
    resolved = runner.invoke(app, ["alerts", "resolve", "1", "--config", str(cfg)])
    assert resolved.exit_code == 0, resolved.output
    again = runner.invoke(app, ["alerts", "resolve", "1", "--config", str(cfg)])
    assert again.exit_code == 1 and "already resolved" in again.output
    missing = runner.invoke(app, ["alerts", "show", "99", "--config", str(cfg)])
    assert missing.exit_code == 1
    empty = runner.invoke(app, ["alerts", "list", "--config", str(cfg)])
    assert "0 alert(s)" in empty.output
