"""The ``[inventory]`` and ``[site]`` sections: where the inventory is, which time zone and
which language the deployment speaks."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from lorawatch.core.formats import Lang
from lorawatch.core.settings import Section


class InventoryConfig(Section):
    path: Path = Field(
        description="Device inventory (TOML): communes, buildings, devices and their decoders."
    )


class SiteConfig(Section):
    timezone: str = Field("Europe/Paris", description="Local time zone for days, weeks, months.")
    language: Lang = Field(
        "fr",
        description="The deployment's language (fr or en): command-line messages, API errors, "
        "Grafana dashboards, and the default of alerts.language and http.screens.language.",
    )
