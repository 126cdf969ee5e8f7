"""InfluxDB 2 and 3 write APIs, contract-tested against a real local HTTP server.

No InfluxDB 2/3 can run here, so a real HTTP server plays its documented contract: paths,
query parameters, auth headers, gzip bodies and status codes (2xx, 4xx with a message, 429/503
with Retry-After). The spool and its ordering are checked the same way.
"""

from __future__ import annotations

import gc
import gzip
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from lorawatch.alerts.engine import AlertEngine
from lorawatch.app.cli.main import app as cli
from lorawatch.core.errors import StoreRejected
from lorawatch.core.timeutil import ns
from lorawatch.pipeline.records import Batch, Place, StoredReading
from lorawatch.stores import influx as influx_store
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.settings import InfluxConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import AT_ONCE, INVENTORY, config, reading
from tests.conftest import DATA
from tests.servers import InfluxDB, wait_until

T0 = datetime(2026, 5, 1, tzinfo=UTC)

T = TypeVar("T")


class Contract(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, object]] = []
        self.statuses: list[tuple[int, dict[str, str], str]] = []  # consumed one per request
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def lines(self) -> list[str]:
        return [
            line
            for r in self.requests
            if r["status"] == 204
            for line in str(r["body"]).splitlines()
        ]


class Handler(BaseHTTPRequestHandler):
    server: Contract

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            status, headers, text = (
                self.server.statuses.pop(0) if self.server.statuses else (204, {}, "")
            )
            url = urlparse(self.path)
            self.server.requests.append(
                {
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "auth": self.headers.get("Authorization"),
                    "encoding": self.headers.get("Content-Encoding"),
                    "body": body.decode(),
                    "status": status,
                }
            )
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[Contract]:
    srv = Contract()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def batch(i: int) -> Batch:
    place = Place("c", "mairie", "m1", "electricity")
    return Batch(
        readings=[
            StoredReading(
                "24e1241300000001",
                "energy_kwh",
                "",
                T0 + timedelta(minutes=15 * i),
                float(i),
                place,
            )
        ]
    )


def store(tmp_path: Path, url: str, api: str, **extra: object) -> InfluxStore:
    settings: dict[str, object] = {
        "database": "lorawatch",
        "org": "commune",
        "timeout_s": 2.0,
        **extra,
    }
    return InfluxStore(InfluxConfig(url=url, api=api, spool_dir=tmp_path / "spool", **settings))  # type: ignore[arg-type]


def with_collector_off(
    action: Callable[[], T], kept: Callable[[object], bool]
) -> tuple[T, list[object]]:
    """``action``'s result, and the live objects then holding a value ``kept`` picks, the
    cyclic collector off meanwhile (as good as never running, as in the service)."""
    gc.collect()
    gc.disable()
    try:
        result = action()
        return result, [o for o in gc.get_objects() if any(map(kept, gc.get_referents(o)))]
    finally:
        gc.enable()


@pytest.mark.parametrize("compressed", [True, False])
def test_a_sent_body_is_let_go_at_once(tmp_path: Path, server: Contract, compressed: bool) -> None:
    """httpx's response and request form reference cycles: a body they held would live until
    the cyclic collector runs, rarely in the service (tune_gc); with ``gzip = false`` that was
    47 MB more in a 100,000-uplink drain. Sent as-is when ``gzip = false``."""
    s = store(tmp_path, server.url, "v1", gzip=compressed)
    lines = [f"m,k=v f={i}i {i}" for i in range(20_000)]
    first = lines[0].encode()

    def sent_body(value: object) -> bool:
        if not isinstance(value, bytes) or len(value) < 1000:
            return False
        return value[:2] == b"\x1f\x8b" if compressed else value.startswith(first)

    _, holders = with_collector_off(lambda: [s.write_lines(lines) for _ in range(3)], sent_body)
    assert holders == []
    assert server.lines() == lines * 3
    s.close()


