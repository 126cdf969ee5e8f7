"""Typed configuration: a TOML file plus environment overrides, validated in one pass at start.

Every option has a description and a default here, and nowhere else: ``lorawatch config init``
prints the commented template from this model (like ``chirpstack configfile``), and
``lorawatch config check`` reports every problem at once, each naming its key.

Environment variables override the file: ``LORAWATCH__MQTT__PASSWORD`` sets ``mqtt.password``.
Secrets are :class:`~pydantic.SecretStr`: they print as ``**********`` and can also be read
from a file (``password_file``), so they need not sit in the TOML at all.
"""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lorawatch.alerts.config import AlertsConfig
from lorawatch.errors import ConfigError

ENV_PREFIX = "LORAWATCH__"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def read_secret(value: SecretStr, file: Path | None) -> str:
    """The secret's text: from its ``*_file`` when set (Docker/systemd credentials), else inline."""
    if file is not None:
        return file.read_text(encoding="utf-8").strip()
    return value.get_secret_value()


class MqttConfig(Section):
    url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="Broker URL: mqtt://host:port, or mqtts://host:port for TLS.",
    )
    client_id: str = Field(
        "lorawatch",
        description="Fixed client id: the broker keeps this client's session and queued "
        "messages while it is away, so it must not change between restarts.",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        "5", description="MQTT version. 5 sets Receive Maximum and a session expiry."
    )
    username: str = Field("", description="Broker user name (empty: anonymous).")
    password: SecretStr = Field(
        SecretStr(""),
        description="Broker password; prefer LORAWATCH__MQTT__PASSWORD or password_file.",
    )
    password_file: Path | None = Field(None, description="File holding the broker password.")
    qos: Literal[1, 2] = Field(
        1, description="Subscription QoS; 1 or 2, never 0 (0 loses messages)."
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps the session and its queue while lorawatch is down.",
    )
    receive_maximum: int = Field(
        2000,
        ge=1,
        le=65535,
        description="MQTT 5 Receive Maximum: unacknowledged messages the broker may send at once. "
        "Keep it at least twice store.batch_size: acks follow the write, so the next batch "
        "only arrives meanwhile if the window holds two.",
    )
    receiver: Literal["process", "thread"] = Field(
        "process",
        description="Where the MQTT client runs: 'process' gives it a child process (and a core), "
        "so paho's packet handling does not take turns with the pipeline; 'thread' keeps one "
        "process (a one-core machine).",
    )
    keepalive_s: int = Field(30, ge=5, description="MQTT keep-alive interval.")
    reconnect_min_s: float = Field(
        0.5, gt=0, description="First reconnect delay (jittered, doubled)."
    )
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")
    topics: list[str] = Field(
        ["application/+/device/+/event/+"],
        description="Subscriptions. Add 'application/+/device/+/rx' for ChirpStack v3 < 3.11.",
    )
    shared_group: str = Field(
        "",
        description="Shared-subscription group for several replicas ($share/<group>/...). "
        "Per-device order is not kept across replicas.",
    )
    ca_file: Path | None = Field(None, description="CA certificate (PEM) to verify the broker.")
    cert_file: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    key_file: Path | None = Field(None, description="Client private key (PEM) for mutual TLS.")
    require_tls: bool = Field(False, description="Refuse to start on a plaintext mqtt:// URL.")

    @model_validator(mode="after")
    def _tls(self) -> MqttConfig:
        if not self.url.startswith(("mqtt://", "mqtts://")):
            raise ValueError("url must start with mqtt:// or mqtts://")
        if self.require_tls and not self.url.startswith("mqtts://"):
            raise ValueError("require_tls is true but url is plaintext: use mqtts://")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://")

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        rest = self.url.split("://", 1)[1]
        if ":" in rest.rsplit("]", 1)[-1]:
            return int(rest.rsplit(":", 1)[1])
        return 8883 if self.tls else 1883

    def secret(self) -> str:
        return read_secret(self.password, self.password_file)


