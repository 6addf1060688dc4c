# One executor per policy between the background worker and manual CALLs:
# whoever comes second records 'skipped' and returns at once. While a run is
# in flight retention.status shows who runs it and how far it got, and
# pg_stat_activity shows the batch. retention.max_workers bounds the policies
# the schedulers run at once in the whole cluster.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('manual', scheduler => 1);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION pg_retention');
my $sched = RetentionTAP::wait_for_scheduler($node, 'app');

sub make_table
{
	my ($db, $name, $expired) = @_;
	$node->safe_psql($db, qq{
CREATE TABLE $name (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO $name SELECT i, now() - interval '1 day' FROM generate_series(1, $expired) AS i;
INSERT INTO $name SELECT i, now() + interval '1 day' FROM generate_series($expired + 1, $expired + 5) AS i;
});
	return;
}

# --- the worker runs; a manual CALL is skipped ------------------------------

make_table('app', 'p_t', 60);
my ($holder, $holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$node->safe_psql('app',
	q{SELECT retention.add_policy('p_t', expires_at => 'expires_at', name => 'p', batch_size => 20);
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched);
is( $node->safe_psql(
		'app', q{SELECT state, running_pid, current_rows FROM retention.status WHERE policy = 'p'}),
	"running|$sched|0", 'retention.status: the scheduler runs p, no row done yet');
is($node->safe_psql('app', qq{SELECT query FROM pg_stat_activity WHERE pid = $sched}),
	'retention policy "p": batch 1', 'pg_stat_activity shows the policy and batch');
# The policy lock is an advisory tag in a key space no SQL function can
# take (objsubid 4): visible in pg_locks, out of reach of pg_advisory_lock.
is( $node->safe_psql(
		'app', q{SELECT pid FROM pg_locks
                  WHERE locktype = 'advisory' AND classid = 1919251566 AND objsubid = 4 AND granted
                    AND objid = (SELECT id FROM retention.policy WHERE name = 'p')}),
	$sched, 'the scheduler holds the policy lock (pg_locks: objsubid 4)');
is( $node->safe_psql(
		'app', q{SELECT pg_try_advisory_lock(1919251566, id), pg_advisory_unlock(1919251566, id)
                   FROM retention.policy WHERE name = 'p'}),
	't|t', 'pg_try_advisory_lock(1919251566, id) (objsubid 2) does not see the policy lock');

my $t0 = time;
my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'app', q{CALL retention.run('p')});
my $elapsed = time - $t0;
ok($ok, 'a manual CALL while the worker runs the policy succeeds') or diag $err;
is($out, '0|0|0|skipped', 'and returns status skipped');
cmp_ok($elapsed, '<', 5, sprintf('at once (%.1f s)', $elapsed));
like($err, qr/already running; skipped/, 'with a notice');

$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
$node->poll_query_until('app', 'SELECT count(*) = 5 FROM p_t')
  or die 'timed out waiting for the worker run of p';
is( $node->safe_psql(
		'app', q{
SELECT string_agg(trigger || ':' || status || ':' || rows_deleted, ',' ORDER BY run_id)
  FROM retention.runs WHERE policy = 'p'}),
	'worker:ok:60,manual:skipped:0', 'one worker run did the work; the manual one was skipped');
RetentionTAP::check_quiet($node, 'worker first', allow_pids => [$holder_pid]);

# --- a manual run; the worker is skipped -------------------------------------

# Created paused, so that the worker leaves it alone until resumed.
make_table('app', 'q_t', 40);
$node->safe_psql(
	'app', q{
BEGIN;
SELECT retention.add_policy('q_t', expires_at => 'expires_at', name => 'q', batch_size => 10);
SELECT retention.pause('q');
COMMIT;
});
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_enable('before_batch')});
my $caller = $node->background_psql('app');
my $caller_pid = $caller->query_safe('SELECT pg_backend_pid()');
$caller->query_until(qr/calling/, "\\echo calling\nCALL retention.run('q');\n");
RetentionTAP::wait_for_waitpoint($node, $caller_pid);
is( $node->safe_psql(
		'app', q{SELECT state, running_pid, current_rows FROM retention.status WHERE policy = 'q'}),
	"running|$caller_pid|0", 'retention.status: the manual caller runs q');

