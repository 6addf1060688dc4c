# RetentionTAP: small helpers shared by the pg_retention TAP tests.
#
#   my $node = RetentionTAP::new_node('primary', allows_streaming => 1);
#   my $node = RetentionTAP::new_node('primary', scheduler => 1);
#   my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'db', $sql, %psql_opts);
#
# Every node gets pg_retention preloaded, as production servers must. The
# background scheduler starts no runs (retention.enabled = off) unless the
# test asks for it with scheduler => 1; then it checks every 200 ms and the
# test waitpoints are armed.
package RetentionTAP;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# A fresh, initialised (not started) node with the module preloaded.
# %init_params go to PostgreSQL::Test::Cluster::init.
sub new_node
{
	my ($name, %init_params) = @_;
	my $scheduler = delete $init_params{scheduler};
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init_params);
	$node->append_conf('postgresql.conf', <<'EOC');
shared_preload_libraries = 'pg_retention'
max_prepared_transactions = 0
EOC
	$node->append_conf('postgresql.conf',
		$scheduler
		? "retention.enabled = on\nretention.naptime = '200ms'\n"
		  . "retention.enable_debug_waitpoints = on\n"
		: "retention.enabled = off\n");
	return $node;
}

# Runs $sql with psql, never dying on an SQL error. Returns
# ($ok, $stdout, $stderr), $ok true when psql exited with status 0.
# The script stops at its first error; pass on_error_stop => 0 to go on.
# Extra options (connstr, extra_params, ...) go to $node->psql.
sub run_sql
{
	my ($node, $db, $sql, %opts) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		$db, $sql,
		stdout        => \$out,
		stderr        => \$err,
		on_error_stop => 1,
		timeout       => $PostgreSQL::Test::Utils::timeout_default,
		%opts);
	return ($rc == 0, $out, $err);
}

# Number of advisory locks held in the whole cluster (any database).
sub advisory_locks
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory'");
}

# --- background scheduler helpers (tests 1NN) -------------------------------

use Time::HiRes qw(usleep);

# Polls $sql in $db until $pred->($value) is true, then returns the value.
# Connection failures (a node restarting after a crash) count as "not yet".
# Dies after the default test timeout.
sub poll_value
{
	my ($node, $db, $sql, $pred, $what, $timeout) = @_;
	$timeout = $PostgreSQL::Test::Utils::timeout_default unless defined $timeout;
	my $deadline = time + $timeout;
	my $last;
	while (1)
	{
		my ($out, $err) = ('', '');
		my $rc = $node->psql(
			$db, $sql,
			stdout        => \$out,
			stderr        => \$err,
			on_error_stop => 1,
			timeout       => $PostgreSQL::Test::Utils::timeout_default);
		if ($rc == 0)
		{
			$last = $out;
			return $out if $pred->($out);
		}
		else
		{
			$last = "(error: $err)";
		}
		die "timed out waiting for $what; last result: "
		  . (defined $last ? $last : '(none)')
		  if time > $deadline;
		usleep(50_000);
	}
}

# Like poll_value, but gives up after $timeout seconds and then returns undef
# instead of dying.
sub try_poll_value
{
	my ($node, $db, $sql, $pred, $timeout) = @_;
	my $value;
	eval { $value = poll_value($node, $db, $sql, $pred, 'a condition', $timeout); 1; }
	  or return undef;
	return $value;
}

# Watches for something that must not happen: for $seconds, every 100 ms,
# wakes the scheduler of $wake_db (if given) and calls $probe; returns false
# as soon as $bad->(value) holds, true when it never did. (An absence has no
# event to wait for; this bounds the watch and fails fast.)
sub never_within
{
	my ($probe, $bad, $seconds, $node, $wake_db) = @_;
	my $deadline = Time::HiRes::time() + $seconds;
	while (Time::HiRes::time() < $deadline)
	{
		$node->safe_psql($wake_db, 'SELECT retention.wakeup()') if defined $wake_db;
		return 0 if $bad->($probe->());
		Time::HiRes::usleep(100_000);
	}
	return 1;
}

# Pids of the running pg_retention schedulers of database $db, as
# "pid,pid" ('' when none).
sub scheduler_pids
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres', qq{
SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '')
  FROM pg_catalog.pg_stat_activity
 WHERE backend_type = 'pg_retention scheduler' AND datname = '$db'});
}