class BridgeConfig(Section):
    format: Literal["auto", "v4-json", "v4-protobuf", "v3"] = Field(
        "auto", description="ChirpStack event encoding; auto detects it per message."
    )
    event_topic: str = Field(
        "application/{application_id}/device/{dev_eui}/event/{event}",
        description="Topic template of ChirpStack events (chirpstack.toml event_topic).",
    )
    max_message_bytes: int = Field(
        65536, ge=256, description="Larger messages are dead-lettered unread (reason: oversized)."
    )
    dedup_window_s: int = Field(
        86400,
        ge=0,
        description="Window in which a repeated (devEui, fCnt, fPort, payload) counts once.",
    )
    use_chirpstack_object: bool = Field(
        True,
        description="When a device has no decoder, map ChirpStack's decoded 'object' through "
        "the device's declarative mapping instead of dead-lettering the uplink.",
    )


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
    gzip: bool = Field(True, description="Compress write bodies.")
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per request.")
    spool_dir: Path = Field(
        Path("var/spool"),
        description="Batches wait here, in order, while InfluxDB is unreachable; survives restarts.",
    )
    spool_max_mb: int = Field(512, ge=1, description="Spool size limit; past it ingestion pauses.")

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


class InventoryConfig(Section):
    path: Path = Field(
        description="Device inventory (TOML): communes, buildings, devices and their decoders."
    )


class SiteConfig(Section):
    timezone: str = Field("Europe/Paris", description="Local time zone for days, weeks, months.")


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a terminal, JSON lines otherwise."
    )


class HttpUser(Section):
    """A person who may open the technical pages and the API (``[[http.users]]``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password_hash: SecretStr = Field(
        description="scrypt hash from `lorawatch web hash-password`, never the password itself."
    )
    role: Literal["viewer", "operator"] = Field(
        "viewer", description="viewer reads; operator also acknowledges and resolves alerts."
    )

    @field_validator("password_hash")
    @classmethod
    def _hashed(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("$scrypt$"):
            raise ValueError(
                "must be a hash from `lorawatch web hash-password` ($scrypt$...), not a password"
            )
        return value


class HttpToken(Section):
    """A bearer token for scripts and integrations (``[[http.tokens]]``)."""

    name: str = Field(min_length=1, max_length=64, description="Label shown in logs.")
    sha256: SecretStr = Field(
        description="SHA-256 (hex) of the token from `lorawatch web new-token`, not the token."
    )
    role: Literal["viewer", "operator"] = Field("viewer", description="viewer or operator.")

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9a-f]{64}", value.get_secret_value()):
            raise ValueError("must be the 64-hex-digit SHA-256 of the token, not the token")
        return value


class ScreenToken(Section):
    """A token that opens one building's occupant screen (``[[http.screens.tokens]]``)."""

    building: str = Field(description="Building id, or '*' for every screen.")
    sha256: SecretStr = Field(
        description="SHA-256 (hex) of the token from `lorawatch web new-token`."
    )

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: SecretStr) -> SecretStr:
        return HttpToken._digest(value)


class ScreensConfig(Section):
    access: Literal["public", "token", "off"] = Field(
        "public",
        description="Occupant screens (/screens/<building>): public (read-only, building totals "
        "only), token (need ?token=... matching screens.tokens) or off.",
    )
    tokens: list[ScreenToken] = Field(
        default_factory=list,
        description='With access = token: [[http.screens.tokens]] building = "ecole", '
        'sha256 = "...".',
    )
    language: Literal["fr", "en"] = Field(
        "fr", description="Default language of the screens (?lang=en overrides)."
    )
    refresh_s: int = Field(60, ge=10, le=3600, description="How often a screen reloads itself.")
    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="Origins allowed to frame the screens (digital-signage players), e.g. "
        "https://signage.example.org; empty: no framing.",
    )

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [_origin(v, "frame_ancestors") for v in value]