$node->safe_psql('app', q{SELECT retention.resume('q'); SELECT retention.wakeup()});
$node->poll_query_until('app', q{
SELECT count(*) > 0 FROM retention.runs
 WHERE policy = 'q' AND trigger = 'worker' AND status = 'skipped'})
  or die 'timed out waiting for the worker to skip q';
pass('the worker records skipped while a manual run holds the policy');
is($node->safe_psql('app', 'SELECT count(*) FROM q_t'), '45', 'the worker deleted nothing');

$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
my $call_out = $caller->query_safe('SELECT 1');
like($call_out, qr/^40\|0\|\d+\|ok\n1$/, 'the manual run deleted the 40 rows');
RetentionTAP::quit_session($caller);
is( $node->safe_psql(
		'app', q{
SELECT count(*) FILTER (WHERE status <> 'skipped'),
       string_agg(DISTINCT trigger || ':' || status, ',')
  FROM retention.runs WHERE policy = 'q'}),
	'1|manual:ok,worker:skipped', 'exactly one run of q did the work');
note 'worker runs of q recorded as skipped while the manual run was held: '
  . $node->safe_psql('app',
	q{SELECT count(*) FROM retention.runs WHERE policy = 'q' AND status = 'skipped'});
is( $node->safe_psql(
		'app', q{
SELECT state, last_status, last_rows_deleted,
       abs(extract(epoch FROM next_run_at - (last_started_at + interval '1 hour'))) < 1
  FROM retention.status WHERE policy = 'q'}),
	'idle|ok|40|t', 'the manual run set the next run one schedule ahead');
RetentionTAP::check_quiet($node, 'manual first', allow_pids => [$holder_pid]);
RetentionTAP::quit_session($holder);

# --- progress while a run is in flight ---------------------------------------

make_table('app', 'r_t', 35);
my ($holder_a, $pid_a) =
  RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
$node->safe_psql('app',
	q{SELECT retention.add_policy('r_t', expires_at => 'expires_at', name => 'r', batch_size => 10);
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched);
is( $node->safe_psql(
		'app', q{SELECT state, running_pid, current_rows, (SELECT count(*) FROM r_t)
                   FROM retention.status WHERE policy = 'r'}),
	"running|$sched|0|40",
	'held after the first delete: current_rows is still 0, nothing committed');

my ($holder_b, $pid_b) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$holder_a->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
$node->poll_query_until('app',
	q{SELECT current_rows = 10 FROM retention.status WHERE policy = 'r'})
  or die 'timed out waiting for the first batch to commit';
RetentionTAP::wait_for_waitpoint($node, $sched);
is( $node->safe_psql(
		'app', q{SELECT state, running_pid, current_rows, (SELECT count(*) FROM r_t)
                   FROM retention.status WHERE policy = 'r'}),
	"running|$sched|10|30", 'held before the second batch: current_rows is 10');
is($node->safe_psql('app', qq{SELECT query FROM pg_stat_activity WHERE pid = $sched}),
	'retention policy "r": batch 2', 'pg_stat_activity shows batch 2');
is( $node->safe_psql(
		'app', q{SELECT last_status IS NULL, last_started_at IS NULL FROM retention.status WHERE policy = 'r'}),
	'f|f', 'the run in flight is the last run');
is($node->safe_psql('app', q{SELECT last_status FROM retention.status WHERE policy = 'r'}),
	'running', 'its status is running');

$holder_b->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
$node->poll_query_until('app', q{SELECT state = 'idle' AND last_status = 'ok'
                                   FROM retention.status WHERE policy = 'r'})
  or die 'timed out waiting for the run of r';
is( $node->safe_psql(
		'app', q{SELECT running_pid IS NULL, current_rows IS NULL, last_rows_deleted,
                        (SELECT count(*) FROM r_t)
                   FROM retention.status WHERE policy = 'r'}),
	't|t|35|5', 'after the run: no pid, no progress, 35 rows deleted');
RetentionTAP::check_quiet($node, 'progress', allow_pids => [ $pid_a, $pid_b ]);
RetentionTAP::quit_session($holder_a);
RetentionTAP::quit_session($holder_b);

# --- retention.max_workers = 1 across databases -------------------------------

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET retention.max_workers = 1; SELECT pg_reload_conf()});
$node->safe_psql('postgres', 'CREATE DATABASE app2');
$node->safe_psql('app2', 'CREATE EXTENSION pg_retention');
my $sched2 = RetentionTAP::wait_for_scheduler($node, 'app2');

