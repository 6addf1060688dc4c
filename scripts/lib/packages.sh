# shellcheck shell=bash
# scripts/lib/packages.sh: which Debian packages are missing, for
# scripts/test.sh and scripts/demo.sh. Sourced; defines functions only.

# missing_packages PKG...: prints, one a line, the packages dpkg does not
# report as installed.
missing_packages() {
  local p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $st == installed ]] || printf '%s\n' "$p"
  done
}
