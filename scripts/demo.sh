#!/usr/bin/env bash
# scripts/demo.sh: pg_retention on a GitLab-shaped database, end to end.
#
#   scripts/demo.sh              set up, run the demo, clean up
#   scripts/demo.sh --keep       leave the demo cluster running afterwards
#   scripts/demo.sh --no-build   use the extension as already installed
#
# Meant for a fresh Debian 12 machine, run as root: installs the Debian
# packages it needs (when missing), builds and installs the extension in the
# repository, starts a throwaway PostgreSQL 15 cluster as the "postgres" user
# in a temporary directory (Unix socket in that directory only, no TCP),
# creates Doorkeeper/GitLab tables with ~1M rows spread over two years,
# declares GitLab's retention rules as policies, previews and runs them, and
# prints rows moved, time taken, table sizes, the run history and a check
# that every row is in exactly one place. Then stops the cluster and removes
# the directory (unless --keep).
#
# Run as a normal user it skips apt, runs the cluster as that user and
# installs the extension with passwordless sudo when it has to.
#
# The SQL of each step is in scripts/demo/*.sql.
#
# Environment knobs:
#   PG_CONFIG          pg_config to build against (default /usr/bin/pg_config)
#   PGR_DEMO_PORT      port number of the cluster (default 5432; only names
#                      the socket file, the cluster does not listen on TCP)

set -euo pipefail
# shellcheck source=scripts/lib/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"
# shellcheck source=scripts/lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

readonly APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 g++ make)
readonly DB=retention_demo
readonly POLICIES=(public.oauth_access_tokens public.oauth_access_grants public.authentication_events)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SQL_SRC=$REPO_ROOT/scripts/demo
PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
PORT=${PGR_DEMO_PORT:-5432}

KEEP=0
BUILD=1
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
RUN_AS=$(id -un)        # owner of the cluster: postgres when run as root

WORKDIR=""              # /tmp/pg_retention-demo.XXXXXX, owned by $RUN_AS
PGDATA_DIR=""           # $WORKDIR/data
SQL_DIR=""              # $WORKDIR/sql: copy of scripts/demo readable by $RUN_AS
PGBIN=""
STARTED=0               # the cluster is running
DONE=0                  # reached the end: --keep may leave the cluster up
T_START=$(date +%s)

# ---------------------------------------------------------------- helpers

