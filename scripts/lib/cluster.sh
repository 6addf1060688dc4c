# shellcheck shell=bash
# scripts/lib/cluster.sh: what scripts/demo.sh and scripts/bench.sh share:
# timing, running commands as the throwaway cluster's owner, installing
# missing Debian packages and building the extension. Sourced after
# packages.sh; defines functions only. They use the caller's say, die,
# REPO_ROOT, PG_CONFIG, PGBIN, WORKDIR, IS_ROOT and RUN_AS.

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# secs_since START_MS: elapsed seconds with one decimal.
secs_since() {
  local ms=$(( $(now_ms) - $1 ))
  printf '%d.%d' $(( ms / 1000 )) $(( ms % 1000 / 100 ))
}

# as_pg CMD...: run CMD as the cluster owner in $WORKDIR, with a clean
# environment (no PGHOST/PGPORT/PGDATABASE... leaking in from the caller).
as_pg() {
  local -a env_vars=(
    "PATH=$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "LANG=C.UTF-8"
    "HOME=$WORKDIR"
    "PGTZ=UTC"
  )
  if (( IS_ROOT )); then
    runuser -u "$RUN_AS" -- env -i -C "$WORKDIR" "${env_vars[@]}" "$@"
  else
    env -i -C "$WORKDIR" "${env_vars[@]}" "$@"
  fi
}

# apt_install PKG...: install the missing ones among PKG (root only).
apt_install() {
  local -a missing=()
  mapfile -t missing < <(missing_packages "$@")
  (( ${#missing[@]} )) || return 0
  say "apt: installing ${missing[*]}"
  local log
  log=$(mktemp "${TMPDIR:-/tmp}/pg_retention-apt.XXXXXX")
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update >>"$log" 2>&1 &&
     apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 \
       "${missing[@]}" </dev/null >>"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  tail -n 40 "$log" >&2 || true
  die "package installation failed; full log in $log"
}

build_extension() {
  local start log rc=0
  start=$(now_ms)
  log=$(mktemp "${TMPDIR:-/tmp}/pg_retention-build.XXXXXX")
  say "build: make -j2 && make install in $REPO_ROOT"
  make -C "$REPO_ROOT" -j2 "PG_CONFIG=$PG_CONFIG" >>"$log" 2>&1 || rc=$?
  if (( rc == 0 )); then
    if (( IS_ROOT )); then
      make -C "$REPO_ROOT" install "PG_CONFIG=$PG_CONFIG" >>"$log" 2>&1 || rc=$?
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      # The log is ours; only make itself needs root.
      # shellcheck disable=SC2024
      sudo -n make -C "$REPO_ROOT" install "PG_CONFIG=$PG_CONFIG" >>"$log" 2>&1 || rc=$?
    else
      make -C "$REPO_ROOT" install "PG_CONFIG=$PG_CONFIG" >>"$log" 2>&1 || rc=$?
    fi
  fi
  if (( rc != 0 )); then
    tail -n 60 "$log" >&2 || true
    die "build or install failed (exit $rc); full log in $log"
  fi
  rm -f "$log"
  say "build: ok ($(secs_since "$start")s)"
}
