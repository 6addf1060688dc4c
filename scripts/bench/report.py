"""scripts/bench/report.py: results.md, scaling.md and timeline.png.

Part of the benchmark driver (scripts/bench/driver.py), which scripts/bench.sh
runs. Takes the measured figures (plain dicts, also saved as
raw/*/summary.json) and writes the Markdown tables and the chart
(matplotlib, Agg backend, no display needed).
"""

import math
import os

LABELS = {
    'delete': 'single DELETE',
    'doorkeeper': 'Doorkeeper in_batches(1000)',
    'authgate': 'authgate loop (10k, 200 ms)',
    'retention_delete': 'pg_retention delete',
    'retention_archive': 'pg_retention archive',
    'archive_floor': 'archive floor (INSERT…SELECT + DELETE, 1 txn)',
}
COLORS = {
    'delete': '#d62728',
    'doorkeeper': '#ff7f0e',
    'authgate': '#8c564b',
    'retention_delete': '#1f77b4',
    'retention_archive': '#2ca02c',
    'archive_floor': '#7f7f7f',
}

# ------------------------------------------------------------------ format


def fmt_int(v):
    return '–' if v is None else f'{int(v):,}'


def fmt_num(v, digits=1):
    if v is None:
        return '–'
    return f'{v:,.{digits}f}'


def fmt_ms(v):
    if v is None:
        return '–'
    return f'{v:.1f}' if v < 100 else f'{v:.0f}'


def fmt_ratio(v):
    return '–' if v is None else (f'{v:.3f}×' if 0.95 < v < 1.05 and v != 1 else f'{v:.2f}×')


def fmt_mb(v):
    return '–' if v is None else f'{v / 1048576:.1f}'


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(header, rows, numeric=True):
    """A Markdown table; the columns after the first are right-aligned
    when NUMERIC."""
    align = '--:' if numeric else '---'
    out = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' if i == 0 else align for i in range(len(header))) + '|']
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return out


def machine_lines(info):
    m = info['machine']
    lines = [
        f"- CPU: {m['cpu_model']}, `nproc` = {m['nproc']}",
        f"- RAM: {m['ram_gb']:.1f} GiB",
        f"- OS: {m['os']}, kernel {m['kernel']}",
        f"- PostgreSQL: {info['pg_version']}",
        f"- pg_retention: {info['extension_version']} (repository at {info['git']})",
        f"- date: {info['date']}",
        f"- command: `{info['command']}`",
    ]
    return lines


def settings_table(settings):
    return table(['setting', 'value'],
                 [(f'`{k}`', f"`{v}`" if v != '' else "`''`") for k, v in settings],
                 numeric=False)


def settings_lines(info):
    lines = ['## Server settings', '',
             'Not at their default on the primary (`postgresql.conf` of `scripts/bench.sh` '
             'and initdb):', '']
    lines += settings_table(info['settings'])
    if info.get('standby_settings'):
        lines += ['', 'Standby (`pg_basebackup -R` of the primary, then its own port and '
                  'shared_buffers):', '']
        lines += settings_table(info['standby_settings'])
    return lines

# ----------------------------------------------------------------- results