@pytest.mark.parametrize(("setting", "encoding"), [("auto", None), (True, "gzip"), (False, None)])
def test_bodies_go_gzip_unless_influxdb_is_on_this_machine(
    tmp_path: Path, server: Contract, setting: object, encoding: str | None
) -> None:
    """``gzip = "auto"`` (the default) sends plain bodies to a loopback InfluxDB, where
    compressing costs CPU on both sides for no bandwidth; a spooled batch (gzip on disk
    whatever the setting) goes the same way once InfluxDB is back."""
    s = store(tmp_path, server.url, "v1", gzip=setting)
    s.write(batch(1))
    server.statuses.append((503, {}, "down"))
    s.write(batch(2))
    assert s.wait_drained(10)
    assert [r["encoding"] for r in server.requests] == [encoding] * 3
    assert [r["status"] for r in server.requests] == [204, 503, 204]
    assert [line.rsplit(" ", 2)[1] for line in server.lines()] == [
        "energy_kwh=1.0",
        "energy_kwh=2.0",
    ]
    s.close()


@pytest.mark.parametrize(
    ("url", "compress"),
    [
        ("http://127.0.0.1:8086", False),
        ("http://localhost:8086", False),
        ("http://[::1]:8086", False),
        ("http://10.0.0.5:8086", True),
        ("https://influx.example.org", True),
    ],
)
def test_auto_compresses_for_a_remote_influxdb(tmp_path: Path, url: str, compress: bool) -> None:
    s = store(tmp_path, url, "v1")
    assert s.compress is compress
    s.close()


def test_a_query_answer_is_let_go_at_once(
    tmp_path: Path, influxdb: InfluxDB, influx_db: str
) -> None:
    """As the write bodies: an answer is read out of httpx's response, which would keep it in
    a reference cycle until the cyclic collector runs. A bad query still says why."""
    s = store(tmp_path, influxdb.url, "v1", database=influx_db)
    s.write_lines([f"m,k=v f={i}i {i}000000000" for i in range(5_000)])

    def answer(value: object) -> bool:
        return isinstance(value, bytes) and value.startswith(b'{"results"')

    series, holders = with_collector_off(lambda: s.query("SELECT f FROM m"), answer)
    assert holders == []
    assert len(series[0]["values"]) == 5_000
    with pytest.raises(StoreRejected, match=r"influxql error: .*SELEC f"):
        s.query("SELEC f FROM m")
    s.close()


def test_v2_write_contract(tmp_path: Path, server: Contract) -> None:
    s = store(tmp_path, server.url, "v2", token=SecretStr("tok-v2"))
    s.write(batch(1))
    req = server.requests[0]
    assert req["path"] == "/api/v2/write"
    assert req["query"] == {"org": ["commune"], "bucket": ["lorawatch"], "precision": ["ns"]}
    assert req["auth"] == "Token tok-v2"
    assert req["body"] == (
        "reading,building=mairie,commune=c,dev_eui=24e1241300000001,device=m1,kind=electricity "
        f"energy_kwh=1.0 {int((T0 + timedelta(minutes=15)).timestamp())}000000000\n"
    )
    s.close()


def test_v3_write_contract(tmp_path: Path, server: Contract) -> None:
    s = store(tmp_path, server.url, "v3", token=SecretStr("tok-v3"))
    s.write(batch(1))
    req = server.requests[0]
    assert req["path"] == "/api/v3/write_lp"
    assert req["query"] == {"db": ["lorawatch"], "precision": ["nanosecond"]}
    assert req["auth"] == "Bearer tok-v3"
    s.close()


def test_v1_basic_auth(tmp_path: Path, server: Contract) -> None:
    s = store(tmp_path, server.url, "v1", username="lw", password=SecretStr("pw"))
    s.write(batch(1))
    assert server.requests[0]["path"] == "/write"
    assert str(server.requests[0]["auth"]).startswith("Basic ")
    s.close()


def test_unavailable_spools_and_drains_in_order_honouring_retry_after(
    tmp_path: Path, server: Contract
) -> None:
    server.statuses = [
        (503, {"Retry-After": "1"}, "overloaded"),
        (429, {"Retry-After": "0"}, "slow down"),
    ]
    s = store(tmp_path, server.url, "v2", token=SecretStr("t"))
    for i in range(5):
        s.write(batch(i))  # returns at once: the batch is durable in the spool
    assert s.wait_drained(20)
    assert [line.split()[1] for line in server.lines()] == [
        f"energy_kwh={float(i)}" for i in range(5)
    ]
    assert s.health()["spooled_batches"] == 0
    s.close()


