"""The bridge in process: bad input is dead-lettered and loses nothing, duplicates count once,
acks follow durable writes. Real SQLite store; messages are fed as the MQTT source would."""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog.testing
from typer.testing import CliRunner

from lorawatch.app import config
from lorawatch.app.cli.main import app
from lorawatch.app.service import Service
from lorawatch.core.errors import InventoryError, StoreUnavailable
from lorawatch.gateway_bridge.receiver import ProcessSource
from lorawatch.gateway_bridge.source import Message, NullSource
from lorawatch.pipeline.records import Batch
from tests.conftest import DATA, REFERENCE
from tests.servers import wait_until

EUI = "24e124136d123456"
TOPIC = f"application/17c82e96-be03-4f38-aef3-f83d48582d97/device/{EUI}/event/up"
T0 = datetime(2026, 1, 14, 9, 0, tzinfo=UTC)


def up(
    pulses: int, minute: int, f_cnt: int | None = None, dedup: str | None = None, eui: str = EUI
) -> Message:
    event = json.loads((REFERENCE / "v4-event-up.json").read_text())
    frame = bytes.fromhex("01755c05c8") + struct.pack("<I", pulses)
    event.update(
        data=base64.b64encode(frame).decode(),
        time=(T0 + timedelta(minutes=minute)).isoformat(),
        fCnt=minute if f_cnt is None else f_cnt,
        deduplicationId=dedup or f"00000000-0000-4000-8000-{minute:012d}",
    )
    event["deviceInfo"]["devEui"] = eui
    if eui != EUI:  # a device whose ChirpStack profile the inventory does not know either
        event["deviceInfo"]["deviceProfileName"] = "Acme Thing (EU868)"
    topic = TOPIC.replace(EUI, eui)
    return Message(
        topic,
        json.dumps(event).encode(),
        T0 + timedelta(minutes=minute, seconds=1),
        mid=minute + 1,
        qos=1,
    )


class RecordingSource(NullSource):
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, messages: list[Message]) -> None:
        self.acked.extend(m.mid for m in messages)


def make_service(
    tmp_path: Path, source: NullSource | None = None, inventory: Path = DATA / "inventory.toml"
) -> Service:
    settings = config.load(
        None,
        {
            "inventory": {"path": str(inventory)},
            "store": {"sqlite": {"path": str(tmp_path / "lw.sqlite")}},
        },
    )
    return Service(settings, source=source or NullSource())


def count(service: Service, sql: str) -> int:
    with service.sqlite.transaction() as db:
        return int(db.execute(sql).fetchone()[0])