def target_lines(results, idle, standby_bound):
    by = {r['name']: r for r in results}
    d, rd, ra = by.get('delete'), by.get('retention_delete'), by.get('retention_archive')
    dk, ag = by.get('doorkeeper'), by.get('authgate')

    def line(text, value, ok):
        mark = 'n/a' if ok is None else ('met' if ok else '**not met**')
        return f'- {text}: {value} → {mark}'

    def rel(a, b, key='rows_per_s'):
        return ratio(a and a[key], b and b[key])

    out = []
    x = rel(rd, d)
    out.append(line('pg_retention delete ≥ 0.95× the rows/s of the single DELETE, same run',
                    fmt_ratio(x), None if x is None else x >= 0.95))
    an = rd and (rd.get('detail') or {}).get('analyze_s')
    if an is not None:
        share = f', {an / rd["seconds"]:.0%} of the run' if rd.get('seconds') else ''
        out.append(f'- (ANALYZE of the table after the pg_retention delete purge, timed apart: '
                   f'{an:.2f} s{share}; the run leaves it to autovacuum)')
    if rd:
        p, b = rd['purge']['p99'], rd['baseline']['p99']
        x = ratio(p, b)
        out.append(line('lookup p99 during the pg_retention delete purge ≤ 2× the no-purge p99',
                        f'{fmt_ms(p)} ms vs {fmt_ms(b)} ms = {fmt_ratio(x)}',
                        None if x is None else x <= 2.0))
        w = rd['lock_waits_lookups']
        out.append(line('no lookup waiting on a lock during the pg_retention delete purge',
                        f'{w[1]} distinct waits in {w[0]} samples', w[1] == 0))
    else:
        out.append(line('lookup p99 during the pg_retention delete purge ≤ 2× the no-purge p99', '–', None))
    x = rel(rd, ag)
    out.append(line('pg_retention delete ≥ 8× the authgate loop', fmt_ratio(x),
                    None if x is None else x >= 8))
    x = rel(rd, dk)
    out.append(line('pg_retention delete ≥ 2× Doorkeeper\'s cleaner', fmt_ratio(x),
                    None if x is None else x >= 2))
    x = rel(dk, d)
    out.append(f'- (Doorkeeper\'s cleaner vs the single DELETE, expected about 0.3×: {fmt_ratio(x)})')
    x = rel(ra, rd)
    out.append(line('pg_retention archive ≥ 0.5× pg_retention delete', fmt_ratio(x),
                    None if x is None else x >= 0.5))
    x = rel(ra, by.get('archive_floor'))
    out.append(line('pg_retention archive ≥ 0.9× the rows/s of its floor (one INSERT…SELECT + '
                    'DELETE transaction), same run', fmt_ratio(x), None if x is None else x >= 0.9))
    if standby_bound:
        for r in (rd, ra):
            if not r:
                continue
            batch_wal = r['wal_bytes'] / r['batches'] if r['batches'] else 0
            lag = r['max_replay_lag']
            ok = None if lag is None else lag <= standby_bound + batch_wal
            out.append(line(f"{LABELS[r['name']]}: max replay lag ≤ {fmt_mb(standby_bound)} MB "
                            f"+ one batch's WAL (average {fmt_mb(batch_wal)} MB)",
                            f'{fmt_mb(lag)} MB', ok))
    if idle and idle.get('percent') is not None:
        out.append(line('an idle worker uses < 1% of a core', f"{idle['percent']:.3f}%",
                        idle['percent'] < 1.0))
    x = rel(rd, d, 'wal_net_per_row')
    out.append(line('WAL per purged row of pg_retention delete ≤ the single DELETE\'s '
                    '(net of the load\'s WAL; within 1%, the noise of that estimate)',
                    f"{fmt_num(rd and rd['wal_net_per_row'])} B vs "
                    f"{fmt_num(d and d['wal_net_per_row'])} B = {fmt_ratio(x)}",
                    None if x is None else x <= 1.01))
    out.append('- per-row cost at 4M rows within 1.3× of 1M rows: see `scaling.md` '
               '(`scripts/bench.sh --scaling`)')
    return out


