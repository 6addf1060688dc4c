"""scripts/bench/db.py: connections and small query helpers of the benchmark.

Part of the benchmark driver (scripts/bench/driver.py), which scripts/bench.sh
runs; not meant to be run on its own. Plain psycopg2, autocommit sessions
(every statement is its own transaction, like an application's), time zone
UTC so that timestamps print the same way everywhere.
"""

import dataclasses

import psycopg2


@dataclasses.dataclass
class Server:
    """Where the bench cluster is: Unix socket directory, port, superuser."""
    host: str
    port: int
    user: str
    standby_port: int = 0     # 0: no standby

    def conninfo(self, dbname, appname):
        return dict(host=self.host, port=self.port, user=self.user,
                    dbname=dbname, application_name=appname,
                    options='-c TimeZone=UTC')


def connect(server, dbname, appname='bench-driver'):
    """An autocommit session on DBNAME."""
    conn = psycopg2.connect(**server.conninfo(dbname, appname))
    conn.autocommit = True
    return conn


def one(conn, sql, params=None):
    """First row of SQL (None when there is none)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def scalar(conn, sql, params=None):
    row = one(conn, sql, params)
    return None if row is None else row[0]


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def execute(conn, sql, params=None):
    """Runs SQL; returns the row count of the (last) statement."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def current_lsn(conn):
    return scalar(conn, 'SELECT pg_current_wal_lsn()::text')


def lsn_diff(conn, a, b):
    """Bytes of WAL from LSN b to LSN a."""
    return int(scalar(conn, 'SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)', (a, b)))


def quote_ident(conn, name):
    return psycopg2.extensions.quote_ident(name, conn)
