"""The shared state of several workers in PostgreSQL (``[state] backend = "postgresql"``)."""

from lorawatch.stores.postgres.connection import StateUnreachable, connect, conninfo_of, describe
from lorawatch.stores.postgres.store import PostgresStore, default_worker

__all__ = [
    "PostgresStore",
    "StateUnreachable",
    "connect",
    "conninfo_of",
    "default_worker",
    "describe",
]