def write_results(path, info, results, idle):
    """results.md of the main benchmark."""
    p = info['params']
    standby = p['standby']
    header = ['contender', 'rows purged', 'batches', 'purge s', 'rows/s', '× DELETE',
              'WAL MB', 'WAL B/row', 'net B/row', 'lookups during purge', 'p50 ms', 'p99 ms', 'max ms',
              'baseline p50', 'baseline p99', 'baseline max', 'lookup lock waits']
    if standby:
        header.append('max replay lag MB')
    by = {r['name']: r for r in results}
    base = by.get('delete')
    rows = []
    for r in results:
        w = r['lock_waits_lookups']
        row = [LABELS[r['name']], fmt_int(r['rows']), fmt_int(r['batches']),
               fmt_num(r['seconds'], 2), fmt_int(r['rows_per_s']),
               fmt_ratio(ratio(r['rows_per_s'], base and base['rows_per_s'])),
               fmt_mb(r['wal_bytes']), fmt_num(r['wal_per_row']), fmt_num(r['wal_net_per_row']),
               fmt_int(r['purge']['n']), fmt_ms(r['purge']['p50']), fmt_ms(r['purge']['p99']),
               fmt_ms(r['purge']['max']), fmt_ms(r['baseline']['p50']),
               fmt_ms(r['baseline']['p99']), fmt_ms(r['baseline']['max']),
               f'{w[1]} ({w[0]} samples)']
        if standby:
            row.append(fmt_mb(r['max_replay_lag']))
        rows.append(row)
    t = info['template']
    lines = ['# pg_retention benchmark: purging expired OAuth tokens under load', '',
             'Produced by `scripts/bench.sh` (issue #4). Raw data: `raw/main/`.', '',
             '## Machine', ''] + machine_lines(info)
    lines += ['', '## Setup', '',
              f"- table `oauth_access_tokens` (Doorkeeper/GitLab columns), {t['rows']:,} rows, "
              f"{t['purgeable']:,} purgeable ({100.0 * t['purgeable'] / t['rows']:.1f}%), "
              f"randomly interleaved with the live rows in id order; table {fmt_mb(t['table_bytes'])} MB, "
              f"indexes {fmt_mb(t['index_bytes'])} MB (primary key and unique token; none on `revoked_at`)",
              "- every contender purges `revoked_at < now() - interval '1 day'` on a fresh clone "
              "of the vacuumed template (`CREATE DATABASE ... TEMPLATE`), table and indexes "
              "prewarmed (`pg_prewarm`), then `CHECKPOINT`",
              f"- load: `pgbench -n -c {p['clients']} -j {min(2, p['clients'])} -R {p['rate']} "
              "-M prepared`, 9 token lookups by value : 1 insert of a new token; "
              f"{p['baseline']} s no-purge baseline on the same clone, then the purge with the "
              "load still running",
              f"- standby: {'yes, streaming (pg_basebackup); pg_retention runs with `retention.max_replication_lag = ' + repr(p['standby_lag']) + '`' if standby else 'no'}",
              '- pg_retention: default settings (`add_policy(..., retain => \'1 day\')`, '
              'no batch size), `CALL retention.run(...)`',
              '', '## Results', '']
    lines += table(header, rows)
    lines += ['', 'Latencies are of the lookups (ms, as the client sees them, schedule lag '
              'included) that completed during the purge, and during the baseline.', '']
    if idle:
        lines += ['## Idle worker CPU', '']
        if idle.get('percent') is None:
            lines += [f"- not measured: {idle.get('note')}"]
        else:
            procs = ', '.join(f"{k} {v:.3f}%" for k, v in idle['per_process'].items())
            lines += [f"- {idle['percent']:.3f}% of one core over {idle['seconds']:.0f} s "
                      f"(user + system, /proc/PID/stat) with the scheduler enabled and one "
                      f"policy not due: {procs}"]
        lines.append('')
    lines += ['## Targets of issue #4 (figures, not pass/fail)', '']
    lines += target_lines(results, idle, p['standby_lag_bytes'] if standby else None)
    notes = [f"- {LABELS[r['name']]}: {n}" for r in results for n in r['notes']]
    if notes:
        lines += ['', '## Notes', ''] + notes
    lines += ['', '## How each figure is measured', ''] + METHOD + ['']
    lines += settings_lines(info) + ['']
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))


