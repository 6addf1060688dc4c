"""scripts/bench/dataset.py: the template database, its clones, and the checks.

Part of the benchmark driver (scripts/bench/driver.py), which scripts/bench.sh
runs. The template is built once per size (template.sql), vacuumed and
analyzed, and fingerprinted: the purgeable rows and the live rows, each as a
count, a sum of ids and a sum of per-row content hashes. Every contender runs
on a fresh clone (CREATE DATABASE ... TEMPLATE) and is checked against those
fingerprints afterwards.
"""

import dataclasses
import os
import time

import db

TABLE = 'oauth_access_tokens'
# The purge predicate of every contender; pg_retention's policy is the same
# (expires_at => 'revoked_at', retain => '1 day').
PREDICATE = "revoked_at < now() - interval '1 day'"
COLUMNS = ('id, resource_owner_id, application_id, token, refresh_token, '
           'expires_in, revoked_at, created_at, scopes')

_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclasses.dataclass
class Fingerprint:
    count: int
    id_sum: int
    hash_sum: int

    def __str__(self):
        return f'{self.count} rows, id sum {self.id_sum}, hash sum {self.hash_sum}'


@dataclasses.dataclass
class Template:
    name: str
    rows: int
    max_id: int
    purgeable: Fingerprint
    live: Fingerprint
    table_bytes: int
    index_bytes: int
    build_seconds: float


def fingerprint(conn, relation, where):
    """Count, id sum and content-hash sum of RELATION's rows matching WHERE
    (the source columns only, so an archive table compares with its source)."""
    r = db.one(conn, f"""
        SELECT count(*),
               coalesce(sum(id), 0),
               coalesce(sum(('x' || left(md5(ROW({COLUMNS})::text), 15))::bit(60)::bigint), 0)
          FROM {relation} WHERE {where}""")
    return Fingerprint(int(r[0]), int(r[1]), int(r[2]))


def build_template(server, name, rows, log):
    """Creates database NAME with the table of template.sql, ROWS rows."""
    t0 = time.monotonic()
    admin = db.connect(server, 'postgres')
    try:
        db.execute(admin, f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        db.execute(admin, f'CREATE DATABASE {name}')
    finally:
        admin.close()
    conn = db.connect(server, name)
    try:
        db.execute(conn, "SET maintenance_work_mem = '512MB'")
        with open(os.path.join(_HERE, 'template.sql'), encoding='utf-8') as f:
            sql = f.read()
        conn.autocommit = False
        db.execute(conn, sql, {'rows': rows})
        conn.commit()
        conn.autocommit = True
        db.execute(conn, f'VACUUM ANALYZE {TABLE}')
        info = Template(
            name=name, rows=rows,
            max_id=int(db.scalar(conn, f'SELECT max(id) FROM {TABLE}')),
            purgeable=fingerprint(conn, TABLE, PREDICATE),
            live=fingerprint(conn, TABLE, f'NOT coalesce({PREDICATE}, false)'),
            table_bytes=int(db.scalar(conn, f"SELECT pg_table_size('{TABLE}')")),
            index_bytes=int(db.scalar(conn, f"SELECT pg_indexes_size('{TABLE}')")),
            build_seconds=0.0)
    finally:
        conn.close()
    info.build_seconds = time.monotonic() - t0
    if info.purgeable.count + info.live.count != rows:
        raise RuntimeError(f'template {name}: {info.purgeable.count} purgeable + '
                           f'{info.live.count} live rows != {rows}')
    log(f'template {name}: {rows} rows, {info.purgeable.count} purgeable '
        f'({100.0 * info.purgeable.count / rows:.1f}%), table {info.table_bytes >> 20} MB '
        f'+ indexes {info.index_bytes >> 20} MB, built in {info.build_seconds:.1f}s')
    return info


def drop_database(server, name):
    admin = db.connect(server, 'postgres')
    try:
        db.execute(admin, f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
    finally:
        admin.close()


def clone(server, template, name, indexes=True):
    """A fresh copy NAME of TEMPLATE, its table and indexes read into shared
    buffers (pg_prewarm; the token index only when INDEXES), then a
    CHECKPOINT. Returns an autocommit session on the clone."""
    admin = db.connect(server, 'postgres')
    try:
        db.execute(admin, f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        # FILE_COPY: copies the files and writes little WAL (the default in
        # 15, WAL_LOG, would log every page of the template).
        db.execute(admin, f'CREATE DATABASE {name} TEMPLATE {template} STRATEGY = FILE_COPY')
    finally:
        admin.close()
    conn = db.connect(server, name)
    db.execute(conn, 'CREATE EXTENSION IF NOT EXISTS pg_prewarm')
    rels = [TABLE, f'{TABLE}_pkey'] + ([f'{TABLE}_token_key'] if indexes else [])
    for rel in rels:
        db.execute(conn, 'SELECT pg_prewarm(%s)', (rel,))
    db.execute(conn, 'CHECKPOINT')
    return conn


def verify(conn, template, purged_reported, archive=None, new_rows_range=None):
    """Checks a clone after its purge. Returns a list of failure messages
    (empty: all good).

    - the contender reported exactly the template's purgeable rows;
    - no purgeable row is left;
    - every live row of the template is still there, unchanged;
    - ARCHIVE (a table name): holds exactly the purged rows, unchanged;
    - NEW_ROWS_RANGE (lo, hi): the rows the load inserted (id > the
      template's max id) number between lo and hi.
    """
    fails = []
    want = template.purgeable
    if purged_reported != want.count:
        fails.append(f'reported {purged_reported} rows purged, expected {want.count}')
    left = db.scalar(conn, f'SELECT count(*) FROM {TABLE} WHERE {PREDICATE}')
    if left:
        fails.append(f'{left} purgeable rows left')
    live = fingerprint(conn, TABLE, f'id <= {template.max_id} AND NOT coalesce({PREDICATE}, false)')
    if live != template.live:
        fails.append(f'live rows changed: {live}, expected {template.live}')
    if archive is not None:
        got = fingerprint(conn, archive, 'true')
        if got != want:
            fails.append(f'archive {archive}: {got}, expected {want}')
    if new_rows_range is not None:
        lo, hi = new_rows_range
        n = db.scalar(conn, f'SELECT count(*) FROM {TABLE} WHERE id > {template.max_id}')
        if not lo <= n <= hi:
            fails.append(f'{n} rows inserted by the load in the table, '
                         f'the load logged {lo} inserts (up to {hi} allowed)')
    return fails
