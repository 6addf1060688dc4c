#!/usr/bin/python3
"""scripts/bench/driver.py: the benchmark of issue #4, driven from Python.

Run by scripts/bench.sh, which installs what is needed, starts the throwaway
cluster (and the standby with --standby) and then calls, for example:

  /usr/bin/python3 -B scripts/bench/driver.py --host SOCKDIR --port 5460 \
      --user postgres --pgbin /usr/lib/postgresql/15/bin --out bench/results \
      --rows 2000000 --clients 4 --rate 400 --baseline 60

Main benchmark: builds the template database (dataset.py), then for each
contender (contenders.py) a fresh clone, the pgbench load (load.py), a
no-purge baseline, the purge under the same load, the correctness checks;
then the idle worker CPU; writes results.md, timeline.png and raw/main/.
Scaling (--scaling-rows A,B): pg_retention delete mode and the single DELETE
at each size with synchronize_seqscans = off, no load; writes scaling.md and
raw/scaling/. Exits 3 when a correctness check failed, 2 on usage errors,
1 on any other error.

Standard library + psycopg2 (+ matplotlib for the chart).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

import contenders
import dataset
import db
import load
import report

IDLE_PROCS = ('pg_retention launcher', 'pg_retention scheduler')
CHECK_FAILED = 3        # exit status when a correctness check failed


def log(msg):
    print(f'[{datetime.datetime.now():%H:%M:%S}] {msg}', flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description='pg_retention benchmark driver (see scripts/bench.sh)')
    p.add_argument('--host', required=True, help='Unix socket directory of the cluster')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--user', required=True, help='superuser to connect as')
    p.add_argument('--standby-port', type=int, default=0, help='port of the standby (0: none)')
    p.add_argument('--standby-lag', default='16MB',
                   help="retention.max_replication_lag of the pg_retention runs with a standby")
    p.add_argument('--pgbin', required=True, help='directory of pgbench')
    p.add_argument('--out', required=True)
    p.add_argument('--rows', type=int, default=2000000)
    p.add_argument('--clients', type=int, default=4)
    p.add_argument('--rate', type=int, default=400)
    p.add_argument('--baseline', type=float, default=60)
    p.add_argument('--warmup', type=float, default=2.0, help='seconds of load before the baseline')
    p.add_argument('--tail', type=float, default=1.0, help='seconds of load after the purge')
    p.add_argument('--idle-seconds', type=float, default=30)
    p.add_argument('--contenders', default=','.join(contenders.ALL))
    p.add_argument('--no-main', action='store_true', help='skip the main benchmark')
    p.add_argument('--scaling-rows', default='', help='comma list of sizes; empty: no scaling')
    p.add_argument('--command', default='scripts/bench.sh', help='command line, for the report')
    a = p.parse_args(argv)
    a.contender_list = [c.strip() for c in a.contenders.split(',') if c.strip()]
    if not a.contender_list and not a.no_main:
        p.error('--contenders: no contender given')
    bad = [c for c in a.contender_list if c not in contenders.ALL]
    if bad:
        p.error(f"unknown contender(s) {', '.join(bad)}; known: {', '.join(contenders.ALL)}")
    a.scaling_sizes = [int(x) for x in a.scaling_rows.split(',') if x.strip()]
    if a.rows < 1000 or any(n < 1000 for n in a.scaling_sizes):
        p.error('row counts must be at least 1000')
    if a.clients < 1 or a.rate < 1 or a.baseline <= 0:
        p.error('--clients, --rate and --baseline must be positive')
    return a

# ------------------------------------------------------------ description


def machine():
    cpu = '?'
    with open('/proc/cpuinfo', encoding='utf-8') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    mem_kb = 0
    with open('/proc/meminfo', encoding='utf-8') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem_kb = int(line.split()[1])
    osname = platform.platform()
    try:
        with open('/etc/os-release', encoding='utf-8') as f:
            for line in f:
                if line.startswith('PRETTY_NAME='):
                    osname = line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    return {'cpu_model': cpu, 'nproc': len(os.sched_getaffinity(0)),
            'ram_gb': mem_kb / 1048576.0, 'os': osname, 'kernel': platform.release()}


def git_description():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(['git', '-C', repo, 'rev-parse', '--short', 'HEAD'],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', repo, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True, check=True).stdout.strip()
        return f"commit {head}{' with uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return 'no git checkout'


def settings(server, port):
    conn = db.connect(db.Server(server.host, port, server.user), 'postgres')
    try:
        return [(n, s) for n, s in db.rows(conn, """
            SELECT name, current_setting(name) FROM pg_settings
             WHERE source NOT IN ('default', 'override', 'client', 'session')
               AND name NOT IN ('unix_socket_directories', 'primary_conninfo')
             ORDER BY name""")]
    finally:
        conn.close()


def describe(args, server):
    conn = db.connect(server, 'postgres')
    try:
        version = db.scalar(conn, 'SELECT version()')
        ext = db.scalar(conn, "SELECT default_version FROM pg_available_extensions "
                              "WHERE name = 'pg_retention'")
    finally:
        conn.close()
    info = {
        'machine': machine(), 'pg_version': version, 'extension_version': ext,
        'git': git_description(), 'command': args.command,
        'date': datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z'),
        'settings': settings(server, server.port),
        'standby_settings': settings(server, server.standby_port) if server.standby_port else [],
    }
    return info


def parse_bytes(text):
    units = {'kB': 1024, 'MB': 1024 ** 2, 'GB': 1024 ** 3, 'TB': 1024 ** 4, 'B': 1}
    for u, m in units.items():
        if text.endswith(u):
            return int(float(text[:-len(u)].strip()) * m)
    return int(text) * 1024 * 1024 if text.strip().isdigit() else None

# ------------------------------------------------------------ main bench


def clean_env(pgbin):
    return {'PATH': f'{pgbin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            'LANG': 'C.UTF-8', 'HOME': os.environ.get('HOME', '/tmp'), 'PGTZ': 'UTC'}


def max_or_none(*values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def run_contender(args, server, tmpl, name, rawroot):
    """One contender on a fresh clone: baseline, purge under load, checks."""
    log(f'--- {name}: clone, setup')
    rawdir = os.path.join(rawroot, name)
    os.makedirs(rawdir, exist_ok=True)
    dbname = f'bench_{name}'
    retention = contenders.is_retention(name)
    standby = bool(server.standby_port)
    conn = dataset.clone(server, tmpl.name, dbname)
    notes, fails = [], []
    try:
        contenders.setup(conn, name, args.standby_lag if standby and retention else None)
        db.execute(conn, 'CHECKPOINT')
        pgb = load.Pgbench(server, args.pgbin, dbname, rawdir, tmpl.rows, args.clients,
                           args.rate, clean_env(args.pgbin))
        sampler = load.Sampler(server, dbname, os.path.join(rawdir, 'samples.jsonl'),
                               policy=contenders.POLICY if retention else None)
        pgb.start()
        try:
            pgb.wait_connected(conn)
            sampler.start()
            time.sleep(args.warmup)
            log(f'--- {name}: baseline {args.baseline:g}s')
            lsn_b0, tb0 = db.current_lsn(conn), time.monotonic()
            time.sleep(args.baseline)
            tb1, lsn_b1 = time.monotonic(), db.current_lsn(conn)
            pgb.check_running()
            log(f'--- {name}: purge')
            progress = []
            lsn0, tp0 = db.current_lsn(conn), time.monotonic()
            result = contenders.purge(conn, name, progress)
            tp1, lsn1 = time.monotonic(), db.current_lsn(conn)
            result.detail['analyze_s'] = contenders.analyze_cost(conn)
            lag_at_end = db.scalar(conn, load.REPLAY_LAG_SQL) if standby else None
            time.sleep(args.tail)
            tend = time.monotonic()
            sampler.stop()
            pgb.stop(conn)
        finally:
            pgb.kill()
            sampler.abandon()
        samples = sampler.samples
        txns = pgb.transactions()
        seconds = tp1 - tp0
        wal = db.lsn_diff(conn, lsn1, lsn0)
        load_wal_rate = db.lsn_diff(conn, lsn_b1, lsn_b0) / (tb1 - tb0)
        inserts = sum(1 for t in txns if t[2] == load.INSERT)
        fails += contenders.check_result(name, result)
        fails += dataset.verify(conn, tmpl, result.rows, archive=contenders.archive_of(name),
                                new_rows_range=(inserts, inserts + args.clients))
    finally:
        conn.close()
    dataset.drop_database(server, dbname)

    missing = set(range(args.clients)) - load.clients_after(txns, tp1)
    if missing:
        notes.append(f'pgbench clients {sorted(missing)} logged nothing after the purge ended '
                     '(a transaction may have been in flight when the load was stopped)')
    base_n = sum(1 for t in txns if tb0 <= t[0] <= tb1)
    achieved = base_n / (tb1 - tb0)
    if achieved < 0.9 * args.rate:
        notes.append(f'the load reached {achieved:.0f} of {args.rate} transactions/s in the baseline')
    n_thr, thr, reasons = load.throttling(samples, tp0, tp1)
    if thr:
        notes.append(f'throttled in {thr} of {n_thr} samples ('
                     + ', '.join(f'{k}: {v}' for k, v in reasons.items()) + ')')
    if retention:
        run = result.detail.get('run') or {}
        if run.get('retries'):
            notes.append(f"{run['retries']} batches retried")
        if run.get('analyzed'):
            notes.append('the run ended with an ANALYZE of the table (retention.analyze_threshold), '
                         'included in its time')
    waits_all = load.lock_waits(samples, tp0, tp1, lookups_only=False)
    waits_lookups = load.lock_waits(samples, tp0, tp1)
    if waits_all[1] > waits_lookups[1]:
        notes.append(f'{waits_all[1] - waits_lookups[1]} lock waits of inserts during the purge')

    if retention:
        prog = [(tp0, 0)] + load.retention_progress(samples, tp0, tp1) + [(tp1, result.rows)]
    else:
        prog = list(progress)
        if prog[-1][0] < tp1:
            prog.append((tp1, result.rows))
    r = {
        'name': name, 'rows': result.rows, 'batches': result.batches, 'seconds': seconds,
        'rows_per_s': result.rows / seconds if seconds > 0 else None,
        'wal_bytes': wal, 'wal_per_row': wal / result.rows if result.rows else None,
        'wal_net_per_row': ((wal - load_wal_rate * seconds) / result.rows
                            if result.rows else None),
        'baseline_wal_bytes_per_s': load_wal_rate,
        'purge': load.latency_stats(txns, tp0, tp1),
        'baseline': load.latency_stats(txns, tb0, tb1),
        'inserts_purge': load.latency_stats(txns, tp0, tp1, load.INSERT),
        'lock_waits_lookups': waits_lookups, 'lock_waits_all': waits_all,
        'max_replay_lag': (max_or_none(load.max_replay_lag(samples, tp0, tend),
                                       None if lag_at_end is None else int(lag_at_end))
                           if standby else None),
        'baseline_tps': achieved, 'detail': result.detail, 'notes': notes, 'failures': fails,
        'timeline': {
            'progress': [(t - tp0, n) for t, n in prog],
            'lookups': [(t[0] - tp0, t[1]) for t in txns
                        if t[2] == load.LOOKUP and tp0 - 10 <= t[0] <= tend],
        },
    }
    with open(os.path.join(rawdir, 'progress.csv'), 'w', encoding='utf-8') as f:
        f.write('seconds_since_purge_start,rows_purged\n')
        for t, n in r['timeline']['progress']:
            f.write(f'{t:.4f},{n}\n')
    p = r['purge']
    log(f'--- {name}: {result.rows} rows in {seconds:.2f}s '
        f'({r["rows_per_s"] or 0:,.0f} rows/s), WAL {wal / 1048576:.1f} MB, lookup p99 '
        f'{report.fmt_ms(p["p99"])} ms (baseline {report.fmt_ms(r["baseline"]["p99"])} ms)'
        + ('' if not fails else '; CHECK FAILED: ' + '; '.join(fails)))
    return r


# ------------------------------------------------------------- idle CPU


def proc_ticks(pid):
    """(start time, utime + stime) of PID in clock ticks, None when gone."""
    try:
        with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
    return int(fields[19]), int(fields[11]) + int(fields[12])


def measure_idle_cpu(server, seconds):
    """CPU of the launcher and the scheduler while the scheduler is enabled and
    its only policy is not due."""
    log(f'idle worker CPU: {seconds:g}s with the scheduler enabled')
    dbname = 'bench_idle'
    admin = db.connect(server, 'postgres')
    res = {'seconds': seconds, 'percent': None, 'per_process': {}, 'note': ''}
    try:
        db.execute(admin, f'DROP DATABASE IF EXISTS {dbname} WITH (FORCE)')
        db.execute(admin, f'CREATE DATABASE {dbname}')
        conn = db.connect(server, dbname)
        try:
            db.execute(conn, 'CREATE EXTENSION pg_retention')
            db.execute(conn, 'CREATE TABLE idle_tokens (id bigserial PRIMARY KEY, revoked_at timestamptz)')
            db.execute(conn, "INSERT INTO idle_tokens (revoked_at) SELECT now() - g * interval '1 hour' "
                             "FROM generate_series(1, 1000) g")
            db.execute(conn, "SELECT retention.add_policy('idle_tokens', 'revoked_at', retain => '1 day')")
            db.execute(conn, "CALL retention.run('public.idle_tokens')")   # next run due in an hour
        finally:
            conn.close()
        db.execute(admin, 'ALTER SYSTEM SET retention.enabled = on')
        db.execute(admin, 'SELECT pg_reload_conf()')
        deadline = time.monotonic() + 60
        procs = []
        while time.monotonic() < deadline:
            procs = db.rows(admin, """SELECT pid, backend_type, coalesce(datname, '')
                                        FROM pg_stat_activity WHERE backend_type = ANY(%s)""",
                            (list(IDLE_PROCS),))
            if any(p[1] == IDLE_PROCS[1] and p[2] == dbname for p in procs):
                break
            time.sleep(0.2)
        else:
            res['note'] = 'no pg_retention scheduler appeared for the database within 60 s'
            return res
        time.sleep(1.0)    # let it settle after its first look at the policies
        procs = db.rows(admin, """SELECT pid, backend_type, coalesce(datname, '')
                                    FROM pg_stat_activity WHERE backend_type = ANY(%s)""",
                        (list(IDLE_PROCS),))
        before = {p[0]: proc_ticks(p[0]) for p in procs}
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        hz = os.sysconf('SC_CLK_TCK')
        total = 0
        for pid, kind, datname in procs:
            a, b = before.get(pid), proc_ticks(pid)
            if a is None or b is None or a[0] != b[0]:
                res['note'] = f'{kind} (pid {pid}) ended during the measurement'
                continue
            ticks = b[1] - a[1]
            total += ticks
            label = kind.replace('pg_retention ', '') + (f' ({datname})' if datname else '')
            res['per_process'][label] = 100.0 * ticks / hz / elapsed
        res['percent'] = 100.0 * total / hz / elapsed
        res['seconds'] = elapsed
        log(f"idle worker CPU: {res['percent']:.3f}% of a core")
        return res
    finally:
        db.execute(admin, 'ALTER SYSTEM RESET retention.enabled')
        db.execute(admin, 'SELECT pg_reload_conf()')
        db.execute(admin, f'DROP DATABASE IF EXISTS {dbname} WITH (FORCE)')
        admin.close()

# -------------------------------------------------------------- scaling


def run_scaling(args, server, rawroot):
    """Delete-mode pg_retention and the single DELETE at each size, no load,
    synchronize_seqscans = off."""
    admin = db.connect(server, 'postgres')
    db.execute(admin, 'ALTER SYSTEM SET synchronize_seqscans = off')
    db.execute(admin, 'SELECT pg_reload_conf()')
    out, fails = [], []
    try:
        for size in args.scaling_sizes:
            tmpl = dataset.build_template(server, 'bench_scale_template', size, log)
            for name in ('retention_delete', 'delete'):
                dbname = f'bench_scale_{name}'
                conn = dataset.clone(server, tmpl.name, dbname, indexes=False)
                try:
                    if db.scalar(conn, 'SHOW synchronize_seqscans') != 'off':
                        raise RuntimeError('synchronize_seqscans is not off')
                    contenders.setup(conn, name)
                    db.execute(conn, 'CHECKPOINT')
                    progress = []
                    lsn0, t0 = db.current_lsn(conn), time.monotonic()
                    result = contenders.purge(conn, name, progress)
                    t1, lsn1 = time.monotonic(), db.current_lsn(conn)
                    wal = db.lsn_diff(conn, lsn1, lsn0)
                    f = contenders.check_result(name, result) + dataset.verify(conn, tmpl, result.rows)
                finally:
                    conn.close()
                dataset.drop_database(server, dbname)
                secs = t1 - t0
                r = {'name': name, 'size': size, 'rows': result.rows, 'batches': result.batches,
                     'seconds': secs, 'rows_per_s': result.rows / secs,
                     'us_per_row': secs * 1e6 / result.rows if result.rows else None,
                     'wal_per_row': wal / result.rows if result.rows else None,
                     'detail': result.detail, 'failures': f}
                fails += [f'scaling {size} {name}: {m}' for m in f]
                log(f'scaling {size:,} rows, {name}: {result.rows} rows in {secs:.2f}s, '
                    f"{r['us_per_row'] or 0:.3f} µs/row" + ('; CHECK FAILED: ' + '; '.join(f) if f else ''))
                out.append(r)
            dataset.drop_database(server, tmpl.name)
    finally:
        db.execute(admin, 'ALTER SYSTEM RESET synchronize_seqscans')
        db.execute(admin, 'SELECT pg_reload_conf()')
        admin.close()
    with open(os.path.join(rawroot, 'summary.json'), 'w', encoding='utf-8') as f:
        json.dump(out, f, indent=1, default=str)
    return out, fails

# ----------------------------------------------------------------- main


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def main(argv):
    args = parse_args(argv)
    server = db.Server(args.host, args.port, args.user, args.standby_port)
    args.standby_lag_bytes = parse_bytes(args.standby_lag)
    os.makedirs(args.out, exist_ok=True)
    info = describe(args, server)
    failures = []

    if not args.no_main:
        rawroot = os.path.join(args.out, 'raw', 'main')
        fresh_dir(rawroot)
        tmpl = dataset.build_template(server, 'bench_template', args.rows, log)
        results = []
        for name in args.contender_list:
            r = run_contender(args, server, tmpl, name, rawroot)
            failures += [f'{name}: {m}' for m in r['failures']]
            results.append(r)
        dataset.drop_database(server, tmpl.name)
        idle = measure_idle_cpu(server, args.idle_seconds) if args.idle_seconds > 0 else None
        info['template'] = {'rows': tmpl.rows, 'purgeable': tmpl.purgeable.count,
                            'table_bytes': tmpl.table_bytes, 'index_bytes': tmpl.index_bytes}
        info['params'] = {'rows': args.rows, 'clients': args.clients, 'rate': args.rate,
                          'baseline': args.baseline, 'standby': bool(server.standby_port),
                          'standby_lag': args.standby_lag,
                          'standby_lag_bytes': args.standby_lag_bytes}
        with open(os.path.join(rawroot, 'summary.json'), 'w', encoding='utf-8') as f:
            json.dump({'info': info, 'idle': idle,
                       'results': [{k: v for k, v in r.items() if k != 'timeline'} for r in results]},
                      f, indent=1, default=str)
        with open(os.path.join(rawroot, 'timeline.json'), 'w', encoding='utf-8') as f:
            json.dump([{'name': r['name'], 'seconds': r['seconds'], 'rows_per_s': r['rows_per_s'],
                        'timeline': r['timeline']} for r in results], f)
        report.write_results(os.path.join(args.out, 'results.md'), info, results, idle)
        by = {r['name']: r for r in results}
        if by.get('delete') and by.get('retention_delete'):
            d, rd = by['delete'], by['retention_delete']
            log(f"pg_retention delete vs the single DELETE, same run: "
                f"{(rd['rows_per_s'] or 0) / (d['rows_per_s'] or 1):.2f}x (target 0.95x); "
                f"ANALYZE after the purge, timed apart: {rd['detail'].get('analyze_s')} s")
        if by.get('archive_floor') and by.get('retention_archive'):
            fl, ra = by['archive_floor'], by['retention_archive']
            log(f"pg_retention archive vs its floor (INSERT...SELECT + DELETE), same run: "
                f"{(ra['rows_per_s'] or 0) / (fl['rows_per_s'] or 1):.2f}x (target 0.9x)")
        title = (f"pg_retention benchmark: {args.rows:,} tokens, {tmpl.purgeable.count:,} purged; "
                 f"pgbench {args.clients} clients at {args.rate} tps"
                 + (', with a standby' if server.standby_port else ''))
        report.plot_timeline(os.path.join(args.out, 'timeline.png'), results, title)
        log(f"wrote {os.path.join(args.out, 'results.md')} and timeline.png")

    if args.scaling_sizes:
        rawroot = os.path.join(args.out, 'raw', 'scaling')
        fresh_dir(rawroot)
        scaling, f = run_scaling(args, server, rawroot)
        failures += f
        report.write_scaling(os.path.join(args.out, 'scaling.md'), info, scaling)
        log(f"wrote {os.path.join(args.out, 'scaling.md')}")

    if failures:
        for m in failures:
            print(f'bench.sh: check failed: {m}', file=sys.stderr)
        return CHECK_FAILED
    log('all correctness checks passed')
    return 0


if __name__ == '__main__':
    # scripts/bench.sh stops us with SIGTERM: unwind, so that the finally
    # blocks stop pgbench and the sampler.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
