"""Decoders registered by name, like Telegraf's plugins.

Built-in decoders live in :mod:`lorawatch.decoders.devices` and register themselves on import.
Third-party packages add theirs through the entry-point group ``lorawatch.decoders``: each entry
point names a :class:`~lorawatch.decoders.base.Decoder` subclass (or a module that registers
some), so an integrator ships a decoder without touching lorawatch.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import TypeVar

import structlog

from lorawatch.core.errors import InventoryError
from lorawatch.core.reasons import Items, Reason
from lorawatch.decoders.base import Decoder

ENTRY_POINT_GROUP = "lorawatch.decoders"
log = structlog.get_logger(__name__)

_classes: dict[str, type[Decoder]] = {}
_instances: dict[str, Decoder] = {}
_problems: list[str] = []
_loaded = False

D = TypeVar("D", bound=type[Decoder])


def register(cls: D) -> D:
    """Class decorator adding a decoder to the registry under ``cls.name``."""
    name = getattr(cls, "name", "")
    if not name or name != name.strip().lower() or " " in name:
        raise ValueError(f"{cls.__qualname__}: decoder name {name!r} must be lowercase, no spaces")
    existing = _classes.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"decoder name {name!r} is taken by {existing.__module__}.{existing.__qualname__}"
        )
    _classes[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    # lazy: built-in decoders (the js decoder too) register on first use, after plugins may have
    from lorawatch.decoders import devices, js  # noqa: F401

    for module in pkgutil.iter_modules(devices.__path__, devices.__name__ + "."):
        importlib.import_module(module.name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        where = f"decoder plugin {ep.name!r} ({ep.value})"
        try:
            target = ep.load()
            if isinstance(target, type) and issubclass(target, Decoder):
                register(target)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the service
            # A name clash with a built-in (or another plugin) lands here too: the first
            # registered keeps the name, the plugin is left out and the problem reported.
            _problems.append(f"{where} is not loaded: {exc}")
            log.error("decoder plugin not loaded", entry_point=ep.name, error=str(exc))


def problems() -> list[str]:
    """Plugins that could not be loaded, and why (a name clash, an import error)."""
    _load()
    return list(_problems)


def is_builtin(cls: type[Decoder]) -> bool:
    """True for lorawatch's own decoders, False for a plugin's."""
    return cls.__module__.startswith("lorawatch.decoders.")


def names() -> list[str]:
    _load()
    return sorted(_classes)


def classes() -> list[type[Decoder]]:
    _load()
    return [_classes[n] for n in sorted(_classes)]


def get(name: str) -> Decoder:
    """The shared instance of a decoder; raises InventoryError naming the known ones."""
    _load()
    instance = _instances.get(name)
    if instance is None:
        cls = _classes.get(name)
        if cls is None:
            known = Items(names())
            reason = Reason("unknown_decoder", {"name": repr(name), "known": known})
            raise InventoryError([(name, reason)])
        instance = _instances[name] = cls()
    return instance
