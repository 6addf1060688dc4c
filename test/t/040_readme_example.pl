# The example in README.md (between <!-- example:start --> and
# <!-- example:end -->) runs as written on a fresh database and does what it
# says: the archive ends up with exactly the rows that were purgeable.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

# The tests run from the repository root.
my $readme = 'README.md';
ok(-f $readme, 'README.md found') or BAIL_OUT('README.md not found from ' . `pwd`);

my $text = PostgreSQL::Test::Utils::slurp_file($readme);
my ($example) = $text =~ /^<!-- example:start -->[ \t]*\n(.*?)^<!-- example:end -->/ms;
ok(defined $example, 'README.md has an example block') or BAIL_OUT('no example block');

# Strip the code fences (```sql ... ```), keep everything else verbatim.
my @lines = grep { !/^\s*```/ } split /\n/, $example;
my $sql = join("\n", @lines) . "\n";
like($sql, qr/CALL retention\.run/, 'the example calls retention.run');
note "README example:\n$sql";

my $node = RetentionTAP::new_node('main');
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE readme');

my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'readme', $sql);
ok($ok, 'the README example runs without error') or diag "stderr:\n$err";
unlike($err, qr/\b(ERROR|WARNING|FATAL)\b/, 'the README example raises no error or warning');
note "output:\n$out";
note "stderr:\n$err";

# The run the example made, and the cutoff it used.
my ($status, $deleted, $archived, $cutoff) = split /\|/,
  $node->safe_psql(
	'readme', q{
SELECT status, rows_deleted, rows_archived, cutoff FROM retention.runs
 WHERE policy = 'public.oauth_access_tokens' ORDER BY run_id DESC LIMIT 1});
is($status, 'ok', 'retention.runs shows status ok');
is($deleted, $archived, 'the run deleted as many rows as it archived');

# Independently of the engine: every row, wherever it is now, that was
# revoked before the run's cutoff.
my $expected = $node->safe_psql(
	'readme', qq{
SELECT count(*) FROM (
    SELECT revoked_at FROM oauth_access_tokens
    UNION ALL
    SELECT revoked_at FROM retention_archive.oauth_access_tokens) every_row
 WHERE revoked_at < '$cutoff'::timestamptz});
cmp_ok($expected, '>', 0, "$expected rows were purgeable");

# The example data itself: tokens i = 1..2000, even ones revoked i hours
# ago; revoked more than 30 days (720 hours) ago are purgeable.
my $by_hand = grep { $_ % 2 == 0 && $_ >= 720 } 1 .. 2000;
is($expected, $by_hand, "that is the $by_hand even tokens revoked 720 or more hours ago");

is($node->safe_psql('readme', 'SELECT count(*) FROM retention_archive.oauth_access_tokens'),
	$expected, 'the archive holds exactly the purgeable rows');
is($archived, $expected, 'retention.runs counts exactly the purgeable rows');
is( $node->safe_psql(
		'readme', qq{
SELECT count(*) FROM retention_archive.oauth_access_tokens
 WHERE revoked_at IS NULL OR revoked_at >= '$cutoff'::timestamptz}),
	'0', 'no row in the archive was not purgeable');
is( $node->safe_psql(
		'readme', qq{
SELECT count(*) FROM oauth_access_tokens WHERE revoked_at < '$cutoff'::timestamptz}),
	'0', 'no purgeable row is left in the table');
is( $node->safe_psql(
		'readme', q{
SELECT (SELECT count(*) FROM oauth_access_tokens)
     + (SELECT count(*) FROM retention_archive.oauth_access_tokens)}),
	'2000', 'no row was lost');
is( $node->safe_psql(
		'readme', q{
SELECT count(*) FROM oauth_access_tokens t
  JOIN retention_archive.oauth_access_tokens a USING (id)}),
	'0', 'no row is both in the table and in the archive');

# The example's own output agrees: the preview, the CALL and the two
# final queries.
my @out = split /\n/, $out;
ok((grep { /^$expected\|$expected\|\d+\|ok$/ } @out),
	'the CALL printed the purgeable count as deleted and archived, status ok');
ok((grep { /^$expected\|/ } @out), 'the preview printed the purgeable count');
ok((grep { $_ eq "public.oauth_access_tokens|ok|$expected|$expected" } @out),
	'the final retention.runs query printed the run');

is(RetentionTAP::advisory_locks($node), '0', 'no advisory lock left');

$node->stop;
done_testing();