def test_with_the_spool_drained_batches_go_straight_without_listing_it(
    tmp_path: Path, server: Contract
) -> None:
    """No drainer at work means an empty spool (the last one stopped on finding it so): a
    batch is posted without a directory scan, whose system calls cost the writer the
    interpreter lock, and still after every spooled one."""
    server.statuses = [(503, {"Retry-After": "0"}, "overloaded")]
    s = store(tmp_path, server.url, "v1")
    s.write(batch(0))  # spooled, then drained
    drainer = s._drainer
    assert drainer is not None
    drainer.join(20)
    assert s._drainer is None
    listed: list[int] = []
    real = s._spooled

    def spooled() -> list[Path]:
        listed.append(1)
        return real()

    s._spooled = spooled  # type: ignore[method-assign]
    for i in range(1, 4):
        s.write(batch(i))
    assert listed == []
    assert [line.split()[1] for line in server.lines()] == [
        f"energy_kwh={float(i)}" for i in range(4)
    ]
    s.close()


def test_a_4xx_is_reported_with_its_fix_and_not_retried(tmp_path: Path, server: Contract) -> None:
    server.statuses = [(401, {}, '{"code":"unauthorized","message":"unauthorized access"}')]
    s = store(tmp_path, server.url, "v2", token=SecretStr("wrong"))
    s.write(batch(1))
    s.write(batch(2))
    health = s.health()
    assert health["blocked"] is True
    assert "token" in str(health["fix"]) and "401" in str(health["last_error"])
    assert "wrong" not in str(health)
    assert len(server.requests) == 1, "a rejected token is not retried"
    assert health["spooled_batches"] == 2, "nothing is lost: both batches wait in the spool"
    s.close()
    # Fixed and restarted: the spool drains at start, in order.
    fixed = store(tmp_path, server.url, "v2", token=SecretStr("right"))
    assert fixed.wait_drained(10)
    assert [line.split()[1] for line in server.lines()] == ["energy_kwh=1.0", "energy_kwh=2.0"]
    fixed.close()


def test_the_spool_survives_a_restart_while_influx_is_down(tmp_path: Path) -> None:
    down = store(tmp_path, "http://127.0.0.1:9", "v1")  # discard port: connection refused
    down.write(batch(1))
    down.write(batch(2))
    assert down.health()["spooled_batches"] == 2
    down.close()
    srv = Contract()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        back = store(tmp_path, srv.url, "v1")
        assert back.wait_drained(10)
        assert len(srv.lines()) == 2
        back.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_alert_events_wait_in_the_spool_while_influxdb_is_down(
    tmp_path: Path, server: Contract
) -> None:
    """The built-in alert notifier writes through the store: with InfluxDB unreachable its
    event is spooled, the outbox row counts as sent, and the point reaches InfluxDB later,
    in order with the batches written after it."""
    down = store(tmp_path, "http://127.0.0.1:9", "v1")  # discard port: connection refused
    at_once = config(rules=AT_ONCE)  # one frame opens it
    engine = AlertEngine(
        SqliteStore(tmp_path / "lorawatch.sqlite"), INVENTORY, at_once, influx=down
    )
    full = reading("pav-salle-glass", "fill_pct", 99.0, T0)
    engine.on_batch(Batch(readings=[full]), T0)
    (worker,) = engine.outbox.workers
    assert worker.run_once() == 0.0
    assert engine.db.fetch("SELECT notifier, state FROM notifications") == [("influxdb", "sent")]
    down.write(batch(1))
    assert down.health()["spooled_batches"] == 2
    down.close()
    back = store(tmp_path, server.url, "v1")
    assert back.wait_drained(10)
    alert_line, reading_line = server.lines()
    assert alert_line.startswith("alert,alert_id=1,") and 'state="open"' in alert_line
    assert alert_line.endswith(f" {ns(T0)}") and reading_line.startswith("reading,")
    back.close()


