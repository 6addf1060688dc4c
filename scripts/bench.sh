#!/usr/bin/env bash
# scripts/bench.sh: the benchmark of issue #4. pg_retention against the ways
# people purge expired OAuth tokens today, under a concurrent lookup load.
#
#   scripts/bench.sh                       main benchmark, 2M rows (several minutes)
#   scripts/bench.sh --smoke --no-build    small and fast, for correctness (CI)
#   scripts/bench.sh --standby             also with a streaming standby
#   scripts/bench.sh --scaling             main benchmark, then the scaling runs
#   scripts/bench.sh --scaling-only        only the scaling runs (1M and 4M rows)
#   scripts/bench.sh -h                    every option
#
# Meant for a fresh Debian 12 machine, run as root: installs the Debian
# packages it needs (when missing), builds and installs the extension in the
# repository (not with --no-build), starts a throwaway PostgreSQL 15 cluster
# as the "postgres" user in a temporary directory (Unix socket there only, no
# TCP, port 5460 by default), and runs scripts/bench/driver.py (Debian's
# /usr/bin/python3 with psycopg2 and matplotlib), which does the benchmark:
#
#  - a template database with a Doorkeeper/GitLab-shaped oauth_access_tokens
#    table, --rows rows, ~60% purgeable, interleaved with the live rows;
#  - for each contender (single DELETE, Doorkeeper's in_batches cleaner, the
#    authgate loop, pg_retention delete and archive mode) a fresh clone, a
#    pgbench load (token lookups + 10% inserts at a fixed rate), a no-purge
#    baseline, then the purge under the same load, then correctness checks
#    (nothing purgeable left, every live row intact, the archive exact);
#  - the CPU of the idle background scheduler;
#  - results.md (table, machine, settings), timeline.png (rows purged and
#    lookup latency over time) and raw/ (pgbench logs, samples) in --out.
#
# Scaling (--scaling, --scaling-only): pg_retention delete mode and the single
# DELETE at 1M and 4M rows (--scaling-rows), synchronize_seqscans = off, no
# load; writes scaling.md. --smoke writes to a temporary directory unless
# --out is given, so it never touches the committed bench/results.
#
# Exits non-zero when a correctness check fails. The cluster (and standby)
# are stopped and the temporary directory removed on every exit.
#
# Run as a normal user it skips apt, runs the cluster as that user, and
# installs the extension with passwordless sudo when it has to.
#
# Environment knobs:
#   PG_CONFIG          pg_config to build against (default /usr/bin/pg_config)
#   PGR_BENCH_PORT     port number of the cluster (default 5460; the standby
#                      uses the next one); only names the socket file

set -euo pipefail
# shellcheck source=scripts/lib/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"
# shellcheck source=scripts/lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

readonly BUILD_PACKAGES=(postgresql-15 postgresql-server-dev-15 g++ make)
readonly RUN_PACKAGES=(postgresql-15 python3 python3-psycopg2 python3-matplotlib)
readonly PYTHON=/usr/bin/python3

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
PORT=${PGR_BENCH_PORT:-5460}

# Options; empty means "the default" (which --smoke changes).
ROWS="" CLIENTS="" RATE="" BASELINE="" IDLE_SECS="" OUT="" SCALING_ROWS=""
readonly ALL_CONTENDERS=delete,doorkeeper,authgate,retention_delete,retention_archive,archive_floor
CONTENDERS=$ALL_CONTENDERS
STANDBY=0 SCALING=0 SCALING_ONLY=0 BUILD=1 SMOKE=0
STANDBY_LAG=16MB

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
RUN_AS=$(id -un)        # owner of the cluster: postgres when run as root

WORKDIR=""              # /tmp/pg_retention-bench.XXXXXX, owned by $RUN_AS
PGBIN=""
PRIMARY_DATA="" STANDBY_DATA=""
PRIMARY_UP=0 STANDBY_UP=0
DRIVER_PID=""
SMOKE_OUT=""            # temporary --out of --smoke, removed on success
SERVER_LOG_ON_ERROR=1   # show the server log's tail when failing
COMMAND_LINE="scripts/bench.sh $*"

# ---------------------------------------------------------------- helpers

