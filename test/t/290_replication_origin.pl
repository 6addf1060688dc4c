# Deletes replicas can skip (issue #11): a policy with replicate_deletes =>
# false runs its batches under the replication origin "pg_retention". Two
# real logical subscribers of the same publication: the one created with
# origin = none keeps the purged rows, the one with origin = any deletes
# them; both get the application's own changes. The caller's session has no
# origin afterwards, and a session with an origin of its own is refused.
# On PostgreSQL 15 (no origin filtering) the option is refused with 0A000.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $pub = RetentionTAP::new_node('publisher', allows_streaming => 'logical');
$pub->start;
my $version = $pub->safe_psql('postgres', 'SHOW server_version_num');
$pub->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens
SELECT i, CASE WHEN i <= 6 THEN now() - interval '40 days' END FROM generate_series(1, 10) AS i;
});

if ($version < 160000)
{
	my ($ok, $out, $err) = RetentionTAP::run_sql(
		$pub, 'postgres', q{\set VERBOSITY verbose
SELECT retention.add_policy('tokens', 'revoked_at', name => 'tokens',
                            replicate_deletes => false)});
	ok(!$ok, 'add_policy(replicate_deletes => false) is refused on PostgreSQL 15');
	like($err, qr/ERROR:  0A000: replicate_deletes => false needs PostgreSQL 16 or later/,
		'with feature_not_supported');
	like($err, qr/HINT:  Subscriptions filter changes by replication origin/, 'and a hint');
	$pub->safe_psql('postgres',
		q{SELECT retention.add_policy('tokens', 'revoked_at', name => 'tokens')});
	($ok, $out, $err) = RetentionTAP::run_sql($pub, 'postgres',
		q{SELECT retention.alter_policy('tokens', replicate_deletes => false)});
	ok(!$ok, 'alter_policy(replicate_deletes => false) is refused too');
	is($pub->safe_psql('postgres', 'SELECT replicate_deletes FROM retention.policies'),
		't', 'the policy keeps replicating its deletes');
	$pub->stop;
	done_testing();
	exit;
}

$pub->safe_psql(
	'postgres', q{
SELECT retention.add_policy('tokens', 'revoked_at', retain => '30 days', name => 'tokens',
                            replicate_deletes => false);
CREATE PUBLICATION pub FOR TABLE tokens;
});
is( $pub->safe_psql(
		'postgres', q{
SELECT (SELECT replicate_deletes FROM retention.policies),
       (SELECT count(*) FROM pg_replication_origin WHERE roname = 'pg_retention')}),
	'f|1', 'the policy skips replicas; add_policy created the origin pg_retention');

my $pub_connstr = $pub->connstr . ' dbname=postgres';
my %subs;
for my $origin ('none', 'any')
{
	my $sub = RetentionTAP::new_node("sub_$origin");
	$sub->start;
	$sub->safe_psql(
		'postgres', qq{
CREATE TABLE tokens (id int PRIMARY KEY, revoked_at timestamptz);
CREATE SUBSCRIPTION sub_$origin CONNECTION '$pub_connstr' PUBLICATION pub
  WITH (origin = $origin);
});
	$sub->wait_for_subscription_sync($pub, "sub_$origin");
	is($sub->safe_psql('postgres', 'SELECT count(*) FROM tokens'),
		'10', "origin = $origin: the initial copy has the 10 rows");
	$subs{$origin} = $sub;
}

# The run, then an application change, in the same session.
my ($ok, $out, $err) = RetentionTAP::run_sql(
	$pub, 'postgres', q{
CALL retention.run('tokens');
SELECT pg_replication_origin_session_is_setup();
INSERT INTO tokens VALUES (100, NULL);
DELETE FROM tokens WHERE id = 10;
});
ok($ok, 'the run and the application change') or diag $err;
like($out, qr/^6\|0\|\d+\|ok\nf$/, 'six rows purged; the session has no origin afterwards');
$pub->wait_for_catchup("sub_$_") for ('none', 'any');

my $rows = q{SELECT string_agg(id::text, ',' ORDER BY id) FROM tokens};
is($subs{none}->safe_psql('postgres', $rows), '1,2,3,4,5,6,7,8,9,100',
	'origin = none keeps the purged rows and gets the application\'s changes');
is($subs{any}->safe_psql('postgres', $rows), '7,8,9,100',
	'origin = any deletes the purged rows too');

# Back to replicating: the next purge reaches both subscribers.
$pub->safe_psql(
	'postgres', q{
SELECT retention.alter_policy('tokens', replicate_deletes => true);
UPDATE tokens SET revoked_at = now() - interval '40 days' WHERE id = 7;
});
($ok, $out, $err) = RetentionTAP::run_sql($pub, 'postgres', q{CALL retention.run('tokens')});
like($out, qr/^1\|0\|\d+\|ok$/, 'replicate_deletes => true: one row purged') or diag $err;
$pub->wait_for_catchup("sub_$_") for ('none', 'any');
is($subs{none}->safe_psql('postgres', $rows), '1,2,3,4,5,6,8,9,100',
	'origin = none now gets the purge');
is($subs{any}->safe_psql('postgres', $rows), '8,9,100', 'and so does origin = any');

# A session with a replication origin of its own: the batch is refused and
# the session's origin is left as it was.
$pub->safe_psql(
	'postgres', q{
SELECT retention.alter_policy('tokens', replicate_deletes => false);
UPDATE tokens SET revoked_at = now() - interval '40 days' WHERE id = 8;
SELECT pg_replication_origin_create('app_origin');
});
($ok, $out, $err) = RetentionTAP::run_sql(
	$pub, 'postgres', q{
SELECT pg_replication_origin_session_setup('app_origin');
CALL retention.run('tokens');
SELECT pg_replication_origin_session_is_setup();
SELECT pg_replication_origin_session_reset();
});
ok($ok, 'a run in a session with its own origin ends without raising') or diag $err;
like($out, qr/\n0\|0\|0\|error\nt\n/, 'the run ends in error, the session keeps its origin');
like($err, qr/this session has a replication origin set up already/, 'and says why');
is($pub->safe_psql('postgres', 'SELECT count(*) FROM tokens WHERE id = 8'),
	'1', 'nothing was purged');

# Once the session has no origin of its own, the purge goes under ours.
($ok, $out, $err) = RetentionTAP::run_sql($pub, 'postgres', q{CALL retention.run('tokens')});
like($out, qr/^1\|0\|\d+\|ok$/, 'the purge runs') or diag $err;
$pub->wait_for_catchup("sub_$_") for ('none', 'any');
is($subs{none}->safe_psql('postgres', $rows), '1,2,3,4,5,6,8,9,100',
	'origin = none keeps it');
is($subs{any}->safe_psql('postgres', $rows), '9,100', 'origin = any deletes it');

$_->stop for values %subs;
$pub->stop;
done_testing();
