# The background scheduler and hot standby: nothing of it runs during
# recovery, the standby still answers retention.status and replays what the
# primary's worker purged, and after promotion the new primary's launcher
# starts schedulers by itself. A worker run frozen mid-batch when the primary
# dies is reported as interrupted on the promoted server, and its batch never
# happened.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $primary = RetentionTAP::new_node('primary', allows_streaming => 1, scheduler => 1);
$primary->start;

$primary->safe_psql('postgres', 'CREATE DATABASE app');
$primary->safe_psql(
	'app', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
SELECT retention.add_policy('tokens', expires_at => 'expires_at', schedule => '1 second',
                            batch_size => 25);
});
my $primary_sched = RetentionTAP::wait_for_scheduler($primary, 'app');

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

# --- the primary's worker purges; the standby replays it -------------------

$primary->safe_psql(
	'app', q{
INSERT INTO tokens
SELECT i, CASE WHEN i <= 100 THEN now() - interval '1 day' ELSE now() + interval '1 day' END
  FROM generate_series(1, 130) AS i;
SELECT retention.wakeup();
});
$primary->poll_query_until('app', 'SELECT count(*) = 30 FROM tokens')
  or die 'timed out waiting for the primary worker to purge';
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
is($standby->safe_psql('app', 'SELECT count(*), min(id) FROM tokens'),
	'30|101', 'rows purged by the primary worker are gone on the standby');
is( $standby->safe_psql(
		'app', q{
SELECT count(*) > 0, bool_and(trigger = 'worker'), sum(rows_deleted)
  FROM retention.runs WHERE policy = 'public.tokens'}),
	't|t|100', 'the worker runs of the primary are visible on the standby');

# --- nothing of the scheduler runs on the standby --------------------------

is($standby->safe_psql('app', 'SELECT retention.wakeup()'),
	't', 'retention.wakeup() is harmless on the standby');
is( $standby->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type IN ('pg_retention launcher', 'pg_retention scheduler')}),
	'0', 'no pg_retention launcher or scheduler on the standby');

is( $standby->safe_psql(
		'app', q{
SELECT policy, state, running_pid IS NULL, last_status, total_rows_deleted > 0
  FROM retention.status}),
	'public.tokens|standby|t|ok|t',
	'retention.status is readable on the standby, with state standby');

my $standby_log = slurp_file($standby->logfile);
my @bad = grep { /(ERROR|FATAL|PANIC):/ && /retention/i } split /\n/, $standby_log;
is(join("\n", @bad), '', 'no error about retention in the standby log');
unlike($standby_log, qr/read-only transaction/, 'no read-only transaction error in the standby log');

my ($ok, $out, $err) = RetentionTAP::run_sql($standby, 'app',
	"\\set VERBOSITY verbose\nCALL retention.run('public.tokens');");
ok(!$ok, 'CALL retention.run fails on the standby');
like($err, qr/ERROR:\s+25006:/, 'with SQLSTATE 25006');
is($standby->safe_psql('app', q{SELECT purgeable_rows FROM retention.preview('public.tokens')}),
	'0', 'preview works on the standby');
is(RetentionTAP::advisory_locks($standby), '0', 'no advisory lock on the standby');

RetentionTAP::check_quiet($primary, 'primary before the failover');

# --- a worker run frozen mid-batch when the primary dies -----------------------

my ($holder, $holder_pid) =
  RetentionTAP::hold_waitpoints($primary, 'app', 'after_delete_before_commit');
$primary->safe_psql(
	'app', q{
CREATE TABLE ledger (id bigint PRIMARY KEY, booked_at timestamptz NOT NULL);
INSERT INTO ledger SELECT i, now() - interval '2 days' FROM generate_series(1, 50) AS i;
SELECT retention.add_policy('ledger', expires_at => 'booked_at', batch_size => 20);
SELECT retention.wakeup();
});
RetentionTAP::wait_for_waitpoint($primary, $primary_sched);
is( $primary->safe_psql(
		'app', q{
SELECT state, running_pid, current_rows FROM retention.status WHERE policy = 'public.ledger'}),
	"running|$primary_sched|0",
	'the primary shows the frozen worker run as running, no row committed yet');
