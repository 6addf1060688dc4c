#!/usr/bin/env bash
# scripts/test.sh: run pg_retention's test tiers on every supported PostgreSQL
# version and print one summary, a row per version and tier.
#
#   scripts/test.sh                          every tier on 15, 17 and 18
#   scripts/test.sh --pg 17 regress isolation  the named tiers on one version
#
# Tiers (the knowledge is in the Makefile; this script only orchestrates):
#   unit         make unit (CMake/ctest; no server, run once)
#   regress      make installcheck ISOLATION=    (pg_regress)
#   isolation    make installcheck REGRESS=      (isolation specs)
#   pgtap        make pgtap                      (where pgTAP is packaged: 15)
#   tap          make prove_installcheck         (PostgreSQL::Test)
#   demo         scripts/demo.sh --no-build
#   bench-smoke  scripts/bench.sh --smoke --no-build
#
# Servers come from scripts/pg-server.sh (15: Debian packages; 18: built from
# Debian's source; 17: assembled), cached outside the checkout.
#
# Run as root (CI does): installs the Debian packages it needs, creates the
# unprivileged user $PGR_TEST_USER (default pgrtest), copies the tree into a
# fresh /tmp/pg_retention-test.* per version, builds and tests there as that
# user and runs only `make install` as root (into the shared system 15 under
# flock /tmp/pgr-install.lock). As a normal user it skips apt and the user,
# needs the servers already cached, and `make install` needs write access.
#
# Every tier runs even when an earlier one failed. The last line of output is
# exactly "N passed, M failed", counted in individual tests over all rows.
#
# Environment knobs:
#   PGR_TEST_USER      unprivileged user when run as root (default pgrtest)
#   PGR_PG_VERSIONS    versions when --pg is not given (default "15 17 18")
#   PGR_TIER_TIMEOUT   seconds one tier's test command may take (default 1500)
#   PGR_KEEP_TMP=1     keep the temporary directory for inspection
#   PGR_PRIVATE_SERVER=1  copy each server into the temporary directory and
#                      install there, so that checkouts tested side by side
#                      never replace each other's module (no install lock)
#   PGR_ONLY="a b"     run only these tests of the regress, isolation and tap
#                      tiers (names without directory or extension)
#   CI=true            build the extension with EXTRA_CXXFLAGS=-Werror

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/parsers.sh"

readonly ALL_TIERS=(unit regress isolation pgtap tap demo bench-smoke)
readonly APT_PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-repack
  postgresql-15-cron
  libtap-parser-sourcehandler-pgtap-perl libipc-run-perl pgbouncer
  prometheus-postgres-exporter
  cmake g++ make googletest libgtest-dev perl
  python3 python3-psycopg2 python3-matplotlib
  bison flex libicu-dev libreadline-dev zlib1g-dev pkg-config dpkg-dev
)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_USER=${PGR_TEST_USER:-pgrtest}
TIER_TIMEOUT=${PGR_TIER_TIMEOUT:-1500}
IS_ROOT=0; [[ $(id -u) -eq 0 ]] && IS_ROOT=1
TMPROOT="" LOGDIR="" SRC="" PG_CONFIG="" PGBIN="" SUMMARY_DONE=0 SUMMARY_FAILED=0
declare -A T_STATUS=() T_PASS=() T_FAIL=() T_SECS=() T_NOTE=()
ROWS=()

say()  { printf '%s\n' "$*"; }
warn() { printf 'test.sh: %s\n' "$*" >&2; }
now()  { date +%s; }
usage() { say "usage: $0 [--pg VERSION[,VERSION...]] [tier...]"; say "tiers: ${ALL_TIERS[*]}"; }

# record ROW STATUS PASSED FAILED SECONDS NOTE (STATUS: ok FAIL ERROR skip)
record() {
  local row=$1 r
  T_STATUS[$row]=$2 T_PASS[$row]=$3 T_FAIL[$row]=$4 T_SECS[$row]=$5 T_NOTE[$row]=$6
  for r in "${ROWS[@]+"${ROWS[@]}"}"; do [[ $r == "$row" ]] && break; done
  [[ ${r:-} == "$row" ]] || ROWS+=("$row")
  say "=== [$row] $2: $3 passed, $4 failed, $5s${6:+ ($6)} ==="
}

