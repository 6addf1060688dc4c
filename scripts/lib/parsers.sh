# shellcheck shell=bash
# scripts/lib/parsers.sh: test-output parsers for scripts/test.sh. Sourced;
# each prints "PASSED FAILED", or nothing when the output has no summary.

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

