"""Why a value is refused, in the reader's language: pydantic's errors and our own checks.

A reason is a catalogue id ``invalid.<type>`` and the values its sentence names, kept apart
until someone reads it, so one refusal is said in French on an operator's screen, in English
in a log, and in the language of each request in an API's 422. ``<type>`` is pydantic's error
type (``greater_than_equal``, ``literal_error``...) or, for lorawatch's own checks, the type
of the :class:`~pydantic_core.PydanticCustomError` they raise: its template is the English
sentence (``str(exc)``, what a log or a caller catching ``ValueError`` reads) and the
catalogue's ``invalid.<type>`` says the same in each language.

Values of a list are said in the language too: :class:`OneOf` joins alternatives with its
"or", :class:`Items` with commas, :class:`Several` sentences with semicolons; a value that is
itself a reason (a :class:`PydanticCustomError` or a :class:`Reason`) is said in the same
language. The value given (``got 'loud'``) is shown unless its key or the reason's type may
hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic_core import PydanticCustomError

from lorawatch.core import catalogue
from lorawatch.core.formats import Lang

SECRET_KEYS: Final = ("password", "token", "secret", "dsn")
"""A key whose name holds one of these never has its value shown in a reason."""
CONCEALED: Final = frozenset({"url_credentials"})
"""Reasons whose refused value may hold a secret (a URL with a password): not shown either."""


class Items(tuple[object, ...]):
    """A list said with commas: ``mon, tue, wed``."""

    __slots__ = ()

    def __str__(self) -> str:
        return ", ".join(map(str, self))


class OneOf(tuple[object, ...]):
    """Alternatives: ``'a', 'b' or 'c'``, with the "or" of the reader's language."""

    __slots__ = ()

    def __str__(self) -> str:
        return _one_of([str(x) for x in self], "en")


class Several(tuple[object, ...]):
    """Several sentences (often reasons themselves) joined with semicolons."""

    __slots__ = ()

    def __str__(self) -> str:
        return "; ".join(map(str, self))


def _one_of(items: list[str], lang: Lang) -> str:
    if len(items) < 2:
        return "".join(items)
    return catalogue.text(lang, "invalid.or", head=", ".join(items[:-1]), last=items[-1])


_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,'\"]+")


def choices(expected: str) -> OneOf | str:
    """pydantic's ``'a', 'b' or 'c'`` (a literal's or an enum's values) as :class:`OneOf`;
    the text itself when it does not read back exactly (a value holding odd quotes)."""
    tokens = _TOKEN.findall(expected)
    items = [t for i, t in enumerate(tokens) if not (t == "or" and i == len(tokens) - 2)]
    if items and str(OneOf(items)) == expected:
        return OneOf(items)
    return expected


class _Values(dict[str, object]):
    """Placeholders a sentence names but its reason lacks are left empty, not an error."""

    def __missing__(self, key: str) -> str:
        return ""


def say(value: object, lang: Lang) -> str:
    """One value of a reason in ``lang``."""
    if isinstance(value, Reason):
        return value.text(lang)
    if isinstance(value, PydanticCustomError):
        return Reason.of(value).text(lang)
    if isinstance(value, OneOf):
        return _one_of([say(x, lang) for x in value], lang)
    if isinstance(value, Several):
        return "; ".join(say(x, lang) for x in value)
    if isinstance(value, Items):
        return ", ".join(say(x, lang) for x in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a value is refused: ``invalid.<type>`` filled with ``values``, then the value
    given (``given``, its ``repr``; None: not shown). ``detail`` is pydantic's own English
    sentence, said in English when the catalogue has no ``invalid.<type>``."""

    type: str
    values: Mapping[str, object] = field(default_factory=dict)
    given: str | None = None
    detail: str = ""

    @classmethod
    def of(cls, exc: Exception) -> Reason:
        """The reason of an exception our checks raised: a :class:`PydanticCustomError`'s
        type and values; any other's English text, said as it is."""
        if isinstance(exc, PydanticCustomError):
            return cls(exc.type, dict(exc.context or {}), detail=str(exc))
        return cls("", detail=str(exc))

    def text(self, lang: Lang) -> str:
        key = f"invalid.{self.type}"
        if self.type and catalogue.has(lang, key):
            values = _Values({name: say(v, lang) for name, v in self.values.items()})
            said = catalogue.messages(lang)[key].format_map(values)
        elif lang == "en" and self.detail:
            said = self.detail
        else:
            said = catalogue.text(lang, "invalid.other")
        if self.given is None or _quotes(said, self.given):
            return said
        return catalogue.text(lang, "invalid.given", reason=said, value=self.given)

    def __str__(self) -> str:
        return self.text("en")


QUIET: Final = frozenset({"extra_forbidden", "missing"})
"""pydantic's reasons whose input is not the value at fault (a key's value, the parent)."""


def _quotes(said: str, given: str) -> bool:
    """Whether the sentence shows the value already (``'nonsense' is not an address``); a
    number inside another (``0`` in ``0.0``) does not count."""
    return re.search(rf"(?<![\w.]){re.escape(given)}(?![\w.])", said) is not None


def secret(loc: Iterable[object]) -> bool:
    """Whether a key names a secret (``mqtt.password``, ``state.dsn``...)."""
    return any(part in str(p) for p in loc for part in SECRET_KEYS)


def of_error(
    error: Mapping[str, Any], echo: bool = True, renamed: Mapping[str, str] | None = None
) -> Reason:
    """The reason of one of pydantic's errors (``ValidationError.errors()``): our own type
    and values for our checks, pydantic's type and limits for its own, a ``key`` in the
    context naming the reason (the web's own checks), ``renamed`` for a type said otherwise
    in a file than in an API (``extra_forbidden``: an unknown key). ``echo``: show the value
    given, unless the key or the reason may hold a secret."""
    ctx = error.get("ctx") or {}
    kind = str(error.get("type", ""))
    values: dict[str, object] = dict(ctx) if isinstance(ctx, Mapping) else {}
    key = values.pop("key", None)
    value = error.get("input")
    show = (
        echo
        and "input" in error
        and not isinstance(value, dict)
        and kind not in QUIET | CONCEALED
        and not secret(error.get("loc", ()))
    )
    if isinstance(key, str):
        kind = key
    kind = (renamed or {}).get(kind, kind)
    if isinstance(values.get("expected"), str):
        values["expected"] = choices(str(values["expected"]))
    detail = str(error.get("msg", "")).removeprefix("Value error, ")
    return Reason(kind, values, repr(value) if show else None, detail)
