"""The ``[http]`` section: listen address, users, tokens, screens and CORS of the built-in web."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from lorawatch.core.settings import Section, read_secret


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
            raise PydanticCustomError(
                "password_hash",
                "must be a hash from `lorawatch web hash-password` ($scrypt$...), not a password",
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
            raise PydanticCustomError(
                "token_digest", "must be the 64-hex-digit SHA-256 of the token, not the token"
            )
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
    language: Literal["fr", "en"] | None = Field(
        None,
        description="Default language of the pages and screens (?lang=en overrides); unset: "
        "site.language.",
    )
    refresh_s: int = Field(60, ge=10, le=3600, description="How often a screen reloads itself.")
    price_eur_kwh: float = Field(
        0.20,
        ge=0,
        le=10,
        description="Price of a kWh (taxes included) for the euros the screens show; set your "
        "contract's (docs/web.md gives the default's source).",
    )
    price_eur_m3: float = Field(
        4.3,
        ge=0,
        le=100,
        description="Price of a m³ of water, sanitation included, for the screens' euros.",
    )
    co2_kg_kwh: float = Field(
        0.052,
        ge=0,
        le=2,
        description="Emission factor of a kWh (kg CO2e) for the screens' CO2 equivalents: "
        "the average French consumption mix by default (docs/web.md).",
    )
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
        raise PydanticCustomError(
            "origin",
            "{key}: {value} is not an origin like https://host[:port] ('*' is refused)",
            {"key": key, "value": repr(value)},
        )
    return value


def parse_listen(listen: str) -> tuple[str, int]:
    """(host, port) of ``host:port`` or ``[ipv6]:port``; ValueError says what to write."""
    host, sep, port_text = listen.rpartition(":")

    def refused(kind: str, template: str) -> PydanticCustomError:
        fix = "write host:port, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080"
        return PydanticCustomError(
            kind, f"{template}: {fix}", {"listen": repr(listen), "host": repr(host)}
        )

    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise refused("listen", "{listen} is not an address (port 0..65535)")
    if host.startswith("["):
        if not host.endswith("]"):
            raise refused("listen_bracket", "{listen}: unclosed [")
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise refused("listen_ipv6", "{listen}: {host} is not an IPv6 address") from None
    elif ":" in host or not re.fullmatch(r"[A-Za-z0-9.-]*", host):
        raise refused("listen_host", "{listen}: {host} is not a host name or address")
    return host or "127.0.0.1", int(port_text)


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

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    def secret_session(self) -> str:
        return read_secret(self.session_secret, self.session_secret_file)
