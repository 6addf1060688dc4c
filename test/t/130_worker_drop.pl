# Dropping things under the background scheduler: another database (never
# blocked by our workers, even while one of them is held mid-run), a database
# with a scheduler WITH (FORCE) (no restart loop afterwards), and the
# extension itself, idle and mid-run (the scheduler leaves, archived rows
# stay, CREATE EXTENSION brings scheduling back).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('drop', scheduler => 1);
# The postmaster logs every background worker start at DEBUG1.
$node->append_conf('postgresql.conf', "log_min_messages = debug1\n");
$node->start;
my $launcher = RetentionTAP::wait_for_launcher($node);

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql(
	'app', q{
CREATE EXTENSION pg_retention;
CREATE TABLE big (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO big SELECT i, now() - interval '1 day' FROM generate_series(1, 1000) AS i;
});
my $sched_app = RetentionTAP::wait_for_scheduler($node, 'app');

# Number of times the postmaster started a scheduler for database $oid
# since log offset $offset.
sub scheduler_starts
{
	my ($oid, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my @starts =
	  ($log =~ /starting background worker process "pg_retention scheduler for database $oid"/g);
	return scalar @starts;
}

# --- DROP DATABASE of a database without the extension -------------------

# The scheduler of app is held mid-run for the whole scenario.
my ($holder, $holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$node->safe_psql('app',
	q{SELECT retention.add_policy('big', expires_at => 'expires_at', batch_size => 100);
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched_app);
pass('the scheduler of app is held at before_batch');

$node->safe_psql('postgres', 'CREATE DATABASE plain');
# Give the launcher the chance to look at it (its probe leaves at once).
$node->safe_psql('app', 'SELECT retention.wakeup()');
my $t0 = time;
my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', 'DROP DATABASE plain');
my $elapsed = time - $t0;
ok($ok, 'DROP DATABASE of a database without the extension succeeds') or diag $err;
cmp_ok($elapsed, '<', 10, sprintf('and takes %.1f s (< 10 s) while app is held mid-run', $elapsed));
RetentionTAP::wait_for_waitpoint($node, $sched_app);
is(RetentionTAP::scheduler_pids($node, 'app'), $sched_app, 'the held scheduler of app is untouched');

$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
$node->poll_query_until('app', 'SELECT count(*) = 0 FROM big')
  or die 'timed out waiting for the released run to finish';
is( $node->safe_psql(
		'app', q{SELECT string_agg(status || ':' || rows_deleted, ',') FROM retention.runs WHERE policy = 'public.big'}),
	'ok:1000', 'the held run finished once released');
RetentionTAP::check_quiet($node, 'after DROP DATABASE without the extension',
	allow_pids => [$holder_pid]);
RetentionTAP::quit_session($holder);

# --- drop_policy() while the worker is held mid-run -------------------------

$node->safe_psql(
	'app', q{
CREATE TABLE doomed (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO doomed SELECT i, now() - interval '1 day' FROM generate_series(1, 300) AS i;
});
($holder, $holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
$node->safe_psql('app',
	q{SELECT retention.add_policy('doomed', expires_at => 'expires_at', batch_size => 50);
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched_app);
my $doomed_run = $node->safe_psql('app',
	q{SELECT run_id FROM retention.runs WHERE policy = 'public.doomed' AND status = 'running'});
my ($holder2, $holder2_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
RetentionTAP::quit_session($holder);
$node->poll_query_until('app',
	q{SELECT current_rows = 50 FROM retention.status WHERE policy = 'public.doomed'})
  or die 'timed out waiting for the first batch of doomed';
RetentionTAP::wait_for_waitpoint($node, $sched_app);

my $log_offset = -s $node->logfile;
$node->safe_psql('app', q{SELECT retention.drop_policy('public.doomed')});
$holder2->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
RetentionTAP::quit_session($holder2);
# Wait for the run to let go of the policy lock, however it ends.
$node->poll_query_until('app', q{
SELECT count(*) = 0 FROM pg_locks
 WHERE locktype = 'advisory' AND classid = 1919251566 AND objsubid = 4})
  or die 'timed out waiting for the run of the dropped policy to end';
cmp_ok($node->safe_psql('app', 'SELECT count(*) FROM doomed'),
	'>=', 200, 'the run stops within one batch of drop_policy()');
is( $node->safe_psql(
		'app', qq{
SELECT status, finished_at IS NOT NULL FROM retention.run_history WHERE id = $doomed_run}),
	'partial|t', 'the run of the dropped policy is recorded as partial, not left running');
my @sched_errors = grep { /\[$sched_app\] (ERROR|FATAL)/ }
  split /\n/, slurp_file($node->logfile, $log_offset);
is(join("\n", @sched_errors), '', 'the scheduler logged no error');
is(RetentionTAP::scheduler_pids($node, 'app'), $sched_app, 'the scheduler of app goes on');
RetentionTAP::check_quiet($node, 'after drop_policy mid-run');

# --- DROP DATABASE ... WITH (FORCE) of a database with a scheduler -------

$node->safe_psql('postgres', 'CREATE DATABASE victim');
$node->safe_psql(
	'victim', q{
CREATE EXTENSION pg_retention;
CREATE TABLE t (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO t SELECT i, now() - interval '1 day' FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('t', expires_at => 'expires_at', schedule => '1 second');
});
my $victim_oid =
  $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'victim'});
my $sched_victim = RetentionTAP::wait_for_scheduler($node, 'victim');
$node->poll_query_until('victim', 'SELECT count(*) = 0 FROM t')
  or die 'timed out waiting for the scheduler of victim';

# A plain DROP DATABASE makes the scheduler leave first (see
# 220_database_lifecycle.pl); WITH (FORCE) terminates it.
$log_offset = -s $node->logfile;
$t0 = time;
($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', 'DROP DATABASE victim WITH (FORCE)');
$elapsed = time - $t0;
ok($ok, 'DROP DATABASE ... WITH (FORCE) of a database with a scheduler succeeds') or diag $err;
cmp_ok($elapsed, '<', 10, sprintf('and takes %.1f s', $elapsed));
RetentionTAP::wait_for_no_scheduler($node, 'victim');
# Watch the launcher for 10 naptimes, with wakeups, for a restart loop.
RetentionTAP::never_within(sub { scheduler_starts($victim_oid, $log_offset) },
	sub { $_[0] > 1 }, 2, $node, 'app');
my $starts = scheduler_starts($victim_oid, $log_offset);
cmp_ok($starts, '<=', 1,
	"no restart loop: $starts scheduler start(s) for the dropped database in 2 s");
is(RetentionTAP::launcher_pid($node), $launcher, 'the launcher is still the same process');
is(RetentionTAP::scheduler_pids($node, 'app'), $sched_app, 'the scheduler of app is untouched');
ok(!$node->log_contains(qr/terminated by signal/, $log_offset), 'no process crashed');
RetentionTAP::check_quiet($node, 'after DROP DATABASE WITH (FORCE)');

# --- DROP EXTENSION while idle, then CREATE EXTENSION again ---------------

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql(
	'shop', q{
CREATE EXTENSION pg_retention;
CREATE TABLE orders (id bigint PRIMARY KEY, closed_at timestamptz NOT NULL);
INSERT INTO orders SELECT i, now() - interval '1 day' FROM generate_series(1, 40) AS i;
SELECT retention.add_policy('orders', expires_at => 'closed_at', mode => 'archive');
});
my $sched_shop = RetentionTAP::wait_for_scheduler($node, 'shop');
$node->poll_query_until('shop', 'SELECT count(*) = 40 FROM retention_archive.orders')
  or die 'timed out waiting for the archive run';
RetentionTAP::check_quiet($node, 'shop before DROP EXTENSION');

$node->safe_psql('shop', 'DROP EXTENSION pg_retention');
RetentionTAP::wait_for_no_scheduler($node, 'shop');
pass('after DROP EXTENSION the scheduler of shop leaves');
is( $node->safe_psql(
		'shop',
		q{SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM retention_archive.orders)}),
	'0|40', 'the archive table and its rows stay');
is($node->safe_psql('shop', q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_retention'}),
	'0', 'the extension is gone');
# It stays away.
RetentionTAP::never_within(sub { RetentionTAP::scheduler_pids($node, 'shop') },
	sub { $_[0] ne '' }, 1, $node, 'app');
is(RetentionTAP::scheduler_pids($node, 'shop'), '', 'no scheduler returns without the extension');
RetentionTAP::check_quiet($node, 'after DROP EXTENSION while idle');

$node->safe_psql('shop', 'CREATE EXTENSION pg_retention');
my $sched_shop2 = RetentionTAP::wait_for_scheduler($node, 'shop');
ok($sched_shop2, 'CREATE EXTENSION again brings a scheduler back');
$node->safe_psql(
	'shop', q{
INSERT INTO orders SELECT i, now() - interval '1 day' FROM generate_series(41, 70) AS i;
SELECT retention.add_policy('orders', expires_at => 'closed_at', mode => 'archive',
                            archive_table => 'retention_archive.orders');
SELECT retention.wakeup();
});
$node->poll_query_until('shop', 'SELECT count(*) = 0 FROM orders')
  or die 'timed out waiting for the new policy to run';
is( $node->safe_psql(
		'shop', q{
SELECT (SELECT count(*) FROM retention_archive.orders),
       (SELECT string_agg(trigger || ':' || status || ':' || rows_archived, ',') FROM retention.runs)}),
	'70|worker:ok:30', 'the new policy runs and archives into the old archive table');
RetentionTAP::check_quiet($node, 'after CREATE EXTENSION again');

# --- DROP EXTENSION while the worker is held mid-run -----------------------

$node->safe_psql(
	'shop', q{
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO events SELECT i, now() - interval '1 day' FROM generate_series(1, 300) AS i;
CREATE TABLE events_baseline AS SELECT * FROM events;
});
# Hold the first batch before its commit, then the second before it starts.
my ($holder_a, $pid_a) =
  RetentionTAP::hold_waitpoints($node, 'shop', 'after_delete_before_commit');
$node->safe_psql('shop',
	q{SELECT retention.add_policy('events', expires_at => 'at', mode => 'archive', batch_size => 50);
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched_shop2);
my ($holder_b, $pid_b) = RetentionTAP::hold_waitpoints($node, 'shop', 'before_batch');
$holder_a->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
RetentionTAP::quit_session($holder_a);
$node->poll_query_until('shop',
	q{SELECT current_rows = 50 FROM retention.status WHERE policy = 'public.events'})
  or die 'timed out waiting for the first batch';
RetentionTAP::wait_for_waitpoint($node, $sched_shop2);
is( $node->safe_psql(
		'shop',
		q{SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM retention_archive.events)}),
	'250|50', 'the worker archived one batch and is held before the second');

my $dropper = $node->background_psql('shop', on_error_stop => 0);
my $dropper_pid = $dropper->query_safe('SELECT pg_backend_pid()');
$dropper->query_until(qr/dropping/, "\\echo dropping\nDROP EXTENSION pg_retention;\n\\echo dropped\n");
# DROP EXTENSION either is done at once or waits for the run's transaction.
my $drop_state = RetentionTAP::poll_value(
	$node, 'postgres', qq{
SELECT CASE WHEN query NOT LIKE 'DROP EXTENSION%' THEN ''
            WHEN wait_event_type = 'Lock' THEN 'waiting'
            WHEN state = 'idle' THEN 'done' ELSE '' END
  FROM pg_stat_activity WHERE pid = $dropper_pid},
	sub { $_[0] ne '' }, 'DROP EXTENSION to finish or wait for a lock');
note "DROP EXTENSION is $drop_state while the run is held";
# The release function may be gone with the extension: end the session,
# which releases the waitpoint as well.
RetentionTAP::quit_session($holder_b);
my $drop_out = $dropper->query('SELECT 1');
like($drop_out, qr/dropped/, 'DROP EXTENSION completes once the held run goes on');
unlike($dropper->{stderr}, qr/ERROR/, 'DROP EXTENSION reported no error');
RetentionTAP::quit_session($dropper);

RetentionTAP::wait_for_no_scheduler($node, 'shop');
pass('the scheduler leaves the database after DROP EXTENSION mid-run');
is($node->safe_psql('shop', q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_retention'}),
	'0', 'the extension is gone');
is( $node->safe_psql(
		'shop', q{
SELECT (SELECT count(*) FROM (SELECT id, at FROM events_baseline
                              EXCEPT ALL
                              (SELECT id, at FROM events UNION ALL
                               SELECT id, at FROM retention_archive.events)) a),
       (SELECT count(*) FROM ((SELECT id, at FROM events UNION ALL
                               SELECT id, at FROM retention_archive.events)
                              EXCEPT ALL SELECT id, at FROM events_baseline) b),
       (SELECT count(*) >= 50 FROM retention_archive.events)}),
	'0|0|t', 'archived rows stay; source and archive together are the baseline');
# Once DROP EXTENSION has committed the policy no longer exists: the run may
# finish the batch it is in, but must not go on purging batch after batch.
cmp_ok($node->safe_psql('shop', 'SELECT count(*) FROM retention_archive.events'),
	'<=', 100, 'the run stops within one batch of DROP EXTENSION');
RetentionTAP::check_quiet($node, 'after DROP EXTENSION mid-run');

is(RetentionTAP::launcher_pid($node), $launcher, 'the launcher ran throughout');
ok(!$node->log_contains(qr/terminated by signal/), 'no process crashed');

$node->stop;
done_testing();
