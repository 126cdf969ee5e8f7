"""The one catalogue of user-facing texts: gettext ``.po`` files, French and English.

Every word a person reads (pages, hall screens, alert titles and messages, severities,
building and sensor types, notifications) comes from ``lorawatch/locale/<lang>/LC_MESSAGES/
lorawatch.po``, so a page is in one language from top to bottom and a translator edits one
file with the usual tools (Poedit, Weblate). Ids are symbolic (``alert.water.leak.title``)
rather than English sentences: the English text can be reworded without touching the French
one, and a test checks that both files have the same ids, none empty. Placeholders use
Python's ``{name}`` syntax (flag ``python-brace-format``).

The ``.po`` files are read with Babel at first use (no compiled ``.mo`` to keep in step).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from lorawatch.core.formats import LANGS, Lang

LOCALE: Final = Path(__file__).resolve().parent.parent / "locale"
DOMAIN: Final = "lorawatch"


def po_path(lang: Lang) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def messages(lang: Lang) -> dict[str, str]:
    """Every id of ``lang``'s catalogue with its text (empty texts left out)."""
    # Imported on first use: Babel and its locale data are ~3 MB that a service which
    # never words a message (an ingest-only worker) need not hold.
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def text(lang: Lang, key: str, /, **values: object) -> str:
    """The text of ``key`` in ``lang``, its ``{placeholders}`` filled from ``values``.

    An id missing from the catalogue is shown as the id itself rather than failing a page or
    an alert: the catalogue test is what keeps both languages complete.
    """
    template = messages(lang).get(key, key)
    return template.format(**values) if values else template


def has(lang: Lang, key: str) -> bool:
    return key in messages(lang)


def keys(prefix: str, lang: Lang = "fr") -> list[str]:
    """The ids starting with ``prefix``, in the catalogue's order (tips, for instance)."""
    return [k for k in messages(lang) if k.startswith(prefix)]


def language(requested: str | None, default: Lang) -> Lang:
    """``requested`` when it is a language of the catalogue, else ``default``."""
    for lang in LANGS:
        if requested == lang:
            return lang
    return default
