"""scripts/bench/load.py: the concurrent load (pgbench) and the 100 ms sampler.

Part of the benchmark driver (scripts/bench/driver.py), which scripts/bench.sh
runs.

Load: pgbench -n -c CLIENTS -j 2 -R RATE -M prepared -l, scripts lookup.sql
(weight 9: a token looked up by value, for a random row number of the
template, so some lookups miss purged rows) and insert.sql (weight 1: a new
live token). It runs with a long -T and is stopped by terminating its
backends (pg_terminate_backend): every client then aborts, pgbench ends
normally and flushes its per-transaction logs (a signal to pgbench itself
would lose the buffered log lines). Its exit status is then 2; any error
before the stop fails the run.

Per-transaction log lines (pgbench 15, with -R):
  client_id transaction_no time script_no time_epoch time_us schedule_lag
`time` is measured from the transaction's *scheduled* start, so it includes
the schedule lag: the latency a client arriving on that schedule sees. The
completion instant is time_epoch + time_us; a window holds the transactions
that completed inside it.

Sampler: its own session on the clone, every 100 ms: pgbench backends
waiting on a heavyweight lock (pg_stat_activity.wait_event_type = 'Lock'),
the replay lag of each streaming standby in bytes, the WAL position and, for
pg_retention, retention.status (current_rows, state, throttle_reason).
"""

import glob
import json
import math
import os
import subprocess
import threading
import time

import db

_HERE = os.path.dirname(os.path.abspath(__file__))
LOOKUP, INSERT = 0, 1     # script_no in pgbench's log


def wall_to_mono_offset():
    """time.time() - time.monotonic(), to place pgbench's epoch stamps on
    the driver's monotonic clock."""
    return time.time() - time.monotonic()


class Pgbench:
    """One pgbench process on database DBNAME, logs under RAWDIR."""

    def __init__(self, server, pgbin, dbname, rawdir, nrows, clients, rate, env):
        self.server, self.dbname, self.rawdir = server, dbname, rawdir
        self.prefix = os.path.join(rawdir, 'pgbench_log')
        self.out_path = os.path.join(rawdir, 'pgbench.out')
        self.cmd = [
            os.path.join(pgbin, 'pgbench'), '-n',
            '-h', server.host, '-p', str(server.port), '-U', server.user,
            '-c', str(clients), '-j', str(min(2, clients)),
            '-R', str(rate), '-M', 'prepared', '-T', '86400',
            '-l', f'--log-prefix={self.prefix}',
            '-D', f'nrows={nrows}',
            '-f', os.path.join(_HERE, 'lookup.sql') + '@9',
            '-f', os.path.join(_HERE, 'insert.sql') + '@1',
            dbname]
        self.clients = clients
        self.env = env
        self.proc = None
        self._out = None
        self.output_before_stop = ''
        self.output = ''

    def start(self):
        for f in glob.glob(self.prefix + '.*'):
            os.unlink(f)
        self._out = open(self.out_path, 'w', encoding='utf-8')
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, env=self.env, cwd=self.rawdir)

    def wait_connected(self, conn, timeout=30):
        """Until all clients have a backend (or pgbench died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            n = db.scalar(conn, """SELECT count(*) FROM pg_stat_activity
                                    WHERE application_name = 'pgbench' AND datname = %s""",
                          (self.dbname,))
            if n >= self.clients:
                return
            time.sleep(0.05)
        raise RuntimeError(f'pgbench did not connect its {self.clients} clients in {timeout}s')

    def check_running(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f'pgbench exited early (status {self.proc.returncode}): '
                               f'{self._read_output()[-2000:]}')

    def _read_output(self):
        with open(self.out_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def stop(self, conn, timeout=60):
        """Ends pgbench by terminating its backends; waits for it to exit."""
        self.check_running()
        self.output_before_stop = self._read_output()
        deadline = time.monotonic() + timeout
        while True:
            db.execute(conn, """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                 WHERE application_name = 'pgbench' AND datname = %s""",
                       (self.dbname,))
            try:
                self.proc.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError('pgbench did not end after its backends were terminated')
        self._out.close()
        self.output = self._read_output()
        errors = [ln for ln in self.output_before_stop.splitlines() if 'error' in ln.lower()]
        if errors:
            raise RuntimeError('pgbench reported errors during the run: ' + ' | '.join(errors[:5]))
        if self.proc.returncode not in (0, 2):
            raise RuntimeError(f'pgbench exited with status {self.proc.returncode}')

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._out is not None and not self._out.closed:
            self._out.close()

    def transactions(self):
        """All logged transactions as (end, latency_ms, script_no, client, lag_ms),
        END on the monotonic clock of the driver."""
        off = wall_to_mono_offset()
        out = []
        files = sorted(glob.glob(self.prefix + '.*'))
        if not files:
            raise RuntimeError(f'pgbench wrote no log file {self.prefix}.*')
        for path in files:
            with open(path, encoding='utf-8') as f:
                for line in f:
                    p = line.split()
                    if len(p) < 6 or p[2] in ('skipped', 'failed'):
                        continue
                    end = int(p[4]) + int(p[5]) / 1e6 - off
                    lag = int(p[6]) / 1000.0 if len(p) > 6 else 0.0
                    out.append((end, int(p[2]) / 1000.0, int(p[3]), int(p[0]), lag))
        out.sort()
        return out


def percentile(sorted_values, p):
    """Nearest-rank percentile of a sorted list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)
    return sorted_values[k]