say()  { printf '%s\n' "$*"; }
warn() { printf 'bench.sh: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

usage() {
  cat <<EOF
usage: $0 [options]
  --rows N            rows in the token table (default 2000000; --smoke 20000)
  --clients N         pgbench clients (default 4; --smoke 2)
  --rate TPS          pgbench fixed rate, -R (default 400; --smoke 50)
  --baseline SECS     no-purge baseline per contender (default 60; --smoke 2)
  --contenders LIST   comma list of: delete,doorkeeper,authgate,
                      retention_delete,retention_archive,archive_floor
                      (default: all)
  --standby           build a streaming standby (pg_basebackup), report the
                      max replay lag; pg_retention then runs with
                      retention.max_replication_lag = '$STANDBY_LAG'
  --scaling           after the main benchmark, the scaling runs (scaling.md)
  --scaling-only      only the scaling runs
  --scaling-rows A,B  sizes of the scaling runs (default 1000000,4000000)
  --idle-seconds S    length of the idle worker CPU measurement (default 30;
                      --smoke 2; 0 skips it)
  --out DIR           output directory (default bench/results in the
                      repository; --smoke: a temporary directory)
  --port N            port of the cluster (default \$PGR_BENCH_PORT or 5460)
  --no-build          do not build and install the extension, nor install
                      its build packages (the benchmark's own packages are
                      still installed when missing, as root)
  --smoke             small and fast, for correctness: 20k rows, 2 s
                      baseline, low rate, every contender
  -h, --help          this help
EOF
}

# usage_error MESSAGE: exit 2, like other command-line mistakes.
usage_error() {
  warn "$*"
  say "(see $0 --help)" >&2
  exit 2
}

# need_value OPTION VALUE: VALUE must be given.
need_value() {
  [[ -n ${2-} ]] || usage_error "$1 needs a value"
}

# positive_int OPTION VALUE
positive_int() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || usage_error "$1: not a positive integer: $2"
}

