"""The ``[store]`` section: which stores receive the readings, and how they are reached."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lorawatch.core.reasons import OneOf
from lorawatch.core.settings import Section, read_secret


class SqliteConfig(Section):
    path: Path = Field(
        Path("var/lorawatch.sqlite"),
        description="The embedded store: readings, raw uplinks, dead letters, alerts, meter state.",
    )


class InfluxConfig(Section):
    url: str = Field("http://127.0.0.1:8086", description="InfluxDB base URL.")
    api: Literal["v1", "v2", "v3"] = Field(
        "v1",
        description="Write API: v1 (/write, InfluxDB 1.x), v2 (/api/v2/write, 1.8+ and 2.x), "
        "v3 (/api/v3/write_lp). Queries use InfluxQL, which all answer.",
    )
    database: str = Field("lorawatch", description="Database (v1, v3) or bucket (v2).")
    org: str = Field("", description="Organisation (v2 only).")
    retention_policy: str = Field("", description="Retention policy (v1 only; empty: default).")
    username: str = Field("", description="User (v1 authentication).")
    password: SecretStr = Field(
        SecretStr(""), description="Password (v1); prefer the env variable."
    )
    password_file: Path | None = Field(None, description="File holding the password.")
    token: SecretStr = Field(
        SecretStr(""), description="API token (v2, v3); prefer the env variable."
    )
    token_file: Path | None = Field(None, description="File holding the API token.")
    gzip: bool | Literal["auto"] = Field(
        "auto",
        description="Compress write bodies: true, false, or auto (compress unless the URL's "
        "host is this machine: on loopback, compressing only costs CPU on both sides).",
    )
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per request.")
    spool_dir: Path = Field(
        Path("var/spool"),
        description="Batches wait here, in order, while InfluxDB is unreachable; survives restarts.",
    )
    spool_max_mb: int = Field(512, ge=1, description="Spool size limit; past it ingestion pauses.")

    @field_validator("gzip", mode="before")
    @classmethod
    def _gzip_choice(cls, value: object) -> object:
        """One clear error for a value that is none of the three (not one per union branch);
        a boolean from the environment comes as text."""
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("auto", "true", "false"):
            return "auto" if text == "auto" else text == "true"
        raise PydanticCustomError(
            "literal_error",
            "possible values: {expected}",
            {"expected": OneOf(("true", "false", repr("auto")))},
        )

    def secret_password(self) -> str:
        return read_secret(self.password, self.password_file)

    def secret_token(self) -> str:
        return read_secret(self.token, self.token_file)


class StoreConfig(Section):
    outputs: list[Literal["sqlite", "influxdb"]] = Field(
        ["sqlite"],
        min_length=1,
        description="Where readings go. SQLite always keeps raw uplinks, dead letters and alerts.",
    )
    batch_size: int = Field(1000, ge=1, description="Messages written (and then acked) together.")
    batch_interval_ms: int = Field(
        250, ge=1, description="Longest wait before a partial batch is written."
    )
    raw_retention_days: int = Field(
        400, ge=1, description="Raw readings older than this are deleted; daily aggregates stay."
    )
    sqlite: SqliteConfig = Field(default_factory=SqliteConfig)  # type: ignore[arg-type]
    influxdb: InfluxConfig = Field(default_factory=InfluxConfig)  # type: ignore[arg-type]


class StateConfig(Section):
    """Where a worker keeps what it must share with the others (docs/scaling.md)."""

    backend: Literal["sqlite", "postgresql"] = Field(
        "sqlite",
        description="sqlite: one process, state in store.sqlite.path (the default). postgresql: "
        "several `lorawatch run` workers share meter state, identities, dead letters and "
        "commands in one database, so any of them continues where another stopped.",
    )
    dsn: SecretStr = Field(
        SecretStr(""),
        description="PostgreSQL connection string (postgresql://user@host:5432/lorawatch); "
        "prefer password_file or the env variable for the password.",
    )
    dsn_file: Path | None = Field(None, description="File holding the connection string.")
    password: SecretStr = Field(
        SecretStr(""),
        description="PostgreSQL password (added to the DSN); prefer the env variable.",
    )
    password_file: Path | None = Field(None, description="File holding the PostgreSQL password.")
    worker: str = Field(
        "",
        description="This worker's name in `lorawatch status` and the partitions table "
        "(empty: host.pid).",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="Timeout of each connection attempt.")
    heartbeat_s: float = Field(
        5.0, gt=0, description="How often a worker records that it is alive; dead after 3 missed."
    )

    @model_validator(mode="after")
    def _dsn_required(self) -> StateConfig:
        if self.backend == "postgresql" and not (self.dsn.get_secret_value() or self.dsn_file):
            raise PydanticCustomError(
                "dsn_required",
                'state.backend = "postgresql" needs state.dsn (or state.dsn_file, or the '
                "LORAWATCH__STATE__DSN variable): postgresql://user@host:5432/database",
            )
        return self

    def secret_dsn(self) -> str:
        return read_secret(self.dsn, self.dsn_file)

    def secret_password(self) -> str:
        return read_secret(self.password, self.password_file)
