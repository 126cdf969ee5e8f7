"""Settings building blocks every part shares: the strict section model, secrets, error keys.

Each part owns its settings model (``gateway_bridge.settings``, ``stores.settings``...) built on
:class:`Section`; :mod:`lorawatch.app.config` composes them into the root settings, so no part
imports the root back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from lorawatch.core import reasons
from lorawatch.core.reasons import Reason

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


IN_FILES: Final = {
    "extra_forbidden": "unknown_key",
    "missing": "missing_key",
    "dict_type": "table_type",
    "model_type": "table_type",
    "model_attributes_type": "table_type",
}
"""pydantic's reasons said otherwise in a file than in an API's JSON: a key, a table."""


def problems_of(exc: ValidationError) -> list[tuple[str, Reason]]:
    """Each error of a file's validation with its key, its reason said in any language; a
    value given is shown, unless its key names a secret (a password, a token)."""
    return [(_key(err["loc"]), reasons.of_error(err, renamed=IN_FILES)) for err in exc.errors()]