def test_bad_messages_become_dead_letters_and_the_good_ones_land(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    bad = [
        Message(TOPIC, b"{truncated", T0, 100, 1),
        Message(TOPIC, b"\x00\xff" * 50, T0, 101, 1),
        Message(TOPIC, b"x" * 70_000, T0, 102, 1),
        Message("zigbee/kitchen/temp", b"{}", T0, 103, 1),
        Message(
            TOPIC,
            json.dumps({"deviceInfo": {"devEui": EUI}, "fPort": 85, "data": "AXU="}).encode(),
            T0,
            104,
            1,
        ),
        up(1000, 5, eui="0011223344556677"),
    ]
    good = [up(1000 + 250 * i, 15 * i) for i in range(4)]
    messages = [m for pair in zip(good, bad, strict=False) for m in pair] + bad[len(good) :]
    service.bridge.process(messages)
    assert count(service, "SELECT COUNT(*) FROM readings WHERE name='energy_kwh'") == 4
    assert count(service, "SELECT COUNT(*) FROM consumption") == 3
    with service.sqlite.transaction() as db:
        reasons = sorted(r for (r,) in db.execute("SELECT reason FROM dead_letters"))
        payloads = {p for (p,) in db.execute("SELECT payload FROM dead_letters")}
    assert reasons == sorted(
        [
            "malformed_json",
            "malformed_protobuf",
            "oversized",
            "foreign_topic",
            "decode_error",
            "unknown_device",
        ]
    )
    assert {m.payload for m in bad} == payloads, "every bad message is kept byte for byte"
    # The unknown device's raw frame is kept too, for re-decoding once it is in the inventory.
    assert count(service, "SELECT COUNT(*) FROM uplinks WHERE dev_eui='0011223344556677'") == 1
    metric = service.metrics.registry.get_sample_value(
        "lorawatch_dead_letters_total", {"reason": "oversized"}
    )
    assert metric == 1.0


def test_duplicates_and_retransmissions_count_once(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    first = [up(1000 + 100 * i, 15 * i) for i in range(5)]
    service.bridge.process(first)
    service.bridge.process(first)  # MQTT redelivery: same deduplicationIds
    # A retransmission forwarded with a new deduplicationId (skip_fcnt_check): same fCnt and payload.
    service.bridge.process([up(1400, 60, f_cnt=60, dedup="ffffffff-0000-4000-8000-000000000060")])
    assert count(service, "SELECT COUNT(*) FROM uplinks") == 5
    assert count(service, "SELECT ROUND(SUM(value), 6) * 1000 FROM consumption") == 400
    assert service.metrics.registry.get_sample_value("lorawatch_duplicates_total") == 6


def test_acks_only_after_the_store_wrote_and_in_arrival_order(tmp_path: Path) -> None:
    source = RecordingSource()
    service = make_service(tmp_path, source)
    failures = {"left": 2}
    sqlite_write = service.sqlite.write

    def flaky(batch: Batch) -> None:
        if failures["left"]:
            failures["left"] -= 1
            assert source.acked == [], "nothing acked while the store fails"
            raise StoreUnavailable("disk unplugged")
        sqlite_write(batch)

    service.sqlite.write = flaky  # type: ignore[method-assign]
    messages = [up(1000 + i, 15 * i) for i in range(6)]
    service.bridge.process(messages, threading.Event())
    assert source.acked == [m.mid for m in messages]
    assert count(service, "SELECT COUNT(*) FROM uplinks") == 6


class QueueSource(RecordingSource):
    """Hands out the given batches, one per ``get_batch``, then nothing."""

    def __init__(self, batches: list[list[Message]]) -> None:
        super().__init__()
        self.batches = deque(batches)

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        return self.batches.popleft() if self.batches else []


def test_stores_write_as_a_pipeline_each_batch_in_the_stores_order(tmp_path: Path) -> None:
    """The first store (InfluxDB) writes batch N+1 while the last one (the state file) is
    still on batch N; a batch reaches the last store only once the first one has it, and is
    acked only then, in arrival order."""
    batches = [[up(1000 + 10 * i, 15 * i)] for i in range(4)]
    source = QueueSource(batches)
    service = make_service(tmp_path, source)
    events: list[tuple[str, int, list[int]]] = []
    first_has = [threading.Event() for _ in batches]
    failures = {"left": 1}

    class First:
        name = "first"

        def write(self, batch: Batch) -> None:
            n = batch.uplinks[0].f_cnt // 15  # type: ignore[operator]
            if n == 2 and failures["left"]:
                failures["left"] -= 1
                raise StoreUnavailable("first store down once")
            events.append(("first", n, list(source.acked)))
            first_has[n].set()

    sqlite_write = service.sqlite.write
    overlapped: list[bool] = []

    def last(batch: Batch) -> None:
        n = batch.uplinks[0].f_cnt // 15  # type: ignore[operator]
        if n == 0:
            overlapped.append(first_has[1].wait(10))
        events.append(("last", n, list(source.acked)))
        sqlite_write(batch)

    service.sqlite.write = last  # type: ignore[method-assign]
    service.bridge.stores = [First(), service.sqlite]  # type: ignore[list-item]
    stop = threading.Event()
    runner = threading.Thread(target=service.bridge.run, args=(stop,))
    runner.start()
    try:
        wait_until(lambda: len(source.acked) == len(batches), 30, "every batch acked")
    finally:
        stop.set()
        runner.join(10)
    assert overlapped == [True], "the first store wrote batch 1 while the last had batch 0"
    mids = [m.mid for b in batches for m in b]
    assert source.acked == mids
    order = [(store, n) for store, n, _ in events]
    for n, batch in enumerate(batches):
        assert order.index(("first", n)) < order.index(("last", n))
        acked_then = next(a for store, i, a in events if (store, i) == ("last", n))
        assert batch[0].mid not in acked_then, "acked only after the last store wrote it"
    assert count(service, "SELECT COUNT(*) FROM uplinks") == len(batches)


def test_a_stopped_bridge_does_not_ack_an_unstored_batch(tmp_path: Path) -> None:
    source = RecordingSource()
    service = make_service(tmp_path, source)

    def down(batch: Batch) -> None:
        raise StoreUnavailable("down")

    service.sqlite.write = down  # type: ignore[method-assign]
    stop = threading.Event()
    stop.set()
    service.bridge.process([up(1000, 0)], stop)
    assert source.acked == []


def test_status_event_gives_a_battery_reading(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    payload = (REFERENCE / "v4-event-status.json").read_bytes()
    service.bridge.process([Message(TOPIC.replace("/up", "/status"), payload, T0, 1, 1)])
    assert (
        count(service, "SELECT COUNT(*) FROM readings WHERE name='battery_pct' AND value=91.34")
        == 1
    )
    assert count(service, "SELECT COUNT(*) FROM device_events WHERE kind='status'") == 1


def test_unknown_events_are_dead_lettered_once(tmp_path: Path) -> None:
    """A valid uplink on event/foo, event/uplink or event/Up is no uplink: kept with its
    reason, once even when the broker delivers it again."""
    service = make_service(tmp_path)
    good = up(1000, 0)
    messages = [
        Message(good.topic.replace("/up", f"/{name}"), good.payload, T0, 1, 1)
        for name in ("foo", "uplink", "Up")
    ]
    service.bridge.process(messages)
    service.bridge.process(messages)
    assert service.bridge.unknown_events == 6
    assert count(service, "SELECT COUNT(*) FROM dead_letters WHERE reason='unknown_event'") == 3
    assert count(service, "SELECT COUNT(*) FROM dead_letters") == 3
    assert count(service, "SELECT COUNT(*) FROM uplinks") == 0


def test_deadletters_replay_after_fixing_the_inventory(tmp_path: Path) -> None:
    stranger = "0011223344556677"
    service = make_service(tmp_path)
    service.bridge.process([up(1000, 0, eui=stranger), up(1100, 15, eui=stranger)])
    service.sqlite.close()
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        (DATA / "inventory.toml").read_text()
        + f'\n[[devices]]\ndev_eui = "{stranger}"\nname = "atelier-elec"\ndecoder = "milesight-em300-di"\n'
        'building = "mairie"\nkind = "electricity"\nparams = { pulses_per_kwh = 1000 }\n'
    )
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{inventory}"\n[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n'
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["deadletters", "list", "--config", str(cfg)])
    assert listed.exit_code == 0 and "unknown_device=2" in listed.output
    replayed = runner.invoke(app, ["deadletters", "replay", "--config", str(cfg)])
    assert replayed.exit_code == 0, replayed.output
    assert "2 replayed, 0 still failing" in replayed.output
    fresh = make_service(tmp_path, inventory=inventory)
    assert count(fresh, "SELECT COUNT(*) FROM readings WHERE name='energy_kwh'") == 2
    assert count(fresh, "SELECT COUNT(*) FROM dead_letters WHERE replayed_us IS NULL") == 0


@pytest.mark.parametrize("fmt", ["v4-json", "v4-protobuf", "v3"])
def test_simulated_events_in_every_format_are_ingested(tmp_path: Path, fmt: str) -> None:
    import random

    from lorawatch.simulators import chirpstack

    service = make_service(tmp_path)
    device = chirpstack.SimDevice(
        EUI,
        "mairie-compteur-elec",
        "Milesight EM300-DI (EU868)",
        {"building": "mairie", "pulses_per_kwh": "1000"},
    )
    rng = random.Random(3)
    messages = []
    for i in range(3):
        event = chirpstack.uplink_event(
            device,
            85,
            bytes.fromhex("05c8") + struct.pack("<I", 1000 * (i + 1)),
            i,
            T0 + timedelta(minutes=15 * i),
            rng,
        )
        messages.append(
            Message(chirpstack.topic(device, "up", fmt), chirpstack.encode(event, fmt), T0)
        )  # type: ignore[arg-type]
    service.bridge.process(messages)
    assert count(service, "SELECT ROUND(SUM(value), 6) FROM consumption") == 2


def test_meter_replacement_recorded_by_the_cli_is_applied_by_the_service(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    service.bridge.process([up(1000, 0), up(2000, 15)])  # 1.0 kWh consumed
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{DATA / "inventory.toml"}"\n[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n'
    )
    at = (T0 + timedelta(minutes=20)).isoformat()
    result = CliRunner().invoke(
        app, ["meters", "reset", "-c", str(cfg), EUI, "--at", at, "--note", "new meter"]
    )
    assert result.exit_code == 0, result.output
    # The new meter starts at 0 pulses: without the command this would be a reset, or a jump.
    service.ingestor._commands_checked = float("-inf")
    service.bridge.process([up(0, 30), up(500, 45)])
    assert count(service, "SELECT ROUND(SUM(value) * 1000) FROM consumption") == 1500
    listed = CliRunner().invoke(app, ["meters", "list", "-c", str(cfg)])
    assert listed.exit_code == 0 and "replace" in listed.output
    assert count(service, "SELECT COUNT(*) FROM meter_commands WHERE applied_us IS NOT NULL") == 1
    assert (
        count(
            service, "SELECT COUNT(*) FROM device_events WHERE kind = 'quality' AND code = 'reset'"
        )
        == 0
    )


def test_meters_cli_rejects_bad_input(tmp_path: Path) -> None:
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{DATA / "inventory.toml"}"\n[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n'
    )
    bad_eui = CliRunner().invoke(app, ["meters", "reset", "-c", str(cfg), "zz"])
    assert bad_eui.exit_code == 2 and "16 hex digits" in bad_eui.output
    naive = CliRunner().invoke(
        app,
        ["meters", "calibrate", "-c", str(cfg), EUI, "--offset", "3", "--at", "2026-01-01T00:00"],
    )
    assert naive.exit_code == 2 and "no zone" in naive.output