METHOD = [
    '- **rows purged**: rows the contender reported (DELETE row counts; '
    '`rows_deleted` of `CALL retention.run`), checked against the template.',
    '- **purge s**: driver wall clock from the first statement of the purge to the '
    'return of the last (the `CALL` for pg_retention; the DELETE that removed 0 rows '
    'for authgate; the SELECT that found no more ids for Doorkeeper).',
    '- **rows/s**: rows purged / purge s; **× DELETE**: relative to the single DELETE of the same run.',
    '- **WAL MB**: `pg_current_wal_lsn()` after minus before the purge (includes the '
    "load's inserts); **WAL B/row**: that / rows purged; **net B/row**: the same less the "
    "load's WAL (its rate in the baseline × purge s), the purge's own WAL per row.",
    '- **lookups, p50/p99/max**: pgbench per-transaction log (`-l`), lookup script only, '
    'transactions that completed inside the window; the logged time runs from the '
    "transaction's scheduled start under `-R`, so it includes schedule lag (nearest-rank percentiles).",
    '- **lookup lock waits**: `pg_stat_activity` sampled every 100 ms during the purge, '
    "pgbench backends running a SELECT with `wait_event_type = 'Lock'`: distinct "
    '(pid, query start) waits, and the number of samples that saw one.',
    '- **max replay lag**: maximum over the same 100 ms samples of '
    '`pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)` from `pg_stat_replication`, '
    'from the purge start to the end of the sampling (1 s after the purge), and once more '
    'the moment the purge returns (a purge shorter than 100 ms is seen only then).',
    '- **idle worker CPU**: utime + stime of the `pg_retention launcher` and '
    "`pg_retention scheduler` processes (from `pg_stat_activity.backend_type`), "
    '/proc/PID/stat before and after the interval, as % of one core (resolution: one '
    'clock tick, 10 ms, over the interval).',
    '- **correctness** (the script fails otherwise): no purgeable row left, every live '
    'row of the template unchanged (count, id sum, content-hash sum), the rows the load '
    'inserted all present, and for archive mode the archive holds exactly the purged rows.',
]

# ----------------------------------------------------------------- scaling


def write_scaling(path, info, scaling):
    by = {}
    for r in scaling:
        by.setdefault(r['name'], {})[r['size']] = r
    sizes = sorted({r['size'] for r in scaling})
    rows = []
    for r in scaling:
        rows.append([LABELS[r['name']], fmt_int(r['size']), fmt_int(r['rows']),
                     fmt_int(r['batches']), fmt_num(r['seconds'], 2), fmt_int(r['rows_per_s']),
                     fmt_num(r['us_per_row'], 3), fmt_num(r['wal_per_row'])])
    lines = ['# pg_retention benchmark: scaling of the per-row cost', '',
             'Produced by `scripts/bench.sh --scaling` (issue #4). Raw data: `raw/scaling/`.', '',
             '## Machine', ''] + machine_lines(info)
    lines += ['', '## Setup', '',
              '- the same table and data as the main benchmark (about 60% purgeable, interleaved), '
              'at each size; no index on `revoked_at`, so pg_retention walks the primary key',
              '- `synchronize_seqscans = off`; no concurrent load; fresh clone, prewarmed, '
              '`CHECKPOINT`, then the purge',
              '- pg_retention: default settings, delete mode; the single DELETE as reference',
              '', '## Results', '']
    lines += table(['contender', 'table rows', 'rows purged', 'batches', 'seconds', 'rows/s',
                    'µs/row', 'WAL B/row'], rows)
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        lines += ['', f'Per-row cost at {hi:,} rows relative to {lo:,} rows '
                  '(issue #4 target for pg_retention: within 1.3×):', '']
        for name, per in by.items():
            if lo in per and hi in per:
                x = ratio(per[hi]['us_per_row'], per[lo]['us_per_row'])
                mark = ''
                if name == 'retention_delete':
                    mark = ' → met' if x <= 1.3 else ' → **not met**'
                lines.append(f'- {LABELS[name]}: {fmt_ratio(x)}{mark}')
    lines += ['', '**µs/row**: driver wall clock of the purge (the `CALL`, the DELETE) '
              '× 10⁶ / rows purged. Correctness is checked as in the main benchmark.', '']
    lines += settings_lines(info) + ['']
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))

