# pg_cron as the clock, with Debian's real pg_cron, in both of its modes
# (cron.use_background_workers off: a libpq session per job; on: a
# background worker per job). Both nodes run side by side, so that they wait
# for the same minute ticks (pg_cron 1.4 schedules by the minute).
#
#   tick 1  CALL retention.run_due(): a failing policy makes the job
#           'failed' in cron.job_run_details, naming it, while the good
#           policy's purge and both runs' history stay committed; a policy
#           whose next run has not come and a paused one are not run; a
#           tenant's own job runs only its policies and does not see the
#           failing policy of another role
#   tick 2  pg_cron runs a policy (held at a waitpoint); the background
#           scheduler finds it running and records 'skipped'
#   tick 3  the scheduler runs a policy (held); pg_cron's run_due records
#           'skipped' and the job succeeds
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $probe = PostgreSQL::Test::Cluster->new('probe');
my $pkglibdir = $probe->config_data('--pkglibdir');
plan skip_all => "pg_cron is not installed for this server ($pkglibdir/pg_cron.so; "
  . 'Debian packages it as postgresql-NN-cron, for PostgreSQL 15 on Debian 12)'
  unless -f "$pkglibdir/pg_cron.so";

# One node per pg_cron mode. The background scheduler is on but serves only
# the database postgres (which has no pg_retention) until tick 2.
sub new_cron_node
{
	my ($name, $background_workers) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $host = $node->host;
	$node->append_conf('postgresql.conf', <<"EOC");
shared_preload_libraries = 'pg_retention,pg_cron'
max_prepared_transactions = 0
max_worker_processes = 16
cron.database_name = 'postgres'
cron.use_background_workers = $background_workers
cron.host = '$host'
retention.enabled = on
retention.naptime = '200ms'
retention.databases = 'postgres'
retention.enable_debug_waitpoints = on
EOC
	$node->start;
	return $node;
}

my %nodes = (
	libpq => new_cron_node('cron_libpq', 'off'),
	bgw   => new_cron_node('cron_bgw',   'on'));
my @modes = sort keys %nodes;