def latency_stats(txns, t0, t1, script=LOOKUP):
    """n, p50, p99, max (ms) of SCRIPT's transactions that completed in [t0, t1]."""
    lat = sorted(t[1] for t in txns if t[2] == script and t0 <= t[0] <= t1)
    return {'n': len(lat), 'p50': percentile(lat, 50), 'p99': percentile(lat, 99),
            'max': lat[-1] if lat else None}


def clients_after(txns, t):
    """Client ids that logged a transaction completing after T."""
    return {c for (end, _l, _s, c, _g) in txns if end > t}


REPLAY_LAG_SQL = """
SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) FROM pg_stat_replication
"""
SAMPLE_SQL = """
SELECT pg_current_wal_lsn()::text,
       (SELECT coalesce(json_agg(json_build_object(
                   'pid', pid, 'since', extract(epoch FROM query_start),
                   'event', wait_event, 'query', left(query, 30))), '[]')
          FROM pg_stat_activity
         WHERE application_name = 'pgbench' AND wait_event_type = 'Lock'),
       (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))
          FROM pg_stat_replication)
"""
SAMPLE_RETENTION_SQL = """
SELECT current_rows, state, throttle_reason FROM retention.status WHERE policy = %s
"""


class Sampler(threading.Thread):
    """Samples every INTERVAL seconds until stop(); writes samples.jsonl."""

    def __init__(self, server, dbname, path, policy=None, interval=0.1):
        super().__init__(daemon=True)
        self.conn = db.connect(server, dbname, 'bench-sampler')
        self.path, self.policy, self.interval = path, policy, interval
        self.samples = []
        self.error = None
        self._stop_event = threading.Event()
        self._stopped = False

    def run(self):
        try:
            nxt = time.monotonic()
            while not self._stop_event.is_set():
                self.samples.append(self._sample())
                nxt += self.interval
                self._stop_event.wait(max(0.0, nxt - time.monotonic()))
        except Exception as e:  # reported by stop()
            self.error = e

    def _sample(self):
        t = time.monotonic()
        lsn, waits, lag = db.one(self.conn, SAMPLE_SQL)
        s = {'t': t, 'lsn': lsn, 'lock_waits': waits, 'replay_lag': None if lag is None else int(lag)}
        if self.policy:
            r = db.one(self.conn, SAMPLE_RETENTION_SQL, (self.policy,))
            if r is not None:
                s['current_rows'], s['state'], s['throttle_reason'] = r
        return s

    def stop(self):
        self._stop_event.set()
        self.join(timeout=30)
        self.conn.close()
        self._stopped = True
        with open(self.path, 'w', encoding='utf-8') as f:
            for s in self.samples:
                f.write(json.dumps(s) + '\n')
        if self.error is not None:
            raise RuntimeError(f'sampler failed: {self.error}')


    def abandon(self):
        """Cleanup on an error path: ends the thread and the session."""
        if self._stopped:
            return
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=30)
        self.conn.close()
        self._stopped = True


def lock_waits(samples, t0, t1, lookups_only=True):
    """(samples with a waiting backend, distinct waits) among the samples in
    [t0, t1]; a distinct wait is one (pid, query start)."""
    n_samples, distinct = 0, set()
    for s in samples:
        if not t0 <= s['t'] <= t1:
            continue
        ws = [w for w in s['lock_waits']
              if not lookups_only or w['query'].lstrip().upper().startswith('SELECT')]
        if ws:
            n_samples += 1
            distinct.update((w['pid'], w['since']) for w in ws)
    return n_samples, len(distinct)


def max_replay_lag(samples, t0, t1):
    lags = [s['replay_lag'] for s in samples if t0 <= s['t'] <= t1 and s['replay_lag'] is not None]
    return max(lags) if lags else None


def throttling(samples, t0, t1):
    """(samples in [t0, t1], of which throttled, {reason: count})."""
    n = thr = 0
    reasons = {}
    for s in samples:
        if t0 <= s['t'] <= t1 and 'state' in s:
            n += 1
            if s['state'] == 'throttled':
                thr += 1
                key = (s.get('throttle_reason') or '?').split(' ')[0:2]
                key = ' '.join(key)
                reasons[key] = reasons.get(key, 0) + 1
    return n, thr, reasons


def retention_progress(samples, t0, t1):
    """(t, current_rows) of the samples taken while the run was in flight."""
    return [(s['t'], int(s['current_rows'])) for s in samples
            if t0 <= s['t'] <= t1 and s.get('current_rows') is not None]