# The scheduler of app holds the only slot, frozen mid-run.
make_table('app', 's_t', 30);
($holder, $holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$node->safe_psql('app',
	q{SELECT retention.add_policy('s_t', expires_at => 'expires_at', name => 's');
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched);

make_table('app2', 'u_t', 30);
$node->safe_psql('app2',
	q{SELECT retention.add_policy('u_t', expires_at => 'expires_at', name => 'u');
	  SELECT retention.wakeup()});
# Watch app2's scheduler for a few naptimes, with wakeups, for a run.
RetentionTAP::never_within(sub { $node->safe_psql('app2', 'SELECT count(*) FROM retention.runs') },
	sub { $_[0] ne '0' }, 2, $node, 'app2');
is( $node->safe_psql(
		'app2', q{SELECT (SELECT count(*) FROM retention.runs), (SELECT count(*) FROM u_t)}),
	'0|35', 'with max_workers = 1 and the slot taken, app2 starts no run');

$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
$node->poll_query_until('app2', 'SELECT count(*) = 5 FROM u_t')
  or die 'timed out waiting for app2 to run once the slot was free';
pass('once the slot is free, app2 runs its policy');
is($node->safe_psql('app', 'SELECT count(*) FROM s_t'), '5', 'and the held run of app finished');
RetentionTAP::check_quiet($node, 'max_workers', allow_pids => [$holder_pid]);
RetentionTAP::quit_session($holder);

# A scheduler terminated while it holds the only slot gives the slot back.
make_table('app', 's2_t', 30);
($holder, $holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$node->safe_psql('app',
	q{SELECT retention.add_policy('s2_t', expires_at => 'expires_at', name => 's2');
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched);
make_table('app2', 'u2_t', 30);
$node->safe_psql('app2',
	q{SELECT retention.add_policy('u2_t', expires_at => 'expires_at', name => 'u2');
	  SELECT retention.wakeup()});
is($node->safe_psql('app', "SELECT pg_terminate_backend($sched)"),
	't', 'terminate the scheduler of app while it holds the slot');
RetentionTAP::quit_session($holder);
my $sched_new = RetentionTAP::wait_for_scheduler($node, 'app', $sched);
ok($sched_new, 'a new scheduler serves app');
$node->poll_query_until('app2', 'SELECT count(*) = 5 FROM u2_t')
  or die 'timed out waiting for app2 after the slot holder was terminated';
pass('the slot of the terminated scheduler was given back: app2 runs');
$node->poll_query_until('app', 'SELECT count(*) = 5 FROM s2_t')
  or die 'timed out waiting for the new scheduler of app to finish s2';
pass('the new scheduler of app finishes the interrupted policy');
is( $node->safe_psql(
		'app', q{
SELECT string_agg(status, ',' ORDER BY run_id) FROM retention.runs
 WHERE policy = 's2' AND status <> 'skipped'}),
	'interrupted,ok', 'the terminated run is interrupted, the next one ok');
RetentionTAP::check_quiet($node, 'slot after SIGTERM');

$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET retention.max_workers; SELECT pg_reload_conf()});

ok(!$node->log_contains(qr/terminated by signal/), 'no process crashed');
$node->stop;
done_testing();