# A table with $expired expired rows and 5 live ones.
sub make_table
{
	my ($node, $name, $expired) = @_;
	$node->safe_psql('app', qq{
CREATE TABLE $name (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO $name SELECT i, now() - interval '1 day' FROM generate_series(1, $expired) AS i;
INSERT INTO $name SELECT i, now() + interval '1 day' FROM generate_series($expired + 1, $expired + 5) AS i;
});
	return;
}

# Schedules CALL retention.run_due() in app every minute, as $user; returns
# the job id.
sub schedule_run_due
{
	my ($node, $job, $user) = @_;
	$user = defined $user ? ", '$user'" : '';
	return $node->safe_psql('postgres',
		qq{SELECT cron.schedule_in_database('$job', '* * * * *', 'CALL retention.run_due()', 'app'$user)});
}

# Waits for the first run of each job to end, then unschedules the jobs
# (unscheduling a running job would cancel it; a second tick meanwhile only
# queues); returns "status|message" of each first run, in the order given.
sub first_runs
{
	my ($node, @jobs) = @_;
	my $ids = join(',', @jobs);
	RetentionTAP::poll_value($node, 'postgres', qq{
SELECT count(DISTINCT jobid) FROM cron.job_run_details
 WHERE jobid IN ($ids) AND status IN ('succeeded', 'failed')},
		sub { $_[0] == scalar @jobs }, "the first run of pg_cron jobs $ids", 240);
	$node->safe_psql('postgres', "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobid = $_")
	  for @jobs;
	return map {
		$node->safe_psql('postgres', qq{
SELECT status || '|' || coalesce(return_message, '') FROM cron.job_run_details
 WHERE jobid = $_ AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1})
	} @jobs;
}

# The process (other than $holder_pid) that waits at a test waitpoint.
sub waiter_pid
{
	my ($node, $holder_pid) = @_;
	return RetentionTAP::poll_value($node, 'postgres', qq{
SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_catalog.pg_locks
 WHERE locktype = 'advisory' AND classid = 1919251566 AND objsubid = 3
   AND NOT granted AND pid <> $holder_pid},
		sub { $_[0] =~ /^\d+$/ }, 'a process to wait at the waitpoint', 240);
}

# --- set-up ------------------------------------------------------------------

for my $mode (@modes)
{
	my $node = $nodes{$mode};
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron; CREATE DATABASE app');
	$node->safe_psql('app', q{
CREATE EXTENSION pg_retention;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
});
	make_table($node, $_, 20) for qw(good_t later_t paused_t alice_t bad_t);
	$node->safe_psql('app', q{
ALTER TABLE alice_t OWNER TO alice;
ALTER TABLE bad_t OWNER TO bob;
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'rows of % stay', TG_TABLE_NAME; END$$;
ALTER FUNCTION refuse() OWNER TO bob;
CREATE TRIGGER refuse BEFORE DELETE ON bad_t FOR EACH ROW EXECUTE FUNCTION refuse();
SELECT retention.add_policy('good_t', 'expires_at', name => 'good');
SELECT retention.add_policy('later_t', 'expires_at', name => 'later', schedule => '1 hour');
SELECT retention.add_policy('paused_t', 'expires_at', name => 'paused');
SELECT retention.pause('paused');
SET ROLE alice;
SELECT retention.add_policy('alice_t', 'expires_at', name => 'alice one');
RESET ROLE;
SET ROLE bob;
SELECT retention.add_policy('bad_t', 'expires_at', name => 'bob failing');
RESET ROLE;
});
	# 'later' ran a moment ago: its next run is an hour away. Rows that
	# expire meanwhile wait for it.
	$node->safe_psql('app', q{CALL retention.run('later')});
	$node->safe_psql('app',
		q{INSERT INTO later_t SELECT i, now() - interval '1 day' FROM generate_series(101, 110) AS i});
}

# --- tick 1: a failing policy fails the job; schedules are honoured -----------

my (%admin_job, %alice_job);
for my $mode (@modes)
{
	$admin_job{$mode} = schedule_run_due($nodes{$mode}, 'retention');
	$alice_job{$mode} = schedule_run_due($nodes{$mode}, 'alice retention', 'alice');
}
for my $mode (@modes)
{
	my $node = $nodes{$mode};
	my ($admin, $alice) = first_runs($node, $admin_job{$mode}, $alice_job{$mode});
	like($admin, qr/^failed\|/, "$mode: the job of a run_due with a failing policy is failed");
	like($admin, qr/1 retention policy ended in error/, "$mode: the job's message says so");
	like($admin, qr/"bob failing"/, "$mode: and names the failing policy");
	unlike($admin, qr/"good"|"alice one"/, "$mode: and no policy that did not fail");
	like($alice, qr/^succeeded\|/, "$mode: the tenant's own run_due job succeeds");
	unlike($alice, qr/bob/, "$mode: and does not mention another role's policy");

	is($node->safe_psql('app', 'SELECT count(*) FROM good_t'), '5',
		"$mode: the good policy's rows are gone (the job's error rolled nothing back)");
	is($node->safe_psql('app', 'SELECT count(*) FROM alice_t'), '5', "$mode: so are the tenant's");
	like(
		$node->safe_psql('app', q{
SELECT string_agg(DISTINCT trigger || ':' || status, ',') FROM retention.runs
 WHERE policy IN ('good', 'bob failing') AND status <> 'skipped'}),
		qr/^pg_cron:error,pg_cron:ok$/,
		"$mode: both runs are recorded, with trigger pg_cron, the failure as error");
	is($node->safe_psql('app', q{SELECT count(*) FROM retention.runs WHERE policy = 'later'}),
		'1', "$mode: the policy not yet due was not run (only its manual run is recorded)");
	is($node->safe_psql('app', 'SELECT count(*) FROM later_t'), '15', "$mode: its rows wait");
	is($node->safe_psql('app', q{SELECT count(*) FROM retention.runs WHERE policy = 'paused'}),
		'0', "$mode: the paused policy was not run");
	is($node->safe_psql('app', q{SELECT count(*) FROM bad_t}), '25', "$mode: the failing table keeps its rows");

	# Plain cron + psql: ON_ERROR_STOP makes psql exit 1 on the same error.
	$node->safe_psql('app', q{
UPDATE retention.policy_state SET next_run_at = now() - interval '1 second'
 WHERE policy_id = (SELECT id FROM retention.policy WHERE name = 'bob failing')});
	# A tenant's run_due passes over another role's due policy, silently.
	my $bob_runs = $node->safe_psql('app', q{SELECT count(*) FROM retention.run_history WHERE policy = 'bob failing'});
	my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'app', q{SET ROLE alice; CALL retention.run_due()});
	ok($ok, "$mode: alice's run_due succeeds while bob's failing policy is due");
	is($out, '0|0|0|0|ok', "$mode: it ran nothing");
	unlike($err, qr/bob/, "$mode: and said nothing of bob's policy");
	is($node->safe_psql('app', q{SELECT count(*) FROM retention.run_history WHERE policy = 'bob failing'}),
		$bob_runs, "$mode: bob's policy was not run");

	my ($stdout, $stderr) = ('', '');
	IPC::Run::run(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('app'),
		  '-c', 'CALL retention.run_due()' ],
		'>', \$stdout, '2>', \$stderr);
	is($? >> 8, 1, "$mode: psql -v ON_ERROR_STOP=1 -c 'CALL retention.run_due()' exits 1");
	like($stderr, qr/Policies that ended in error: "bob failing"/, "$mode: naming the policy");
	is( $node->safe_psql('app', q{
SELECT trigger || ':' || status FROM retention.runs WHERE policy = 'bob failing' ORDER BY run_id DESC LIMIT 1}),
		'run_due:error', "$mode: the run is recorded with trigger run_due");

	$node->safe_psql('app', q{
SELECT retention.pause(name) FROM retention.policy WHERE name IN ('good', 'later', 'alice one', 'bob failing')});
}

