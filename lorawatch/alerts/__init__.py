"""Alerts: rules on every stored batch, one alert per cause, notifications that never block.

``AlertEngine`` evaluates the rules (:mod:`lorawatch.alerts.rules`) on each batch the bridge
made durable and on a periodic tick, keeps the lifecycle (open, acknowledged, resolved) in
the service's SQLite file, and hands notifications to worker threads through an outbox.
``AlertsApi`` lists, shows, acknowledges and resolves alerts for the CLI and the HTTP layer.

Names are imported on first use, so ``lorawatch.config`` can mount
:class:`~lorawatch.alerts.config.AlertsConfig` without importing the engine (and the
inventory, which imports ``lorawatch.config``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lorawatch.alerts.api import AlertDetail, AlertError, AlertsApi
    from lorawatch.alerts.config import AlertsConfig, Severity
    from lorawatch.alerts.engine import AlertEngine
    from lorawatch.alerts.model import Alert, AlertState, Evidence, Finding

_WHERE = {
    "Alert": "model",
    "AlertDetail": "api",
    "AlertEngine": "engine",
    "AlertError": "api",
    "AlertState": "model",
    "AlertsApi": "api",
    "AlertsConfig": "config",
    "Evidence": "model",
    "Finding": "model",
    "Severity": "config",
}

__all__ = [
    "Alert",
    "AlertDetail",
    "AlertEngine",
    "AlertError",
    "AlertState",
    "AlertsApi",
    "AlertsConfig",
    "Evidence",
    "Finding",
    "Severity",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lorawatch.alerts' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lorawatch.alerts.{module}"), name)
