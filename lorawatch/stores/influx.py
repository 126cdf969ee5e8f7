"""InfluxDB store: line protocol over HTTP (v1 /write, v2 /api/v2/write, v3 /api/v3/write_lp).

Durability: ``write`` returns once InfluxDB answered 2xx, or once the batch is in the disk
spool. While InfluxDB is unreachable (connection refused, timeout, 5xx, 429) batches go to the
spool, one gzip file each, named by sequence; a drainer thread sends them back in order when
InfluxDB returns, honouring ``Retry-After`` and backing off with jitter, and new batches queue
behind them so order is kept. The spool survives restarts and is bounded (past the bound,
``write`` raises StoreUnavailable and the bridge stops acknowledging: backpressure).

A 401, 403 or 404 (bad token, no write right, unknown database) is a configuration problem:
the store keeps spooling, reports the error and its fix in ``health()`` and the log, and tries
again every minute, so the spool drains as soon as the operator fixes it. Any other 4xx (a 400
for bad points or a partial write, a 413) is about that batch alone: the batch is set aside in
``spool/rejected`` with the reason (counted, shown in ``health()``, put back in the spool by
:meth:`InfluxStore.requeue_rejected`, ``lorawatch deadletters influx-requeue``, once fixed) and
the next batches go on. The decision
reads the status the error carries, never its text.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import structlog

from lorawatch.core import timeutil
from lorawatch.core.errors import StoreRejected, StoreUnavailable
from lorawatch.pipeline import line_protocol
from lorawatch.pipeline.records import Batch, Consumption, Place, StoredReading
from lorawatch.pipeline.store import Bucket, Delta, HourStats, Interval
from lorawatch.stores.settings import InfluxConfig

log = structlog.get_logger(__name__)

_FIXES = {
    401: "InfluxDB refused the credentials: set store.influxdb.token (or username/password), "
    "e.g. LORAWATCH__STORE__INFLUXDB__TOKEN, and restart lorawatch",
    403: "the token may not write this database/bucket: grant write access (tried again every "
    "minute)",
    404: "the database/bucket does not exist: create it (influx -execute 'CREATE DATABASE "
    "<name>') or fix store.influxdb.database (tried again every minute)",
}
BLOCKED_RETRY_S = 60.0
"""How often a store refused for its configuration (401, 403, 404) tries again."""


def sets_aside(exc: StoreRejected) -> bool:
    """A refusal of the batch itself (400, 413, 422...), not of every batch (401, 403, 404)."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in _FIXES


