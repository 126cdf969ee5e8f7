"""Typed configuration: a TOML file plus environment overrides, validated in one pass at start.

Every option has a description and a default in the settings model of the part that owns it
(``gateway_bridge.settings``, ``pipeline.settings``, ``stores.settings``,
``inventory.settings``, ``web.settings``, ``alerts.config``, ``core.settings``); this module
composes them into :class:`Settings`. ``lorawatch config init`` prints the commented template
from that model (like ``chirpstack configfile``), and ``lorawatch config check`` reports every
problem at once, each naming its key.

Environment variables override the file: ``LORAWATCH__MQTT__PASSWORD`` sets ``mqtt.password``.
Secrets are :class:`~pydantic.SecretStr`: they print as ``**********`` and can also be read
from a file (``password_file``), so they need not sit in the TOML at all.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lorawatch.alerts.config import AlertsConfig
from lorawatch.app.cli import say
from lorawatch.core.errors import ConfigError
from lorawatch.core.settings import ENV_PREFIX, LogConfig, problems_of
from lorawatch.gateway_bridge.settings import AmqpConfig, MqttConfig
from lorawatch.inventory.settings import InventoryConfig, SiteConfig
from lorawatch.pipeline.settings import BridgeConfig
from lorawatch.stores.settings import StateConfig, StoreConfig
from lorawatch.web.settings import HttpConfig

__all__ = ["ENV_PREFIX", "Settings", "load", "problems_of", "template"]


class Settings(BaseSettings):
    """The whole configuration. Sections map one-to-one to the TOML tables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    site: SiteConfig = Field(default_factory=SiteConfig)  # type: ignore[arg-type]
    inventory: InventoryConfig
    mqtt: MqttConfig = Field(default_factory=MqttConfig)  # type: ignore[arg-type]
    amqp: AmqpConfig = Field(default_factory=AmqpConfig)  # type: ignore[arg-type]
    bridge: BridgeConfig = Field(default_factory=BridgeConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    state: StateConfig = Field(default_factory=StateConfig)  # type: ignore[arg-type]
    log: LogConfig = Field(default_factory=LogConfig)  # type: ignore[arg-type]
    http: HttpConfig = Field(default_factory=HttpConfig)  # type: ignore[arg-type]
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _one_language(self) -> Settings:
        """``site.language`` is the deployment's: the alerts and the screens speak it unless
        their own ``language`` is set, so one key switches a whole deployment."""
        if self.alerts.language is None:
            self.alerts.language = self.site.language
        if self.http.screens.language is None:
            self.http.screens.language = self.site.language
        return self

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


def load(path: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read, merge with the environment and validate; raise ConfigError listing every problem."""
    data: dict[str, Any] = {}
    source = str(path) if path else "defaults"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([("(file)", say.t("config.missing", path=path))], source) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([("(file)", say.t("config.not_toml", why=exc))], source) from None
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


def _writable_dir(path: Path) -> str:
    """Why ``path`` cannot be (created as) a writable directory, or "" when it can."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return say.t("config.not_a_directory", path=probe)
    try:
        # Trying is the only honest test: permissions, read-only mounts, root's exceptions.
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        return say.t("config.cannot_write_in", path=probe, why=exc.strerror or exc)
    return ""


def _secret_files(model: BaseModel, prefix: str) -> list[tuple[str, str]]:
    """Every ``*_file`` / certificate path that is set but cannot be read."""
    problems: list[tuple[str, str]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            problems += _secret_files(value, key + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    problems += _secret_files(item, f"{key}.{i}.")
        elif isinstance(value, Path) and name.endswith("_file"):
            if not value.is_file():
                problems.append((key, say.t("config.no_such_file", path=value)))
            elif not os.access(value, os.R_OK):
                problems.append((key, say.t("config.unreadable", path=value)))
    return problems


def runtime_problems(settings: Settings) -> list[tuple[str, str]]:
    """What ``lorawatch run`` would fail on although the values are well formed: the
    inventory missing, a store directory not writable, a secret file unreadable. ``config
    check`` and ``run`` both report them, each with its key, before anything starts."""
    problems: list[tuple[str, str]] = []
    inv = settings.inventory.path
    if not inv.is_file():
        problems.append(
            (
                "inventory.path",
                say.t("config.no_inventory", path=inv),
            )
        )
    sqlite = settings.store.sqlite.path
    if sqlite.is_dir():
        problems.append(("store.sqlite.path", say.t("config.store_is_dir", path=sqlite)))
    elif why := _writable_dir(sqlite.parent):
        problems.append(("store.sqlite.path", say.t("config.cannot_create", path=sqlite, why=why)))
    elif sqlite.exists() and not os.access(sqlite, os.R_OK | os.W_OK):
        problems.append(("store.sqlite.path", say.t("config.not_writable", path=sqlite)))
    if "influxdb" in settings.store.outputs and (
        why := _writable_dir(settings.store.influxdb.spool_dir)
    ):
        problems.append(("store.influxdb.spool_dir", say.t("config.spool", why=why)))
    if settings.alerts.evaluator == "elected" and settings.state.backend != "postgresql":
        problems.append(("alerts.evaluator", say.t("config.elected_needs_state")))
    problems += _secret_files(settings, "")
    if settings.state.backend == "postgresql" and not any(
        k.startswith("state.") for k, _ in problems
    ):
        problems += state_problems(settings)
    return problems


def state_problems(settings: Settings) -> list[tuple[str, str]]:
    """What a worker on the PostgreSQL state would fail on: readings kept in a local file
    (each worker would hold a part), or the database unreachable (tried once, named with
    ``state.dsn`` and the fix, never with its password)."""
    problems: list[tuple[str, str]] = []
    if "sqlite" in settings.store.outputs:
        problems.append(("store.outputs", say.t("config.shared_outputs")))
    # lazy: psycopg loads only when the PostgreSQL state is configured
    from lorawatch.stores.postgres import StateUnreachable, connect, conninfo_of

    try:
        connect(conninfo_of(settings.state)).close()
    except StateUnreachable as exc:
        problems.append(("state.dsn", str(exc).removeprefix("state.dsn: ")))
    return problems
