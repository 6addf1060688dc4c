# The background scheduler purges on its own: a launcher finds the databases
# with the extension and starts one scheduler in each; every scheduler runs
# the due, enabled, unpaused policies and records them with trigger 'worker'.
# Covers policies added later, databases created later, retention.databases,
# the status view, pause/resume, retention.enabled, disabled policies and a
# failing policy in backoff that does not hold up the others.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

# Set everything up with the scheduler off, then turn it on with a restart:
# the launcher has to find database "app" by itself (no CREATE EXTENSION
# tells it).
my $node = RetentionTAP::new_node('sched');
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql(
	'app', q{
CREATE EXTENSION pg_retention;
-- An empty table whose policy runs every second: its runs mark the
-- scheduler's passes.
CREATE TABLE heartbeat (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
SELECT retention.add_policy('heartbeat', expires_at => 'expires_at', schedule => '1 second');

CREATE TABLE events (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO events
SELECT i, CASE WHEN i <= 150 THEN now() - interval '1 day' ELSE now() + interval '1 day' END
  FROM generate_series(1, 200) AS i;
SELECT retention.add_policy('events', expires_at => 'expires_at', schedule => '1 second',
                            batch_size => 40);
});
is($node->safe_psql('app', 'SELECT count(*) FROM retention.runs'),
	'0', 'nothing ran while retention.enabled was off');

$node->append_conf('postgresql.conf', <<'EOC');
retention.enabled = on
retention.naptime = '200ms'
retention.enable_debug_waitpoints = on
EOC
$node->restart;

# --- the worker purges on its own -------------------------------------------

my $launcher = RetentionTAP::wait_for_launcher($node);
ok($launcher, "the launcher runs (pid $launcher)");
my $sched_app = RetentionTAP::wait_for_scheduler($node, 'app');
ok($sched_app, "a scheduler serves database app (pid $sched_app)");

$node->poll_query_until('app',
	q{SELECT count(*) = 0 FROM events WHERE expires_at < now()})
  or die 'timed out waiting for the worker to purge events';
is($node->safe_psql('app', 'SELECT count(*), min(id) FROM events'),
	'50|151', 'the worker purged the 150 expired rows and kept the 50 live ones');
is( $node->safe_psql(
		'app', q{
SELECT count(*) FILTER (WHERE trigger <> 'worker'), sum(rows_deleted),
       count(*) FILTER (WHERE status NOT IN ('ok', 'running'))
  FROM retention.runs WHERE policy = 'public.events'}),
	'0|150|0',
	'every run of events was a worker run; together they deleted 150 rows');
is( $node->safe_psql(
		'app', qq{
SELECT count(DISTINCT pid) = 1 AND min(pid) = $sched_app FROM retention.runs
 WHERE trigger = 'worker'}),
	't', 'the worker runs were made by the scheduler of app');

# The probe of "postgres" (no extension) ended at once; template databases
# are never visited.
RetentionTAP::wait_for_no_scheduler($node, 'postgres');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'pg_retention scheduler' AND datname IS DISTINCT FROM 'app'}),
	'0', 'no scheduler outside database app');
is($node->safe_psql('app', 'SELECT retention.wakeup()'),
	't', 'retention.wakeup() reports a preloaded module');

RetentionTAP::check_quiet($node, 'after the first worker runs');

# --- a policy added after start-up ----------------------------------------

$node->safe_psql(
	'app', q{
CREATE TABLE sessions (id bigint PRIMARY KEY, seen_at timestamptz NOT NULL);
INSERT INTO sessions SELECT i, now() - interval '3 days' FROM generate_series(1, 80) AS i;
INSERT INTO sessions SELECT i, now() FROM generate_series(81, 100) AS i;
SELECT retention.add_policy('sessions', expires_at => 'seen_at', retain => '1 day');
SELECT retention.wakeup();
});
$node->poll_query_until('app', q{SELECT count(*) = 20 FROM sessions})
  or die 'timed out waiting for the new policy to run';
pass('a policy added while the scheduler runs is picked up');

# The status view after that worker run (schedule: the default hour).
is( $node->safe_psql(
		'app', q{
SELECT state, mode, last_status, last_rows_deleted, last_rows_archived, total_rows_deleted,
       consecutive_failures, running_pid IS NULL, current_rows IS NULL,
       last_error IS NULL AND last_sqlstate IS NULL,
       last_finished_at >= last_started_at,
       abs(extract(epoch FROM next_run_at - (last_started_at + interval '1 hour'))) < 1
  FROM retention.status WHERE policy = 'public.sessions'}),
	'idle|delete|ok|80|0|80|0|t|t|t|t|t',
	'retention.status: idle, last run ok with 80 rows, next run one schedule after the start');
