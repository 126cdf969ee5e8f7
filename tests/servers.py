"""Private test instances of the real servers: Mosquitto and InfluxDB on free loopback ports.

Each instance has its own config and data directory under the test's temporary folder, never
touches the machine's system services or their standard ports, and can be stopped, killed
and restarted by fault tests. Readiness is polled (TCP connect, /ping) with a deadline.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return _port_open(self.port)

    def start(self, timeout: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        try:
            wait_until(lambda: self.ready() or self.proc.poll() is not None, timeout, self.name)  # type: ignore[union-attr]
        finally:
            log.close()
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(Server):
    name = "mosquitto"

    def __init__(self, workdir: Path, options: dict[str, str] | None = None) -> None:
        """``options`` replace the defaults below (``autosave_interval``, say)."""
        super().__init__(workdir)
        self.options = {"autosave_interval": "1", "autosave_on_changes": "false"}
        self.options.update(options or {})

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    # Started as root, Mosquitto drops to user "mosquitto", which may not write
                    # this test's folder: stay the current user.
                    f"user {getpass.getuser()}",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {data}/",
                    *(f"{key} {value}" for key, value in self.options.items()),
                    "max_queued_messages 1000000",
                    "max_inflight_messages 0",
                    "max_packet_size 1048576",
                    "log_type error",
                    "log_type warning",
                    "",
                ]
            )
        )
        return [MOSQUITTO, "-c", str(conf)]

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class InfluxDB(Server):
    name = "influxdb"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()

    def command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        d = self.workdir
        conf.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  auth-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[logging]
  level = "warn"
"""
        )
        return [INFLUXD, "-config", str(conf)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    def query(self, q: str, db: str = "") -> dict:  # type: ignore[type-arg]
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        r = httpx.post(f"{self.url}/query", params=params, timeout=30)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def create_database(self, db: str) -> None:
        self.query(f'CREATE DATABASE "{db}"')
