"""Numbers, dates and good-habit tips in French (the default) and English.

The words themselves are in the catalogue (:mod:`lorawatch.core.catalogue`); this module adds
what a catalogue does not hold: day names, dates and clock times in each language's style.

The screens hang in French public buildings, so French typography matters for readability:
decimal comma, a narrow no-break space between thousands and before ``%``, a real minus sign.
No locale database is needed (the machine may have none): the few names are written here.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Final

from lorawatch.core import catalogue
from lorawatch.core.formats import LANGS, MINUS, MONTHS, NNBSP, Lang, number, percent

__all__ = [
    "LANGS",
    "MINUS",
    "NNBSP",
    "Lang",
    "clock",
    "day_name",
    "heating_season",
    "long_date",
    "number",
    "percent",
    "short_day",
    "text",
    "tip",
]

_DAYS: Final[dict[str, tuple[str, ...]]] = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_SHORT_DAYS: Final[dict[str, tuple[str, ...]]] = {
    "fr": ("lun", "mar", "mer", "jeu", "ven", "sam", "dim"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def text(lang: Lang, key: str, /, **values: object) -> str:
    """A text of the catalogue (:mod:`lorawatch.core.catalogue`)."""
    return catalogue.text(lang, key, **values)


def long_date(day: date, lang: Lang, weekday: bool = False) -> str:
    if lang == "fr":
        first = "1er" if day.day == 1 else str(day.day)
        out = f"{first} {MONTHS['fr'][day.month - 1]} {day.year}"
        return f"{_DAYS['fr'][day.weekday()]} {out}" if weekday else out
    out = f"{day.day} {MONTHS['en'][day.month - 1]} {day.year}"
    return f"{_DAYS['en'][day.weekday()]} {out}" if weekday else out


def day_name(day: date, lang: Lang) -> str:
    return _DAYS[lang][day.weekday()]


def short_day(day: date, lang: Lang) -> str:
    return f"{_SHORT_DAYS[lang][day.weekday()]} {day.day}"


def clock(t: datetime, lang: Lang) -> str:
    return f"{t:%H:%M}" if lang == "en" else f"{t:%H} h {t:%M}"


def heating_season(day: date) -> bool:
    """October to April: when heating is on in Brittany's public buildings."""
    return day.month >= 10 or day.month <= 4


def tip(lang: Lang, usage: str, building: str, at: datetime) -> str:
    """A tip that changes every hour, different from one building to the next."""
    pool = catalogue.keys(f"tip.{usage}.") + catalogue.keys("tip.any.")
    if heating_season(at.date()):
        pool += catalogue.keys("tip.heating.")
    seed = int(hashlib.sha256(building.encode()).hexdigest()[:8], 16)
    hour = at.toordinal() * 24 + at.hour
    return catalogue.text(lang, pool[(seed + hour) % len(pool)])