# Pid of the pg_retention launcher ('' when none).
sub launcher_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
SELECT coalesce(string_agg(pid::text, ','), '')
  FROM pg_catalog.pg_stat_activity WHERE backend_type = 'pg_retention launcher'});
}

# Waits until exactly one scheduler serves $db (and, with $not_pid, it is
# not that process); returns its pid.
sub wait_for_scheduler
{
	my ($node, $db, $not_pid) = @_;
	$not_pid = 0 unless defined $not_pid;
	return poll_value(
		$node, 'postgres', qq{
SELECT coalesce(string_agg(pid::text, ','), '')
  FROM pg_catalog.pg_stat_activity
 WHERE backend_type = 'pg_retention scheduler' AND datname = '$db'},
		sub { $_[0] =~ /^\d+$/ && $_[0] != $not_pid },
		"a scheduler for database $db");
}

# Waits until no scheduler serves $db.
sub wait_for_no_scheduler
{
	my ($node, $db) = @_;
	poll_value($node, 'postgres', qq{
SELECT count(*) FROM pg_catalog.pg_stat_activity
 WHERE backend_type = 'pg_retention scheduler' AND datname = '$db'},
		sub { $_[0] eq '0' }, "no scheduler for database $db");
	return;
}

# Waits until the launcher runs; returns its pid.
sub wait_for_launcher
{
	my ($node) = @_;
	return poll_value($node, 'postgres', q{
SELECT coalesce(string_agg(pid::text, ','), '')
  FROM pg_catalog.pg_stat_activity WHERE backend_type = 'pg_retention launcher'},
		sub { $_[0] =~ /^\d+$/ }, 'the pg_retention launcher');
}

# Waits until process $pid waits for a test waitpoint (advisory lock,
# objsubid 3, not granted).
sub wait_for_waitpoint
{
	my ($node, $pid) = @_;
	poll_value($node, 'postgres', qq{
SELECT count(*) FROM pg_catalog.pg_locks
 WHERE locktype = 'advisory' AND classid = 1919251566 AND objsubid = 3
   AND NOT granted AND pid = $pid},
		sub { $_[0] eq '1' }, "process $pid to wait at a waitpoint");
	return;
}

# A background psql session on $db holding the waitpoints @names. Returns
# ($session, $pid).
sub hold_waitpoints
{
	my ($node, $db, @names) = @_;
	my $session = $node->background_psql($db);
	$session->query_safe("SELECT retention_internal.debug_waitpoint_enable('$_')") for @names;
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	return ($session, $pid);
}

# Ends a background psql session whose server connection may be gone.
sub quit_session
{
	my ($session) = @_;
	local $SIG{PIPE} = 'IGNORE';
	eval {
		$session->{run}->pump_nb();
		if ($session->{run}->pumpable())
		{
			$session->{stdin} .= "\\q\n";
		}
		$session->{run}->finish;
		1;
	} or eval { $session->{run}->kill_kill; };
	return;
}

# Waits until the worker has started $n more runs of policy $marker in $db
# (a policy with a short schedule): then every pass that began before this
# call is over.
sub wait_for_passes
{
	my ($node, $db, $marker, $n) = @_;
	my $since = $node->safe_psql($db, 'SELECT clock_timestamp()');
	poll_value($node, $db, qq{
SELECT count(*) FROM retention.runs
 WHERE policy = '$marker' AND trigger = 'worker' AND status <> 'skipped'
   AND started_at > '$since'},
		sub { $_[0] >= $n }, "$n scheduler pass(es) in $db");
	return;
}

# The checks every scheduler scenario ends with: no advisory lock left
# (except those of the pids in allow_pids), no session idle in transaction,
# and no pg_retention worker holding back the xmin horizon once idle.
sub check_quiet
{
	my ($node, $label, %opts) = @_;
	my @allow = @{ $opts{allow_pids} || [] };
	my $not_in = @allow ? 'AND pid NOT IN (' . join(',', @allow) . ')' : '';
	my $deadline = time + 30;
	my ($locks, $xmin);
	while (1)
	{
		$locks = $node->safe_psql('postgres', qq{
SELECT coalesce(string_agg(format('%s:%s/%s/%s%s', pid, classid, objid, objsubid,
                                  CASE WHEN granted THEN '' ELSE ' (waiting)' END), ', '), '')
  FROM pg_catalog.pg_locks WHERE locktype = 'advisory' $not_in});
		last if $locks eq '' || time > $deadline;
		usleep(50_000);
	}
	is($locks, '', "$label: no advisory lock left");
	is( $node->safe_psql('postgres', q{
SELECT coalesce(string_agg(format('%s (%s): %s', pid, backend_type, query), '; '), '')
  FROM pg_catalog.pg_stat_activity WHERE state LIKE 'idle in transaction%'}),
		'', "$label: no session idle in transaction");
	while (1)
	{
		$xmin = $node->safe_psql('postgres', q{
SELECT coalesce(string_agg(format('%s %s xmin %s', backend_type, pid, backend_xmin), ', '), '')
  FROM pg_catalog.pg_stat_activity
 WHERE backend_type IN ('pg_retention launcher', 'pg_retention scheduler')
   AND backend_xmin IS NOT NULL});
		last if $xmin eq '' || time > $deadline;
		usleep(50_000);
	}
	is($xmin, '', "$label: idle pg_retention workers hold no xmin");
	return;
}