is( $node->safe_psql(
		'app', q{
SELECT s.next_run_at = ps.next_run_at
  FROM retention.status s
  JOIN retention.policy p ON p.name = s.policy
  JOIN retention.policy_state ps ON ps.policy_id = p.id
 WHERE s.policy = 'public.sessions'}),
	't', 'retention.status.next_run_at is policy_state.next_run_at');

# Not due for an hour: more passes do not run it again.
$node->safe_psql('app', q{INSERT INTO sessions SELECT i, now() - interval '3 days'
                            FROM generate_series(101, 110) AS i});
$node->safe_psql('app', 'SELECT retention.wakeup()');
RetentionTAP::wait_for_passes($node, 'app', 'public.heartbeat', 2);
is( $node->safe_psql(
		'app',
		q{SELECT count(*) FROM retention.runs WHERE policy = 'public.sessions' AND status <> 'skipped'}),
	'1', 'a policy that is not due yet is not run again');
is($node->safe_psql('app', 'SELECT count(*) FROM sessions'),
	'30', 'its new expired rows wait for the next due run');

RetentionTAP::check_quiet($node, 'after the added policy');

# --- a second database, created after start-up ----------------------------

$node->safe_psql('postgres', 'CREATE DATABASE app2');
my $t_created = time;
$node->safe_psql(
	'app2', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO tokens SELECT i, now() - interval '1 hour' FROM generate_series(1, 60) AS i;
SELECT retention.add_policy('tokens', expires_at => 'expires_at', schedule => '1 second');
});
my $sched_app2 = RetentionTAP::wait_for_scheduler($node, 'app2');
my $pickup = time - $t_created;
ok($sched_app2, "database app2 gets its own scheduler (pid $sched_app2)");
# One naptime is 200 ms; allow for a slow machine.
cmp_ok($pickup, '<', 10, sprintf('within %.1f s of CREATE EXTENSION', $pickup));
$node->poll_query_until('app2', 'SELECT count(*) = 0 FROM tokens')
  or die 'timed out waiting for the scheduler of app2';
is( $node->safe_psql(
		'app2',
		q{SELECT count(*) > 0, bool_and(trigger = 'worker'), sum(rows_deleted) FROM retention.runs}),
	't|t|60', 'the scheduler of app2 purged its table');
is(RetentionTAP::scheduler_pids($node, 'app'),
	$sched_app, 'the scheduler of app is unaffected');

RetentionTAP::check_quiet($node, 'after the second database');

# A migration that creates the extension and its policies in one longer
# transaction: the launcher looks at the new database (and finds no committed
# extension) while the transaction is still open, yet scheduling starts once
# it commits.
$node->safe_psql('postgres', 'CREATE DATABASE mig');
my $migration = $node->background_psql('mig');
$migration->query_safe('BEGIN');
$migration->query_safe('CREATE EXTENSION pg_retention');
$migration->query_safe(q{
CREATE TABLE carts (id bigint PRIMARY KEY, touched_at timestamptz NOT NULL);
INSERT INTO carts SELECT i, now() - interval '30 days' FROM generate_series(1, 20) AS i;
SELECT retention.add_policy('carts', expires_at => 'touched_at', retain => '7 days');
});
# The rest of a long migration: a few naptimes.
usleep(1_000_000);
$migration->query_safe('COMMIT');
RetentionTAP::quit_session($migration);
my $sched_mig = RetentionTAP::wait_for_scheduler($node, 'mig');
ok($sched_mig, 'an extension created in a longer transaction gets a scheduler once committed');
$node->poll_query_until('mig', 'SELECT count(*) = 0 FROM carts')
  or die 'timed out waiting for the scheduler of mig';
pass('and its policy runs');
RetentionTAP::check_quiet($node, 'after the migration database');

# --- retention.databases -----------------------------------------------------

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET retention.databases = 'app'; SELECT pg_reload_conf()});
RetentionTAP::wait_for_no_scheduler($node, 'app2');
pass('after retention.databases = app the scheduler of app2 leaves');
is(RetentionTAP::scheduler_pids($node, 'app'),
	$sched_app, 'the scheduler of app keeps running');