say()  { printf '%s\n' "$*"; }
warn() { printf 'demo.sh: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

usage() {
  say "usage: $0 [--keep] [--no-build]"
  say "  --keep      leave the demo cluster running and print how to connect"
  say "  --no-build  skip apt and the build; use the installed extension"
}

section() {
  say ""
  say "================================================================================"
  say "== $*"
  say "================================================================================"
}

# psql_demo ARGS...: psql on the demo database, quiet, aligned, no footers,
# stopping at the first error.
psql_demo() {
  as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$WORKDIR" -p "$PORT" -d "$DB" \
    -P pager=off -P footer=off "$@"
}

# run_sql FILE [ARGS...]: run scripts/demo/FILE (by a relative name, so that
# psql prefixes its messages with a short "psql:sql/FILE:LINE:").
run_sql() {
  local file=$1; shift
  psql_demo "$@" -f "sql/$file"
}

# ------------------------------------------------------------ setup steps

install_packages() {
  if [[ -z $(missing_packages "${APT_PACKAGES[@]}") ]]; then
    say "apt: ${APT_PACKAGES[*]} already installed"
    return 0
  fi
  apt_install "${APT_PACKAGES[@]}"
}

start_cluster() {
  WORKDIR=$(mktemp -d /tmp/pg_retention-demo.XXXXXX)
  PGDATA_DIR=$WORKDIR/data
  SQL_DIR=$WORKDIR/sql
  mkdir -p "$SQL_DIR"
  cp "$SQL_SRC"/*.sql "$SQL_DIR"/
  if (( IS_ROOT )); then
    chown -R "$RUN_AS:" "$WORKDIR"
  fi
  chmod 700 "$WORKDIR"

  say "cluster: initdb in $PGDATA_DIR (as $RUN_AS)"
  if ! as_pg initdb -D "$PGDATA_DIR" -A trust -E UTF8 --no-locale --no-sync \
         >"$WORKDIR/initdb.log" 2>&1; then
    tail -n 30 "$WORKDIR/initdb.log" >&2 || true
    die "initdb failed"
  fi
  # Only a Unix socket, inside the private (mode 700) temporary directory.
  as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# added by scripts/demo.sh
listen_addresses = ''
unix_socket_directories = '$WORKDIR'
port = $PORT
shared_preload_libraries = 'pg_retention'
# The background scheduler would run the new policies at once, on its own;
# the demo runs them explicitly so that it can measure before and after.
retention.enabled = off
max_wal_size = '2GB'
EOF
  say "cluster: starting (socket in $WORKDIR, port $PORT)"
  STARTED=1
  if ! as_pg pg_ctl -D "$PGDATA_DIR" -l "$WORKDIR/server.log" -w -t 60 start >/dev/null; then
    die "the demo cluster did not start"
  fi
  as_pg createdb -h "$WORKDIR" -p "$PORT" "$DB"
  say "cluster: $(psql_demo -At -c "SELECT version()")"
}

stop_cluster() {
  (( STARTED )) || return 0
  as_pg pg_ctl -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 ||
    as_pg pg_ctl -D "$PGDATA_DIR" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  STARTED=0
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if (( DONE && KEEP )); then
    exit "$rc"
  fi
  if (( rc != 0 )) && [[ -n $WORKDIR && -f $WORKDIR/server.log ]]; then
    warn "failed (exit $rc); last lines of the server log:"
    tail -n 30 "$WORKDIR/server.log" >&2 || true
  fi
  stop_cluster
  if [[ -n $WORKDIR && -d $WORKDIR ]]; then
    rm -rf "$WORKDIR"
  fi
  exit "$rc"
}

on_signal() {
  warn "interrupted"
  exit 130
}

# ------------------------------------------------------------------- demo

run_policy() {
  local name=$1 start
  say ""
  say "--- CALL retention.run('$name') ---"
  start=$(now_ms)
  psql_demo -c "CALL retention.run('$name')"
  say "(wall clock: $(secs_since "$start")s)"
}

main() {
  local a
  for a in "$@"; do
    case $a in
      --keep) KEEP=1 ;;
      --no-build) BUILD=0 ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; exit 2 ;;
    esac
  done

  trap cleanup EXIT
  trap on_signal INT TERM

  section "pg_retention demo: Doorkeeper/GitLab retention ($(date '+%Y-%m-%d %H:%M:%S'))"
  if (( BUILD )); then
    if (( IS_ROOT )); then install_packages; fi
    build_extension
  else
    say "build: skipped (--no-build)"
  fi
  if (( IS_ROOT )); then
    id -u postgres >/dev/null 2>&1 || die "no user postgres (is postgresql-15 installed?)"
    RUN_AS=postgres
  fi
  PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null) || die "$PG_CONFIG does not work"
  [[ -x $PGBIN/initdb ]] || die "no initdb in $PGBIN (is postgresql-15 installed?)"
  start_cluster

  local t
  section "1. Schema and data: oauth_access_tokens, oauth_access_grants, authentication_events"
  t=$(now_ms)
  run_sql schema.sql
  run_sql data.sql
  say "generated in $(secs_since "$t")s"

  section "2. Policies (GitLab's rules)"
  run_sql policies.sql -e
  t=$(now_ms)
  run_sql baseline.sql
  say ""
  say "snapshot of every row (id, expiry, content hash) for the final check taken in $(secs_since "$t")s"
  say ""
  say "--- the data before any run ---"
  run_sql overview.sql

  section "3. Preview (dry run)"
  run_sql preview.sql

  section "4. Run each policy"
  local name
  t=$(now_ms)
  for name in "${POLICIES[@]}"; do
    run_policy "$name"
  done
  say ""
  say "all three policies: $(secs_since "$t")s"
  say ""
  say "--- second pass, every enabled policy: CALL retention.run() ---"
  t=$(now_ms)
  psql_demo -c "CALL retention.run()"
  say "(wall clock: $(secs_since "$t")s; nothing was left to move)"

  section "5. Results"
  run_sql after.sql
  run_sql report.sql

  section "6. Verification: every row is in exactly one place"
  run_sql verify.sql

  DONE=1
  section "Done in $(( $(date +%s) - T_START ))s"
  if (( KEEP )); then
    local who=""
    (( IS_ROOT )) && who="runuser -u $RUN_AS -- "
    say "The demo cluster is still running (data directory $PGDATA_DIR)."
    say "Connect with:"
    say "  ${who}psql -h $WORKDIR -p $PORT -d $DB"
    say "Stop it and remove everything with:"
    say "  ${who}$PGBIN/pg_ctl -D $PGDATA_DIR stop && rm -rf $WORKDIR"
  else
    stop_cluster
    rm -rf "$WORKDIR"
    WORKDIR=""
    say "The demo cluster was stopped and its directory removed (use --keep to keep it)."
  fi
}

main "$@"
