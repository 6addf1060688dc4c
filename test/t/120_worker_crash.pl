# A worker run cut short: kill -9 of the scheduler in the middle of an archive
# batch (crash recovery), SIGTERM of the scheduler at the same spot (no crash
# recovery), and a fast shutdown while the worker is held mid-run. In every
# case each row is exactly once in the source or in the archive, the cut run
# is reported as interrupted, a scheduler comes back, and the next run
# finishes the job. Last, SIGTERM of the launcher: the postmaster starts a new
# one, which must neither duplicate nor lose control of the schedulers.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('crash', scheduler => 1);
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION pg_retention');

# A table of $n rows, the first $expired of them expired, a copy of it as the
# baseline, and an archive policy for it (added later, by the scenario).
sub make_table
{
	my ($name, $n, $expired) = @_;
	$node->safe_psql(
		'app', qq{
CREATE TABLE $name (
    id         bigint PRIMARY KEY,
    payload    text NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO $name
SELECT i, md5(i::text),
       CASE WHEN i <= $expired THEN now() - interval '1 day' ELSE now() + interval '1 day' END
  FROM generate_series(1, $n) AS i;
CREATE TABLE ${name}_baseline AS SELECT * FROM $name;
});
	return;
}

sub add_policy
{
	my ($name) = @_;
	$node->safe_psql(
		'app', qq{
SELECT retention.add_policy('$name', expires_at => 'expires_at', mode => 'archive',
                            batch_size => 50);
SELECT retention.wakeup();
});
	return;
}

# Source and archive together hold exactly the baseline, each row once.
sub check_split
{
	my ($name, $label) = @_;
	my $archive = "retention_archive.$name";
	my $cols    = 'id, payload, expires_at';    # the archive adds archived_at
	is( $node->safe_psql(
			'app', qq{
SELECT (SELECT count(*) FROM (SELECT $cols FROM ${name}_baseline
                              EXCEPT ALL
                              (SELECT $cols FROM $name UNION ALL SELECT $cols FROM $archive)) a),
       (SELECT count(*) FROM ((SELECT $cols FROM $name UNION ALL SELECT $cols FROM $archive)
                              EXCEPT ALL
                              SELECT $cols FROM ${name}_baseline) b),
       (SELECT count(*) FROM $name s JOIN $archive a USING (id))}),
		'0|0|0', "$label: source and archive together are the baseline, no row in both");
	return;
}

sub counts
{
	my ($name) = @_;
	return $node->safe_psql('app',
		"SELECT (SELECT count(*) FROM $name), (SELECT count(*) FROM retention_archive.$name)");
}

# Waits for the policy to have archived every expired row.
sub wait_done
{
	my ($name, $live, $expired) = @_;
	$node->poll_query_until('app', qq{
SELECT (SELECT count(*) FROM $name) = $live
   AND (SELECT count(*) FROM retention_archive.$name) = $expired})
	  or die "timed out waiting for policy $name to finish";
	return;
}

my $launcher = RetentionTAP::wait_for_launcher($node);

# --- kill -9 of the scheduler in the middle of a batch ----------------------

make_table('orders', 400, 300);
my ($holder, $holder_pid) =
  RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
my $sched = RetentionTAP::wait_for_scheduler($node, 'app');
add_policy('orders');
RetentionTAP::wait_for_waitpoint($node, $sched);
pass("the scheduler ($sched) is held after its first delete, before the commit");
is(counts('orders'), '400|0', 'nothing committed yet');
my $killed_run = $node->safe_psql('app',
	q{SELECT run_id FROM retention.runs WHERE policy = 'public.orders' AND status = 'running'});
like($killed_run, qr/^\d+$/, 'the run is recorded as running');
my $killed_started = $node->safe_psql('app',
	qq{SELECT started_at FROM retention.run_history WHERE id = $killed_run});

my $log_offset = -s $node->logfile;
kill 'KILL', $sched;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
RetentionTAP::quit_session($holder);
# Back up, with a new launcher and scheduler.
my $new_launcher = RetentionTAP::wait_for_launcher($node);
isnt($new_launcher, $launcher, 'after crash recovery a new launcher runs');
$launcher = $new_launcher;
my $sched2 = RetentionTAP::wait_for_scheduler($node, 'app', $sched);
ok($sched2, 'and a new scheduler serves app');

check_split('orders', 'after kill -9');
# The "running" row was committed before the first batch started, so crash
# recovery must keep it (else the run vanishes from the history and its id is
# handed out again).
my $survived = is(
	$node->safe_psql(
		'app', qq{
SELECT count(*) FROM retention.run_history
 WHERE id = $killed_run AND pid = $sched AND started_at = '$killed_started'}),
	'1', 'the run row of the killed run survived crash recovery');
SKIP:
{
	skip 'the run row of the killed run was lost', 2 unless $survived;
	is($node->safe_psql('app', qq{SELECT status FROM retention.runs WHERE run_id = $killed_run}),
		'interrupted', 'retention.runs shows the killed run as interrupted');
	$node->poll_query_until('app',
		qq{SELECT status = 'interrupted' FROM retention.run_history WHERE id = $killed_run})
	  or die 'timed out waiting for run_history to say interrupted';
	pass('the restarted scheduler rewrote the killed run as interrupted');
}

wait_done('orders', 100, 300);
check_split('orders', 'after the next run');
is( $node->safe_psql(
		'app', qq{
SELECT count(*), sum(rows_archived) FROM retention.runs
 WHERE policy = 'public.orders' AND started_at > '$killed_started' AND status = 'ok'
   AND trigger = 'worker'}),
	'1|300', 'one later worker run archived all 300 rows');
is($node->safe_psql('app', q{SELECT count(*) FROM orders WHERE expires_at < now()}),
	'0', 'no purgeable row is left');
RetentionTAP::check_quiet($node, 'after kill -9');

# --- SIGTERM of the scheduler in the middle of a batch ---------------------

make_table('invoices', 300, 220);
($holder, $holder_pid) =
  RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
$sched = RetentionTAP::wait_for_scheduler($node, 'app');
add_policy('invoices');
RetentionTAP::wait_for_waitpoint($node, $sched);
my $termed_run = $node->safe_psql('app',
	q{SELECT run_id FROM retention.runs WHERE policy = 'public.invoices' AND status = 'running'});
like($termed_run, qr/^\d+$/, 'the run is recorded as running');

$log_offset = -s $node->logfile;
is($node->safe_psql('app', "SELECT pg_terminate_backend($sched)"),
	't', 'pg_terminate_backend of the scheduler');
# The waitpoint stays held: the next scheduler's first batch stops at the
# same spot, so what is committed can be looked at without a race.
$sched2 = RetentionTAP::wait_for_scheduler($node, 'app', $sched);
ok($sched2, "a new scheduler ($sched2) comes back");
RetentionTAP::wait_for_waitpoint($node, $sched2);
is(counts('invoices'), '300|0', 'the terminated batch was rolled back');
check_split('invoices', 'after SIGTERM');
is( $node->safe_psql(
		'app', qq{SELECT status FROM retention.run_history WHERE id = $termed_run}),
	'interrupted', 'the new scheduler rewrote the terminated run as interrupted');
ok(!$node->log_contains(qr/terminated by signal|reinitializing|was terminated/, $log_offset),
	'SIGTERM did not cause crash recovery');
is(RetentionTAP::launcher_pid($node), $launcher, 'the launcher kept running');

$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
RetentionTAP::quit_session($holder);
wait_done('invoices', 80, 220);
check_split('invoices', 'after the run that followed SIGTERM');
is( $node->safe_psql(
		'app', qq{
SELECT string_agg(status, ',' ORDER BY run_id) FROM retention.runs
 WHERE policy = 'public.invoices' AND status <> 'skipped'}),
	'interrupted,ok', 'one interrupted run, then one that finished');
RetentionTAP::check_quiet($node, 'after SIGTERM');

# --- fast shutdown while the worker is held mid-run ------------------------

# Hold the first batch before its commit, then hold the second one before it
# starts and let the first commit: the run has archived 50 rows and waits.
make_table('shipments', 260, 200);
my ($holder_a) = RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
$sched = RetentionTAP::wait_for_scheduler($node, 'app');
add_policy('shipments');
RetentionTAP::wait_for_waitpoint($node, $sched);
is(counts('shipments'), '260|0', 'held in the first batch');
my ($holder_b) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$holder_a->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
$node->poll_query_until('app',
	q{SELECT current_rows = 50 FROM retention.status WHERE policy = 'public.shipments'})
  or die 'timed out waiting for the first batch to commit';
RetentionTAP::wait_for_waitpoint($node, $sched);
is(counts('shipments'), '210|50', 'the first batch committed; held before the second one');
my $stopped_run = $node->safe_psql('app',
	q{SELECT run_id FROM retention.runs WHERE policy = 'public.shipments' AND status = 'running'});

my $t0 = time;
$node->stop('fast');
my $elapsed = time - $t0;
cmp_ok($elapsed, '<', 30, sprintf('fast shutdown with a held worker took %.1f s', $elapsed));
RetentionTAP::quit_session($holder_a);
RetentionTAP::quit_session($holder_b);

$node->start;
$sched = RetentionTAP::wait_for_scheduler($node, 'app');
check_split('shipments', 'after fast shutdown');
$node->poll_query_until('app',
	qq{SELECT status = 'interrupted' FROM retention.run_history WHERE id = $stopped_run})
  or die 'timed out waiting for the stopped run to be closed';
pass('the run cut by the shutdown is interrupted in run_history');
wait_done('shipments', 60, 200);
check_split('shipments', 'after the run that followed the restart');
RetentionTAP::check_quiet($node, 'after fast shutdown');

# --- SIGTERM of the launcher ---------------------------------------------------

# The postmaster starts a new launcher; it must not start a second scheduler
# for a database that still has one.
$launcher = RetentionTAP::wait_for_launcher($node);
$sched = RetentionTAP::wait_for_scheduler($node, 'app');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)"),
	't', 'pg_terminate_backend of the launcher');
