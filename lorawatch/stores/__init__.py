"""stores: where batches become durable. The embedded SQLite file, InfluxDB over HTTP, retention.

Each store implements :class:`lorawatch.pipeline.store.Store` (the protocol the bridge writes
to) and answers the same aggregates. A new store goes here, beside ``sqlite.py`` and
``influx.py``; it imports ``pipeline`` (records, protocol) and ``core``, never what reads it.
"""
