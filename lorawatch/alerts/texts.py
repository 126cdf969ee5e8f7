"""Alert titles and messages from the catalogue, in any language, at any time.

A rule does not write sentences: it names a text (``water.leak``) and gives its values (where,
when, how much). The title and message are rendered from the catalogue's
``alert.<text>.title`` and ``alert.<text>.message`` in the deployment's language
(``alerts.language``) and stored, for notifications, the CLI and Grafana; the text id and
values are stored too (the alert's ``values``), so a page asked in the other language renders
them again rather than showing a sentence in the wrong language.

Values are numbers and strings; a float is written with the language's decimal sign, and a
value whose name ends in ``_s`` is a duration in seconds, written in words of that language.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from lorawatch.core import catalogue
from lorawatch.core.formats import Lang

TEXT_KEY = "text"
"""The entry of an alert's values that names its catalogue text."""


class _Formatter(string.Formatter):
    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def format_field(self, value: Any, format_spec: str) -> str:
        out = str(super().format_field(value, format_spec))
        if self.lang == "fr" and isinstance(value, float):
            out = out.replace(".", ",")
        return out


def duration(seconds: float, lang: Lang) -> str:
    """``4.9 days``, ``4,9 jours``: days past two days, hours past an hour, else minutes."""
    if seconds >= 2 * 86400:
        value, key = seconds / 86400, "unit.days"
    elif seconds >= 2 * 3600:
        value, key = seconds / 3600, "unit.hours"
    else:
        return catalogue.text(lang, "unit.minutes", n=f"{seconds / 60:.0f}")
    shown = f"{value:.1f}"
    return catalogue.text(lang, key, n=shown.replace(".", ",") if lang == "fr" else shown)


def _values(values: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    return {
        k: duration(float(v), lang) if k.endswith("_s") and isinstance(v, int | float) else v
        for k, v in values.items()
        if k != TEXT_KEY
    }


def render(key: str, values: Mapping[str, Any], lang: Lang) -> tuple[str, str]:
    """Title and message of text ``key`` with ``values``, in ``lang``."""
    formatter = _Formatter(lang)
    shown = _values(values, lang)
    return (
        formatter.format(catalogue.text(lang, f"alert.{key}.title"), **shown),
        formatter.format(catalogue.text(lang, f"alert.{key}.message"), **shown),
    )


def again(title: str, message: str, values: Mapping[str, Any], lang: Lang) -> tuple[str, str]:
    """A stored alert's title and message in ``lang``: rendered again from its text id and
    values when it has them (alerts stored before the catalogue keep their sentences)."""
    key = values.get(TEXT_KEY)
    if not isinstance(key, str) or not catalogue.has(lang, f"alert.{key}.title"):
        return title, message
    try:
        return render(key, values, lang)
    except (KeyError, ValueError, IndexError):
        return title, message


class Say:
    """What a rule calls: ``Finding(..., **say("water.leak", where=..., at=...))``."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def __call__(self, key: str, **values: str | float) -> dict[str, Any]:
        title, message = render(key, values, self.lang)
        return {"title": title, "message": message, "values": {TEXT_KEY: key, **values}}