$new_launcher = RetentionTAP::poll_value(
	$node, 'postgres', q{
SELECT coalesce(string_agg(pid::text, ','), '')
  FROM pg_stat_activity WHERE backend_type = 'pg_retention launcher'},
	sub { $_[0] =~ /^\d+$/ && $_[0] != $launcher }, 'a new launcher');
pass("the postmaster starts a new launcher ($new_launcher)");
$launcher = $new_launcher;
# Watch the new launcher's first passes for a second scheduler.
RetentionTAP::never_within(sub { RetentionTAP::scheduler_pids($node, 'app') },
	sub { $_[0] =~ /,/ }, 1.2, $node, 'app');
is(RetentionTAP::scheduler_pids($node, 'app'),
	$sched, 'the scheduler of app is still the only one, the same process');
# The new launcher did not start that scheduler, but it must still stop it
# when retention.databases no longer lists the database.
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET retention.databases = 'postgres'; SELECT pg_reload_conf()});
my $left = RetentionTAP::try_poll_value(
	$node, 'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'pg_retention scheduler' AND datname = 'app'},
	sub { $_[0] eq '0' }, 20);
ok(defined $left,
	'a scheduler started by the previous launcher leaves when retention.databases drops its database');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET retention.databases; SELECT pg_reload_conf()});
$node->safe_psql('app', 'SELECT retention.wakeup()');
RetentionTAP::poll_value(
	$node, 'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'pg_retention scheduler' AND datname = 'app'},
	sub { $_[0] >= 1 }, 'a scheduler for app');
# Watch the launcher's passes for a second one.
RetentionTAP::never_within(sub { RetentionTAP::scheduler_pids($node, 'app') },
	sub { $_[0] =~ /,/ }, 1.2, $node, 'app');
like(RetentionTAP::scheduler_pids($node, 'app'),
	qr/^\d+$/, 'once listed again, app has exactly one scheduler');
RetentionTAP::check_quiet($node, 'after SIGTERM of the launcher');

# The other tables were not touched by all this.
check_split('orders',   'orders at the end');
check_split('invoices', 'invoices at the end');

$node->stop;
done_testing();
