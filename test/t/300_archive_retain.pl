# archive_retain (issue #11): the archive stage of a run, after the purge
# stage and under the same lock, loses nothing it should not.
#  - a cancel while a batch of the stage is in flight rolls that batch back:
#    every archived row is still there, the stage is recorded interrupted,
#    the purge stage's row is untouched, and the next run finishes the job;
#  - a terminated backend leaves no half batch either, and the next run
#    closes the stale row and goes on;
#  - a lock held on the archive makes a batch wait at most
#    retention.lock_timeout; the batch is retried and the stage ends ok;
#  - only archived rows older than archive_retain go.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('main');
$node->append_conf('postgresql.conf', "retention.enable_debug_waitpoints = on\n");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id integer PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens SELECT i, now() - interval '40 days' FROM generate_series(1, 50) i;
SELECT retention.add_policy('tokens', 'revoked_at', retain => '30 days', mode => 'archive',
                            name => 'tokens', batch_size => 10, archive_retain => '30 days');
CALL retention.run('tokens');
-- 40 archived rows are past archive_retain, 10 are not.
UPDATE retention_archive.tokens SET archived_at = now() - interval '40 days' WHERE id <= 40;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM retention_archive.tokens'),
	'50', 'the purge stage archived 50 rows');

# The stage's last run row, and the archive's content.
sub last_stage
{
	return $node->safe_psql(
		'postgres', q{
SELECT status, rows_deleted, batches FROM retention.runs
 WHERE stage = 'archive' ORDER BY run_id DESC LIMIT 1});
}
sub archive_ids
{
	return $node->safe_psql('postgres',
		q{SELECT count(*) || ':' || min(id) || '-' || max(id) FROM retention_archive.tokens});
}

# --- cancel and terminate with a batch of the stage in flight ---------------
for my $how ([ 'cancel', 'pg_cancel_backend' ], [ 'terminate', 'pg_terminate_backend' ])
{
	my ($tag, $fn) = @$how;
	my ($holder) =
	  RetentionTAP::hold_waitpoints($node, 'postgres', 'archive_stage_before_commit');
	my $runner = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $runner->query_safe('SELECT pg_backend_pid()');
	$runner->query_until(qr/calling/, "\\echo calling\nCALL retention.run('tokens');\n");
	RetentionTAP::wait_for_waitpoint($node, $pid);
	is($node->safe_psql('postgres', "SELECT $fn($pid)"), 't', "$tag: $fn during a batch");
	my $status = RetentionTAP::try_poll_value($node, 'postgres',
		q{SELECT status FROM retention.runs WHERE stage = 'archive' ORDER BY run_id DESC LIMIT 1},
		sub { $_[0] ne 'running' }, 60);
	is($status, 'interrupted', "$tag: the archive stage is recorded interrupted");
	is(archive_ids(), '50:1-50', "$tag: the batch in flight was rolled back, nothing lost");
	is( $node->safe_psql(
			'postgres', q{
SELECT status FROM retention.runs WHERE stage = 'purge' ORDER BY run_id DESC LIMIT 1}),
		'ok', "$tag: the purge stage of that run ended ok before the archive stage");
	$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('archive_stage_before_commit')});
	$holder->quit;
	RetentionTAP::quit_session($runner);
	is(RetentionTAP::advisory_locks($node), '0', "$tag: no advisory lock left");
}

# --- a lock on the archive: bounded wait, retried ---------------------------
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE retention_archive.tokens IN SHARE MODE');
my $runner = $node->background_psql('postgres', on_error_stop => 0);
$runner->query_until(
	qr/started/, q{
SET retention.lock_timeout = '100ms';
\echo started
CALL retention.run('tokens');
\echo finished
});
$node->wait_for_log(qr/retention policy "tokens": archive stage batch failed, retrying/);
$locker->query_safe('COMMIT');
$locker->quit;
$runner->quit;
like($runner->{stdout}, qr/finished/, 'the run ends once the lock is gone');
unlike($runner->{stderr}, qr/ERROR/, 'the run raises no error') or diag $runner->{stderr};
is( $node->safe_psql(
		'postgres', q{
SELECT status, rows_deleted, retries >= 1, sqlstate FROM retention.runs
 WHERE stage = 'archive' ORDER BY run_id DESC LIMIT 1}),
	'ok|40|t|55P03', 'the archive stage waited, retried after lock_timeout, and removed 40 rows');
is(archive_ids(), '10:41-50', 'only the rows past archive_retain went');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FILTER (WHERE status = 'interrupted'), count(*) FROM retention.runs
 WHERE stage = 'archive'}),
	'2|4', 'four archive stages (the first run\'s too); the terminated one was closed as interrupted');
is( $node->safe_psql(
		'postgres', q{
SELECT archive_runs_total, archive_rows_deleted_total, archive_last_status
  FROM retention.status}),
	'3|40|ok', 'status counts the stages that ended (the terminated one never did)');

$node->stop;
done_testing();