parse_args() {
  while (( $# )); do
    case $1 in
      --rows) need_value "$1" "${2-}"; ROWS=$2; shift ;;
      --clients) need_value "$1" "${2-}"; CLIENTS=$2; shift ;;
      --rate) need_value "$1" "${2-}"; RATE=$2; shift ;;
      --baseline) need_value "$1" "${2-}"; BASELINE=$2; shift ;;
      --contenders) need_value "$1" "${2-}"; CONTENDERS=$2; shift ;;
      --scaling-rows) need_value "$1" "${2-}"; SCALING_ROWS=$2; shift ;;
      --idle-seconds) need_value "$1" "${2-}"; IDLE_SECS=$2; shift ;;
      --out) need_value "$1" "${2-}"; OUT=$2; shift ;;
      --port) need_value "$1" "${2-}"; PORT=$2; shift ;;
      --standby) STANDBY=1 ;;
      --scaling) SCALING=1 ;;
      --scaling-only) SCALING=1; SCALING_ONLY=1 ;;
      --no-build) BUILD=0 ;;
      --smoke) SMOKE=1 ;;
      -h|--help) usage; exit 0 ;;
      *) usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if (( SMOKE )); then
    : "${ROWS:=20000}" "${CLIENTS:=2}" "${RATE:=50}" "${BASELINE:=2}" "${IDLE_SECS:=2}"
    : "${SCALING_ROWS:=20000,80000}"
  fi
  : "${ROWS:=2000000}" "${CLIENTS:=4}" "${RATE:=400}" "${BASELINE:=60}" "${IDLE_SECS:=30}"
  : "${SCALING_ROWS:=1000000,4000000}"
  positive_int --rows "$ROWS"
  positive_int --clients "$CLIENTS"
  positive_int --rate "$RATE"
  positive_int --port "$PORT"
  (( ROWS >= 1000 )) || usage_error "--rows: at least 1000"
  (( PORT < 65535 )) || usage_error "--port: too large: $PORT"
  [[ $BASELINE =~ ^[0-9]+([.][0-9]+)?$ && ! $BASELINE =~ ^[0.]+$ ]] ||
    usage_error "--baseline: not a positive number of seconds: $BASELINE"
  [[ $IDLE_SECS =~ ^[0-9]+([.][0-9]+)?$ ]] ||
    usage_error "--idle-seconds: not a number of seconds: $IDLE_SECS"
  [[ $SCALING_ROWS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
    usage_error "--scaling-rows: not a comma list of sizes: $SCALING_ROWS"
  local c
  [[ -n $CONTENDERS ]] || usage_error "--contenders: empty list"
  for c in ${CONTENDERS//,/ }; do
    [[ ,$ALL_CONTENDERS, == *,"$c",* ]] ||
      usage_error "--contenders: unknown contender '$c' (known: $ALL_CONTENDERS)"
  done
}

# ------------------------------------------------------------ setup steps

install_packages() {
  if (( IS_ROOT )); then
    if (( BUILD )); then
      apt_install "${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}"
    else
      apt_install "${RUN_PACKAGES[@]}"
    fi
  fi
  # As root that was the fix; as a normal user, say what is missing.
  [[ -x $PYTHON ]] || die "no $PYTHON; as root: apt-get install ${RUN_PACKAGES[*]}"
  "$PYTHON" -c 'import psycopg2, matplotlib' 2>/dev/null ||
    die "$PYTHON lacks psycopg2 or matplotlib; as root: apt-get install ${RUN_PACKAGES[*]}"
}

# The primary's settings for a 2-core, 24 GB machine; results.md lists them.
primary_conf() {
  cat <<EOF

# added by scripts/bench.sh
listen_addresses = ''
unix_socket_directories = '$WORKDIR'
port = $PORT
shared_preload_libraries = 'pg_retention'
# The background scheduler would run the policies by itself; the benchmark
# runs them with CALL (it turns the scheduler on only to measure its idle CPU).
retention.enabled = off
shared_buffers = '1GB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
wal_level = replica
EOF
}

start_primary() {
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/pg_retention-bench.XXXXXX")
  PRIMARY_DATA=$WORKDIR/primary
  (( IS_ROOT )) && chown "$RUN_AS:" "$WORKDIR"
  chmod 700 "$WORKDIR"
  say "cluster: initdb in $PRIMARY_DATA (as $RUN_AS)"
  if ! as_pg initdb -D "$PRIMARY_DATA" -A trust -E UTF8 --no-locale --no-sync \
         >"$WORKDIR/initdb.log" 2>&1; then
    tail -n 30 "$WORKDIR/initdb.log" >&2 || true
    die "initdb failed"
  fi
  primary_conf | as_pg tee -a "$PRIMARY_DATA/postgresql.conf" >/dev/null
  say "cluster: starting (socket in $WORKDIR, port $PORT)"
  PRIMARY_UP=1
  as_pg pg_ctl -D "$PRIMARY_DATA" -l "$WORKDIR/primary.log" -w -t 120 start >/dev/null ||
    die "the bench cluster did not start"
}

start_standby() {
  local sport=$(( PORT + 1 ))
  STANDBY_DATA=$WORKDIR/standby
  say "standby: pg_basebackup -R into $STANDBY_DATA (port $sport)"
  as_pg pg_basebackup -h "$WORKDIR" -p "$PORT" -D "$STANDBY_DATA" -R -X stream -c fast \
    >"$WORKDIR/basebackup.log" 2>&1 || { tail -n 20 "$WORKDIR/basebackup.log" >&2; die "pg_basebackup failed"; }
  as_pg tee -a "$STANDBY_DATA/postgresql.conf" >/dev/null <<EOF

# added by scripts/bench.sh for the standby
port = $sport
shared_buffers = '512MB'
EOF
  STANDBY_UP=1
  as_pg pg_ctl -D "$STANDBY_DATA" -l "$WORKDIR/standby.log" -w -t 120 start >/dev/null ||
    die "the standby did not start"
  local _
  for _ in $(seq 1 100); do
    if [[ $(as_pg psql -X -At -h "$WORKDIR" -p "$PORT" -d postgres \
              -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1 ]]; then
      say "standby: streaming"
      return 0
    fi
    sleep 0.2
  done
  die "the standby does not stream"
}

stop_clusters() {
  if (( STANDBY_UP )); then
    as_pg pg_ctl -D "$STANDBY_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      as_pg pg_ctl -D "$STANDBY_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    STANDBY_UP=0
  fi
  if (( PRIMARY_UP )); then
    as_pg pg_ctl -D "$PRIMARY_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      as_pg pg_ctl -D "$PRIMARY_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    PRIMARY_UP=0
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $DRIVER_PID ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  if (( rc != 0 && SERVER_LOG_ON_ERROR )) && [[ -n $WORKDIR && -f $WORKDIR/primary.log ]]; then
    warn "failed (exit $rc); last lines of the server log:"
    tail -n 30 "$WORKDIR/primary.log" >&2 || true
  fi
  stop_clusters
  if [[ -n $WORKDIR && -d $WORKDIR ]]; then
    rm -rf "$WORKDIR"
  fi
  if [[ -n $SMOKE_OUT && -d $SMOKE_OUT ]]; then
    if (( rc == 0 )); then
      rm -rf "$SMOKE_OUT"
    else
      warn "smoke output kept in $SMOKE_OUT"
    fi
  fi
  exit "$rc"
}

on_signal() {
  warn "interrupted"
  exit 130
}

# ------------------------------------------------------------------ bench

# run_driver: scripts/bench/driver.py with the cluster's coordinates, in the
# background so that a signal reaches our trap at once.
run_driver() {
  local -a args=(
    --host "$WORKDIR" --port "$PORT" --user "$RUN_AS" --pgbin "$PGBIN"
    --out "$OUT" --rows "$ROWS" --clients "$CLIENTS" --rate "$RATE"
    --baseline "$BASELINE" --idle-seconds "$IDLE_SECS" --contenders "$CONTENDERS"
    --command "$COMMAND_LINE"
  )
  (( STANDBY )) && args+=(--standby-port $(( PORT + 1 )) --standby-lag "$STANDBY_LAG")
  (( SCALING )) && args+=(--scaling-rows "$SCALING_ROWS")
  (( SCALING_ONLY )) && args+=(--no-main)
  (( SMOKE )) && args+=(--warmup 0.5 --tail 0.5)
  env -i "PATH=$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "LANG=C.UTF-8" "HOME=$WORKDIR" "PGTZ=UTC" \
    "$PYTHON" -B "$REPO_ROOT/scripts/bench/driver.py" "${args[@]}" &
  DRIVER_PID=$!
  local rc=0
  wait "$DRIVER_PID" || rc=$?
  DRIVER_PID=""
  return "$rc"
}

main() {
  parse_args "$@"
  trap cleanup EXIT
  trap on_signal INT TERM
  local t0
  t0=$(now_ms)

  say "pg_retention benchmark ($(date '+%Y-%m-%d %H:%M:%S')): rows $ROWS, clients $CLIENTS," \
      "rate $RATE/s, baseline ${BASELINE}s$( (( STANDBY )) && printf ', standby')$( (( SMOKE )) && printf ', smoke')"
  install_packages
  if (( BUILD )); then
    build_extension
  else
    say "build: skipped (--no-build)"
  fi
  if (( IS_ROOT )); then
    id -u postgres >/dev/null 2>&1 || die "no user postgres (is postgresql-15 installed?)"
    RUN_AS=postgres
  fi
  PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null) || die "$PG_CONFIG does not work"
  [[ -x $PGBIN/initdb && -x $PGBIN/pgbench ]] || die "no initdb or pgbench in $PGBIN (is postgresql-15 installed?)"
  [[ -f $("$PG_CONFIG" --sharedir)/extension/pg_retention.control ]] ||
    die "pg_retention is not installed (run without --no-build)"

  if [[ -z $OUT ]]; then
    if (( SMOKE )); then
      SMOKE_OUT=$(mktemp -d "${TMPDIR:-/tmp}/pg_retention-bench-smoke.XXXXXX")
      OUT=$SMOKE_OUT
    else
      OUT=$REPO_ROOT/bench/results
    fi
  fi
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  say "output: $OUT"

  start_primary
  (( STANDBY )) && start_standby
  local rc=0
  run_driver || rc=$?
  if (( rc == 3 )); then
    SERVER_LOG_ON_ERROR=0
    die "correctness checks failed (see above)"
  fi
  (( rc == 0 )) || die "the benchmark failed (driver exit $rc)"
  stop_clusters
  if (( SMOKE )) && [[ -f $OUT/results.md ]]; then
    say ""
    sed -n '/^## Results/,/^## Targets/p' "$OUT/results.md" | sed '$d'
  fi
  if [[ -n $SMOKE_OUT ]]; then
    say "bench.sh: smoke passed in $(secs_since "$t0")s (its temporary output is removed)"
  else
    say "bench.sh: done in $(secs_since "$t0")s; results in $OUT"
  fi
}

main "$@"
