"""The private PostgreSQL the shared-state tests run against: a real server, our own cluster."""

from __future__ import annotations

import psycopg

from tests.servers import PostgreSQL


def test_private_cluster_is_ours_and_answers(postgresql: PostgreSQL, pg_dsn: str) -> None:
    assert postgresql.port != 5432
    with psycopg.connect(pg_dsn) as conn:
        port = conn.execute("SHOW port").fetchone()
        assert port is not None and int(port[0]) == postgresql.port
        conn.execute("CREATE TABLE t (k int PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")
        conn.execute("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")
        count = conn.execute("SELECT count(*) FROM t").fetchone()
        assert count == (1,)


def test_each_test_gets_a_fresh_database(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