$node->safe_psql('app2',
	q{INSERT INTO tokens SELECT i, now() - interval '1 hour' FROM generate_series(61, 70) AS i});
$node->safe_psql('app', 'SELECT retention.wakeup()');
RetentionTAP::wait_for_passes($node, 'app', 'public.heartbeat', 2);
is(RetentionTAP::scheduler_pids($node, 'app2'),
	'', 'no scheduler comes back for app2 while it is not listed');
is($node->safe_psql('app2', 'SELECT count(*) FROM tokens'),
	'10', 'app2 is not purged while it is not listed');

$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET retention.databases; SELECT pg_reload_conf()});
$sched_app2 = RetentionTAP::wait_for_scheduler($node, 'app2');
ok($sched_app2, 'after RESET retention.databases app2 has a scheduler again');
$node->poll_query_until('app2', 'SELECT count(*) = 0 FROM tokens')
  or die 'timed out waiting for app2 to be purged again';
pass('app2 is purged again');

RetentionTAP::check_quiet($node, 'after retention.databases');

# --- pause and resume ----------------------------------------------------------

# A policy created paused never runs.
$node->safe_psql(
	'app', q{
CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO audit SELECT i, now() - interval '1 day' FROM generate_series(1, 25) AS i;
BEGIN;
SELECT retention.add_policy('audit', expires_at => 'at', schedule => '1 second');
SELECT retention.pause('public.audit');
COMMIT;
SELECT retention.wakeup();
});
RetentionTAP::wait_for_passes($node, 'app', 'public.heartbeat', 2);
is( $node->safe_psql(
		'app', q{
SELECT state, next_run_at IS NULL, (SELECT count(*) FROM retention.runs r WHERE r.policy = 'public.audit'),
       (SELECT count(*) FROM audit)
  FROM retention.status WHERE policy = 'public.audit'}),
	'paused|t|0|25', 'a paused policy is shown paused and does not run');

# A policy that has been running is paused: once the passes that may have
# started before the pause are over, it runs no more.
$node->safe_psql('app', q{SELECT retention.pause('public.events')});
RetentionTAP::wait_for_passes($node, 'app', 'public.heartbeat', 2);
my $events_runs = $node->safe_psql('app',
	q{SELECT count(*) FROM retention.runs WHERE policy = 'public.events'});