# ------------------------------------------------------------------- chart


def plot_timeline(path, results, title):
    """Cumulative rows purged (top) and the slowest lookup per time bin (bottom,
    log scale) over seconds since each purge started. When one purge is much
    longer than the typical one, a left column zooms on the first seconds and
    the right column shows the whole range."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    durations = sorted(r['seconds'] for r in results) or [1.0]
    longest = max(durations[-1], 1.0)
    zoom = max(1.0, 1.5 * durations[len(durations) // 2])
    split = longest > 4 * zoom
    ranges = [(-max(0.5, zoom * 0.1), zoom), (-1.0, longest * 1.03 + 0.5)] if split else \
        [(-max(1.0, min(5.0, longest * 0.05)), longest * 1.03 + 0.5)]
    fig, axes = plt.subplots(2, len(ranges), sharey='row', squeeze=False, figsize=(11, 7.5),
                             gridspec_kw={'height_ratios': [1, 1.2],
                                          'width_ratios': [1, 2] if split else [1]})
    plain = FuncFormatter(lambda v, _: f'{v:,.0f}' if v >= 1 or v == 0 else f'{v:g}')
    for col, (lo, hi) in enumerate(ranges):
        top, bottom = axes[0][col], axes[1][col]
        for r in results:
            color = COLORS[r['name']]
            tl = r['timeline']
            xs = [lo] + [p[0] for p in tl['progress']]
            ys = [0] + [p[1] for p in tl['progress']]
            top.step(xs, ys, where='post', color=color, linewidth=1.6,
                     label=f"{LABELS[r['name']]} ({fmt_int(r['rows_per_s'])} rows/s)")
            bx, by = slowest_per_bin(tl['lookups'], lo, hi, max(0.05, (hi - lo) / 100.0))
            bottom.plot(bx, by, color=color, linewidth=1.1)
            for ax in (top, bottom):
                ax.axvline(r['seconds'], color=color, linestyle=':', linewidth=0.9)
        for ax in (top, bottom):
            ax.axvline(0, color='black', linewidth=0.8)
            ax.grid(alpha=0.3, which='both')
            ax.set_xlim(lo, hi)
        bottom.set_yscale('log')
        bottom.set_xlabel('seconds since the purge started')
        if split:
            top.set_title('first seconds' if col == 0 else 'whole purge', fontsize=9)
    axes[0][0].set_ylabel('rows purged (cumulative)')
    axes[0][0].yaxis.set_major_formatter(plain)
    ymin, ymax = axes[1][0].get_ylim()
    ticks = [m * 10 ** e for e in range(-2, 6) for m in (1, 2, 5) if ymin <= m * 10 ** e <= ymax]
    axes[1][0].yaxis.set_major_locator(FixedLocator(ticks))
    axes[1][0].yaxis.set_major_formatter(plain)
    axes[1][0].yaxis.set_minor_formatter(NullFormatter())
    axes[1][0].set_ylabel('slowest lookup per time bin (ms)')
    axes[0][-1].legend(loc='lower right', fontsize=8, framealpha=0.9)
    fig.suptitle(title, fontsize=10)
    fig.text(0.5, 0.005, 'dotted: end of each purge; before 0: the end of the no-purge baseline',
             ha='center', fontsize=8)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def slowest_per_bin(points, lo, hi, width):
    """Slowest latency in each WIDTH-second bin of POINTS (t, ms) in [LO, HI]."""
    bins = {}
    for t, ms in points:
        if lo <= t <= hi:
            k = math.floor(t / width)
            bins[k] = max(ms, bins.get(k, 0.0))
    ks = sorted(bins)
    return [(k + 0.5) * width for k in ks], [bins[k] for k in ks]


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
