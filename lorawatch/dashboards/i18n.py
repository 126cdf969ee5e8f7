"""The dashboards' words, from the one catalogue, in the deployment's language.

Every title, description, axis label, legend and column name of a generated dashboard is a
``dash.*`` id of the catalogue (:mod:`lorawatch.core.catalogue`), so a dashboard is in one
language from top to bottom and both languages stay complete together (the catalogue test
checks it). A panel's code names the id; the French and English sentences sit side by side in
``lorawatch/locale/<lang>/LC_MESSAGES/lorawatch.po``. The occupant screen's good habits are the
web screen's (``tip.*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lorawatch.core import catalogue
from lorawatch.core.formats import LANGS, Lang

__all__ = ["LANGS", "Lang", "Translator", "tips"]

TIPS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Translator:
    lang: Lang = "fr"

    def __call__(self, key: str, /, **values: object) -> str:
        """The text of catalogue id ``key`` in this language, ``{placeholders}`` filled."""
        return catalogue.text(self.lang, key, **values)


def tips(usage: str, t: Translator) -> list[str]:
    """Good-habit tips for a building's usage (office, school, hall...), then general ones."""
    ids = catalogue.keys(f"tip.{usage}.") + catalogue.keys("tip.any.")
    return [t(key) for key in ids[:TIPS_SHOWN]]