# in_dir DIR CMD...: CMD in DIR as the test user, with a clean environment
# (a stray PGPORT/PGHOST cannot leak in) and the tier time limit.
in_dir() {
  local dir=$1; shift
  local -a env=("HOME=$TMPROOT/home" "TMPDIR=$TMPROOT/tmp" "LANG=C.UTF-8"
    "PATH=$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "PG_TEST_TIMEOUT_DEFAULT=120" "PGISOLATIONTIMEOUT=120" "PG_CONFIG=$PG_CONFIG")
  [[ -n ${CI:-} ]] && env+=("CI=$CI")
  if (( IS_ROOT )); then
    setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
      env -i -C "$dir" "${env[@]}" timeout --kill-after=30 "$TIER_TIMEOUT" "$@"
  else
    env -i -C "$dir" "${env[@]}" timeout --kill-after=30 "$TIER_TIMEOUT" "$@"
  fi
}

# logged LOG CMD...: CMD's output to the terminal and to LOG; CMD's status.
logged() { local log=$1; shift; "$@" 2>&1 | tee -a "$log"; }

install_packages() {
  local -a missing=()
  mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
  command -v npm >/dev/null || missing+=(npm)   # 17's server comes from npm
  (( ${#missing[@]} )) || { say "apt: all packages already installed"; return 0; }
  say "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update && apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"; } \
    </dev/null >"$TMPROOT/apt.log" 2>&1 || { tail -n 40 "$TMPROOT/apt.log" >&2; return 1; }
}

# Copy the working tree (tracked and untracked, not ignored) into DIR.
copy_tree() {
  mkdir -p "$1"
  git -C "$REPO_ROOT" -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
    (cd "$REPO_ROOT" && while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done) |
    tar -C "$REPO_ROOT" --null --no-recursion -T - -cf - | tar -C "$1" -xf -
  (( IS_ROOT )) && chown -R "$TEST_USER:" "$1"
  return 0
}

# Stop every server still running from a data directory under DIR.
stop_clusters() {
  local pidfile
  while IFS= read -r -d '' pidfile; do
    in_dir "$TMPROOT" "$PGBIN/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  done < <(find "$1" -name postmaster.pid -print0 2>/dev/null)
}

cleanup() {
  local rc=$?
  trap - EXIT HUP INT TERM
  [[ -n $TMPROOT && -n $PGBIN ]] && stop_clusters "$TMPROOT"
  if [[ -n $TMPROOT && -d $TMPROOT ]]; then
    if [[ ${PGR_KEEP_TMP:-0} == 1 ]]; then warn "kept $TMPROOT"; else rm -rf "$TMPROOT"; fi
  fi
  if (( ! SUMMARY_DONE )); then
    record runner ERROR 0 1 0 "test.sh stopped early (exit $rc)"
    print_summary; (( rc == 0 )) && rc=1
  fi
  exit "$rc"
}

# only_arg VAR DIR EXT: "VAR=..." naming the PGR_ONLY tests found in DIR.
only_arg() {
  local var=$1 dir=$2 ext=$3 t list=()
  [[ -n ${PGR_ONLY:-} ]] || { printf 'PGR_ONLY='; return 0; }
  for t in $PGR_ONLY; do
    [[ -f $SRC/$dir/$t$ext ]] || continue
    if [[ $var == PROVE_TESTS ]]; then list+=("$dir/$t$ext"); else list+=("$t"); fi
  done
  printf '%s=%s' "$var" "${list[*]-}"
}

# finish ROW START RC COUNTS: a row from a parser's "PASSED FAILED" (or "").
finish() {
  local row=$1 start=$2 rc=$3 counts=$4 p=0 f=0 status=ok note=""
  [[ -n $counts ]] && read -r p f <<<"$counts"
  (( rc == 124 || rc == 137 )) && note="timed out after ${TIER_TIMEOUT}s"
  if [[ -z $counts ]]; then status=ERROR f=$((f + 1)) note="${note:+$note; }no test summary (exit $rc)"
  elif (( rc != 0 && f == 0 )); then status=ERROR f=1 note="${note:+$note; }exited $rc without a failed test"
  elif (( f > 0 )); then status=FAIL; fi
  record "$row" "$status" "$p" "$f" $(( $(now) - start )) "$note"
}

# run_tier VERSION TIER: one tier against the extension built for VERSION.
run_tier() {
  local v=$1 tier=$2 row="$1 $2" start rc=0 log=$LOGDIR/$1-$2.log counts=""
  start=$(now)
  say ""; say "=== [$row] start $(date +%H:%M:%S) ==="
  case $tier in
    regress)   logged "$log" in_dir "$SRC" make installcheck ISOLATION= "$(only_arg REGRESS sql .sql)" || rc=$?
               counts=$(parse_pg_regress "$log") ;;
    isolation) logged "$log" in_dir "$SRC" make installcheck REGRESS= \
                 "$(only_arg ISOLATION test/isolation/specs .spec)" || rc=$?
               counts=$(parse_pg_regress "$log") ;;
    tap)       logged "$log" in_dir "$SRC" make prove_installcheck "$(only_arg PROVE_TESTS test/t .pl)" || rc=$?
               counts=$(parse_tap_harness "$log") ;;
    pgtap)     if [[ ! -f $("$PG_CONFIG" --sharedir)/extension/pgtap.control ]]; then
                 record "$row" skip 0 0 0 "pgTAP is not packaged for PostgreSQL $v on Debian 12"; return 0
               fi
               logged "$log" in_dir "$SRC" make pgtap || rc=$?
               counts=$(parse_tap_harness "$log") ;;
    demo)      logged "$log" in_dir "$SRC" bash scripts/demo.sh --no-build || rc=$?
               counts="$(( rc == 0 )) $(( rc != 0 ))" ;;
    bench-smoke) logged "$log" in_dir "$SRC" bash scripts/bench.sh --smoke --no-build || rc=$?
               counts="$(( rc == 0 )) $(( rc != 0 ))" ;;
  esac
  finish "$row" "$start" "$rc" "$counts"
  if [[ ${T_STATUS[$row]} != ok ]]; then
    local d
    for d in "$SRC/regression.diffs" "$SRC/test/isolation/regression.diffs" "$SRC/tmp_check_pgtap/server.log"; do
      [[ -s $d && $d -nt $LOGDIR/$v-build.log ]] && { say "----- $d (first 400 lines) -----"; head -n 400 "$d"; }
    done
    for d in $(tap_failed_files "$log"); do
      d=$SRC/tmp_check/log/regress_log_$(basename "$d" .pl)
      [[ -f $d ]] && { say "----- $d (last 150 lines) -----"; tail -n 150 "$d"; }
    done
  fi
  stop_clusters "$SRC"
}

