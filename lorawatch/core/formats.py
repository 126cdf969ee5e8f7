"""Number, unit and month formatting shared by the reports and the building screens.

Reports and screens must format figures identically: a figure read on a screen in the hall
and the same figure in the monthly report must look the same. French typography: decimal
comma, a narrow no-break space between thousands and before ``%`` or a unit, a real minus
sign. No locale database is needed (the machine may have none): the few names are written here.
"""

from __future__ import annotations

from typing import Final, Literal

Lang = Literal["fr", "en"]
LANGS: Final = ("fr", "en")
NNBSP: Final = "\u202f"  # narrow no-break space
MINUS: Final = "\u2212"

MONTHS: Final[dict[str, tuple[str, ...]]] = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def number(value: float | None, lang: Lang, digits: int | None = None) -> str:
    """``1234.5`` -> ``1 234,5`` in French; digits follow the size unless given."""
    if value is None:
        return "–"
    if digits is None:
        size = abs(value)
        digits = 0 if size >= 100 else 1 if size >= 10 else 2
    formatted = f"{abs(value):,.{digits}f}"
    if lang == "fr":
        formatted = formatted.replace(",", NNBSP).replace(".", ",")
    return (MINUS if value < 0 and formatted.strip("0,. " + NNBSP) else "") + formatted


def percent(ratio: float | None, lang: Lang, signed: bool = True) -> str:
    """``-0.123`` -> ``−12 %`` (French keeps a space before %, English does not)."""
    if ratio is None:
        return "–"
    pct = round(ratio * 100)
    sign = "+" if pct > 0 and signed else MINUS if pct < 0 else ""
    return f"{sign}{abs(pct)}{NNBSP if lang == 'fr' else ''}%"


def amount(value: float | None, unit: str, lang: Lang) -> str:
    """``1234.5 kWh`` -> ``1 234 kWh`` in French; a dash alone when unknown."""
    if value is None:
        return "–"
    return f"{number(value, lang)}{NNBSP if lang == 'fr' else ' '}{unit}"
