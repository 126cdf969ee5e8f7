"""Settings building blocks every part shares: the strict section model, secrets, error keys.

Each part owns its settings model (``gateway_bridge.settings``, ``stores.settings``...) built on
:class:`Section`; :mod:`lorawatch.app.config` composes them into the root settings, so no part
imports the root back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

ENV_PREFIX = "LORAWATCH__"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def read_secret(value: SecretStr, file: Path | None) -> str:
    """The secret's text: from its ``*_file`` when set (Docker/systemd credentials), else inline."""
    if file is not None:
        return file.read_text(encoding="utf-8").strip()
    return value.get_secret_value()


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a terminal, JSON lines otherwise."
    )


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
        message = _HINTS.get(kind) or err["msg"].removeprefix("Value error, ")
        if (
            kind not in _HINTS
            and "input" in err
            and not isinstance(err["input"], dict)
            and repr(err["input"]) not in message
        ):
            secret = any("password" in str(p) or "token" in str(p) for p in err["loc"])
            if not secret:
                message += f" (got {err['input']!r})"
        out.append((_key(err["loc"]), message))
    return out