my $frozen_run = $primary->safe_psql('app',
	q{SELECT run_id FROM retention.runs WHERE policy = 'public.ledger' AND status = 'running'});
like($frozen_run, qr/^\d+$/, "the frozen run $frozen_run is recorded as running");
is( $primary->safe_psql(
		'app', qq{SELECT query FROM pg_stat_activity WHERE pid = $primary_sched}),
	'retention policy "public.ledger": batch 1',
	'pg_stat_activity shows the batch the scheduler is in');

# The "running" row is committed before the first batch: let it replicate.
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is( $standby->safe_psql(
		'app', qq{SELECT status, pid FROM retention.run_history WHERE id = $frozen_run}),
	"running|$primary_sched", 'the running run row has reached the standby');
is($standby->safe_psql('app', 'SELECT count(*) FROM ledger'),
	'50', 'the uncommitted batch has not reached the standby');
is($standby->safe_psql('app', qq{SELECT status FROM retention.runs WHERE run_id = $frozen_run}),
	'running', 'the standby shows the live primary run as running, not interrupted');

$primary->stop('immediate');
RetentionTAP::quit_session($holder);

$standby->promote;
$standby->poll_query_until('app', 'SELECT NOT pg_is_in_recovery()')
  or die 'timed out waiting for promotion';
my $new_primary = $standby;

my $launcher = RetentionTAP::wait_for_launcher($new_primary);
ok($launcher, 'the promoted server starts the launcher by itself');
my $sched = RetentionTAP::wait_for_scheduler($new_primary, 'app');
ok($sched, 'and a scheduler for database app');

is($new_primary->safe_psql('app', qq{SELECT status FROM retention.runs WHERE run_id = $frozen_run}),
	'interrupted', 'retention.runs shows the run of the dead primary as interrupted');
$new_primary->poll_query_until('app',
	qq{SELECT status = 'interrupted' AND finished_at IS NOT NULL
	     FROM retention.run_history WHERE id = $frozen_run})
  or die 'timed out waiting for the scheduler to close the interrupted run';
pass('the new scheduler rewrote the run as interrupted in run_history');
ok($new_primary->log_contains(qr/closed 1 interrupted run/),
	'the scheduler logged that it closed the interrupted run');

# The frozen batch never committed: the rows were all still there, and the
# new primary's worker purges them (the policy never finished a run: due).
$new_primary->poll_query_until('app', 'SELECT count(*) = 0 FROM ledger')
  or die 'timed out waiting for the new primary to purge ledger';
is( $new_primary->safe_psql(
		'app', qq{
SELECT sum(rows_deleted), bool_and(trigger = 'worker'), bool_and(pid = $sched)
  FROM retention.runs WHERE policy = 'public.ledger' AND run_id > $frozen_run AND status = 'ok'}),
	"50|t|t", 'the new primary worker purged all 50 rows of the interrupted run');
is( $new_primary->safe_psql(
		'app', q{SELECT count(*) FROM retention.runs WHERE status = 'running'}),
	'0', 'no run is left running');

# --- newly due rows on the new primary --------------------------------------

$new_primary->safe_psql(
	'app', q{
INSERT INTO tokens SELECT i, now() - interval '1 minute' FROM generate_series(1001, 1040) AS i;
SELECT retention.wakeup();
});
$new_primary->poll_query_until('app', 'SELECT count(*) = 30 FROM tokens')
  or die 'timed out waiting for the new primary to purge new rows';
is( $new_primary->safe_psql(
		'app', qq{
SELECT count(*) > 0 FROM retention.runs
 WHERE policy = 'public.tokens' AND trigger = 'worker' AND pid = $sched AND rows_deleted > 0}),
	't', 'rows that expired after the promotion are purged by the new scheduler');
is( $new_primary->safe_psql(
		'app', q{SELECT string_agg(policy || ':' || state, ',' ORDER BY policy) FROM retention.status}),
	'public.ledger:idle,public.tokens:idle', 'retention.status no longer says standby');

my @errors = grep { /ERROR:/ && /retention/i && !/cannot run retention policies during recovery/ }
  split /\n/, slurp_file($new_primary->logfile);
is(join("\n", @errors), '', 'no other retention error in the promoted server log');

RetentionTAP::check_quiet($new_primary, 'promoted server');

$new_primary->stop;
done_testing();
