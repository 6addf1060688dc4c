"""scripts/bench/contenders.py: the ways of purging expired tokens.

Part of the benchmark driver (scripts/bench/driver.py), which scripts/bench.sh
runs. Every contender removes exactly the rows with
revoked_at < now() - interval '1 day' from oauth_access_tokens:

  delete             one plain DELETE;
  doorkeeper         Doorkeeper's StaleRecordsCleaner as Rails runs
                     in_batches(of: 1000).delete_all: SELECT the next 1000 ids
                     in id order, then DELETE ... WHERE <pred> AND id IN
                     (those ids), one client round trip each, autocommit;
  authgate           DELETE ... WHERE id IN (SELECT id ... LIMIT 10000), then
                     a 200 ms pause, until a DELETE removes nothing;
  retention_delete   CALL retention.run() of a default delete-mode policy;
  retention_archive  the same with mode => 'archive';
  archive_floor      the archive's physical floor (issue #11): one
                     transaction of INSERT INTO <archive> SELECT ... WHERE
                     <pred>; DELETE ... WHERE <pred>, into the archive table
                     pg_retention creates, on the same clone data.

A contender has a setup (outside the timed purge, before the baseline) and
a purge; the purge appends (monotonic time, cumulative rows) to PROGRESS
after each batch it sees and returns a Purge.
"""

import dataclasses
import time

import db
from dataset import PREDICATE, TABLE

ALL = ('delete', 'doorkeeper', 'authgate', 'retention_delete', 'retention_archive',
       'archive_floor')
ARCHIVE_TABLE = f'retention_archive.{TABLE}'
# The default name of the policy on TABLE: the table's qualified name.
POLICY = f'public.{TABLE}'


@dataclasses.dataclass
class Purge:
    rows: int
    batches: int
    detail: dict = dataclasses.field(default_factory=dict)


def is_retention(name):
    return name.startswith('retention_')


def setup(conn, name, replication_lag=None):
    """Prepares the clone for contender NAME (not timed). REPLICATION_LAG:
    retention.max_replication_lag for pg_retention's session (with a standby)."""
    if not is_retention(name) and name != 'archive_floor':
        return
    db.execute(conn, 'CREATE EXTENSION pg_retention')
    # The floor writes into the very archive table an archive policy creates
    # (same columns, same unique index); the policy itself never runs then.
    mode = 'delete' if name == 'retention_delete' else 'archive'
    db.execute(conn, "SELECT retention.add_policy(%s, 'revoked_at', retain => '1 day', mode => %s)",
               (TABLE, mode))
    if replication_lag:
        db.execute(conn, 'SET retention.max_replication_lag = %s', (replication_lag,))
        got = db.scalar(conn, 'SHOW retention.max_replication_lag')
        if got.replace(' ', '').lower() != replication_lag.replace(' ', '').lower():
            raise RuntimeError(f'retention.max_replication_lag is {got}, not {replication_lag}')


def cutoff(conn):
    """The cutoff a client application computes once, before its loop."""
    return db.scalar(conn, "SELECT now() - interval '1 day'")


def purge_delete(conn, progress):
    progress.append((time.monotonic(), 0))
    n = db.execute(conn, f'DELETE FROM {TABLE} WHERE {PREDICATE}')
    progress.append((time.monotonic(), n))
    return Purge(rows=n, batches=1)


def purge_doorkeeper(conn, progress):
    limit = 1000
    ts = cutoff(conn)
    total = batches = 0
    last = None
    progress.append((time.monotonic(), 0))
    with conn.cursor() as cur:
        while True:
            if last is None:
                cur.execute(f'SELECT id FROM {TABLE} WHERE revoked_at < %s '
                            f'ORDER BY id LIMIT {limit}', (ts,))
            else:
                cur.execute(f'SELECT id FROM {TABLE} WHERE revoked_at < %s AND id > %s '
                            f'ORDER BY id LIMIT {limit}', (ts, last))
            ids = [r[0] for r in cur.fetchall()]
            if not ids:
                break
            cur.execute(f'DELETE FROM {TABLE} WHERE revoked_at < %s AND id IN %s',
                        (ts, tuple(ids)))
            total += cur.rowcount
            batches += 1
            last = ids[-1]
            progress.append((time.monotonic(), total))
    return Purge(rows=total, batches=batches)


