"""Private test instances of the real servers: Mosquitto, InfluxDB and RabbitMQ on free ports.

Each instance has its own config and data directory under the test's temporary folder, never
touches the machine's system services or their standard ports, and can be stopped, killed
and restarted by fault tests. Readiness is polled (TCP connect, /ping) with a deadline.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
PG_BIN = next(
    iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), Path("/nonexistent")
)
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not /usr/sbin's: it switches user
EPMD = shutil.which("epmd") or next(
    iter(sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), "epmd"
)


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

    def env(self) -> dict[str, str] | None:
        return None

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
            env=self.env(),
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


def rabbit_password_hash(password: str) -> str:
    """RabbitMQ's stored form (rabbit_password_hashing_sha256): base64(salt + sha256(salt +
    password)), so the definitions file needs no plaintext password."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


class RabbitMQ(Server):
    """Debian's rabbitmq-server as a private node: its own node name, ports, Erlang cookie,
    data and log directories, and its own epmd (on a free port, started and stopped here),
    with the consistent-hash exchange plugin. Virtual hosts ``t1``... are created at boot
    from a definitions file, one per test (creating them later needs rabbitmqctl, seconds each).
    """

    name = "rabbitmq"
    VHOSTS = 24

    def __init__(self, workdir: Path, extra_definitions: list[dict] | None = None) -> None:  # type: ignore[type-arg]
        super().__init__(workdir)
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"lwtest{os.getpid()}p{self.port}@localhost"
        self.epmd: subprocess.Popen[bytes] | None = None
        self.extra_definitions = extra_definitions or []
        self.vhosts = [f"t{i}" for i in range(1, self.VHOSTS + 1)]
        self._next = 0

    def env(self) -> dict[str, str]:
        d = self.workdir
        return {
            **os.environ,
            "HOME": str(d / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
        }

    def command(self) -> list[str]:
        d = self.workdir
        home = d / "home"
        home.mkdir(exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16))
            cookie.chmod(0o400)
        (d / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
        vhosts = ["/", *self.vhosts]
        definitions: dict = {  # type: ignore[type-arg]
            "users": [
                {
                    "name": "guest",
                    "password_hash": rabbit_password_hash("guest"),
                    "hashing_algorithm": "rabbit_password_hashing_sha256",
                    "tags": ["administrator"],
                }
            ],
            "vhosts": [{"name": v} for v in vhosts],
            "permissions": [
                {"user": "guest", "vhost": v, "configure": ".*", "write": ".*", "read": ".*"}
                for v in vhosts
            ],
        }
        for extra in self.extra_definitions:
            for key, items in extra.items():
                definitions.setdefault(key, []).extend(items)
            for vhost in extra.get("vhosts", []):
                definitions["permissions"].append(
                    {
                        "user": "guest",
                        "vhost": vhost["name"],
                        "configure": ".*",
                        "write": ".*",
                        "read": ".*",
                    }
                )
        (d / "definitions.json").write_text(json.dumps(definitions))
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"load_definitions = {d / 'definitions.json'}\n"
            "log.console.level = warning\n"
        )
        return [RABBITMQ_SERVER]

    def start(self, timeout: float = 180.0) -> None:
        """RabbitMQ boots in 10 to 60 s here (first boot creates its database): one per session."""
        if self.epmd is None or self.epmd.poll() is not None:
            self.epmd = subprocess.Popen(
                [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_until(lambda: _port_open(self.epmd_port), 10, "epmd")
        for attempt in range(3):
            try:
                super().start(timeout)
                return
            except RuntimeError as exc:
                # Its port was free when chosen, but the node binds it only after booting for
                # tens of seconds, and meanwhile an outgoing connection may be given it (the
                # readiness poll's own included; its distribution port alike): boot again on
                # fresh ports.
                taken = "eaddrinuse" in str(exc) or "dist_port_already_used" in str(exc)
                if not taken or attempt == 2:
                    raise
                self.port, self.dist_port = free_port(), free_port()
                self.node = f"lwtest{os.getpid()}p{self.port}@localhost"

    def ready(self) -> bool:
        # lazy: only the AMQP tests need pika
        import pika
        import pika.exceptions

        try:
            connection = pika.BlockingConnection(self.parameters("/"))
        except (pika.exceptions.AMQPError, OSError):
            return False
        connection.close()
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        super().stop(sig, timeout)
        if self.epmd is not None and self.epmd.poll() is None:
            self.epmd.terminate()
            self.epmd.wait(5)

    def parameters(self, vhost: str):  # type: ignore[no-untyped-def]
        import pika

        return pika.ConnectionParameters(
            "127.0.0.1",
            self.port,
            vhost,
            pika.PlainCredentials("guest", "guest"),
            connection_attempts=1,
            socket_timeout=2,
        )

    def url(self, vhost: str) -> str:
        return f"amqp://127.0.0.1:{self.port}/{vhost.replace('/', '%2F')}"

    def next_vhost(self) -> str:
        if self._next >= len(self.vhosts):
            raise RuntimeError(f"more than {len(self.vhosts)} AMQP tests: raise RabbitMQ.VHOSTS")
        self._next += 1
        return self.vhosts[self._next - 1]


class PostgreSQL(Server):
    """Debian's PostgreSQL server binaries as a private cluster: ``initdb`` into its own data
    directory, listening on a free loopback port and a socket in that directory, trust
    authentication for loopback only. PostgreSQL refuses to run as root: under root the
    cluster belongs to the ``postgres`` system user, in a directory of its own outside the
    test's (root-only) temporary folder, removed at :meth:`cleanup`.
    """

    name = "postgresql"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.data = Path(tempfile.mkdtemp(prefix="lorawatch-pg-"))
            shutil.chown(self.data, "postgres", "postgres")
        else:
            self.data = workdir / "data"
            self.data.mkdir()
        self._initdb()

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else argv

    def _initdb(self) -> None:
        subprocess.run(
            self._as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data / "cluster"),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def command(self) -> list[str]:
        return self._as_owner(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data / "cluster"),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ]
        )

    def ready(self) -> bool:
        done = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return done.returncode == 0

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> None:
        """SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for every client)."""
        super().stop(sig, timeout)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh database; returns its DSN."""
        subprocess.run(
            [
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            check=True,
            capture_output=True,
        )
        return self.dsn(name)

    def cleanup(self) -> None:
        self.stop()
        if self.as_root:
            shutil.rmtree(self.data, ignore_errors=True)
