# Partitioned archives (archive_partition, issue #11): a wholly expired
# partition that another session holds a lock on is not waited on past
# retention.lock_timeout: the archive stage leaves it (recorded as a retry,
# SQLSTATE 55P03), finishes the rest, and drops it whole at the next run once
# the lock is gone.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('main');
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE events (id integer PRIMARY KEY, at timestamptz);
SELECT retention.add_policy('events', 'at', mode => 'archive', name => 'events',
                            archive_partition => '1 day', archive_retain => '5 days');
DO $$
DECLARE
    t timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('CREATE TABLE retention_archive.events_old PARTITION OF retention_archive.events'
                   ' FOR VALUES FROM (%L) TO (%L)', t - interval '10 days', t - interval '9 days');
    INSERT INTO retention_archive.events (id, archived_at)
    SELECT i, t - interval '10 days' FROM generate_series(1, 3) i;
    INSERT INTO retention_archive.events (id, archived_at) VALUES (4, now());
END
$$;
});
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_inherits WHERE inhparent = 'retention_archive.events'::regclass}),
	'5', 'DEFAULT, today, two days ahead and the old partition');

my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE retention_archive.events_old IN ACCESS SHARE MODE');

my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres',
	q{SET retention.lock_timeout = '100ms'; CALL retention.run('events')});
ok($ok, 'the run ends while the partition is locked') or diag $err;
is( $node->safe_psql(
		'postgres', q{
SELECT status, rows_deleted, retries, sqlstate FROM retention.runs
 WHERE stage = 'archive' ORDER BY run_id DESC LIMIT 1}),
	'ok|0|1|55P03', 'the locked partition was left after lock_timeout, recorded as a retry');
is($node->safe_psql('postgres', q{SELECT to_regclass('retention_archive.events_old') IS NOT NULL}),
	't', 'the locked partition is still there, with its rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM retention_archive.events'),
	'4', 'no archived row was lost');

$locker->query_safe('COMMIT');
$locker->quit;
($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', q{CALL retention.run('events')});
ok($ok, 'the next run') or diag $err;
is($node->safe_psql('postgres', q{SELECT to_regclass('retention_archive.events_old') IS NULL}),
	't', 'the expired partition is dropped whole once the lock is gone');
is( $node->safe_psql(
		'postgres', q{
SELECT status, rows_deleted, retries FROM retention.runs
 WHERE stage = 'archive' ORDER BY run_id DESC LIMIT 1}),
	'ok|3|0', 'the archive stage counts the rows of the dropped partition');
is($node->safe_psql('postgres', 'SELECT array_agg(id) FROM retention_archive.events'),
	'{4}', 'the live row stays');

$node->stop;
done_testing();