def purge_authgate(conn, progress):
    limit, pause = 10000, 0.2
    ts = cutoff(conn)
    total = batches = 0
    progress.append((time.monotonic(), 0))
    with conn.cursor() as cur:
        while True:
            cur.execute(f'DELETE FROM {TABLE} WHERE id IN '
                        f'(SELECT id FROM {TABLE} WHERE revoked_at < %s LIMIT {limit})', (ts,))
            if cur.rowcount == 0:
                break
            total += cur.rowcount
            batches += 1
            progress.append((time.monotonic(), total))
            time.sleep(pause)
    return Purge(rows=total, batches=batches)


def purge_archive_floor(conn, progress):
    """One transaction: copy every purgeable row into the archive, then
    delete them (now() is the same in both statements)."""
    cols = db.scalar(conn, "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) "
                           "FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                           "AND NOT attisdropped", (TABLE,))
    progress.append((time.monotonic(), 0))
    with conn.cursor() as cur:
        cur.execute('BEGIN')
        cur.execute(f'INSERT INTO {ARCHIVE_TABLE} ({cols}, archived_at) '
                    f'SELECT {cols}, now() FROM {TABLE} WHERE {PREDICATE}')
        copied = cur.rowcount
        cur.execute(f'DELETE FROM {TABLE} WHERE {PREDICATE}')
        n = cur.rowcount
        cur.execute('COMMIT')
    if copied != n:
        raise RuntimeError(f'archive floor copied {copied} rows but deleted {n}')
    progress.append((time.monotonic(), n))
    return Purge(rows=n, batches=1)


def analyze_cost(conn):
    """Seconds an ANALYZE of the table takes right after a purge. Measured
    apart from the purge: a run leaves ANALYZE to autovacuum (it publishes
    its statistics) unless autovacuum is off for the table or busy."""
    t0 = time.monotonic()
    db.execute(conn, f'ANALYZE {TABLE}')
    return round(time.monotonic() - t0, 3)


def purge_retention(conn, progress):
    """CALL retention.run(); PROGRESS only gets the end points here, the
    sampler reads the live progress from retention.status meanwhile."""
    progress.append((time.monotonic(), 0))
    r = db.one(conn, f"CALL retention.run('{POLICY}')")
    progress.append((time.monotonic(), int(r[0])))
    detail = {'rows_deleted': r[0], 'rows_archived': r[1], 'batches': r[2], 'status': r[3]}
    run = db.scalar(conn, 'SELECT to_jsonb(r) FROM retention.runs r ORDER BY r.run_id DESC LIMIT 1')
    if run:
        detail['run'] = run
        detail['error'] = run.get('error')
    return Purge(rows=int(r[0]), batches=int(r[2] or 0), detail=detail)


PURGES = {
    'delete': purge_delete,
    'doorkeeper': purge_doorkeeper,
    'authgate': purge_authgate,
    'retention_delete': purge_retention,
    'retention_archive': purge_retention,
    'archive_floor': purge_archive_floor,
}


def purge(conn, name, progress):
    return PURGES[name](conn, progress)


def check_result(name, result):
    """Contender-specific failures (a list of messages)."""
    fails = []
    if is_retention(name):
        d = result.detail
        if d.get('status') != 'ok':
            fails.append(f"retention.run() ended with status {d.get('status')!r}: {d.get('error')}")
        if name == 'retention_archive' and d.get('rows_archived') != d.get('rows_deleted'):
            fails.append(f"rows_archived {d.get('rows_archived')} != rows_deleted {d.get('rows_deleted')}")
    return fails


def archive_of(name):
    return ARCHIVE_TABLE if name in ('retention_archive', 'archive_floor') else None