# build_extension VERSION: make as the test user, make install as root.
build_extension() {
  local v=$1 start rc=0 log=$LOGDIR/$1-build.log
  start=$(now)
  local -a mk=(make -j2)
  [[ ${CI:-} == true ]] && mk+=("EXTRA_CXXFLAGS=-Werror")
  logged "$log" in_dir "$SRC" "${mk[@]}" >/dev/null || rc=$?
  # The system's 15 is shared with other checkouts: install under a lock.
  # JIT bitcode of an earlier install would outlive ours (the Makefile turns
  # with_llvm off) and be inlined in its place.
  local -a inst=(flock /tmp/pgr-install.lock sh -c 'rm -rf "$1"/bitcode/pg_retention*; shift; exec "$@"'
                 sh "$("$PG_CONFIG" --pkglibdir)" make install "PG_CONFIG=$PG_CONFIG")
  if (( rc == 0 )); then
    logged "$log" env -C "$SRC" "${inst[@]}" >/dev/null || rc=$?
    (( IS_ROOT )) && chown -R "$TEST_USER:" "$SRC"
  fi
  if (( rc == 0 )); then record "$v build" ok - - $(( $(now) - start )) ""
  else tail -n 40 "$log"; record "$v build" FAIL 0 1 $(( $(now) - start )) "make/make install exited $rc"; fi
}

