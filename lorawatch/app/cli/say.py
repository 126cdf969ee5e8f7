"""The command line's words for an operator, from the catalogue, in one language.

Every message a command writes for a person (an error naming its fix, a confirmation, a table's
headers, a summary) is a ``cli.*`` id of the catalogue (:mod:`lorawatch.core.catalogue`), so a
run speaks French or English from its first line to its last. ``--json`` output is for
programs and keeps its keys and values whatever the language.

The language, first found wins (docs/cli.md):

1. ``lorawatch --lang en ...``, or the ``LORAWATCH_LANG`` variable: the operator's choice;
2. ``site.language`` of the configuration file the command reads: the deployment's;
3. ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` (POSIX order) when it names French or English;
4. French.

Until a command has read its configuration, its messages follow 1, 3 and 4.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from lorawatch.core import catalogue
from lorawatch.core.errors import BusyError, LorawatchError, ProblemsError
from lorawatch.core.formats import LANGS, Lang
from lorawatch.core.reasons import Reason

if TYPE_CHECKING:
    from lorawatch.app.config import Settings

ENV_LANG = "LORAWATCH_LANG"
DEFAULT: Lang = "fr"

_chosen: dict[str, Lang] = {}
"""``explicit``: --lang or LORAWATCH_LANG; ``deployment``: the configuration's site.language."""


def locale_language(environ: dict[str, str] | os._Environ[str] | None = None) -> Lang | None:
    """The language of the POSIX locale variables, when it is one of the catalogue's."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            code = value.split("_")[0].split(".")[0].split("@")[0].lower()
            return catalogue.language(code, DEFAULT) if code in LANGS else None
    return None


def choose(explicit: str | None) -> None:
    """Start of a command: forget the previous one's choice, keep ``--lang`` if given."""
    _chosen.clear()
    if explicit in LANGS:
        _chosen["explicit"] = catalogue.language(explicit, DEFAULT)


def deployment(settings: Settings) -> None:
    """The command has read its configuration: its ``site.language`` now applies."""
    _chosen["deployment"] = settings.site.language


def language() -> Lang:
    if "explicit" in _chosen:
        return _chosen["explicit"]
    if "deployment" in _chosen:
        return _chosen["deployment"]
    return locale_language() or DEFAULT


def t(key: str, /, **values: object) -> str:
    """The text of ``cli.<key>`` in the current language (``{{`` always read as ``{``)."""
    text = catalogue.text(language(), f"cli.{key}", **values)
    return text if values else text.format()


def error(console: Console, key: str, /, **values: object) -> None:
    """``error: <text>`` on ``console`` (the text is not read as markup)."""
    console.print(f"[red]{t('error')}:[/red] {escape(t(key, **values))}", highlight=False)


def warning(console: Console, text: str) -> None:
    console.print(f"[yellow]{t('warning')}:[/yellow] {escape(text)}", highlight=False)


def reason(exc: Exception) -> str:
    """Why a value was refused below the command line (a file, a month, a period), in the
    current language: the reason's type is a catalogue id (:mod:`lorawatch.core.reasons`)."""
    cause = getattr(exc, "error", None)
    return Reason.of(cause if isinstance(cause, Exception) else exc).text(language())


def failure(exc: LorawatchError) -> str:
    """An error raised below the command line, for the operator: a file's problems under a
    header in the current language, each with its key; others as they were raised."""
    if isinstance(exc, BusyError) and exc.key:
        return t(exc.key, **exc.values)
    if isinstance(exc, ProblemsError):
        where = f" {t('in_source', source=exc.source)}" if exc.source else ""
        header = t(f"problems.{exc.what.replace(' ', '_')}", n=len(exc.problems), where=where)
        lines = [f"  {key}: {message}" for key, message in exc.said(language())]
        return "\n".join([header, *lines])
    return str(exc)


def print_failure(console: Console, exc: LorawatchError) -> None:
    console.print(f"[red]{t('error')}:[/red] {escape(failure(exc))}", highlight=False)