# --- more helpers ---------------------------------------------------------------

# Waits until process $pid waits at a test waitpoint that the session of
# $holder_pid holds (that session holds no other waitpoint): tells apart the
# waitpoints of a run held by two sessions in turn.
sub wait_for_waitpoint_of
{
	my ($node, $pid, $holder_pid) = @_;
	poll_value($node, 'postgres', qq{
SELECT count(*) FROM pg_catalog.pg_locks w
 WHERE w.locktype = 'advisory' AND w.classid = 1919251566 AND w.objsubid = 3
   AND NOT w.granted AND w.pid = $pid
   AND w.objid IN (SELECT h.objid FROM pg_catalog.pg_locks h
                    WHERE h.locktype = 'advisory' AND h.classid = 1919251566
                      AND h.objsubid = 3 AND h.granted AND h.pid = $holder_pid)},
		sub { $_[0] eq '1' }, "process $pid to wait at the waitpoint of $holder_pid");
	return;
}

# The pgbouncer binary (PATH, /usr/sbin, /usr/local/sbin, /usr/local/bin), or
# undef.
sub find_pgbouncer
{
	require File::Spec;
	for my $dir (File::Spec->path, '/usr/sbin', '/usr/local/sbin', '/usr/local/bin')
	{
		my $candidate = "$dir/pgbouncer";
		return $candidate if -f $candidate && -x _;
	}
	return undef;
}

# Starts pgbouncer on loopback in transaction pooling mode with one server
# connection for database $db of $node, trusting the bootstrap superuser.
# Returns (the IPC::Run handle, the connection string for clients); dies if
# it does not accept connections in time. Stop it with stop_pgbouncer.
sub start_pgbouncer
{
	my ($node, $pgbouncer, $db, $tag) = @_;
	require IPC::Run;
	my $user  = getpwuid($<);
	my $bdir  = PostgreSQL::Test::Utils::tempdir;
	my $bport = PostgreSQL::Test::Cluster::get_free_port();
	my ($host, $port) = ($node->host, $node->port);
	my $log = "$PostgreSQL::Test::Utils::log_path/${tag}_pgbouncer.log";
	open(my $fh, '>', "$bdir/userlist.txt") or die "could not write userlist: $!";
	print $fh qq{"$user" ""\n};
	close $fh;
	open($fh, '>', "$bdir/pgbouncer.ini") or die "could not write pgbouncer.ini: $!";
	print $fh <<"EOC";
[databases]
$db = host=$host port=$port dbname=$db

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
logfile = $log
pidfile = $bdir/pgbouncer.pid
EOC
	close $fh;
	my ($bout, $berr) = ('', '');
	my $bouncer = IPC::Run::start([ $pgbouncer, "$bdir/pgbouncer.ini" ],
		'<', \undef, '>', \$bout, '2>', \$berr);
	my $connstr = "host=127.0.0.1 port=$bport dbname=$db user=$user";
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		# psql can exit (connection refused) before IPC::Run writes its
		# stdin; that "Broken pipe" only means "not up yet" (as in 010).
		my ($ok) = eval { run_sql($node, $db, 'SELECT 1', connstr => $connstr) };
		return ($bouncer, $connstr) if $ok;
		die "pgbouncer exited early: $berr\n" unless $bouncer->pumpable;
		die "pgbouncer did not accept connections: $berr\n" if time() > $deadline;
		IPC::Run::pump_nb($bouncer);
		usleep(100_000);
	}
}

sub stop_pgbouncer
{
	my ($bouncer) = @_;
	return unless $bouncer && $bouncer->pumpable;
	$bouncer->signal('INT');
	$bouncer->kill_kill(grace => 5);
	return;
}

