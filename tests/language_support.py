"""Words of one language only: what a text in the other language must not contain.

Shared by the tests of pages, API errors, command-line messages and dashboards: a word used by
one catalogue and by no text of the other one is that language's own (``fuite``, ``leak``); a
text meant to be French that holds one of the English ones leaks a language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lorawatch.core import catalogue

WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def words(texts: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for text in texts:
        # Placeholders are not words a reader sees.
        out |= {w.lower() for w in WORD.findall(re.sub(r"\{[^}]*\}", " ", text))}
    return out


def only_in(lang: catalogue.Lang) -> set[str]:
    """Words used by ``lang``'s catalogue and by no text of the other one."""
    other: catalogue.Lang = "en" if lang == "fr" else "fr"
    return words(catalogue.messages(lang).values()) - words(catalogue.messages(other).values())


def leaked(texts: Iterable[str], lang: catalogue.Lang, names: Iterable[str] = ()) -> list[str]:
    """The words of ``texts`` that belong to the other language only (``names``, data such as
    building names, left out)."""
    other: catalogue.Lang = "en" if lang == "fr" else "fr"
    return sorted((words(texts) - words(names)) & only_in(other))