$node->safe_psql('app',
	q{INSERT INTO events SELECT i, now() - interval '1 day' FROM generate_series(1001, 1030) AS i;
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_passes($node, 'app', 'public.heartbeat', 2);
is( $node->safe_psql(
		'app', q{
SELECT state, (SELECT count(*) FROM retention.runs r WHERE r.policy = 'public.events'),
       (SELECT count(*) FROM events WHERE expires_at < now())
  FROM retention.status WHERE policy = 'public.events'}),
	"paused|$events_runs|30", 'a paused policy is not run while paused');

$node->safe_psql('app',
	q{SELECT retention.resume('public.events'); SELECT retention.resume('public.audit');
	  SELECT retention.wakeup()});
$node->poll_query_until('app', q{
SELECT (SELECT count(*) FROM events WHERE expires_at < now()) = 0
   AND (SELECT count(*) FROM audit) = 0})
  or die 'timed out waiting for resumed policies to run';
pass('resumed policies run again');
is( $node->safe_psql(
		'app', q{
SELECT count(*) FROM retention.runs
 WHERE policy IN ('public.events', 'public.audit') AND trigger <> 'worker'}),
	'0', 'all of those were worker runs');

RetentionTAP::check_quiet($node, 'after pause and resume');

# --- retention.enabled = off ---------------------------------------------------

# Turned off in the middle of a run: the batch in flight finishes, no new
# batch starts. Hold the run after its first batch, before the second.
$node->safe_psql(
	'app', q{
CREATE TABLE bulk (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO bulk SELECT i, now() - interval '1 day' FROM generate_series(1, 300) AS i;
});
my ($holder_a, $pid_a) =
  RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
$node->safe_psql('app',
	q{SELECT retention.add_policy('bulk', expires_at => 'at', batch_size => 50);
	  SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched_app);
my ($holder_b, $pid_b) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
$holder_a->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
RetentionTAP::quit_session($holder_a);
$node->poll_query_until('app',
	q{SELECT current_rows = 50 FROM retention.status WHERE policy = 'public.bulk'})
  or die 'timed out waiting for the first batch of bulk';
RetentionTAP::wait_for_waitpoint($node, $sched_app);
my $bulk_run = $node->safe_psql('app',
	q{SELECT run_id FROM retention.runs WHERE policy = 'public.bulk' AND status = 'running'});

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET retention.enabled = off; SELECT pg_reload_conf()});
# Once a new session sees "off" the postmaster has signalled every process.
$node->poll_query_until('postgres', 'SHOW retention.enabled', 'off')
  or die 'timed out waiting for the reload';
$holder_b->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
RetentionTAP::quit_session($holder_b);
$node->poll_query_until('app',
	qq{SELECT status <> 'running' FROM retention.run_history WHERE id = $bulk_run})
  or die 'timed out waiting for the run of bulk to stop';
is( $node->safe_psql(
		'app', qq{
SELECT status, rows_deleted, (SELECT count(*) FROM bulk)
  FROM retention.runs WHERE run_id = $bulk_run}),
	'partial|100|200',
	'retention.enabled = off mid-run: the batch in flight finishes, then the run stops (partial)');
# heartbeat is due every second: two quiet seconds mean the scheduler stopped.
$node->poll_query_until(
	'app', q{
SELECT now() - max(started_at) > interval '2 seconds' FROM retention.runs
 WHERE trigger = 'worker'})
  or die 'timed out waiting for the scheduler to stop starting runs';
$node->safe_psql('app',
	q{INSERT INTO events SELECT i, now() - interval '1 day' FROM generate_series(2001, 2020) AS i;
	  SELECT retention.wakeup()});
my $runs_off = $node->safe_psql('app', 'SELECT count(*) FROM retention.runs');
# Watch a few naptimes, with wakeups, for a run that must not start.
RetentionTAP::never_within(sub { $node->safe_psql('app', 'SELECT count(*) FROM retention.runs') },
	sub { $_[0] ne $runs_off }, 1.5, $node, 'app');
is($node->safe_psql('app', 'SELECT count(*) FROM retention.runs'),
	$runs_off, 'with retention.enabled = off no run starts');
is($node->safe_psql('app', q{SELECT count(*) FROM events WHERE expires_at < now()}),
	'20', 'with retention.enabled = off expired rows stay');
is(RetentionTAP::scheduler_pids($node, 'app'),
	$sched_app, 'the scheduler stays connected while disabled');

$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET retention.enabled; SELECT pg_reload_conf()});
$node->poll_query_until('app',
	q{SELECT count(*) = 0 FROM events WHERE expires_at < now()})
  or die 'timed out waiting for runs after retention.enabled = on';
pass('with retention.enabled back on the worker runs again');

RetentionTAP::check_quiet($node, 'after retention.enabled');

# --- a disabled policy ---------------------------------------------------------

