"""The PostgreSQL state: migrations once under a lock, clear errors, idempotent batches, fencing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from lorawatch.app import config
from lorawatch.app.cli.main import app
from lorawatch.core.errors import ConfigError, PartitionLost
from lorawatch.pipeline.records import Batch, DeadLetter, RawUplink
from lorawatch.stores.postgres import PostgresStore, StateUnreachable, migrations
from lorawatch.stores.settings import StateConfig
from tests import fleet

runner = CliRunner()
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def state(dsn: str, **kw: object) -> StateConfig:
    return StateConfig.model_validate({"backend": "postgresql", "dsn": dsn, **kw})


def uplink(dev: str, f_cnt: int, minutes: int = 0) -> RawUplink:
    t = T0 + timedelta(minutes=minutes)
    return RawUplink(dev, t, f_cnt, 2, bytes([f_cnt % 256]), f"d{f_cnt}", t, "json", -90, 7, 1)


def test_migrations_apply_once_even_when_workers_start_together(pg_dsn: str) -> None:
    results: list[list[int]] = []
    errors: list[Exception] = []

    def start() -> None:
        try:
            store = PostgresStore(state(pg_dsn), migrate=False)
            results.append(store.migrate())
            store.close()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    newest = [m.version for m in migrations.available()]
    assert sorted(results, key=len)[-1] == newest
    assert sum(len(r) for r in results) == len(newest), "each migration applied exactly once"
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in rows] == newest


def test_a_database_newer_than_the_release_is_refused(pg_dsn: str) -> None:
    PostgresStore(state(pg_dsn)).close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(Exception, match="newer than this lorawatch knows"):
        PostgresStore(state(pg_dsn))


def test_an_unreachable_database_names_the_key_and_hides_the_password(
    postgresql: object, tmp_path: Path
) -> None:
    cfg = state("postgresql://someone@127.0.0.1:1/nowhere", password="s3cret-pw")
    with pytest.raises(StateUnreachable) as caught:
        PostgresStore(cfg)
    message = str(caught.value)
    assert message.startswith("state.dsn: cannot connect to PostgreSQL someone@127.0.0.1:1/nowhere")
    assert "s3cret-pw" not in message and "password" in message  # the fix names where it goes


def test_config_check_tries_the_database(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "inventory.toml").write_text("")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[inventory]\npath = "inventory.toml"\n[store]\noutputs = ["sqlite"]\n'
        f'[store.sqlite]\npath = "{tmp_path}/s.sqlite"\n'
        '[state]\nbackend = "postgresql"\ndsn = "postgresql://u:hunter22@127.0.0.1:1/x"\n'
    )
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "store.outputs" in result.stderr and "state.dsn" in result.stderr
    assert "hunter22" not in result.stdout + result.stderr
    missing = tmp_path / "missing.toml"
    missing.write_text('[inventory]\npath = "inventory.toml"\n[state]\nbackend = "postgresql"\n')
    with pytest.raises(ConfigError, match=r"state\.dsn"):
        config.load(missing)
    good = tmp_path / "good.toml"
    good.write_text(
        '[inventory]\npath = "inventory.toml"\n[store]\noutputs = ["influxdb"]\n'
        f'[store.sqlite]\npath = "{tmp_path}/s.sqlite"\n'
        f'[store.influxdb]\nspool_dir = "{tmp_path}/spool"\n'
        f'[state]\nbackend = "postgresql"\ndsn = "{pg_dsn}"\n'
    )
    assert runner.invoke(app, ["config", "check", str(good)]).exit_code == 0
    result = runner.invoke(app, ["state", "migrate", "-c", str(good)])
    assert result.exit_code == 0, result.output
    assert "applied 0001" in result.stdout
    again = runner.invoke(app, ["state", "migrate", "-c", str(good)])
    assert "already up to date" in again.stdout


def test_a_batch_written_twice_is_stored_once(pg_dsn: str) -> None:
    store = PostgresStore(state(pg_dsn), worker="w1")
    assert store.acquire({"q0"}) is not None
    batch = Batch(
        uplinks=[uplink("a1", 1), uplink("a1", 2, 10), uplink("b2", 7)],
        dead_letters=[DeadLetter(T0, "application/1/device/x/event/up", b"{", "json", "bad")],
        meter_state=[("a1\tenergy_kwh\t", '{"key": 1}')],
        partitions={"q0"},
        partition_of={"a1": "q0", "b2": "q0"},
    )
    store.write(batch)
    store.write(batch)
    counts = store.fetch(
        "SELECT (SELECT count(*) FROM uplinks), (SELECT count(*) FROM dead_letters),"
        " (SELECT count(*) FROM meter_state)"
    )
    assert counts == [(3, 1, 1)]
    assert store.last_f_cnt("a1") == 2 and store.last_f_cnt("zz") is None
    dev_eui, uid, time_us = store.fetch(
        "SELECT dev_eui, uid, time_us FROM uplinks WHERE f_cnt = 7"
    )[0]
    assert store.uplink_time(dev_eui, 7, uid) == time_us
    store.close()


def test_a_worker_that_lost_its_partition_commits_nothing(pg_dsn: str) -> None:
    a = PostgresStore(state(pg_dsn), worker="a")
    b = PostgresStore(state(pg_dsn), worker="b")
    assert a.acquire({"q1"}) is not None
    assert a.acquire({"q1"}) is None, "held at the same epoch: nothing to reload"
    a.write(
        Batch(
            uplinks=[uplink("c3", 1)],
            meter_state=[("c3\tvolume_m3\t", "s1")],
            partitions={"q1"},
            partition_of={"c3": "q1"},
        )
    )
    handover = b.acquire({"q1"})
    assert handover is not None and handover.meter_states == ["s1"]
    assert handover.last_f_cnt == {"c3": 1}
    with pytest.raises(PartitionLost):
        a.write(Batch(uplinks=[uplink("c3", 2, 5)], partitions={"q1"}, partition_of={"c3": "q1"}))
    assert b.last_f_cnt("c3") == 1, "the fenced batch left nothing"
    rows = b.fetch("SELECT partition, owner, epoch FROM partitions")
    assert rows == [("q1", "b", 2)]
    hand = b.fetch("SELECT previous, owner FROM partition_handovers ORDER BY epoch")
    assert hand == [("", "a"), ("a", "b")]
    a.close()
    b.close()


def test_the_deploy_worker_file_is_a_valid_postgresql_worker() -> None:
    root = Path(__file__).resolve().parent.parent
    settings = config.load(root / "deploy" / "lorawatch-worker.toml")
    assert settings.state.backend == "postgresql" and settings.store.outputs == ["influxdb"]
    assert settings.bridge.source == "amqp"
    assert ":" not in settings.state.secret_dsn().split("@")[0].removeprefix("postgresql://")


def test_status_shows_alive_and_stopped_workers_and_their_partitions(pg_dsn: str) -> None:
    a = PostgresStore(state(pg_dsn, heartbeat_s=0.2), worker="a")
    b = PostgresStore(state(pg_dsn, heartbeat_s=0.2), worker="b")
    a.register()
    b.register()
    a.acquire({"q0", "q1"})
    b.acquire({"q2"})
    b.close()
    shown = {w["worker"]: w for w in a.status()["workers"]}
    assert shown["a"]["state"] == "alive" and shown["a"]["partitions"] == ["q0", "q1"]
    assert shown["b"]["state"] == "stopped" and shown["b"]["partitions"] == ["q2"]
    a.write(Batch(uplinks=[uplink("d4", 1)], partitions={"q0"}, partition_of={"d4": "q0"}))
    assert {w["worker"]: w["batches"] for w in a.status()["workers"]} == {"a": 1, "b": 0}
    a.close()


def test_deadletters_list_reads_the_shared_letters_and_replay_refuses(
    pg_dsn: str, tmp_path: Path
) -> None:
    store = PostgresStore(state(pg_dsn), worker="w")
    store.acquire({"q0"})
    letter = DeadLetter(T0, "application/1/device/00aa/event/up", b"{", "malformed_json", "bad")
    store.write(Batch(dead_letters=[letter], partitions={"q0"}))
    store.close()
    fleet.inventory(tmp_path / "inventory.toml", 1)
    cfg = tmp_path / "w.toml"
    cfg.write_text(
        f'[inventory]\npath = "{tmp_path / "inventory.toml"}"\n'
        f'[store]\noutputs = ["influxdb"]\n[store.sqlite]\npath = "{tmp_path}/s.sqlite"\n'
        f'[store.influxdb]\nspool_dir = "{tmp_path}/spool"\n'
        f'[state]\nbackend = "postgresql"\ndsn = "{pg_dsn}"\n[alerts]\nenabled = false\n'
    )
    listed = runner.invoke(app, ["deadletters", "list", "-c", str(cfg)])
    assert listed.exit_code == 0, listed.output
    assert "malformed_json=1" in listed.stdout
    replay = runner.invoke(app, ["deadletters", "replay", "-c", str(cfg)])
    assert replay.exit_code == 2 and "postgresql" in replay.stderr


def test_migration_files_are_numbered_once_each_without_gaps(tmp_path: Path) -> None:
    assert [m.version for m in migrations.available()] == list(
        range(1, len(migrations.available()) + 1)
    )
    (tmp_path / "0001_a.sql").write_text("SELECT 1")
    (tmp_path / "0002_b.sql").write_text("SELECT 1")
    (tmp_path / "0002_c.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="two migrations numbered 0002"):
        migrations.available(tmp_path)
    (tmp_path / "0002_c.sql").rename(tmp_path / "0004_c.sql")
    with pytest.raises(ValueError, match="0003 missing"):
        migrations.available(tmp_path)