# --- tick 2: pg_cron runs a policy, the scheduler finds it running -------------

my (%holder, %holder_pid, %shared_job);
for my $mode (@modes)
{
	my $node = $nodes{$mode};
	make_table($node, 'shared_t', 30);
	$node->safe_psql('app',
		q{SELECT retention.add_policy('shared_t', 'expires_at', name => 'shared', batch_size => 10)});
	($holder{$mode}, $holder_pid{$mode}) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
	$shared_job{$mode} = schedule_run_due($node, 'shared');
}
for my $mode (@modes)
{
	my $node = $nodes{$mode};
	my $cron_pid = waiter_pid($node, $holder_pid{$mode});
	is( $node->safe_psql('app', q{SELECT running_pid FROM retention.status WHERE policy = 'shared'}),
		$cron_pid, "$mode: the pg_cron job holds the policy, waiting before its first batch");
	$node->safe_psql('postgres',
		q{ALTER SYSTEM SET retention.databases = ''; SELECT pg_reload_conf()});
	my $sched = RetentionTAP::wait_for_scheduler($node, 'app');
	isnt($sched, $cron_pid, "$mode: the background scheduler now serves app");
	$node->safe_psql('app', 'SELECT retention.wakeup()');
	RetentionTAP::poll_value($node, 'app', q{
SELECT count(*) FROM retention.runs WHERE policy = 'shared' AND trigger = 'worker' AND status = 'skipped'},
		sub { $_[0] >= 1 }, "$mode: the scheduler to skip 'shared'");
	pass("$mode: the scheduler records skipped while pg_cron runs the policy");
	$holder{$mode}->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
	RetentionTAP::quit_session($holder{$mode});
	my ($shared) = first_runs($node, $shared_job{$mode});
	like($shared, qr/^succeeded\|/, "$mode: the job succeeds");
	is( $node->safe_psql('app', q{
SELECT string_agg(trigger || ':' || status || ':' || rows_deleted, ',' ORDER BY run_id)
  FROM retention.runs WHERE policy = 'shared' AND status <> 'skipped'}),
		'pg_cron:ok:30', "$mode: exactly one run did the work, pg_cron's");
	is($node->safe_psql('app', 'SELECT count(*) FROM shared_t'), '5', "$mode: 30 rows gone");
	is( $node->safe_psql('app', q{
SELECT next_run_at > now() + interval '50 minutes' FROM retention.status WHERE policy = 'shared'}),
		't', "$mode: pg_cron's run set the next run one schedule ahead: the scheduler will not repeat it");
}

# --- tick 3: the scheduler runs a policy, pg_cron's run_due skips it ------------

my %shared2_job;
for my $mode (@modes)
{
	my $node = $nodes{$mode};
	make_table($node, 'shared2_t', 30);
	($holder{$mode}, $holder_pid{$mode}) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
	$node->safe_psql('app',
		q{SELECT retention.add_policy('shared2_t', 'expires_at', name => 'shared2', batch_size => 10);
		  SELECT retention.wakeup()});
	my $sched = RetentionTAP::wait_for_scheduler($node, 'app');
	RetentionTAP::wait_for_waitpoint($node, $sched);
	$shared2_job{$mode} = schedule_run_due($node, 'shared2');
}
for my $mode (@modes)
{
	my $node = $nodes{$mode};
	my ($shared2) = first_runs($node, $shared2_job{$mode});
	like($shared2, qr/^succeeded\|/, "$mode: a run_due that finds the policy running succeeds");
	is( $node->safe_psql('app', q{
SELECT string_agg(DISTINCT trigger || ':' || status, ',') FROM retention.runs WHERE policy = 'shared2'}),
		'pg_cron:skipped,worker:running', "$mode: and records skipped while the scheduler runs it");
	$holder{$mode}->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
	RetentionTAP::poll_value($node, 'app', 'SELECT count(*) FROM shared2_t',
		sub { $_[0] eq '5' }, "$mode: the scheduler's run of shared2");
	RetentionTAP::poll_value($node, 'app',
		q{SELECT last_status FROM retention.status WHERE policy = 'shared2'},
		sub { $_[0] eq 'ok' }, "$mode: the scheduler's run of shared2 to end");
	is( $node->safe_psql('app', q{
SELECT string_agg(trigger || ':' || status || ':' || rows_deleted, ',' ORDER BY run_id)
  FROM retention.runs WHERE policy = 'shared2' AND status <> 'skipped'}),
		'worker:ok:30', "$mode: exactly one run did the work, the scheduler's");
	RetentionTAP::check_quiet($node, $mode, allow_pids => [ $holder_pid{$mode} ]);
	RetentionTAP::quit_session($holder{$mode});
	ok(!$node->log_contains(qr/terminated by signal/), "$mode: no process crashed");
	$node->stop;
}

done_testing();
