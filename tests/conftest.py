"""Shared fixtures: private real servers for the session, started only when a test needs them."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import lorawatch.analytics  # noqa: F401 - before numpy: one BLAS thread (see its docstring)
from lorawatch.core import logs
from tests.servers import InfluxDB, Mosquitto, PostgreSQL, RabbitMQ

# Example ChirpStack events (v4 JSON and protobuf, v3 json_v3); each parses strictly into
# ChirpStack's protobuf messages (chirpstack-api's integration.proto), so the tests stand alone.
REFERENCE = Path(__file__).resolve().parent / "data" / "chirpstack"
DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent

logs.setup("warning", "console")
# The command line speaks the language it is asked (docs/cli.md); the tests that read its
# messages read the English ones, and the language tests ask for each language themselves.
os.environ["LORAWATCH_LANG"] = "en"
_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_db(influxdb: InfluxDB) -> str:
    """A fresh database in the session's InfluxDB, so tests don't see each other's points."""
    name = f"test{next(_db_counter)}"
    influxdb.create_database(name)
    return name


@pytest.fixture(scope="session")
def postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """One private PostgreSQL cluster for the session; a database per test (``pg_dsn``)."""
    server = PostgreSQL(tmp_path_factory.mktemp("postgresql"))
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def pg_dsn(postgresql: PostgreSQL) -> str:
    """The DSN of a fresh database in the session's PostgreSQL that no other test uses."""
    return postgresql.create_database(f"test{next(_db_counter)}")


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One broker for the session (it boots in tens of seconds); a vhost per test."""
    deploy = json.loads((ROOT / "deploy" / "rabbitmq-definitions.json").read_text())
    server = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"), extra_definitions=[deploy])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def amqp_vhost(rabbitmq: RabbitMQ) -> str:
    """A virtual host of the session's broker that no other test of the session uses."""
    return rabbitmq.next_vhost()