def test_a_vendor_js_codec_with_a_mapping_feeds_the_pipeline(tmp_path: Path) -> None:
    codec = Path(__file__).parent / "js_codecs" / "em300_di.js"
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        (DATA / "inventory.toml").read_text()
        + f'\n[[devices]]\ndev_eui = "{EUI}"\nname = "js-meter"\ndecoder = "js"\nbuilding = "mairie"\n'
        f'kind = "electricity"\nparams = {{ codec = "{codec}" }}\n'
        '[devices.mapping]\n"battery" = { reading = "battery_pct" }\n'
        '"pulse" = { reading = "energy_kwh", scale = 0.001 }\n'
    )
    service = make_service(tmp_path, inventory=inventory)
    service.bridge.process([up(1000, 0), up(1250, 15)])
    assert (
        count(
            service,
            "SELECT COUNT(*) FROM readings WHERE device = 'js-meter' AND name = 'battery_pct'",
        )
        == 2
    )
    assert count(service, "SELECT ROUND(SUM(value) * 1000) FROM consumption") == 250


def test_a_missing_js_codec_fails_at_start_naming_the_file(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        (DATA / "inventory.toml").read_text()
        + f'\n[[devices]]\ndev_eui = "{EUI}"\ndecoder = "js"\nparams = {{ codec = "codecs/nowhere.js" }}\n'
    )
    with pytest.raises(InventoryError) as info:
        make_service(tmp_path, inventory=inventory)
    assert "nowhere.js" in str(info.value)


