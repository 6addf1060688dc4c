#!/usr/bin/env bash
# test/pgtap/run.sh [FILE...]: run the pgTAP tests (default test/pgtap/*.sql)
# with pg_prove in a temporary cluster; `make pgtap` calls it with the
# server's bindir first in PATH. The cluster listens only on a Unix socket in
# ./tmp_check_pgtap, preloads pg_retention with test/conf/pg_retention.conf,
# and is stopped on exit. pg_prove's output (and exit status) is the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=$PWD/tmp_check_pgtap
files=("$@")
(( ${#files[@]} )) || files=(test/pgtap/*.sql)
if [[ ! -f $(pg_config --sharedir)/extension/pgtap.control ]]; then
  echo "pgtap: pgTAP is not installed for $(pg_config --version)" >&2
  exit 3
fi
rm -rf "$dir"; mkdir -p "$dir"
initdb -D "$dir/data" -A trust -E UTF8 --no-sync >"$dir/initdb.log"
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
max_connections = 40
include = '$PWD/test/conf/pg_retention.conf'
CONF
pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
trap 'pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true' EXIT
createdb -h "$dir" pgr_pgtap
psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -d pgr_pgtap -c 'CREATE EXTENSION pgtap'
rc=0
pg_prove -h "$dir" -d pgr_pgtap "${files[@]}" || rc=$?
if (( rc )); then echo "----- $dir/server.log (last 60 lines) -----"; tail -n 60 "$dir/server.log"; fi
exit "$rc"