def _origin(value: str, key: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", value):
        raise ValueError(
            f"{key}: {value!r} is not an origin like https://host[:port] ('*' is refused)"
        )
    return value


class HttpConfig(Section):
    listen: str = Field(
        "127.0.0.1:8080", description="Address of /metrics, /healthz, API and screens."
    )
    users: list[HttpUser] = Field(
        default_factory=list,
        description="People allowed on the technical pages and the API: [[http.users]] with "
        "name, password_hash (from `lorawatch web hash-password`) and role (viewer, operator). "
        "None: only the occupant screens, /healthz and /metrics answer.",
    )
    tokens: list[HttpToken] = Field(
        default_factory=list,
        description="Bearer tokens for the API: [[http.tokens]] with name, sha256 (from "
        "`lorawatch web new-token`) and role.",
    )
    session_secret: SecretStr = Field(
        SecretStr(""),
        description="Key signing login cookies; empty: a random key per start (logins are lost "
        "on restart). Prefer LORAWATCH__HTTP__SESSION_SECRET or session_secret_file.",
    )
    session_secret_file: Path | None = Field(None, description="File holding the session key.")
    session_hours: int = Field(12, ge=1, le=24 * 30, description="How long a login lasts.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins whose browser scripts may call the API (exact https://host[:port]); "
        "empty: none. '*' is refused.",
    )
    screens: ScreensConfig = Field(default_factory=ScreensConfig)  # type: ignore[arg-type]

    @field_validator("cors_origins")
    @classmethod
    def _cors(cls, value: list[str]) -> list[str]:
        return [_origin(v, "cors_origins") for v in value]

    def secret_session(self) -> str:
        return read_secret(self.session_secret, self.session_secret_file)


class Settings(BaseSettings):
    """The whole configuration. Sections map one-to-one to the TOML tables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    site: SiteConfig = Field(default_factory=SiteConfig)  # type: ignore[arg-type]
    inventory: InventoryConfig
    mqtt: MqttConfig = Field(default_factory=MqttConfig)  # type: ignore[arg-type]
    bridge: BridgeConfig = Field(default_factory=BridgeConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    log: LogConfig = Field(default_factory=LogConfig)  # type: ignore[arg-type]
    http: HttpConfig = Field(default_factory=HttpConfig)  # type: ignore[arg-type]
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # type: ignore[arg-type]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, which is passed as init values.
        return env_settings, init_settings


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


_HINTS = {
    "extra_forbidden": "unknown key: remove it or check its spelling (lorawatch config init lists every key)",
    "missing": "required key is missing",
}


def problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        kind = err["type"]
        message = _HINTS.get(kind) or err["msg"]
        if kind not in _HINTS and "input" in err and not isinstance(err["input"], dict):
            secret = any("password" in str(p) or "token" in str(p) for p in err["loc"])
            if not secret:
                message += f" (got {err['input']!r})"
        out.append((_key(err["loc"]), message))
    return out


def load(path: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read, merge with the environment and validate; raise ConfigError listing every problem."""
    data: dict[str, Any] = {}
    source = str(path) if path else "defaults"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([("(file)", f"{path} does not exist")], source) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([("(file)", f"not valid TOML: {exc}")], source) from None
    for key, value in (overrides or {}).items():
        data.setdefault(key, {}).update(value) if isinstance(value, dict) else data.update(
            {key: value}
        )
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(problems_of(exc), source) from None
    if path is not None and not settings.inventory.path.is_absolute():
        # Relative paths in a config file are relative to that file, not to the working dir.
        settings.inventory.path = path.parent / settings.inventory.path
    return settings


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return f'"{value.as_posix()}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_table_list(annotation: Any) -> bool:
    """``list[SomeModel]``: an array of TOML tables."""
    args = get_args(annotation)
    return (
        get_origin(annotation) is list
        and len(args) == 1
        and isinstance(args[0], type)
        and issubclass(args[0], BaseModel)
    )


def _section_lines(model: type[BaseModel], prefix: str, env: str) -> list[str]:
    lines: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((name, annotation))
            continue
        lines.append("")
        lines += [f"# {line}" for line in textwrap.wrap(field.description or "", 96)]
        env_name = f"{env}{name.upper()}"
        if field.is_required():
            lines.append("# Required.")
            default: Any = "inventory.toml" if name == "path" else ""
        else:
            default = field.get_default(call_default_factory=True)
        if default is None:
            lines.append(f"# Env: {env_name}. Unset by default.")
            lines.append(f'# {name} = ""')
        elif default == [] and _is_table_list(annotation):
            # Commented out: a [[section.name]] table added below would clash with "name = []".
            lines.append(f"# Env: {env_name}. None by default; add [[{prefix}.{name}]] tables.")
            lines.append(f"# {name} = []")
        else:
            lines.append(f"# Env: {env_name}")
            lines.append(f"{name} = {_toml_value(default)}")
    out = [f"[{prefix}]", *lines, ""] if lines else []
    for name, sub in nested:
        out += _section_lines(sub, f"{prefix}.{name}", f"{env}{name.upper()}__")
    return out


def template() -> str:
    """The commented TOML template: every option, its meaning, default and variable."""
    lines = [
        "# lorawatch configuration. Generated by `lorawatch config init`.",
        "# Every option is shown with its default. Environment variables override the file:",
        f"# {ENV_PREFIX}<SECTION>__<KEY>, e.g. {ENV_PREFIX}MQTT__PASSWORD. Keep secrets out of",
        "# this file: use the variables or the *_file options.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        lines += _section_lines(annotation, name, f"{ENV_PREFIX}{name.upper()}__")
    return "\n".join(lines).rstrip() + "\n"
