# pg_retention on a hot standby: policies can be inspected and previewed, but
# neither run nor changed; after promotion the former standby runs them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $primary = RetentionTAP::new_node('primary', allows_streaming => 1);
$primary->start;

$primary->safe_psql('postgres', 'CREATE DATABASE app');
$primary->safe_psql(
	'app', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (
    id         bigint PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
-- 300 expired rows, 200 live ones.
INSERT INTO tokens
SELECT i, CASE WHEN i <= 300 THEN now() - interval '2 days'
               ELSE now() + interval '2 days' END
  FROM generate_series(1, 500) AS i;
SELECT retention.add_policy('tokens', expires_at => 'expires_at', batch_size => 70);

-- No primary key (block range walk) and archive mode.
CREATE TABLE heap_log (msg text, logged_at timestamptz NOT NULL);
INSERT INTO heap_log
SELECT 'm' || i, now() - i * interval '1 hour' - interval '30 minutes'
  FROM generate_series(1, 100) AS i;
SELECT retention.add_policy('heap_log', expires_at => 'logged_at', retain => '1 day',
                            mode => 'archive');
});

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

# Changes made after the backup must reach the standby too.
$primary->safe_psql('app',
	q{INSERT INTO tokens SELECT i, now() - interval '1 day' FROM generate_series(501, 520) AS i});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'),
	't', 'standby is in recovery');

# --- run() is refused on the standby --------------------------------------

my ($ok, $out, $err) = RetentionTAP::run_sql($standby, 'app',
	"\\set VERBOSITY verbose\nCALL retention.run('public.tokens');");
ok(!$ok, 'CALL retention.run fails on the standby');
like($err, qr/ERROR:\s+25006: cannot run retention policies during recovery/,
	'run on the standby reports SQLSTATE 25006 and the recovery message');

# Also the form that runs every policy.
($ok, $out, $err) = RetentionTAP::run_sql($standby, 'app',
	"\\set VERBOSITY verbose\nCALL retention.run();");
ok(!$ok, 'CALL retention.run() (all policies) fails on the standby');
like($err, qr/ERROR:\s+25006: cannot run retention policies during recovery/,
	'run of all policies on the standby reports SQLSTATE 25006');

# --- policy changes are refused on the standby ----------------------------

for my $stmt (
	q{SELECT retention.add_policy('tokens', expires_at => 'expires_at', name => 'second')},
	q{SELECT retention.alter_policy('public.tokens', batch_size => 10)},
	q{SELECT retention.pause('public.tokens')},
	q{SELECT retention.resume('public.tokens')},
	q{SELECT retention.drop_policy('public.tokens')})
{
	($ok, $out, $err) =
	  RetentionTAP::run_sql($standby, 'app', "\\set VERBOSITY verbose\n$stmt;");
	ok(!$ok, "refused on the standby: $stmt");
	like($err, qr/ERROR:\s+25006:/, "SQLSTATE 25006 for: $stmt");
}

# --- read-only API works on the standby -----------------------------------

my $preview = $standby->safe_psql('app',
	q{SELECT purgeable_rows, mode, batch_size FROM retention.preview('public.tokens')});
is($preview, '320|delete|70', 'preview on the standby counts the expired rows');

is( $standby->safe_psql(
		'app', q{
SELECT purgeable_rows, access_path, mode FROM retention.preview('public.heap_log')}),
	'77|block range walk|archive',
	'preview of an archive policy on a table without a key works on the standby');

is($primary->safe_psql('app',
		q{SELECT purgeable_rows FROM retention.preview('public.tokens')}),
	'320', 'preview on the primary agrees');

is( $standby->safe_psql(
		'app',
		q{SELECT name, relation::text, expires_at, mode, batch_size, enabled, paused
            FROM retention.policies ORDER BY name}),
	"public.heap_log|heap_log|logged_at|archive||t|f\npublic.tokens|tokens|expires_at|delete|70|t|f",
	'retention.policies is readable on the standby');

is($standby->safe_psql('app', 'SELECT count(*) FROM retention.runs'),
	'0', 'retention.runs is readable on the standby (no run yet)');

# A run on the primary shows up in the standby's history.
($ok, $out, $err) = RetentionTAP::run_sql($primary, 'app',
	q{CALL retention.run('public.tokens', max_rows => 140)});
ok($ok, 'partial run on the primary succeeds') or diag $err;
is($out, '140|0|2|partial', 'primary run stops after max_rows');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

is( $standby->safe_psql(
		'app',
		q{SELECT policy, trigger, status, rows_deleted, batches FROM retention.runs}),
	'public.tokens|manual|partial|140|2',
	'the primary run is visible in retention.runs on the standby');
is($standby->safe_psql('app',
		q{SELECT purgeable_rows FROM retention.preview('public.tokens')}),
	'180', 'preview on the standby reflects the replayed deletions');

is(RetentionTAP::advisory_locks($standby), '0', 'no advisory lock on the standby');
is(RetentionTAP::advisory_locks($primary), '0', 'no advisory lock on the primary');

# --- promotion -------------------------------------------------------------

$standby->promote;
$standby->poll_query_until('app', 'SELECT NOT pg_is_in_recovery()')
  or die 'timed out waiting for promotion';

($ok, $out, $err) =
  RetentionTAP::run_sql($standby, 'app', q{CALL retention.run('public.tokens')});
ok($ok, 'CALL retention.run succeeds after promotion') or diag $err;
like($out, qr/^180\|0\|\d+\|ok$/, 'the promoted server purges the remaining expired rows');

is($standby->safe_psql('app',
		q{SELECT count(*), min(id) FROM tokens}),
	'200|301', 'only live rows remain on the promoted server');
is($standby->safe_psql('app',
		q{SELECT count(*) FROM tokens WHERE expires_at < now()}),
	'0', 'no expired row remains on the promoted server');
is( $standby->safe_psql(
		'app',
		q{SELECT status, rows_deleted FROM retention.runs ORDER BY run_id DESC LIMIT 1}),
	'ok|180',
	'the run is recorded on the promoted server');
($ok, $out, $err) =
  RetentionTAP::run_sql($standby, 'app', q{CALL retention.run('public.heap_log')});
ok($ok, 'archive policy runs after promotion') or diag $err;
like($out, qr/^77\|77\|\d+\|ok$/, 'the promoted server archives 77 log rows');
is( $standby->safe_psql(
		'app', q{
SELECT (SELECT count(*) FROM heap_log), (SELECT count(*) FROM retention_archive.heap_log)}),
	'23|77', 'log rows are split between table and archive');
is(RetentionTAP::advisory_locks($standby), '0',
	'no advisory lock left on the promoted server');

# Policies can be changed again after promotion.
($ok, $out, $err) = RetentionTAP::run_sql($standby, 'app',
	q{SELECT retention.alter_policy('public.tokens', batch_size => 10)});
ok($ok, 'alter_policy works after promotion') or diag $err;

$standby->stop;
$primary->stop;

done_testing();
