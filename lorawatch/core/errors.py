"""The exception hierarchy of lorawatch.

Every error that crosses a module boundary is a :class:`LorawatchError`, so a caller can catch
the family it cares about and let the rest through. Errors carry enough context (the key, the
device, the store) for an operator to fix the cause without reading a traceback.

``LorawatchError``
    ``ProblemsError``: a file has problems, all reported at once, each with where it is.
        ``ConfigError``: the configuration file or environment is invalid (raised at start).
        ``InventoryError``: the device inventory is invalid (unknown decoder, bad parameter...).
    ``DecodeError``: a payload cannot be decoded; decoders raise it, the contract turns it
    into an ``errors`` entry, so it never reaches the pipeline.
    ``RejectedMessage``: an incoming message cannot be ingested; it is dead-lettered with
    ``reason`` (a stable key) and ``detail``.
    ``StoreError``: a store failed.
        ``StoreUnavailable``: transient (connection refused, timeout, 5xx); retry or spool.
        ``StoreRejected``: permanent (bad credentials, unknown database, 4xx); needs a human.
        ``PartitionLost``: another worker owns a partition of the batch now; drop the batch.
    ``SourceError``: the message source (MQTT broker) failed in a way reconnecting won't fix.
    ``BusyError``: something lorawatch needs is held by another process (an HTTP port, the
    demo's working directory); the command changed nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lorawatch.core.formats import Lang
    from lorawatch.core.reasons import Reason


class LorawatchError(Exception):
    """Base class of every error lorawatch raises on purpose."""


class ProblemsError(LorawatchError):
    """Several problems found in one pass over a file, each with where it is.

    A problem's what is a text or a :class:`~lorawatch.core.reasons.Reason` (said in any
    language): ``problems`` lists (where, what in English), for logs and ``str()``;
    :meth:`said` lists them in a reader's language."""

    what = "problem"

    def __init__(self, problems: Sequence[tuple[str, str | Reason]], source: str = "") -> None:
        self.problems = [(key, str(what)) for key, what in problems]
        self.reasons: list[Reason | None] = [
            None if isinstance(what, str) else what for _, what in problems
        ]
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  {key}: {msg}" for key, msg in self.problems)
        super().__init__(f"{len(problems)} {self.what}(s){where}:\n{lines}")

    def said(self, lang: Lang) -> list[tuple[str, str]]:
        """(where, what) in ``lang``; a problem given as text stays as it was given."""
        return [
            (key, text if reason is None else reason.text(lang))
            for (key, text), reason in zip(self.problems, self.reasons, strict=True)
        ]


class ConfigError(ProblemsError):
    """The configuration is invalid; each problem names its key."""

    what = "configuration error"


class InventoryError(ProblemsError):
    """The device inventory is invalid; each problem names its entry."""

    what = "inventory error"


class DecodeError(LorawatchError):
    """A payload cannot be decoded (wrong length, unknown frame, out-of-range value)."""


class RejectedMessage(LorawatchError):
    """A message that cannot be ingested: it goes to the dead letters with a stable reason."""

    def __init__(self, reason: str, detail: str, dev_eui: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.dev_eui = dev_eui
        super().__init__(f"{reason}: {detail}")


class StoreError(LorawatchError):
    """A store failed."""


class StoreUnavailable(StoreError):
    """Transient store failure (unreachable, timeout, 5xx): retry later or spool."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StoreRejected(StoreError):
    """Permanent store failure (4xx): retrying won't help; ``fix`` says what to change.

    ``status`` is the HTTP status when the store answered one, for callers to tell a bad
    batch (400) from a bad configuration (401, 403, 404) without reading the message.
    """

    def __init__(self, message: str, fix: str = "", status: int | None = None) -> None:
        self.fix = fix
        self.status = status
        super().__init__(f"{message}. {fix}" if fix else message)


class PartitionLost(StoreError):
    """Another worker took over partitions of this batch (a shared state's fencing): the
    batch must not be committed nor acknowledged; its messages go back to the broker."""

    def __init__(self, partitions: list[str], message: str) -> None:
        self.partitions = partitions
        super().__init__(message)


class SourceError(LorawatchError):
    """The message source failed permanently (bad credentials, TLS refused by config)."""


class BusyError(LorawatchError):
    """A port or a directory is in use by another process; nothing was changed.

    ``key`` and ``values`` name the message in the catalogue (``cli.<key>``), for the command
    line to say it in its operator's language; the exception's own text is English, for logs.
    """

    def __init__(self, message: str, key: str = "", **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(message)