class InfluxStore:
    name = "influxdb"

    def __init__(self, cfg: InfluxConfig, readings: bool = True) -> None:
        self.cfg = cfg
        self.keeps_readings = readings
        self.spool = cfg.spool_dir
        self.rejected_dir = self.spool / "rejected"
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self._headers, auth = self._credentials()
        self._client = httpx.Client(base_url=cfg.url.rstrip("/"), timeout=cfg.timeout_s, auth=auth)
        self.compress = cfg.gzip if isinstance(cfg.gzip, bool) else not _loopback(cfg.url)
        """Whether batches go gzip (``gzip = "auto"``: unless InfluxDB is on this machine)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.last_error = ""
        self.fix = ""
        self.blocked = False
        self.written_batches = 0
        self.spooled_batches = 0
        self.rejected_batches = 0
        """Batches set aside since start (``health()`` counts the files, whenever written)."""
        self._drainer: threading.Thread | None = None
        if self._spooled():
            with self._lock:
                self._start_drainer()

    # --- HTTP -------------------------------------------------------------------------------

    def _credentials(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        token = self.cfg.secret_token()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            scheme = "Bearer" if self.cfg.api == "v3" else "Token"
            headers["Authorization"] = f"{scheme} {token}"
        auth = (
            httpx.BasicAuth(self.cfg.username, self.cfg.secret_password())
            if self.cfg.username
            else None
        )
        return headers, auth

    def _write_request(self) -> tuple[str, dict[str, str]]:
        db = self.cfg.database
        if self.cfg.api == "v1":
            params = {"db": db, "precision": "ns"}
            if self.cfg.retention_policy:
                params["rp"] = self.cfg.retention_policy
            return "/write", params
        if self.cfg.api == "v2":
            return "/api/v2/write", {"org": self.cfg.org, "bucket": db, "precision": "ns"}
        return "/api/v3/write_lp", {"db": db, "precision": "nanosecond"}

    def _post(self, body: bytes, compressed: bool = True) -> None:
        """Send one body, gzip unless ``compressed`` is False (a batch's, not compressed: see
        :attr:`compress`); raise StoreUnavailable (retry) or StoreRejected (human)."""
        path, params = self._write_request()
        headers = dict(self._headers)
        if compressed and self.compress:
            headers["Content-Encoding"] = "gzip"
        elif compressed:  # a spooled body
            body = gzip.decompress(body)
        headers["Content-Length"] = str(len(body))
        try:
            # The body as a one-item iterator, not as bytes: httpx's response and request form
            # reference cycles that hold the request's content until the cyclic collector
            # runs, rarely in the service (tune_gc); an iterator sent lets it go at once.
            # Holding every body meant +47 MB in a 100,000-uplink drain with gzip = false.
            response = self._client.post(
                path, params=params, content=iter((body,)), headers=headers
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"influxdb unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status < 300:
            return
        detail = response.text[:300].strip()
        if status == 429 or status >= 500:
            raise StoreUnavailable(f"influxdb answered {status}: {detail}", _retry_after(response))
        raise StoreRejected(
            f"influxdb answered {status}: {detail}", _FIXES.get(status, ""), status=status
        )

    # --- spool ------------------------------------------------------------------------------

    def _spooled(self) -> list[Path]:
        return sorted(self.spool.glob("*.lp.gz"))

    def spool_bytes(self) -> int:
        total = 0
        for path in self._spooled():
            # The drainer may send and remove a file between the listing and its stat.
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def _to_spool(self, body: bytes) -> None:
        files = self._spooled()
        if self.spool_bytes() + len(body) > self.cfg.spool_max_mb * 1024 * 1024:
            raise StoreUnavailable(
                f"influxdb spool full ({self.cfg.spool_max_mb} MB in {self.spool}): "
                "holding acknowledgements until InfluxDB drains it"
            )
        seq = int(files[-1].name.split(".")[0]) + 1 if files else 1
        target = self.spool / f"{seq:012d}.lp.gz"
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(target)
        dir_fd = os.open(self.spool, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.spooled_batches += 1

    def _start_drainer(self) -> None:
        """Called with the lock held. A blocked store's drainer is not woken by new batches:
        it tries again on its own every :data:`BLOCKED_RETRY_S`."""
        if self._drainer is None or not self._drainer.is_alive():
            self._drainer = threading.Thread(
                target=self._drain_loop, name="influx-spool", daemon=True
            )
            self._drainer.start()
        if not self.blocked:
            self._wake.set()

    def _drain_once(self) -> bool:
        """Send the oldest spooled batch; True when the spool is empty afterwards."""
        files = self._spooled()
        if not files:
            return True
        oldest = files[0]
        try:
            self._post(oldest.read_bytes())
        except StoreRejected as exc:
            if not sets_aside(exc):
                raise
            self._set_aside(oldest.read_bytes(), exc)
            oldest.unlink()
            return not self._spooled()
        oldest.unlink()
        if self.blocked:
            self.blocked = False
            self.fix = ""
            log.info("influxdb accepts writes again")
        return not self._spooled()

    def _set_aside(self, body: bytes, exc: StoreRejected) -> None:
        """Keep a refused batch, with why, where an operator can see and replay it."""
        seq = int(time.time() * 1_000_000)
        target = self.rejected_dir / f"{seq:017d}.lp.gz"
        while target.exists():
            seq += 1
            target = self.rejected_dir / f"{seq:017d}.lp.gz"
        target.write_bytes(body)
        target.with_name(target.name + ".reason").write_text(str(exc), encoding="utf-8")
        self.rejected_batches += 1
        self.last_error = str(exc)
        log.error(
            "influxdb refused a batch: set aside, the next batches go on",
            file=str(target),
            status=exc.status,
            error=str(exc),
        )

    def requeue_rejected(self) -> int:
        """Put the set-aside batches back in the spool (after fixing the cause); how many."""
        moved = 0
        with self._lock:
            files = self._spooled()
            seq = int(files[-1].name.split(".")[0]) + 1 if files else 1
            for path in sorted(self.rejected_dir.glob("*.lp.gz")):
                path.rename(self.spool / f"{seq:012d}.lp.gz")
                path.with_name(path.name + ".reason").unlink(missing_ok=True)
                seq += 1
                moved += 1
            if moved:
                self._start_drainer()
        return moved

    def _drain_loop(self) -> None:
        # Posting happens outside the writers' lock: writers append to the spool meanwhile,
        # and only post directly once the spool is empty, i.e. after every older batch.
        delay = 0.2
        while not self._stop.is_set():
            if self.blocked:  # woken early only by close()
                self._wake.clear()
                self._wake.wait(BLOCKED_RETRY_S * random.uniform(0.8, 1.2))  # noqa: S311
                if self._stop.is_set():
                    return
            wait = 0.0
            try:
                if self._drain_once():
                    with self._lock:  # a writer may have spooled meanwhile: look again
                        if not self._spooled():
                            self._drainer = None
                            self.last_error = ""
                            log.info("influxdb spool drained")
                            return
                delay = 0.2
            except StoreUnavailable as exc:
                self.last_error = str(exc)
                wait = exc.retry_after or delay
                delay = min(delay * 2, 30.0)
            except StoreRejected as exc:
                self._block(exc)
            if wait:
                self._wake.clear()
                self._wake.wait(wait * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto

    def _block(self, exc: StoreRejected) -> None:
        self.last_error = str(exc)
        self.fix = exc.fix
        if not self.blocked:
            log.error("influxdb rejects writes; spooling until fixed", error=str(exc), fix=exc.fix)
        self.blocked = True

    # --- Store protocol ---------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        self.write_lines(line_protocol.encode(batch, self.keeps_readings))

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write ready line-protocol lines (the alert events, say) by the batches' own path:
        return once InfluxDB has them or the spool does, in order with the batches, so an
        unreachable InfluxDB loses nothing; StoreUnavailable only when the spool is full."""
        if not lines:
            return
        # Level 1: line protocol still shrinks ~16x, at half the CPU of level 5, and this
        # runs on the InfluxDB writer's thread for every batch (bench/store.py).
        body = ("\n".join(lines) + "\n").encode()
        compressed = self.compress
        if compressed:
            body = gzip.compress(body, compresslevel=1)
        with self._lock:
            # No drainer means an empty spool: the last one stopped on finding it empty under
            # this lock, and whatever is spooled starts one. Listing the spool instead cost
            # each batch a directory scan, whose system calls let go of the interpreter lock
            # (lorawatch/stores/sqlite_rows.py says what getting it back costs this thread).
            if not self.blocked and self._drainer is None:
                try:
                    self._post(body, compressed)
                    self.written_batches += 1
                    return
                except StoreUnavailable as exc:
                    self.last_error = str(exc)
                    log.warning("influxdb unavailable, spooling", error=str(exc))
                except StoreRejected as exc:
                    if sets_aside(exc):
                        self._set_aside(self._gzip(body, compressed), exc)
                        return
                    self._block(exc)
            self._to_spool(self._gzip(body, compressed))
            self._start_drainer()

    @staticmethod
    def _gzip(body: bytes, compressed: bool) -> bytes:
        """The body as the spool and the set-aside files hold it, gzip whatever the setting."""
        return body if compressed else gzip.compress(body, compresslevel=1)

    def wait_drained(self, timeout: float) -> bool:
        """For tests and shutdown: True once the spool is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._spooled():
                return True
            self._wake.set()
            time.sleep(0.05)
        return not self._spooled()

    def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL; return the series of the first statement."""
        params = {"db": self.cfg.database, "q": q, "epoch": "ns"}
        try:
            # Read here, not into the response: it would keep the answer (a year of readings
            # is megabytes) in a reference cycle until the cyclic collector runs (_post).
            with self._client.stream("GET", "/query", params=params, headers=self._headers) as r:
                status, content = r.status_code, b"".join(r.iter_bytes())
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"influxdb unreachable: {exc}") from exc
        text = content[:300].decode(errors="replace").strip()
        if status == 400:
            try:
                error = str(orjson.loads(content).get("error", ""))
            except (orjson.JSONDecodeError, AttributeError):  # not InfluxDB's JSON error
                error = ""
            raise StoreRejected(f"influxql error: {error or text} in {q}")
        if status >= 300:
            raise StoreRejected(f"influxdb query answered {status}: {text}")
        results = orjson.loads(content).get("results", [])
        if results and "error" in results[0]:
            raise StoreRejected(f"influxql error: {results[0]['error']} in {q}")
        series: list[dict[str, Any]] = results[0].get("series", []) if results else []
        return series

    def consumption(
        self,
        name: str,
        start: datetime,
        end: datetime,
        interval: Interval,
        tz: str,
        group_by: Literal["building", "commune"] = "building",
    ) -> list[Bucket]:
        native = "1h" if interval == "hour" else "1d"
        q = (
            f'SELECT sum("{name}") FROM "consumption" WHERE time >= {timeutil.ns(start)} '
            f'AND time < {timeutil.ns(end)} GROUP BY time({native}), "{group_by}" '
            f"fill(none) tz('{tz}')"
        )
        rows: list[tuple[str, int, float]] = []
        for serie in self.query(q):
            group = serie.get("tags", {}).get(group_by, "")
            rows.extend(
                (group, t // 1000, value) for t, value in serie["values"] if value is not None
            )
        return timeutil.sum_by_period(rows, start, end, interval, tz)

    def deltas(self, name: str, building: str, start: datetime, end: datetime) -> list[Delta]:
        """Raw points of the ``consumption`` measurement (time = end, ``interval_s`` back
        to the start), one series per meter, merged in time order."""
        q = (
            f'SELECT "{name}", "interval_s", "gap" FROM "consumption" WHERE '
            f'"building" = {_literal(building)} AND time >= {timeutil.ns(start)} '
            f'AND time < {timeutil.ns(end)} GROUP BY "kind", "dev_eui", "channel"'
        )
        out: list[Delta] = []
        for serie in self.query(q):
            kind = serie.get("tags", {}).get("kind", "")
            for t, value, interval_s, gap in serie["values"]:
                if value is None:
                    continue
                end_s = t / 1e9
                out.append(
                    Delta(end_s - float(interval_s or 0), end_s, float(value), bool(gap), kind)
                )
        out.sort(key=lambda d: d.end_s)
        return out

    def reading_hours(
        self, name: str, commune: str, start: datetime, end: datetime
    ) -> list[HourStats]:
        q = (
            f'SELECT mean("{name}"), min("{name}"), max("{name}") FROM "reading" WHERE '
            f'"commune" = {_literal(commune)} AND time >= {timeutil.ns(start)} '
            f"AND time < {timeutil.ns(end)} GROUP BY time(1h) fill(none)"
        )
        return [
            HourStats(t // 1_000_000_000, float(m), float(lo), float(hi))
            for serie in self.query(q)
            for t, m, lo, hi in serie["values"]
            if m is not None
        ]

    def _points(
        self, measurement: str, fields: str, start: datetime, end: datetime
    ) -> Iterator[tuple[dict[str, str], Place, datetime, list[Any]]]:
        """(tags, time, values) of the points of ``measurement`` with field ``name`` set."""
        q = (
            f'SELECT {fields} FROM "{measurement}" WHERE time >= {timeutil.ns(start)}'
            f" AND time < {timeutil.ns(end)} GROUP BY *"
        )
        for serie in self.query(q):
            tags: dict[str, str] = serie.get("tags", {})
            place = Place(
                tags.get("commune", ""),
                tags.get("building", ""),
                tags.get("device", ""),
                tags.get("kind", ""),
            )
            for t, *values in serie["values"]:
                if values[0] is not None:
                    yield tags, place, timeutil.from_us(t // 1000), values

    def deltas_between(self, name: str, start: datetime, end: datetime) -> list[Consumption]:
        found = [
            Consumption(
                tags.get("dev_eui", ""),
                name,
                tags.get("channel", ""),
                t - timedelta(seconds=int(interval or 0)),
                t,
                float(value),
                bool(gap),
                place,
            )
            for tags, place, t, (value, interval, gap) in self._points(
                "consumption", f'"{name}", "interval_s", "gap"', start, end
            )
        ]
        return sorted(found, key=lambda c: (c.end, c.dev_eui, c.channel))

    def readings_between(self, name: str, start: datetime, end: datetime) -> list[StoredReading]:
        found = [
            StoredReading(
                tags.get("dev_eui", ""),
                name,
                tags.get("channel", ""),
                t,
                value if isinstance(value, bool) else float(value),
                place,
            )
            for tags, place, t, (value,) in self._points("reading", f'"{name}"', start, end)
        ]
        return sorted(found, key=lambda r: (r.time, r.dev_eui, r.channel))

    def health(self) -> dict[str, object]:
        return {
            "spooled_batches": len(self._spooled()),
            "spool_bytes": self.spool_bytes(),
            "blocked": self.blocked,
            "rejected_batches": len(list(self.rejected_dir.glob("*.lp.gz"))),
            "last_error": self.last_error,
            "fix": self.fix,
        }

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        self._client.close()


def _loopback(url: str) -> bool:
    """Whether ``url`` names this machine (``localhost``, 127.0.0.0/8, ::1): there gzip
    saves no bandwidth, and its CPU (compressing here, decompressing there) comes out of the
    cores the service and InfluxDB share: in four paired drains of 100,000 uplinks (the
    service as bench/ingest.py runs it), each ran faster with plain bodies, by 1 to 11 %."""
    host = httpx.URL(url).host
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _literal(value: str) -> str:
    """An InfluxQL string literal: an inventory id is data, never part of the query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
