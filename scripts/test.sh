#!/usr/bin/env bash
# scripts/test.sh: run pg_retention's test tiers and print one summary.
#
#   scripts/test.sh                  every tier
#   scripts/test.sh unit regress     only the named tiers (in canonical order)
#
# Tiers: unit (CMake/ctest), regress (pg_regress), isolation (isolation specs),
# pgtap (pg_prove against a temporary cluster), tap (prove, PostgreSQL::Test),
# demo (scripts/demo.sh --no-build on the installed extension),
# bench-smoke (scripts/bench.sh --smoke, when that exists).
#
# Run as root (CI does): installs the Debian packages it needs, creates the
# unprivileged user $PGR_TEST_USER (default pgrtest), copies the tree into a
# fresh /tmp/pg_retention-test.* owned by that user, builds and tests there as
# that user, and runs only `make install` as root. Run as a normal user: skips
# apt and user handling and runs everything as yourself (`make install` then
# needs write access to PostgreSQL's directories, or passwordless sudo).
#
# Every tier runs even when an earlier one failed. The last line of output is
# exactly "N passed, M failed", counted in individual tests over all tiers.
# The exit status is non-zero when M > 0 or when a tier could not run.
#
# Environment knobs:
#   PGR_TEST_USER      unprivileged user when run as root (default pgrtest)
#   PG_CONFIG          pg_config to build against (default /usr/bin/pg_config)
#   PGR_TIER_TIMEOUT   seconds one tier's test command may take (default 1500)
#   PGR_KEEP_TMP=1     keep the temporary directory for inspection
#   PGR_ONLY="a b"     run only these tests of the regress, isolation and tap
#                      tiers (names without directory or extension)
#   CI=true            build the extension with EXTRA_CXXFLAGS=-Werror

set -euo pipefail
# shellcheck source=scripts/lib/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"

readonly ALL_TIERS=(unit regress isolation pgtap tap demo bench-smoke)
readonly DB_TIERS=" regress isolation pgtap tap demo "
readonly APT_PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
  libtap-parser-sourcehandler-pgtap-perl libipc-run-perl pgbouncer
  cmake g++ make googletest libgtest-dev perl
  python3 python3-psycopg2 python3-matplotlib
)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_USER=${PGR_TEST_USER:-pgrtest}
PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
TIER_TIMEOUT=${PGR_TIER_TIMEOUT:-1500}
DIFF_LINES=400          # lines of regression.diffs shown per failing tier
LOG_LINES=150           # lines of a failing TAP test's log shown

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

TMPROOT=""              # /tmp/pg_retention-test.XXXXXX
SRC=""                  # $TMPROOT/src: the copy we build and test in
LOGDIR=""               # $TMPROOT/logs: captured output of each step
PGBIN=""                # server binaries (pg_config --bindir)
PGTAP_DATA=""           # data directory of the pgtap tier's cluster
BUILD_STATE=""          # "", ok or failed
SUMMARY_DONE=0

declare -A T_STATUS=() T_PASS=() T_FAIL=() T_SECS=() T_NOTE=()
ROWS=()                 # rows of the summary table, in run order

# ---------------------------------------------------------------- helpers

say()  { printf '%s\n' "$*"; }
warn() { printf 'test.sh: %s\n' "$*" >&2; }

usage() {
  say "usage: $0 [tier...]"
  say "tiers: ${ALL_TIERS[*]} (default: all)"
}

# record ROW STATUS PASSED FAILED SECONDS NOTE
#   STATUS: ok | FAIL (tests failed) | ERROR (could not run) | skip
record() {
  local row=$1
  T_STATUS[$row]=$2 T_PASS[$row]=$3 T_FAIL[$row]=$4 T_SECS[$row]=$5 T_NOTE[$row]=$6
  local r
  for r in "${ROWS[@]+"${ROWS[@]}"}"; do [[ $r == "$row" ]] && return 0; done
  ROWS+=("$row")
}

# The environment every build and test command gets: nothing inherited but
# what is listed here, so a stray PGPORT/PGHOST/PGDATABASE cannot leak in.
user_env() {
  local -a e=(
    "HOME=$TMPROOT/home"
    "PATH=$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "LANG=C.UTF-8"
    "TMPDIR=$TMPROOT/tmp"
    "PG_TEST_TIMEOUT_DEFAULT=120"
    "PGISOLATIONTIMEOUT=120"
    "PG_CONFIG=$PG_CONFIG"
  )
  [[ -n ${CI:-} ]] && e+=("CI=$CI")
  [[ -n ${TERM:-} ]] && e+=("TERM=$TERM")
  printf '%s\0' "${e[@]}"
}