# private_server VERSION PG_CONFIG: copy the server's directories under
# $TMPROOT/server, keeping their absolute paths below it; PostgreSQL finds its
# files relative to its binaries, so the copy's pg_config, postgres and PGXS
# all point into the copy. Prints the copy's pg_config.
private_server() {
  local root=$TMPROOT/server$1 pgc=$2 d c copied=()
  for d in "$("$pgc" --bindir)/.." "$("$pgc" --sharedir)" "$("$pgc" --pkglibdir)" \
           "$("$pgc" --includedir-server)" "$("$pgc" --includedir)"; do
    d=$(realpath -m "$d")
    [[ -d $d ]] || continue
    for c in "${copied[@]+"${copied[@]}"}"; do [[ $d == "$c" || $d == "$c"/* ]] && continue 2; done
    mkdir -p "$root$(dirname "$d")" && cp -a "$d" "$root$(dirname "$d")/" || return 1
    copied+=("$d")
  done
  (( IS_ROOT )) && chown -R "$TEST_USER:" "$root"
  printf '%s\n' "$root$(realpath -m "$pgc")"
}

print_summary() {
  local r p f tp=0 tf=0
  say ""; say "=================================== summary ==================================="
  printf '%-3s %-12s %-6s %7s %7s %7s  %s\n' pg tier status passed failed time note
  for r in "${ROWS[@]+"${ROWS[@]}"}"; do
    p=${T_PASS[$r]} f=${T_FAIL[$r]}
    printf '%-3s %-12s %-6s %7s %7s %6ss  %s\n' ${r% *} ${r#* } "${T_STATUS[$r]}" "$p" "$f" "${T_SECS[$r]}" "${T_NOTE[$r]}"
    [[ $p =~ ^[0-9]+$ ]] && tp=$((tp + p)); [[ $f =~ ^[0-9]+$ ]] && tf=$((tf + f))
  done
  say "==============================================================================="
  SUMMARY_DONE=1 SUMMARY_FAILED=$tf
  printf '%d passed, %d failed\n' "$tp" "$tf"
}

main() {
  local -a tiers=() versions=() order=()
  read -r -a versions <<<"${PGR_PG_VERSIONS:-15 17 18}"
  while (( $# )); do
    case $1 in
      -h|--help) usage; exit 0 ;;
      --pg) [[ -n ${2:-} ]] || { usage >&2; exit 2; }; IFS=', ' read -r -a versions <<<"$2"; shift ;;
      --pg=*) IFS=', ' read -r -a versions <<<"${1#--pg=}" ;;
      all) tiers=("${ALL_TIERS[@]}") ;;
      *) [[ " ${ALL_TIERS[*]} " == *" $1 "* ]] || { usage >&2; exit 2; }; tiers+=("$1") ;;
    esac
    shift
  done
  (( ${#tiers[@]} )) || tiers=("${ALL_TIERS[@]}")
  local want=" ${tiers[*]} " v t t0 start
  for v in "${versions[@]}"; do [[ $v =~ ^(15|17|18)$ ]] || { warn "unsupported version $v"; exit 2; }; done
  trap cleanup EXIT; trap 'warn interrupted; exit 130' HUP INT TERM
  t0=$(now)
  say "=== pg_retention tests: PostgreSQL ${versions[*]}; tiers:${want% } ($(date '+%F %T')) ==="
  TMPROOT=$(mktemp -d /tmp/pg_retention-test.XXXXXX); LOGDIR=$TMPROOT/logs
  mkdir -p "$LOGDIR" "$TMPROOT/home" "$TMPROOT/tmp"; chmod 755 "$TMPROOT"
  if (( IS_ROOT )); then
    start=$(now)
    install_packages || { record "- setup" ERROR 0 1 $(( $(now) - start )) "apt-get failed"; print_summary; exit 1; }
    id -u "$TEST_USER" >/dev/null 2>&1 ||
      useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$TEST_USER"
    chown "$TEST_USER:" "$TMPROOT/home" "$TMPROOT/tmp"
  fi
  if [[ $want == *" unit "* ]]; then
    SRC=$TMPROOT/unit; copy_tree "$SRC"; PGBIN=/usr/bin PG_CONFIG=/bin/false
    start=$(now); say ""; say "=== [- unit] start $(date +%H:%M:%S) ==="
    local rc=0
    logged "$LOGDIR/unit.log" in_dir "$SRC" make -s unit PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config || rc=$?
    finish "- unit" "$start" "$rc" "$(parse_ctest "$LOGDIR/unit.log")"
  fi
  [[ $want == " unit " ]] && versions=()
  # 17 takes its client tools from 18: provide 18 first.
  for v in 15 18 17; do [[ " ${versions[*]} " == *" $v "* ]] && order+=("$v"); done
  declare -A PGC=()
  for v in "${order[@]}"; do
    start=$(now); say ""; say "=== [$v server] start $(date +%H:%M:%S) ==="
    local out=$LOGDIR/$v-server.log cached=""
    [[ -f ${PGR_PG_CACHE:-/var/cache/pg_retention-pg}/$v/.stamp ]] && cached="cached: "
    if PGC[$v]=$(bash "$REPO_ROOT/scripts/pg-server.sh" "$v" 2> >(tee "$out" >&2) | tail -n 1) && [[ -x ${PGC[$v]} ]]; then
      record "$v server" ok - - $(( $(now) - start )) "$cached$("${PGC[$v]}" --version)"
    else
      PGC[$v]=""; record "$v server" ERROR 0 1 $(( $(now) - start )) "scripts/pg-server.sh $v failed"
    fi
  done
  for v in "${versions[@]}"; do
    [[ -n ${PGC[$v]:-} ]] || continue
    if [[ ${PGR_PRIVATE_SERVER:-0} == 1 ]]; then
      PGC[$v]=$(private_server "$v" "${PGC[$v]}") || { record "$v server" ERROR 0 1 0 "copying the server failed"; continue; }
    fi
    PG_CONFIG=${PGC[$v]} PGBIN=$("${PGC[$v]}" --bindir) SRC=$TMPROOT/pg$v
    copy_tree "$SRC"
    build_extension "$v"
    for t in "${ALL_TIERS[@]}"; do
      [[ $t != unit && $want == *" $t "* ]] || continue
      if [[ ${T_STATUS["$v build"]} != ok ]]; then record "$v $t" ERROR 0 1 0 "extension build failed"; continue; fi
      run_tier "$v" "$t"
    done
  done
  say ""; say "total time: $(( $(now) - t0 ))s"
  print_summary
  local r bad=0
  for r in "${ROWS[@]}"; do [[ ${T_STATUS[$r]} == ERROR || ${T_STATUS[$r]} == FAIL ]] && bad=1; done
  (( SUMMARY_FAILED == 0 && bad == 0 ))
}

# Sourcing the file (e.g. to try a parser on a saved log) runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
