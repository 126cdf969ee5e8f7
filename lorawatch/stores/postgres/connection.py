"""Reaching PostgreSQL: the DSN from ``[state]``, connections with clear errors, no secret shown.

The connection string comes from ``state.dsn`` or ``state.dsn_file`` (or the
``LORAWATCH__STATE__DSN`` variable); a password, when kept apart, from ``state.password`` /
``state.password_file`` / ``LORAWATCH__STATE__PASSWORD`` or libpq's own ``PGPASSWORD``. What is
ever printed or logged is :func:`describe`: user, host, port and database, never the password.
"""

from __future__ import annotations

import psycopg
from psycopg import conninfo

from lorawatch.core.errors import StoreUnavailable
from lorawatch.stores.settings import StateConfig

FIX = (
    "check state.dsn (postgresql://user@host:5432/database: host, port, database and user "
    "must exist) and the password (state.password_file, LORAWATCH__STATE__PASSWORD or "
    "PGPASSWORD); `lorawatch config check` tries the connection"
)


class StateUnreachable(StoreUnavailable):
    """PostgreSQL cannot be reached or refuses us; the message names ``state.dsn`` and the fix."""


def conninfo_of(cfg: StateConfig) -> str:
    """The libpq connection string, password included (never print it: :func:`describe`)."""
    try:
        params = conninfo.conninfo_to_dict(cfg.secret_dsn())
    except psycopg.ProgrammingError as exc:
        raise StateUnreachable(f"state.dsn is not a PostgreSQL connection string: {exc}") from None
    password = cfg.secret_password()
    if password:
        params["password"] = password
    params.setdefault("connect_timeout", str(max(1, round(cfg.connect_timeout_s))))
    params.setdefault("application_name", "lorawatch")
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def describe(dsn: str) -> str:
    """``user@host:port/database`` of a connection string: what a message may show."""
    try:
        p = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unreadable state.dsn)"
    user = f"{p['user']}@" if p.get("user") else ""
    return f"{user}{p.get('host') or 'localhost'}:{p.get('port') or 5432}/{p.get('dbname') or ''}"


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """A connection, or :class:`StateUnreachable` naming the key, the target and the fix."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        password = conninfo.conninfo_to_dict(dsn).get("password")
        if password:  # libpq never echoes it; be sure anyway
            reason = reason.replace(str(password), "**********")
        raise StateUnreachable(
            f"state.dsn: cannot connect to PostgreSQL {describe(dsn)}: {reason[:300]}; {FIX}"
        ) from None