# in_dir DIR CMD...: run CMD in DIR as the test user with the clean env.
# setpriv execs in place (unlike runuser, no parent process stays behind to
# catch signals), so an interrupt reaches CMD directly.
in_dir() {
  local dir=$1; shift
  local -a env_vars=()
  mapfile -d '' env_vars < <(user_env)
  if (( IS_ROOT )); then
    setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
      env -i -C "$dir" "${env_vars[@]}" "$@"
  else
    env -i -C "$dir" "${env_vars[@]}" "$@"
  fi
}

# Same, with a time limit; timeout kills the command's whole process group.
in_dir_timed() {
  local dir=$1; shift
  in_dir "$dir" timeout --kill-after=30 "$TIER_TIMEOUT" "$@"
}

# The step running in the background (see run_bg); killed on interrupt.
CHILD_PID=""

# run_bg CMD...: run CMD in the background and wait for it, so that a
# signal to this script is handled at once rather than after CMD ends.
run_bg() {
  local rc=0
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

# children_of PID: the PIDs whose parent is PID (from /proc; no procps).
children_of() {
  local parent=$1 f stat
  local -a fields
  for f in /proc/[0-9]*/stat; do
    { read -r stat <"$f"; } 2>/dev/null || continue
    read -r -a fields <<<"${stat##*) }"   # state ppid ...
    if [[ ${fields[1]:-} == "$parent" ]]; then
      f=${f#/proc/}; printf '%s\n' "${f%/stat}"
    fi
  done
}

# kill_tree PID: TERM, then KILL, PID and every process below it.
kill_tree() {
  local root=$1 p i
  local -a tree=("$root") queue=("$root") kids=()
  while (( ${#queue[@]} )); do
    p=${queue[0]}; queue=("${queue[@]:1}")
    mapfile -t kids < <(children_of "$p")
    for i in "${kids[@]+"${kids[@]}"}"; do
      tree+=("$i"); queue+=("$i")
    done
  done
  kill -TERM "${tree[@]}" 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    any_alive "${tree[@]}" || return 0
    sleep 0.5
  done
  kill -KILL "${tree[@]}" 2>/dev/null || true
}

# any_alive PID...: true if one of them still runs (a zombie does not count).
any_alive() {
  local p stat
  for p in "$@"; do
    { read -r stat <"/proc/$p/stat"; } 2>/dev/null || continue
    stat=${stat##*) }
    [[ ${stat:0:1} == Z ]] || return 0
  done
  return 1
}

# run_logged LOG CMD...: run CMD with output to the terminal and LOG; returns
# CMD's exit status (never trips set -e).
run_logged() {
  run_bg tee_run "$@"
}
tee_run() {
  local log=$1; shift
  "$@" 2>&1 | tee -a "$log"   # pipefail: the status is CMD's
}

# quiet_logged LOG CMD...: output only to LOG; shown (tail) when CMD fails.
quiet_logged() {
  local log=$1; shift
  local rc=0
  run_bg "$@" >>"$log" 2>&1 </dev/null || rc=$?
  if (( rc != 0 )); then
    warn "command failed (exit $rc): $*"
    tail -n 60 "$log" >&2 || true
  fi
  return "$rc"
}

now() { date +%s; }

header() {
  say ""
  say "=== [$1] start $(date +%H:%M:%S) ==="
}

footer() {
  local row=$1
  say "=== [$row] ${T_STATUS[$row]}: ${T_PASS[$row]} passed, ${T_FAIL[$row]} failed," \
      "${T_SECS[$row]}s${T_NOTE[$row]:+ (${T_NOTE[$row]})} ==="
}

# finish_tier TIER START RC COUNTS NOTE
#   COUNTS is "PASSED FAILED" from a parser, or "" when no summary was found.
#   A runner that exited non-zero without reporting a failure, or that printed
#   no summary at all, could not run: that is an ERROR worth one failure.
finish_tier() {
  local tier=$1 start=$2 rc=$3 counts=$4 note=$5
  local p=0 f=0 status
  if [[ -n $counts ]]; then
    read -r p f <<<"$counts"
  fi
  if (( rc == 124 || rc == 137 )); then
    note="${note:+$note; }timed out after ${TIER_TIMEOUT}s"
  fi
  if [[ -z $counts ]]; then
    status=ERROR; f=$(( f + 1 ))
    note="${note:+$note; }no test summary in output (exit $rc)"
  elif (( rc != 0 && f == 0 )); then
    status=ERROR; f=1
    note="${note:+$note; }runner exited $rc without reporting a failure"
  elif (( f > 0 )); then
    status=FAIL
  else
    status=ok
  fi
  record "$tier" "$status" "$p" "$f" $(( $(now) - start )) "$note"
  footer "$tier"
}

# --------------------------------------------------------------- parsers
# Each prints "PASSED FAILED" or nothing when the output has no summary.

# ctest: "100% tests passed, 0 tests failed out of 7"; "No tests were found!!!"
parse_ctest() {
  perl -ne '
    if (/(\d+)% tests passed, (\d+) tests? failed out of (\d+)/) { ($f,$t,$s)=($2,$3,1) }
    $none = 1 if /No tests were found/;
    END { if ($s) { printf "%d %d\n", $t-$f, $f } elsif ($none) { print "0 0\n" } }
  ' "$1"
}

# pg_regress / pg_isolation_regress, PostgreSQL 15 format:
#   "test name ... ok", "     name ... FAILED", "... failed (ignored)", then
#   " All N tests passed. " | " F of N tests failed. " |
#   " P of N tests passed, I failed test(s) ignored. " |
#   " F of N tests failed, I of these failures ignored. "
# Also the TAP-like format of later releases ("ok 1 - name", "not ok 2 - name",
# "# All N tests passed."). Ignored failures count as passed. Sums over
# several runs in one log (e.g. more than one schedule).
parse_pg_regress() {
  perl -ne '
    s/^#\s*//;
    if    (/^\s*All (\d+) tests passed\./)                                  { $p+=$1;        $s=1 }
    elsif (/^\s*(\d+) of (\d+) tests passed, (\d+) failed test\(s\) ignored/) { $p+=$2;        $s=1 }
    elsif (/^\s*(\d+) of (\d+) tests failed, (\d+) of these failures ignored/) { $p+=$2-$1+$3; $f+=$1-$3; $s=1 }
    elsif (/^\s*(\d+) of (\d+) tests failed\./)                             { $p+=$2-$1; $f+=$1; $s=1 }
    END { printf "%d %d\n", $p, $f if $s }
  ' "$1"
}

# Per-line results of pg_regress, used when it died before its summary.
parse_pg_regress_lines() {
  perl -ne '
    if (/^(?:test\s+)?\s*\S+\s+\.\.\.\s+(ok|FAILED|failed \(ignored\))/) { $1 eq "FAILED" ? $f++ : $p++ }
    elsif (/^ok \d+/)     { $p++ }
    elsif (/^not ok \d+/) { $f++ }
    END { printf "%d %d\n", $p, $f }
  ' "$1"
}

# TAP::Harness (prove, pg_prove):
#   "Files=F, Tests=N, ..." and "Result: PASS|FAIL|NOTESTS";
#   "Test Summary Report" entries "file (Wstat: W ... Tests: N Failed: F)"
#   followed by "  Parse errors: Bad plan.  You planned P tests but ran R."
# A file that failed without a failed assertion (died, bad plan, no plan)
# counts as at least one failure; unrun planned tests count as failures.
parse_tap_harness() {
  perl -ne '
    if (/^Files=(\d+), Tests=(\d+)/) { $tests=$2; $s=1 }
    if (/^Result: NOTESTS/) { $s=1; $tests=0 }
    if (/^(\S.*?) \(Wstat: (\d+).*?Tests: (\d+) Failed: (\d+)\)\s*$/) {
      $cur=$1; $failed{$cur}=$4; $extra{$cur}=0; $asserts_failed+=$4;
    } elsif (defined $cur && /^\s+Parse errors:.*You planned (\d+) tests? but ran (\d+)/) {
      $extra{$cur}=$1-$2 if $1>$2;
    } elsif (defined $cur && /^\s+Parse errors: No plan found/) {
      $extra{$cur}=1 if !$failed{$cur};
    }
    END {
      exit unless $s;
      my $f=0;
      for my $k (keys %failed) { my $n=$failed{$k}+$extra{$k}; $n=1 if $n<1; $f+=$n }
      printf "%d %d\n", $tests-$asserts_failed, $f;
    }
  ' "$1"
}

# Files named in a TAP::Harness "Test Summary Report".
tap_failed_files() {
  perl -ne 'print "$1\n" if /^(\S.*?) \(Wstat: \d+.*Tests: \d+ Failed: \d+\)\s*$/' "$1"
}

# ------------------------------------------------------------ setup steps

install_packages() {
  local -a missing=()
  mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
  if (( ${#missing[@]} == 0 )); then
    say "apt: all ${#APT_PACKAGES[@]} packages already installed"
    return 0
  fi
  say "apt: installing ${missing[*]}"
  local log
  log=$(mktemp /tmp/pg_retention-apt.XXXXXX)
  export DEBIAN_FRONTEND=noninteractive
  if quiet_logged "$log" apt-get update &&
     quiet_logged "$log" apt-get install -y --no-install-recommends \
       -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null; then
    rm -f "$log"
    return 0
  fi
  warn "package installation failed; full log in $log"
  return 1
}

ensure_test_user() {
  if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    say "creating user $TEST_USER"
    useradd --system --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin "$TEST_USER"
  fi
}

# Copy the working tree (tracked and untracked files that .gitignore does not
# exclude; never .git or build outputs) into $SRC.
copy_tree() {
  mkdir -p "$SRC"
  if git -C "$REPO_ROOT" -c safe.directory='*' rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$REPO_ROOT" -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
      (cd "$REPO_ROOT" && while IFS= read -r -d '' f; do
         if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
       done) |
      tar -C "$REPO_ROOT" --null --no-recursion -T - -cf - |
      tar -C "$SRC" -xf -
  else
    tar -C "$REPO_ROOT" \
      --exclude=.git --exclude=./build --exclude='./tmp_check*' \
      --exclude=./results --exclude=./log --exclude=./output_iso \
      --exclude='./regression.*' --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
      --exclude=./test/isolation/results --exclude=./test/isolation/output_iso \
      -cf - . | tar -C "$SRC" -xf -
  fi
}

setup_workdir() {
  TMPROOT=$(mktemp -d /tmp/pg_retention-test.XXXXXX)
  SRC=$TMPROOT/src
  LOGDIR=$TMPROOT/logs
  mkdir -p "$LOGDIR" "$TMPROOT/home" "$TMPROOT/tmp"
  copy_tree
  if (( IS_ROOT )); then
    chown -R "$TEST_USER:" "$TMPROOT"
    chown root: "$LOGDIR"
  fi
  chmod 755 "$TMPROOT"
  say "work dir: $SRC (user $(if (( IS_ROOT )); then say "$TEST_USER"; else id -un; fi))"
}

# Stop every server still running from a data directory under $TMPROOT (the
# pgtap cluster, or a pg_regress/TAP instance left by an interrupted run).
stop_clusters() {
  [[ -n $TMPROOT && -d $TMPROOT && -n $PGBIN ]] || return 0
  local pidfile
  while IFS= read -r -d '' pidfile; do
    in_dir "$TMPROOT" "$PGBIN/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w -t 30 stop \
      >/dev/null 2>&1 || true
  done < <(find "$TMPROOT" -name postmaster.pid -print0 2>/dev/null)
  PGTAP_DATA=""
}

cleanup() {
  local rc=$?
  trap - EXIT HUP INT TERM
  {
    [[ -n $CHILD_PID ]] && kill_tree "$CHILD_PID"
    stop_clusters
    if [[ -n $TMPROOT && -d $TMPROOT ]]; then
      if [[ ${PGR_KEEP_TMP:-0} == 1 ]]; then
        warn "kept $TMPROOT"
      else
        rm -rf "$TMPROOT"
      fi
    fi
  } >/dev/null 2>&1
  if (( ! SUMMARY_DONE )); then
    # Died before the summary (internal error or signal): still end with the
    # count line, and fail.
    record runner ERROR 0 1 0 "test.sh stopped early (exit $rc)"
    print_summary
    (( rc == 0 )) && rc=1
  fi
  exit "$rc"
}

on_signal() {
  warn "interrupted"
  exit 130
}

# ------------------------------------------------------------------ build

# Build the extension as the test user, install it as root. Runs once.
ensure_extension_built() {
  [[ -n $BUILD_STATE ]] && return 0
  header build
  local start log rc=0
  start=$(now)
  log=$LOGDIR/build.log
  local -a mk=(make -j2 "PG_CONFIG=$PG_CONFIG")
  [[ ${CI:-} == true ]] && mk+=("EXTRA_CXXFLAGS=-Werror")
  run_logged "$log" in_dir "$SRC" "${mk[@]}" || rc=$?
  if (( rc == 0 )); then
    local -a inst=(make install "PG_CONFIG=$PG_CONFIG")
    # JIT bitcode of an earlier install would outlive a build without it
    # (the Makefile turns with_llvm off) and be inlined in its place.
    local bitcode
    bitcode=$("$PG_CONFIG" --pkglibdir)/bitcode
    if [[ -w $bitcode ]]; then
      rm -rf "$bitcode/pg_retention" "$bitcode/pg_retention.index.bc"
    fi
    if (( IS_ROOT )); then
      run_logged "$log" env -C "$SRC" "${inst[@]}" || rc=$?
      chown -R "$TEST_USER:" "$SRC"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      run_logged "$log" sudo -n env -C "$SRC" "${inst[@]}" || rc=$?
    else
      run_logged "$log" env -C "$SRC" "${inst[@]}" || rc=$?
    fi
  fi
  if (( rc == 0 )); then
    BUILD_STATE=ok
    record build ok - - $(( $(now) - start )) ""
  else
    BUILD_STATE=failed
    record build FAIL - - $(( $(now) - start )) "make/make install exited $rc"
  fi
  say "=== [build] ${T_STATUS[build]}, ${T_SECS[build]}s ==="
}

# Marks TIER as not runnable when the extension did not build; returns 1 then.
require_build() {
  local tier=$1 start=$2
  if [[ $BUILD_STATE != ok ]]; then
    record "$tier" ERROR 0 1 $(( $(now) - start )) "extension build failed"
    footer "$tier"
    return 1
  fi
}

# Print the non-empty regression.diffs files newer than MARKER.
show_diffs() {
  local marker=$1 d shown=0
  while IFS= read -r -d '' d; do
    say "----- $d (first $DIFF_LINES lines) -----"
    head -n "$DIFF_LINES" "$d"
    shown=1
  done < <(find "$SRC" -name regression.diffs -newer "$marker" -size +0 -print0 2>/dev/null)
  (( shown )) || say "(no regression.diffs with content)"
}

# After pg_regress died without its summary: print the logs of its temporary
# instance newer than MARKER (kept in OUTPUTDIR/log; initdb's only when the
# server never started), and the actual output of any test whose expected
# file is missing (pg_regress stops at the first one).
show_instance_logs() {
  local marker=$1 log=$2 l found=0 exp res
  while IFS= read -r -d '' l; do
    say "----- $l (last 40 lines) -----"
    tail -n 40 "$l"
    found=1
  done < <(find "$SRC" -path "$SRC/tmp_check" -prune -o \
             -name postmaster.log -newer "$marker" -print0 2>/dev/null)
  if (( ! found )); then
    while IFS= read -r -d '' l; do
      say "----- $l (last 40 lines) -----"
      tail -n 40 "$l"
    done < <(find "$SRC" -path "$SRC/tmp_check" -prune -o \
               -name initdb.log -newer "$marker" -print0 2>/dev/null)
  fi
  while IFS= read -r exp; do
    res=${exp%/expected/*}/results/${exp##*/}
    [[ -f $res ]] || continue
    say "----- missing ${exp#"$SRC"/}; actual output ${res#"$SRC"/} (first $DIFF_LINES lines) -----"
    head -n "$DIFF_LINES" "$res"
  done < <(perl -ne 'print "$1\n" if m{^.*?diff: (\S+/expected/[^/\s]+\.out): No such file or directory}' "$log" | sort -u)
}

# ------------------------------------------------------------------ tiers

tier_unit() {
  local start rc=0 log counts note=""
  start=$(now)
  header unit
  if [[ ! -f $SRC/CMakeLists.txt ]]; then
    record unit skip 0 0 0 "no CMakeLists.txt"; footer unit; return 0
  fi
  log=$LOGDIR/unit.log
  run_logged "$log" in_dir "$SRC" cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo || rc=$?
  (( rc == 0 )) && { run_logged "$log" in_dir "$SRC" cmake --build build -j2 || rc=$?; }
  if (( rc != 0 )); then
    record unit ERROR 0 1 $(( $(now) - start )) "cmake configure/build exited $rc"
    footer unit; return 0
  fi
  : >"$log"   # parse only ctest's own output
  run_logged "$log" in_dir_timed "$SRC/build" ctest --output-on-failure || rc=$?
  counts=$(parse_ctest "$log")
  [[ $counts == "0 0" ]] && note="no tests registered with ctest"
  finish_tier unit "$start" "$rc" "$counts" "$note"
}

# tier_pg_regress TIER MAKE-VARS... : one `make installcheck` flavour.
tier_pg_regress() {
  local tier=$1; shift
  local start rc=0 log counts
  start=$(now)
  header "$tier"
  require_build "$tier" "$start" || return 0
  log=$LOGDIR/$tier.log
  local marker=$LOGDIR/$tier.start
  : >"$marker"
  run_logged "$log" in_dir_timed "$SRC" make installcheck "PG_CONFIG=$PG_CONFIG" "$@" || rc=$?
  counts=$(parse_pg_regress "$log")
  if [[ -z $counts ]] && grep -qE '\.\.\. +(ok|FAILED)|^(not )?ok [0-9]' "$log"; then
    # Died after some tests ran: count what it reported; finish_tier still
    # calls the tier an ERROR because the summary is missing.
    local p f
    read -r p f <<<"$(parse_pg_regress_lines "$log")"
    finish_tier_partial "$tier" "$start" "$rc" "$p" "$f"
  else
    finish_tier "$tier" "$start" "$rc" "$counts" ""
  fi
  if [[ ${T_STATUS[$tier]} != ok ]]; then
    show_diffs "$marker"
    [[ -n $counts ]] || show_instance_logs "$marker" "$log"
  fi
  stop_clusters   # pg_regress leaves its instance running when it dies
}

finish_tier_partial() {
  local tier=$1 start=$2 rc=$3 p=$4 f=$5
  record "$tier" ERROR "$p" $(( f + 1 )) $(( $(now) - start )) \
    "run ended before its summary (exit $rc)"
  footer "$tier"
}

# only_arg VAR DIR EXT: "VAR=..." naming the tests of PGR_ONLY found in DIR
# (pg_regress wants bare names, prove wants paths); a harmless assignment
# without PGR_ONLY. Pass it quoted: it is one make argument.
only_arg() {
  local var=$1 dir=$2 ext=$3 t list=()
  if [[ -z ${PGR_ONLY:-} ]]; then printf 'PGR_ONLY='; return 0; fi
  for t in $PGR_ONLY; do
    [[ -f $SRC/$dir/$t$ext ]] || continue
    if [[ $var == PROVE_TESTS ]]; then list+=("$dir/$t$ext"); else list+=("$t"); fi
  done
  printf '%s=%s' "$var" "${list[*]-}"
}

tier_regress() {
  local start
  start=$(now)
  if ! compgen -G "$SRC/sql/*.sql" >/dev/null; then
    header regress
    if require_build regress "$start"; then
      record regress skip 0 0 0 "no sql/*.sql"; footer regress
    fi
    return 0
  fi
  tier_pg_regress regress ISOLATION= TAP_TESTS= "$(only_arg REGRESS sql .sql)"
}

tier_isolation() {
  local start
  start=$(now)
  if ! compgen -G "$SRC/test/isolation/specs/*.spec" >/dev/null; then
    header isolation
    if require_build isolation "$start"; then
      record isolation skip 0 0 0 "no test/isolation/specs/*.spec"; footer isolation
    fi
    return 0
  fi
  tier_pg_regress isolation REGRESS= TAP_TESTS= "$(only_arg ISOLATION test/isolation/specs .spec)"
}

free_port() {
  perl -MIO::Socket::INET -e '
    for (1 .. 200) {
      my $p = 20000 + int(rand(20000));
      my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p,
                                    Proto => "tcp", Listen => 1, ReuseAddr => 0) or next;
      close $s; print "$p\n"; exit 0;
    }
    exit 1;'
}

tier_pgtap() {
  local start rc=0 log counts port="" dir attempt
  start=$(now)
  header pgtap
  require_build pgtap "$start" || return 0
  local -a files=()
  local f
  for f in "$SRC"/test/pgtap/*.sql; do
    [[ -e $f ]] && files+=("test/pgtap/${f##*/}")
  done
  if (( ${#files[@]} == 0 )); then
    record pgtap skip 0 0 0 "no test/pgtap/*.sql"; footer pgtap; return 0
  fi
  log=$LOGDIR/pgtap.log
  dir=$TMPROOT/pgtap
  in_dir "$TMPROOT" mkdir -p "$dir"
  PGTAP_DATA=$dir/data
  if ! quiet_logged "$log" in_dir "$dir" initdb -D "$PGTAP_DATA" -A trust -E UTF8 --no-sync; then
    record pgtap ERROR 0 1 $(( $(now) - start )) "initdb failed"; footer pgtap; return 0
  fi
  {
    say ""
    say "# added by scripts/test.sh"
    say "listen_addresses = '127.0.0.1'"
    say "unix_socket_directories = '$dir'"
    say "shared_preload_libraries = 'pg_retention'"
    say "fsync = off"
    say "max_connections = 40"
    say "include_if_exists = '$SRC/test/conf/pg_retention.conf'"
  } | in_dir "$dir" tee -a "$PGTAP_DATA/postgresql.conf" >/dev/null
  for attempt in 1 2 3; do
    port=$(free_port) || { port=""; break; }
    say "pgtap: starting cluster on 127.0.0.1:$port (attempt $attempt)"
    if in_dir "$dir" pg_ctl -D "$PGTAP_DATA" -l "$dir/server.log" -o "-p $port" -w -t 60 start \
         >>"$log" 2>&1; then
      break
    fi
    in_dir "$dir" pg_ctl -D "$PGTAP_DATA" -m immediate stop >/dev/null 2>&1 || true
    port=""
  done
  if [[ -z $port ]]; then
    say "----- $dir/server.log (last 40 lines) -----"
    tail -n 40 "$dir/server.log" 2>/dev/null || true
    record pgtap ERROR 0 1 $(( $(now) - start )) "temporary cluster did not start"
    footer pgtap; stop_clusters; return 0
  fi
  local -a conn=(-h 127.0.0.1 -p "$port")
  if ! quiet_logged "$log" in_dir "$dir" createdb "${conn[@]}" pgr_pgtap ||
     ! quiet_logged "$log" in_dir "$dir" psql -X -q -v ON_ERROR_STOP=1 "${conn[@]}" -d pgr_pgtap \
         -c 'CREATE EXTENSION pgtap'; then
    record pgtap ERROR 0 1 $(( $(now) - start )) "could not prepare database pgr_pgtap"
    footer pgtap; stop_clusters; return 0
  fi
  : >"$log"
  run_logged "$log" in_dir_timed "$SRC" pg_prove "${conn[@]}" -d pgr_pgtap "${files[@]}" || rc=$?
  counts=$(parse_tap_harness "$log")
  finish_tier pgtap "$start" "$rc" "$counts" ""
  if [[ ${T_STATUS[pgtap]} != ok ]]; then
    say "----- $dir/server.log (last 60 lines) -----"
    tail -n 60 "$dir/server.log" 2>/dev/null || true
  fi
  in_dir "$dir" pg_ctl -D "$PGTAP_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  stop_clusters
}

tier_tap() {
  local start rc=0 log counts
  start=$(now)
  header tap
  require_build tap "$start" || return 0
  if ! compgen -G "$SRC/test/t/*.pl" >/dev/null; then
    say "tap: no test/t/*.pl yet, skipping"
    record tap skip 0 0 0 "no test/t/*.pl"; footer tap; return 0
  fi
  log=$LOGDIR/tap.log
  run_logged "$log" in_dir_timed "$SRC" make installcheck "PG_CONFIG=$PG_CONFIG" REGRESS= ISOLATION= \
    "$(only_arg PROVE_TESTS test/t .pl)" || rc=$?
  counts=$(parse_tap_harness "$log")
  finish_tier tap "$start" "$rc" "$counts" ""
  if [[ ${T_STATUS[tap]} != ok ]]; then
    local t name l
    while IFS= read -r t; do
      name=${t##*/}; name=${name%.pl}
      l=$SRC/tmp_check/log/regress_log_$name
      [[ -f $l ]] || continue
      say "----- $l (last $LOG_LINES lines) -----"
      tail -n "$LOG_LINES" "$l"
    done < <(tap_failed_files "$log")
  fi
  stop_clusters
}

# scripts/demo.sh --no-build on the installed extension: the GitLab-shaped
# demo must keep working, and it checks every row ends in exactly one place.
tier_demo() {
  local start rc=0 log
  start=$(now)
  header demo
  require_build demo "$start" || return 0
  log=$LOGDIR/demo.log
  run_logged "$log" in_dir_timed "$SRC" bash scripts/demo.sh --no-build || rc=$?
  if (( rc == 0 )); then
    record demo ok 1 0 $(( $(now) - start )) ""
  else
    record demo FAIL 0 1 $(( $(now) - start )) "demo.sh exited $rc"
    tail -n 60 "$log" || true
  fi
  footer demo
}

tier_bench_smoke() {
  local start rc=0 log
  start=$(now)
  if [[ ! -f $SRC/scripts/bench.sh ]] || ! grep -q -- '--smoke' "$SRC/scripts/bench.sh"; then
    record bench-smoke skip 0 0 0 ""
    return 0
  fi
  header bench-smoke
  ensure_extension_built
  require_build bench-smoke "$start" || return 0
  log=$LOGDIR/bench-smoke.log
  run_logged "$log" in_dir_timed "$SRC" bash scripts/bench.sh --smoke --no-build || rc=$?
  if (( rc == 0 )); then
    record bench-smoke ok 1 0 $(( $(now) - start )) ""
  else
    record bench-smoke FAIL 0 1 $(( $(now) - start )) "bench.sh --smoke exited $rc"
  fi
  footer bench-smoke
  stop_clusters
}

# ---------------------------------------------------------------- summary

print_summary() {
  local r total_p=0 total_f=0 p f
  say ""
  say "=================================== summary ==================================="
  printf '%-12s %-6s %7s %7s %7s  %s\n' tier status passed failed time note
  for r in "${ROWS[@]+"${ROWS[@]}"}"; do
    p=${T_PASS[$r]} f=${T_FAIL[$r]}
    printf '%-12s %-6s %7s %7s %6ss  %s\n' "$r" "${T_STATUS[$r]}" "$p" "$f" "${T_SECS[$r]}" "${T_NOTE[$r]}"
    [[ $p =~ ^[0-9]+$ ]] && total_p=$(( total_p + p ))
    [[ $f =~ ^[0-9]+$ ]] && total_f=$(( total_f + f ))
  done
  say "==============================================================================="
  SUMMARY_DONE=1
  SUMMARY_FAILED=$total_f
  printf '%d passed, %d failed\n' "$total_p" "$total_f"
}

# ------------------------------------------------------------------- main

main() {
  local -a selected=()
  local a t ok
  for a in "$@"; do
    case $a in
      -h|--help) usage; exit 0 ;;
      all) selected=("${ALL_TIERS[@]}") ;;
      *)
        ok=0
        for t in "${ALL_TIERS[@]}"; do [[ $a == "$t" ]] && ok=1; done
        if (( ! ok )); then usage >&2; exit 2; fi
        selected+=("$a") ;;
    esac
  done
  (( ${#selected[@]} )) || selected=("${ALL_TIERS[@]}")
  local want=" ${selected[*]} "

  trap cleanup EXIT
  trap on_signal HUP INT TERM

  local t0
  t0=$(now)
  say "=== pg_retention tests: tiers:${want% } ($(date '+%Y-%m-%d %H:%M:%S')) ==="

  if (( IS_ROOT )); then
    if ! install_packages; then
      record setup ERROR 0 1 $(( $(now) - t0 )) "apt-get failed"
      print_summary; exit 1
    fi
    ensure_test_user
  fi
  # The Debian packages create and may start a "main" cluster on port 5432;
  # no tier uses it and this script never starts or stops it.
  if ! PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null) || [[ ! -x $PGBIN/initdb ]]; then
    record setup ERROR 0 1 $(( $(now) - t0 )) "no usable $PG_CONFIG (server binaries missing)"
    print_summary; exit 1
  fi
  setup_workdir

  for t in "${ALL_TIERS[@]}"; do
    [[ $want == *" $t "* ]] || continue
    # The database tiers share one build and install of the extension.
    [[ $DB_TIERS == *" $t "* ]] && ensure_extension_built
    case $t in
      unit)        tier_unit ;;
      regress)     tier_regress ;;
      isolation)   tier_isolation ;;
      pgtap)       tier_pgtap ;;
      tap)         tier_tap ;;
      demo)        tier_demo ;;
      bench-smoke) tier_bench_smoke ;;
    esac
  done

  stop_clusters
  say ""
  say "total time: $(( $(now) - t0 ))s"
  print_summary
  local bad=0 r
  for r in "${ROWS[@]}"; do
    [[ ${T_STATUS[$r]} == ERROR || ${T_STATUS[$r]} == FAIL ]] && bad=1
  done
  (( SUMMARY_FAILED == 0 && bad == 0 ))
}

SUMMARY_FAILED=0
# Sourcing the file (e.g. to try a parser on a saved log) defines the
# functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