def test_retention_deletes_old_raw_data_and_keeps_the_aggregates(tmp_path: Path) -> None:
    from lorawatch.stores.retention import purge

    service = make_service(tmp_path)
    service.bridge.process([up(1000 + 100 * i, 15 * i) for i in range(8)])
    day = (T0 - timedelta(hours=12), T0 + timedelta(hours=12))
    before = service.sqlite.consumption("energy_delta_kwh", *day, "day", "Europe/Paris")
    deleted = purge(service.sqlite, keep_days=30, now=T0 + timedelta(days=31))
    assert deleted["readings"] > 0 and deleted["uplinks"] == 8 and deleted["consumption"] == 7
    assert count(service, "SELECT COUNT(*) FROM readings") == 0
    after = service.sqlite.consumption("energy_delta_kwh", *day, "day", "Europe/Paris")
    assert [(b.group, round(b.value, 6)) for b in after] == [
        (b.group, round(b.value, 6)) for b in before
    ]
    assert round(after[0].value, 6) == 0.7


def test_chirpstack_codec_errors_surface_in_health(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    payload = (REFERENCE / "v4-event-log-codec-error.json").read_bytes()
    service.bridge.process([Message(TOPIC.replace("/up", "/log"), payload, T0, 1, 1)])
    logs = service.health()["chirpstack_logs"]
    assert logs == {"UPLINK_CODEC": {"events": 1, "devices": [EUI]}}
    assert (
        count(
            service,
            "SELECT COUNT(*) FROM device_events WHERE kind = 'log' AND code = 'UPLINK_CODEC'",
        )
        == 1
    )


@pytest.mark.parametrize(
    ("outputs", "window", "applied", "warned"),
    [
        (["sqlite"], 0, 6000, False),
        (["sqlite"], 4000, 4000, True),
        (["sqlite"], 6000, 6000, False),
        (["influxdb"], 0, 8000, False),
        (["influxdb"], 6000, 6000, True),
    ],
)
def test_the_receive_window_holds_what_the_pipeline_holds(
    tmp_path: Path, outputs: list[str], window: int, applied: int, warned: bool
) -> None:
    """Acks follow the last write: the broker's window must hold a batch being prepared, one
    in each store's writer and the next one on its way, or the stages wait for acks. 0 sizes
    it so; a smaller window set by hand is warned about, with the number to set."""
    settings = config.load(
        None,
        {
            "inventory": {"path": str(DATA / "inventory.toml")},
            "store": {
                "outputs": outputs,
                "batch_size": 2000,
                "sqlite": {"path": str(tmp_path / "lw.sqlite")},
                "influxdb": {"url": "http://127.0.0.1:9", "spool_dir": str(tmp_path / "spool")},
            },
            "mqtt": {"receive_maximum": window},
        },
    )
    with structlog.testing.capture_logs() as logs:
        service = Service(settings)
    for store in service.stores:
        store.close()
    assert isinstance(service.source, ProcessSource)
    assert service.source.cfg.receive_maximum == applied
    found = [e for e in logs if "receive_maximum" in e["event"]]
    assert bool(found) is warned
    if warned:
        full = 2000 * (len(service.stores) + 2)
        assert f"mqtt.receive_maximum = {full} or 0" in found[0]["event"]


def test_a_bridge_without_stores_still_acks_in_order(tmp_path: Path) -> None:
    batches = [[up(1000 + 10 * i, 15 * i)] for i in range(3)]
    source = QueueSource(batches)
    service = make_service(tmp_path, source)
    service.bridge.stores = []
    stop = threading.Event()
    runner = threading.Thread(target=service.bridge.run, args=(stop,))
    runner.start()
    try:
        wait_until(lambda: len(source.acked) == len(batches), 30, "every batch acked")
    finally:
        stop.set()
        runner.join(10)
    assert source.acked == [m.mid for b in batches for m in b]