def test_a_bad_spooled_batch_is_moved_aside_with_its_reason(
    tmp_path: Path, server: Contract
) -> None:
    server.statuses = [
        (503, {}, "down"),
        (400, {}, '{"error":"partial write: field type conflict"}'),
    ]
    s = store(tmp_path, server.url, "v1")
    s.write(batch(1))
    s.write(batch(2))
    wait_until(lambda: len(server.requests) >= 3, 20, "the drain")
    assert s.wait_drained(10)
    rejected = list((tmp_path / "spool" / "rejected").glob("*.reason"))
    assert len(rejected) == 1 and "field type conflict" in rejected[0].read_text()
    assert server.lines() == [server.requests[2]["body"].strip()]  # type: ignore[union-attr]
    s.close()


def test_a_live_400_sets_the_batch_aside_and_the_next_batches_go_on(
    tmp_path: Path, server: Contract
) -> None:
    server.statuses = [(400, {}, '{"error":"partial write: field type conflict"}')]
    s = store(tmp_path, server.url, "v1")
    s.write(batch(1))
    s.write(batch(2))
    s.write(batch(3))
    health = s.health()
    assert health["blocked"] is False and health["spooled_batches"] == 0
    assert health["rejected_batches"] == 1 and s.rejected_batches == 1
    assert [line.split()[1] for line in server.lines()] == [
        "energy_kwh=2.0",
        "energy_kwh=3.0",
    ]
    (reason,) = (tmp_path / "spool" / "rejected").glob("*.reason")
    assert "field type conflict" in reason.read_text()
    # Replayable: once the cause is fixed, the batch goes back through the spool.
    assert s.requeue_rejected() == 1
    assert s.wait_drained(10)
    assert server.lines()[-1].split()[1] == "energy_kwh=1.0"
    assert s.health()["rejected_batches"] == 0
    s.close()


def test_set_aside_batches_are_requeued_by_the_cli(tmp_path: Path, server: Contract) -> None:
    server.statuses = [(400, {}, '{"error":"partial write: field type conflict"}')]
    s = store(tmp_path, server.url, "v1")
    s.write(batch(1))
    s.close()
    assert not server.lines()
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{DATA / "inventory.toml"}"\n'
        f'[store]\noutputs = ["influxdb"]\n[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n'
        f'[store.influxdb]\nurl = "{server.url}"\ndatabase = "lorawatch"\n'
        f'spool_dir = "{tmp_path / "spool"}"\n'
    )
    result = CliRunner().invoke(cli, ["deadletters", "influx-requeue", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "1 requeued, all sent, 0 set aside" in result.output
    assert [line.split()[1] for line in server.lines()] == ["energy_kwh=1.0"]


def test_the_status_is_data_on_the_error(tmp_path: Path, server: Contract) -> None:
    """A 400 whose body mentions 401 is still a bad batch; the decision reads the status."""
    server.statuses = [(400, {}, '{"error":"unauthorized 401 403 404 in field"}')]
    s = store(tmp_path, server.url, "v1")
    s.write(batch(1))
    assert s.health()["blocked"] is False and s.rejected_batches == 1
    s.close()


def test_a_refused_token_is_tried_again_without_a_restart(
    tmp_path: Path, server: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(influx_store, "BLOCKED_RETRY_S", 0.2)
    server.statuses = [(403, {}, "forbidden"), (403, {}, "forbidden")]
    s = store(tmp_path, server.url, "v2", token=SecretStr("t"))
    s.write(batch(1))
    s.write(batch(2))
    assert s.health()["blocked"] is True
    wait_until(lambda: not s.health()["blocked"] and s.wait_drained(0.1), 20, "the fix")
    assert [line.split()[1] for line in server.lines()] == ["energy_kwh=1.0", "energy_kwh=2.0"]
    s.close()


def test_query_errors_are_raised(tmp_path: Path, server: Contract) -> None:
    s = store(tmp_path, "http://127.0.0.1:9", "v1")
    with pytest.raises(Exception, match="unreachable"):
        s.query("SELECT 1")
    s.close()


def test_an_influxql_error_is_a_rejection(
    tmp_path: Path, influxdb: InfluxDB, influx_db: str
) -> None:
    s = store(tmp_path, influxdb.url, "v1", database=influx_db)
    with pytest.raises(StoreRejected, match="influxql error"):
        s.query("SELECT nonsense FROM")
    s.close()
