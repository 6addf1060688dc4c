# pg_retention behind pgbouncer in transaction pooling mode: several clients
# take turns on one server connection, so anything a call leaves behind in
# the session (an advisory lock, search_path, lock_timeout,
# statement_timeout, the current user) would leak into the next client. Every
# call, failed ones included, must leave the pooled session as it found it.
use strict;
use warnings;

use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

# --- find pgbouncer ----------------------------------------------------------

my $pgbouncer;
for my $dir (File::Spec->path, '/usr/sbin', '/usr/local/sbin', '/usr/local/bin')
{
	my $candidate = "$dir/pgbouncer";
	if (-f $candidate && -x _)
	{
		$pgbouncer = $candidate;
		last;
	}
}
plan skip_all => 'pgbouncer not found in PATH, /usr/sbin, /usr/local/sbin or /usr/local/bin'
  unless defined $pgbouncer;

# --- the server ----------------------------------------------------------------

my $node = RetentionTAP::new_node('main');
# Test waitpoints, to hold a run in another session (the scheduler stays off).
$node->append_conf('postgresql.conf', "retention.enable_debug_waitpoints = on\n");
$node->start;

my $user = getpwuid($<);    # initdb's bootstrap superuser

$node->safe_psql(
	'postgres', q{
CREATE DATABASE app;
CREATE ROLE app_owner LOGIN;
-- Non-default session settings, so that "restored" cannot mean "reset".
ALTER DATABASE app SET search_path = app_schema, public;
ALTER DATABASE app SET lock_timeout = '4321ms';
ALTER DATABASE app SET statement_timeout = '54321ms';
});
$node->safe_psql(
	'app', q{
CREATE EXTENSION pg_retention;
CREATE SCHEMA app_schema AUTHORIZATION app_owner;
GRANT USAGE ON SCHEMA app_schema TO PUBLIC;
SET ROLE app_owner;

CREATE TABLE app_schema.tokens (
    id         bigint PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
INSERT INTO app_schema.tokens
SELECT i, CASE WHEN i <= 300 THEN now() - interval '1 day' ELSE now() + interval '1 day' END
  FROM generate_series(1, 400) AS i;
-- Owned by app_owner: a run switches to that role while it works.
SELECT retention.add_policy('app_schema.tokens', name => 'tokens', expires_at => 'expires_at',
                            batch_size => 50);

CREATE TABLE app_schema.sessions (
    id         bigint PRIMARY KEY,
    last_seen  timestamptz NOT NULL
);
INSERT INTO app_schema.sessions
SELECT i, now() - i * interval '1 hour' - interval '30 minutes'
  FROM generate_series(1, 100) AS i;

-- A policy whose batches fail: the expiry divides by ttl, and one row has 0.
CREATE TABLE app_schema.fragile (
    id         bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    ttl        integer NOT NULL
);
INSERT INTO app_schema.fragile
SELECT i, now() - interval '1 day', CASE WHEN i = 7 THEN 0 ELSE 60 END
  FROM generate_series(1, 20) AS i;
SELECT retention.add_policy('app_schema.fragile', name => 'fragile',
                            expires_at => 'created_at + make_interval(secs => 3600 / ttl)');

-- A policy whose run is slow (a delete trigger sleeps), to cancel it midway.
CREATE TABLE app_schema.slow (
    id         bigint PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
INSERT INTO app_schema.slow
SELECT i, now() - interval '1 day' FROM generate_series(1, 200) AS i;
CREATE FUNCTION app_schema.slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep(0.01);
    RETURN OLD;
END $$;
CREATE TRIGGER slow_delete BEFORE DELETE ON app_schema.slow
    FOR EACH ROW EXECUTE FUNCTION app_schema.slow_delete();
SELECT retention.add_policy('app_schema.slow', name => 'slow', expires_at => 'expires_at', batch_size => 20);
RESET ROLE;
});

is( $node->safe_psql(
		'app', q{SELECT string_agg(name || ':' || owner, ',' ORDER BY name) FROM retention.policies}),
	'fragile:app_owner,slow:app_owner,tokens:app_owner',
	'policies are owned by app_owner');

# --- pgbouncer ---------------------------------------------------------------

my $bdir  = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $host  = $node->host;
my $port  = $node->port;

open(my $fh, '>', "$bdir/userlist.txt") or die "could not write userlist: $!";
print $fh qq{"$user" ""\n};
close $fh;

open($fh, '>', "$bdir/pgbouncer.ini") or die "could not write pgbouncer.ini: $!";
print $fh <<"EOC";
[databases]
app = host=$host port=$port dbname=app

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $bdir/userlist.txt
admin_users = $user
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 1
max_client_conn = 10
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $PostgreSQL::Test::Utils::log_path/010_pgbouncer_pgbouncer.log
pidfile = $bdir/pgbouncer.pid
EOC
close $fh;

my ($bout, $berr) = ('', '');
my $bouncer = IPC::Run::start([ $pgbouncer, "$bdir/pgbouncer.ini" ],
	'<', \undef, '>', \$bout, '2>', \$berr);

# Stop pgbouncer however the test ends.
END
{
	if ($bouncer && $bouncer->pumpable)
	{
		$bouncer->signal('INT');
		$bouncer->kill_kill(grace => 5);
	}
}

my $bconn = "host=127.0.0.1 port=$bport dbname=app user=$user";

# Runs $sql through pgbouncer, one psql invocation, i.e. one client.
sub pooled
{
	my ($sql, %opts) = @_;
	return RetentionTAP::run_sql($node, 'app', $sql, connstr => $bconn, %opts);
}

# Wait until pgbouncer accepts connections.
{
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	my $up = 0;
	while (time() < $deadline)
	{
		# psql can exit (connection refused) before IPC::Run writes its
		# stdin; that "Broken pipe" only means "not up yet".
		my ($ok) = eval { pooled('SELECT 1') };
		if ($ok) { $up = 1; last; }
		die "pgbouncer exited early: $berr\n"
		  . PostgreSQL::Test::Utils::slurp_file(
			"$PostgreSQL::Test::Utils::log_path/010_pgbouncer_pgbouncer.log")
		  unless $bouncer->pumpable;
		IPC::Run::pump_nb($bouncer);
		select(undef, undef, undef, 0.1);
	}
	ok($up, 'pgbouncer accepts connections') or BAIL_OUT('pgbouncer did not come up');
}

# The state of the pooled session that no call may change.
my $state_sql = q{
SELECT pg_catalog.pg_backend_pid(),
       pg_catalog.current_setting('search_path'),
       pg_catalog.current_setting('lock_timeout'),
       pg_catalog.current_setting('statement_timeout'),
       current_user, session_user,
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks l
         WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid())};

my ($ok, $out, $err) = pooled($state_sql);
ok($ok, 'state of the pooled session can be read') or diag $err;
my $baseline = $out;
my ($backend_pid) = split /\|/, $baseline;
is( $baseline,
	"$backend_pid|app_schema, public|4321ms|54321ms|$user|$user|0",
	'pooled session starts with the database settings and no advisory lock');

# Checks, after a call, that the pooled session is as it was and that no
# advisory lock is held anywhere.
sub check_clean
{
	my ($after) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ok, $out, $err) = pooled($state_sql);
	ok($ok, "after $after: pooled session readable") or diag $err;
	is($out, $baseline,
		"after $after: same backend, search_path, lock_timeout, statement_timeout, user, no lock");
	is( $node->safe_psql(
			'app', q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'}),
		'0', "after $after: no advisory lock held (checked directly on the server)");
}

# Two clients take turns; each call is its own psql invocation.
sub client
{
	my ($name, $sql, %opts) = @_;
	my ($ok, $out, $err) = pooled(
		"\\set VERBOSITY verbose\n"
		  . "SELECT 'client $name on ' || pg_catalog.pg_backend_pid();\n$sql",
		on_error_stop => 0,
		%opts);
	my @lines = split /\n/, $out;
	my $who = shift @lines;
	is($who, "client $name on $backend_pid", "client $name shares the one server connection");
	return ($ok, join("\n", @lines), $err);
}

# --- successful calls ----------------------------------------------------------

($ok, $out, $err) = client('A', q{CALL retention.run('tokens');});
ok($ok, 'client A: CALL retention.run succeeds through pgbouncer') or diag $err;
like($out, qr/^300\|0\|\d+\|ok$/, 'client A: the run purged the 300 expired tokens');
unlike($err, qr/ERROR|WARNING/, 'client A: no error or warning');
check_clean('client A run');
is($node->safe_psql('app', 'SELECT count(*), min(id) FROM app_schema.tokens'),
	'100|301', 'only live tokens remain');

($ok, $out, $err) = client('B',
	q{SELECT retention.add_policy('app_schema.sessions', name => 'sessions', expires_at => 'last_seen', retain => '2 days');});
ok($ok, 'client B: add_policy succeeds through pgbouncer') or diag $err;
is($out, 'sessions', 'client B: add_policy returns the policy name');
check_clean('client B add_policy');

($ok, $out, $err) = client('A',
	q{SELECT purgeable_rows, mode FROM retention.preview('sessions');});
ok($ok, 'client A: preview succeeds through pgbouncer') or diag $err;
is($out, '53|delete', 'client A: preview counts sessions last seen 48.5 to 100.5 hours ago');
check_clean('client A preview');

($ok, $out, $err) = client('B', q{CALL retention.run('sessions');});
ok($ok, 'client B: run of the new policy succeeds') or diag $err;
like($out, qr/^53\|0\|\d+\|ok$/, 'client B: the run purged 53 sessions');
check_clean('client B run');
is($node->safe_psql('app', 'SELECT count(*), max(id) FROM app_schema.sessions'),
	'47|47', 'only recent sessions remain');

# --- failing calls -------------------------------------------------------------

($ok, $out, $err) = client('A', q{CALL retention.run('no_such_policy');});
like($err, qr/ERROR:\s+\w{5}: .*no_such_policy/, 'client A: run of an unknown policy fails');
check_clean('client A failed run (unknown policy)');

($ok, $out, $err) = client('B', q{CALL retention.run('fragile');});
like($out, qr/^\d+\|0\|\d+\|error$/, 'client B: run with a failing batch reports status error');
like($err, qr/WARNING:\s+22012: retention policy "fragile" stopped after an error/,
	'client B: the batch failure is a WARNING with SQLSTATE 22012');
check_clean('client B run with a failing batch');
is( $node->safe_psql(
		'app', q{
SELECT status, sqlstate FROM retention.runs WHERE policy = 'fragile' ORDER BY run_id DESC LIMIT 1}),
	'error|22012', 'the failed run is recorded');
is($node->safe_psql('app', 'SELECT count(*) FROM app_schema.fragile WHERE id = 7'),
	'1', 'the row of the failed batch is still there');

($ok, $out, $err) = client('A', q{BEGIN;
CALL retention.run('tokens');
ROLLBACK;});
like($err, qr/ERROR:\s+25001: retention\.run\(\) cannot run inside a transaction block/,
	'client A: run inside a transaction block fails with 25001');
check_clean('client A run inside a transaction block');

($ok, $out, $err) = client('B',
	q{SELECT retention.add_policy('app_schema.tokens', expires_at => 'no_such_column',
                                  name => 'bad');});
like($err, qr/ERROR:\s+42703:/, 'client B: add_policy with an unknown column fails');
check_clean('client B failed add_policy');

($ok, $out, $err) = client('A', q{SELECT * FROM retention.preview('no_such_policy');});
like($err, qr/ERROR:/, 'client A: preview of an unknown policy fails');
check_clean('client A failed preview');

# A run cancelled midway by the client's own statement_timeout. The client
# sets it for its session (which the pooler shares), so it also checks that
# the run leaves that value alone, then resets it.
($ok, $out, $err) = client('B', q{SET statement_timeout = '300ms';
CALL retention.run('slow');
SHOW statement_timeout;
SHOW lock_timeout;
SHOW search_path;
SELECT current_user;
RESET statement_timeout;});
like($err, qr/ERROR:\s+57014: canceling statement due to statement timeout/,
	'client B: the slow run is cancelled by the session statement_timeout');
is($out, "300ms\n4321ms\napp_schema, public\n$user",
	'client B: after the cancelled run, its own settings and user are intact');
check_clean('client B cancelled run');
is( $node->safe_psql(
		'app', q{
SELECT status FROM retention.runs WHERE policy = 'slow' ORDER BY run_id DESC LIMIT 1}),
	'interrupted', 'the cancelled run is recorded as interrupted');
my $slow_left = $node->safe_psql('app', 'SELECT count(*) FROM app_schema.slow');
cmp_ok($slow_left, '>', 0, "the cancelled run left $slow_left rows");

# The same policy can run again at once: the lock was released.
($ok, $out, $err) = client('A', q{CALL retention.run('slow');});
ok($ok, 'client A: the cancelled policy runs to the end') or diag $err;
like($out, qr/^$slow_left\|0\|\d+\|ok$/, 'client A: it purges the rows left');
check_clean('client A run after the cancel');

# A run that finds its policy held by a run in another session is skipped
# and takes nothing with it. The other run (a direct connection, not through
# the pooler) is held before its first batch at a test waitpoint, so it
# holds the policy lock; no SQL function can take that lock.
my ($wp_holder, $wp_holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
my $runner = $node->background_psql('app');
my $runner_pid = $runner->query_safe('SELECT pg_backend_pid()');
# The database's lock_timeout would end the wait at the waitpoint.
$runner->query_safe('SET lock_timeout = 0; SET statement_timeout = 0');
$runner->query_until(qr/calling/, "\\echo calling\nCALL retention.run('tokens');\n");
RetentionTAP::wait_for_waitpoint($node, $runner_pid);
($ok, $out, $err) = client('B', q{CALL retention.run('tokens');});
ok($ok, 'client B: run of a policy that another session runs returns') or diag $err;
like($out, qr/^0\|0\|0\|skipped$/, 'client B: the run was skipped');
like($err, qr/NOTICE:.*already running/, 'client B: a NOTICE says so');
($ok, $out, $err) = pooled($state_sql);
is($out, $baseline, 'after the skipped run: pooled session unchanged, it holds no lock');
$wp_holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
like($runner->query_safe('SELECT 1'), qr/^0\|0\|\d+\|ok\n1$/,
	'the held run in the other session then finishes');
RetentionTAP::quit_session($runner);
RetentionTAP::quit_session($wp_holder);
check_clean('client B skipped run');

# --- wrap up -------------------------------------------------------------------

is( $node->safe_psql(
		'app', q{
SELECT string_agg(policy || ':' || status, ',' ORDER BY run_id) FROM retention.runs}),
	'tokens:ok,sessions:ok,fragile:error,slow:interrupted,slow:ok,tokens:ok,tokens:skipped',
	'retention.runs records every run (the held run of the other session included)');
is( $node->safe_psql(
		'app', qq{SELECT count(DISTINCT pid) FROM retention.runs WHERE pid <> $runner_pid}),
	'1', 'every other run was executed by the one pooled backend');
is( $node->safe_psql(
		'app', q{SELECT pid FROM retention.runs LIMIT 1}),
	$backend_pid, 'and that is the backend pgbouncer used');

$bouncer->signal('INT');
$bouncer->finish;
ok(1, 'pgbouncer stopped');
$node->stop;

done_testing();