# --- session state around a call (hostile tests) ----------------------------

# Runs $sql in ONE psql session on $db between two captures of that session's
# state: every row of pg_settings, current_user and session_user, and what a
# call could leave behind in the session (its advisory locks, open cursors,
# prepared statements, LISTEN channels, temporary relations). $opts{prelude}
# runs first (before the first capture), $opts{after} after the second one;
# $opts{connstr} picks the role. Errors do not stop the script. Every query
# of the captures is schema-qualified and uses no unqualified operator, so a
# search_path left behind by the call cannot change what they read.
# Returns a hash reference:
#   settings_diff  [ "name: before -> after", ... ] (empty when identical)
#   user_before, user_after   "current_user|session_user"
#   residue_diff   { kind => [ "before -> after" ] } for the other items
#   out_call, out_after       stdout of $sql and of $opts{after}
#   err                       all of stderr
sub session_state_around
{
	my ($node, $db, $sql, %opts) = @_;
	my $capture = q{
SELECT 'setting', name, setting FROM pg_catalog.pg_settings ORDER BY name;
SELECT 'user', current_user, session_user;
SELECT 'advisory', pg_catalog.count(*) FROM pg_catalog.pg_locks l
 WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
   AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
SELECT 'cursor', COALESCE(pg_catalog.string_agg(c.name, ',' ORDER BY c.name), '')
  FROM pg_catalog.pg_cursors c;
SELECT 'prepared', COALESCE(pg_catalog.string_agg(p.name, ',' ORDER BY p.name), '')
  FROM pg_catalog.pg_prepared_statements p;
SELECT 'listen', COALESCE(pg_catalog.string_agg(c, ',' ORDER BY c), '')
  FROM pg_catalog.pg_listening_channels() c;
SELECT 'temp', pg_catalog.count(*) FROM pg_catalog.pg_class c
 WHERE c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema();
};
	my $script = ($opts{prelude} // '') . "\n\\echo \@\@BEFORE\@\@\n$capture\n"
	  . "\\echo \@\@CALL\@\@\n$sql\n\\echo \@\@AFTER\@\@\n$capture\n"
	  . "\\echo \@\@TAIL\@\@\n" . ($opts{after} // '') . "\n\\echo \@\@END\@\@\n";
	my ($out, $err) = ('', '');
	my %params = (
		stdout        => \$out,
		stderr        => \$err,
		on_error_stop => 0,
		timeout       => $PostgreSQL::Test::Utils::timeout_default);
	$params{connstr} = $opts{connstr} if defined $opts{connstr};
	$node->psql($db, $script, %params);

	my %section;
	my $current = 'PRELUDE';
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^\@\@(\w+)\@\@$/) { $current = $1; next; }
		push @{ $section{$current} }, $line;
	}
	my $parse = sub {
		my ($lines) = @_;
		my (%settings, %other);
		for my $l (@{ $lines || [] })
		{
			if ($l =~ /^setting\|([^|]*)\|(.*)$/) { $settings{$1} = $2; }
			elsif ($l =~ /^(user|advisory|cursor|prepared|listen|temp)\|(.*)$/) { $other{$1} = $2; }
		}
		return (\%settings, \%other);
	};
	my ($sb, $ob) = $parse->($section{BEFORE});
	my ($sa, $oa) = $parse->($section{AFTER});
	my @diff;
	if (!%$sa)
	{
		push @diff, 'no capture after the call (the session died?)';
	}
	else
	{
		my %names = map { $_ => 1 } (keys %$sb, keys %$sa);
		for my $n (sort keys %names)
		{
			my $b = $sb->{$n} // '(absent)';
			my $a = $sa->{$n} // '(absent)';
			push @diff, "$n: $b -> $a" if $b ne $a;
		}
	}
	my %residue;
	for my $k (qw(advisory cursor prepared listen temp))
	{
		my $b = $ob->{$k} // '(none)';
		my $a = $oa->{$k} // '(none)';
		$residue{$k} = $b eq $a ? [] : ["$b -> $a"];
	}
	return {
		settings_diff => \@diff,
		user_before   => $ob->{user} // '(none)',
		user_after    => $oa->{user} // '(none)',
		residue_diff  => \%residue,
		out_call      => join("\n", @{ $section{CALL} || [] }),
		out_after     => join("\n", @{ $section{TAIL} || [] }),
		err           => $err,
	};
}

1;