$node->safe_psql(
	'app', q{
CREATE TABLE dormant (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO dormant SELECT i, now() - interval '1 day' FROM generate_series(1, 15) AS i;
SELECT retention.add_policy('dormant', expires_at => 'at', schedule => '1 second',
                            enabled => false);
SELECT retention.wakeup();
});
RetentionTAP::wait_for_passes($node, 'app', 'public.heartbeat', 2);
is( $node->safe_psql(
		'app', q{
SELECT state, next_run_at IS NULL, (SELECT count(*) FROM retention.runs r WHERE r.policy = 'public.dormant'),
       (SELECT count(*) FROM dormant)
  FROM retention.status WHERE policy = 'public.dormant'}),
	'disabled|t|0|15', 'a disabled policy is shown disabled and does not run');
$node->safe_psql('app',
	q{SELECT retention.alter_policy('public.dormant', enabled => true); SELECT retention.wakeup()});
$node->poll_query_until('app', 'SELECT count(*) = 0 FROM dormant')
  or die 'timed out waiting for the enabled policy to run';
pass('once enabled it runs');

RetentionTAP::check_quiet($node, 'after the disabled policy');

# --- a failing policy goes into backoff; the others keep running ------------

$node->safe_psql(
	'app', q{
CREATE TABLE fragile (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO fragile SELECT i, now() - interval '1 day' FROM generate_series(1, 10) AS i;
CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fragile rows cannot be deleted';
END $$;
CREATE TRIGGER refuse_delete BEFORE DELETE ON fragile
    FOR EACH ROW EXECUTE FUNCTION refuse_delete();
SELECT retention.add_policy('fragile', expires_at => 'at');
SELECT retention.wakeup();
});
$node->poll_query_until('app',
	q{SELECT consecutive_failures >= 1 FROM retention.status WHERE policy = 'public.fragile'})
  or die 'timed out waiting for the failing policy to fail';
is( $node->safe_psql(
		'app', q{
SELECT state, consecutive_failures, last_status, last_sqlstate, last_error,
       extract(epoch FROM next_run_at - last_finished_at) BETWEEN 7.9 AND 12.1
  FROM retention.status WHERE policy = 'public.fragile'}),
	'backoff|1|error|P0001|fragile rows cannot be deleted|t',
	'a failed policy is in backoff: retried 10 s (+-20%) after the failure');
is($node->safe_psql('app', q{
SELECT string_agg(trigger || ':' || status, ',') FROM retention.runs WHERE policy = 'public.fragile'}),
	'worker:error', 'the failed worker run is recorded as an error');
is($node->safe_psql('app', 'SELECT count(*) FROM fragile'),
	'10', 'the rows of the failed batch are in place');

# The other policies go on.
$node->safe_psql('app',
	q{INSERT INTO events SELECT i, now() - interval '1 day' FROM generate_series(3001, 3025) AS i;
	  SELECT retention.wakeup()});
$node->poll_query_until('app',
	q{SELECT count(*) = 0 FROM events WHERE expires_at < now()})
  or die 'timed out waiting for another policy while one is in backoff';
pass('a policy in backoff does not stop the others');

# The second failure doubles the delay.
$node->poll_query_until('app',
	q{SELECT consecutive_failures >= 2 FROM retention.status WHERE policy = 'public.fragile'})
  or die 'timed out waiting for the retry of the failing policy';
is( $node->safe_psql(
		'app', q{
SELECT state, consecutive_failures,
       extract(epoch FROM next_run_at - last_finished_at) BETWEEN 15.9 AND 24.1
  FROM retention.status WHERE policy = 'public.fragile'}),
	'backoff|2|t', 'the retry failed too: the next one is 20 s (+-20%) later');
is($node->safe_psql('app', q{
SELECT count(*) FROM retention.runs WHERE policy = 'public.fragile' AND status = 'error'}),
	'2', 'two failed runs, no more');

# With a short schedule the retry is never later than the regular run.
$node->safe_psql(
	'app', q{
CREATE TABLE fragile_fast (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO fragile_fast SELECT i, now() - interval '1 day' FROM generate_series(1, 5) AS i;
CREATE TRIGGER refuse_delete BEFORE DELETE ON fragile_fast
    FOR EACH ROW EXECUTE FUNCTION refuse_delete();
SELECT retention.add_policy('fragile_fast', expires_at => 'at', schedule => '4 seconds');
SELECT retention.wakeup();
});
$node->poll_query_until('app',
	q{SELECT consecutive_failures >= 1 FROM retention.status WHERE policy = 'public.fragile_fast'})
  or die 'timed out waiting for fragile_fast to fail';
is( $node->safe_psql(
		'app', q{
SELECT next_run_at <= last_started_at + interval '4 seconds', next_run_at >= last_finished_at
  FROM retention.status WHERE policy = 'public.fragile_fast'}),
	't|t', 'with a 4 s schedule the backoff is capped at the regular run');
$node->safe_psql('app', q{SELECT retention.alter_policy('public.fragile_fast', enabled => false)});

# A manual run updates the same state: once it succeeds the backoff is over.
$node->safe_psql('app', 'DROP TRIGGER refuse_delete ON fragile');
my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'app', q{CALL retention.run('public.fragile')});
ok($ok, 'manual run of the repaired policy succeeds') or diag $err;
is($out, '10|0|1|ok', 'the manual run deletes the 10 rows');
is( $node->safe_psql(
		'app', q{
SELECT state, consecutive_failures, last_status,
       abs(extract(epoch FROM next_run_at - (last_started_at + interval '1 hour'))) < 1
  FROM retention.status WHERE policy = 'public.fragile'}),
	'idle|0|ok|t', 'after a successful manual run: idle, no failures, next run in an hour');

RetentionTAP::check_quiet($node, 'after the failing policy');

ok(!$node->log_contains('terminated by signal|server process .* was terminated'),
	'no process crashed');
is(RetentionTAP::launcher_pid($node), $launcher, 'the launcher kept running throughout');

$node->stop;
done_testing();
