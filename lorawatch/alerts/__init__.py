"""Alerts: rules on every stored batch, one alert per cause, notifications that never block.

``engine.AlertEngine`` evaluates the rules (:mod:`lorawatch.alerts.rules`) on each batch the
bridge made durable and on a periodic tick, keeps the lifecycle (open, acknowledged, resolved)
in the service's SQLite file, and hands notifications to worker threads through an outbox.
``api.AlertsApi`` lists, shows, acknowledges and resolves alerts for the CLI and the HTTP
layer. ``config.AlertsConfig`` is the ``[alerts]`` section the root settings mount.
"""
