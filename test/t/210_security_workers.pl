# Hostile tenants against the sessions that run other people's policies
# (issue #8, src/pg/SECURITY.md): the background scheduler, a pg_cron-style
# superuser session, a client behind PgBouncer in transaction mode. Plus the
# policy lock, the bookkeeping of cut-short runs and the install script.
#
# Roles: mallory (a tenant: owns schema mallory and its tables), alice
# (another tenant), the bootstrap superuser. mallory's triggers change session
# settings with set_config(..., false), try to escalate, and leave what else
# they can behind (advisory locks, prepared statements, LISTEN, cursors).
# mallory also owns functions and an operator that shadow pg_catalog's
# (now(), text = text) once her search_path leaks: they log every call and
# try to make mallory superuser.
#
# After every case: no role gained a privilege (mallory's and alice's
# pg_roles flags and memberships are unchanged).
#
# Cases:
#   1. scheduler poisoning    (database sched,  scheduler on)
#   2. pg_cron-style caller   (database cron,   scheduler off)
#   3. PgBouncer              (database pool,   scheduler off)
#   4. the policy lock        (database locks,  waitpoints, no scheduler)
#   5. bookkeeping            (database books,  waitpoints, no scheduler)
#   6. install script         (databases inst, inst2)
#   7. session residue in the scheduler (database sched7, scheduler on)
#
# Session residue: advisory locks that user code takes at session level are
# released when its run ends; prepared statements are refused in the sandbox.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $user = getpwuid($<);    # initdb's bootstrap superuser

# Two nodes: "plain" with the scheduler off, "sched" with the scheduler on
# (and test waitpoints armed) for databases sched and sched7 only, so that
# the other databases of that node see manual runs only.
my $plain = RetentionTAP::new_node('plain');
$plain->start;
my $snode = RetentionTAP::new_node('sched', scheduler => 1);
$snode->append_conf('postgresql.conf', "retention.databases = 'sched, sched7'\n");
$snode->start;

for my $n ($plain, $snode)
{
	$n->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE ROLE alice LOGIN;
});
}

# --- helpers ---------------------------------------------------------------------

# The value of $sql, or "ERROR: ..." (never dies).
sub val
{
	my ($n, $db, $sql) = @_;
	my ($ok, $out, $err) = RetentionTAP::run_sql($n, $db, $sql);
	return $ok ? $out : "ERROR: $err";
}

# Runs one case; a case that dies is one failure, and the next case runs.
sub run_case
{
	my ($name, $code) = @_;
	note "=== case: $name";
	my $ok = eval { $code->(); 1 };
	fail("case '$name' ran to its end") or diag $@ unless $ok;
	return;
}

my $roles_sql = q{
SELECT string_agg(format('%s: super=%s createrole=%s createdb=%s replication=%s bypassrls=%s member_of={%s}',
                         r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
                         r.rolbypassrls,
                         (SELECT coalesce(string_agg(g.rolname, ',' ORDER BY g.rolname), '')
                            FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                           WHERE m.member = r.oid)),
                  '; ' ORDER BY r.rolname)
  FROM pg_roles r WHERE r.rolname IN ('mallory', 'alice')};
my %roles_baseline = map { $_->name => $_->safe_psql('postgres', $roles_sql) } ($plain, $snode);
is( $roles_baseline{ $plain->name },
	'alice: super=f createrole=f createdb=f replication=f bypassrls=f member_of={}; '
	  . 'mallory: super=f createrole=f createdb=f replication=f bypassrls=f member_of={}',
	'the tenants start without privileges');

# No escalation: the tenants' role flags and memberships are unchanged. If
# they changed, they are put back so that the next case starts clean.
sub check_no_escalation
{
	my ($n, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $now = val($n, 'postgres', $roles_sql);
	return if is($now, $roles_baseline{ $n->name },
		"$label: no escalation (mallory's and alice's pg_roles flags and memberships unchanged)");
	$n->safe_psql('postgres', q{
ALTER ROLE mallory NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
ALTER ROLE alice NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT g.rolname AS grp, u.rolname AS usr
               FROM pg_auth_members m
               JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
              WHERE u.rolname IN ('mallory', 'alice') LOOP
        EXECUTE format('REVOKE %I FROM %I', r.grp, r.usr);
    END LOOP;
END $$;
});
	return;
}

# Schemas, tables, triggers and traps of both tenants in database $db.
#
# mallory.tokens: a statement trigger (AFTER DELETE) that applies every row
# of mallory.poison with set_config(name, value, false), executes every
# statement of mallory.actions (each in its own exception block, logged in
# mallory.trigger_log), tries to escalate, and logs 'fired'.
# mallory.now() and mallory.= (text, text): log to mallory.calls and try to
# escalate, then do what pg_catalog's do.
#
# alice.tokens: ids 1-10 note 'a\b', 11-20 made on 2024-03-04, 21-40 plain,
# all expired; 41-45 live. alice's filter keeps the first two groups. A
# statement trigger records in alice.seen the settings and the leftovers of
# the session it runs in.
my $tenants_sql = q{
CREATE EXTENSION IF NOT EXISTS pg_retention;
CREATE SCHEMA mallory AUTHORIZATION mallory;
CREATE SCHEMA alice AUTHORIZATION alice;
GRANT USAGE ON SCHEMA mallory TO PUBLIC;

SET ROLE mallory;
CREATE TABLE mallory.calls (id bigserial PRIMARY KEY, fn text, pid int, usr name, is_super boolean);
GRANT INSERT, SELECT ON mallory.calls TO PUBLIC;
GRANT USAGE ON SEQUENCE mallory.calls_id_seq TO PUBLIC;
CREATE FUNCTION mallory.escalate() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'GRANT pg_execute_server_program TO mallory'; EXCEPTION WHEN OTHERS THEN NULL; END;
END $f$;
CREATE FUNCTION mallory.log_call(fn text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        INSERT INTO mallory.calls (fn, pid, usr, is_super)
        SELECT fn, pg_catalog.pg_backend_pid(), current_user, r.rolsuper
          FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    PERFORM mallory.escalate();
END $f$;
CREATE FUNCTION mallory.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM mallory.log_call('now');
    RETURN pg_catalog.now();
END $f$;
CREATE FUNCTION mallory.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM mallory.log_call('=');
    RETURN pg_catalog.texteq(a, b);
END $f$;
CREATE OPERATOR mallory.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mallory.texteq);

CREATE TABLE mallory.poison (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE mallory.actions (id serial PRIMARY KEY, stmt text NOT NULL);
CREATE TABLE mallory.trigger_log (id bigserial PRIMARY KEY, pid int, usr name, is_super boolean,
                                  note text);
CREATE TABLE mallory.tokens (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE FUNCTION mallory.poison_session() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
    FOR r IN SELECT p.name, p.value FROM mallory.poison p ORDER BY p.name LOOP
        BEGIN
            PERFORM pg_catalog.set_config(r.name, r.value, false);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO mallory.trigger_log (pid, usr, note)
            VALUES (pg_catalog.pg_backend_pid(), current_user,
                    pg_catalog.concat('failed: set_config ', r.name, ': ', SQLERRM));
        END;
    END LOOP;
    FOR r IN SELECT a.stmt FROM mallory.actions a ORDER BY a.id LOOP
        BEGIN
            EXECUTE r.stmt;
            INSERT INTO mallory.trigger_log (pid, usr, note)
            VALUES (pg_catalog.pg_backend_pid(), current_user, pg_catalog.concat('ok: ', r.stmt));
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO mallory.trigger_log (pid, usr, note)
            VALUES (pg_catalog.pg_backend_pid(), current_user,
                    pg_catalog.concat('failed: ', r.stmt, ': ', SQLERRM));
        END;
    END LOOP;
    PERFORM mallory.escalate();
    INSERT INTO mallory.trigger_log (pid, usr, is_super, note)
    SELECT pg_catalog.pg_backend_pid(), current_user, r2.rolsuper, 'fired'
      FROM pg_catalog.pg_roles r2 WHERE r2.rolname OPERATOR(pg_catalog.=) current_user;
    RETURN NULL;
END $f$;
CREATE TRIGGER poison AFTER DELETE ON mallory.tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mallory.poison_session();
INSERT INTO mallory.tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 30) AS i;
RESET ROLE;

SET ROLE alice;
CREATE TABLE alice.tokens (
    id         bigint PRIMARY KEY,
    note       text NOT NULL,
    made_on    date NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE alice.seen (id bigserial PRIMARY KEY, pid int, tbl text, settings text, residue text);
CREATE FUNCTION alice.probe() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO alice.seen (pid, tbl, settings, residue)
    SELECT pg_catalog.pg_backend_pid(), TG_TABLE_NAME,
           pg_catalog.concat_ws(';',
               'DateStyle=' || pg_catalog.current_setting('DateStyle'),
               'default_transaction_read_only='
                 || pg_catalog.current_setting('default_transaction_read_only'),
               'mallory.flag=' || COALESCE(pg_catalog.current_setting('mallory.flag', true), ''),
               'search_path=' || pg_catalog.current_setting('search_path'),
               'standard_conforming_strings='
                 || pg_catalog.current_setting('standard_conforming_strings'),
               'work_mem=' || pg_catalog.current_setting('work_mem')),
           pg_catalog.concat_ws(';',
               'cursor=' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_cursors c
                              WHERE c.name OPERATOR(pg_catalog.=) 'mallory_cur'),
               'listen=' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_listening_channels() ch
                              WHERE ch OPERATOR(pg_catalog.=) 'mallory_channel'),
               'prepared=' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements s
                                WHERE s.name OPERATOR(pg_catalog.=) 'mallory_stmt'),
               'advisory=' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks l
                                WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                                  AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                                  AND l.objsubid OPERATOR(pg_catalog.<>) 3
                                  AND l.objsubid OPERATOR(pg_catalog.<>) 4));
    RETURN NULL;
END $f$;
CREATE TRIGGER probe AFTER DELETE ON alice.tokens
    FOR EACH STATEMENT EXECUTE FUNCTION alice.probe();
INSERT INTO alice.tokens
SELECT i,
       CASE WHEN i <= 10 THEN 'a\b' ELSE 'plain' END,
       CASE WHEN i BETWEEN 11 AND 20 THEN date '2024-03-04' ELSE date '2024-01-01' END,
       CASE WHEN i <= 40 THEN now() - interval '1 day' ELSE now() + interval '1 day' END
  FROM generate_series(1, 45) AS i;
RESET ROLE;
};

# alice's filter, written under standard_conforming_strings = on and
# DateStyle ISO: keep notes 'a\b' and rows made on 4 March 2024.
my $alice_filter = q{$f$note <> 'a\b' AND made_on::text <> '2024-03-04'$f$};

# What alice's rows look like when her filter was honoured:
# (notes 'a\b', made on 2024-03-04, other expired, live).
my $alice_rows_sql = q{
SELECT count(*) FILTER (WHERE note = 'a\b'), count(*) FILTER (WHERE made_on = '2024-03-04'),
       count(*) FILTER (WHERE note = 'plain' AND made_on <> '2024-03-04' AND expires_at < now()),
       count(*) FILTER (WHERE expires_at > now())
  FROM alice.tokens};

sub setup_tenants
{
	my ($n, $db, %o) = @_;
	$n->safe_psql($db, $tenants_sql);
	for my $p (@{ $o{poison} || [] })
	{
		$n->safe_psql($db,
			"INSERT INTO mallory.poison VALUES ('$p->[0]', '$p->[1]')");
	}
	for my $a (@{ $o{actions} || [] })
	{
		$n->safe_psql($db,
			'INSERT INTO mallory.actions (stmt) VALUES (' . quote_lit($a) . ')');
	}
	return;
}

sub quote_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# The settings mallory's triggers change (for cases 1-3; case 1 adds
# default_transaction_read_only later).
my @poison = (
	[ 'standard_conforming_strings', 'off' ],
	[ 'DateStyle',                   'SQL, DMY' ],
	[ 'search_path',                 'mallory, pg_catalog' ],
	[ 'work_mem',                    '64kB' ],
	[ 'mallory.flag',                'poisoned' ]);

# What alice's trigger must see inside a run (SECURITY.md's pinned values;
# work_mem and mallory.flag as in a fresh session).
my $work_mem = $snode->safe_psql('postgres', 'SHOW work_mem');
my $pinned_settings =
    'DateStyle=ISO, MDY;default_transaction_read_only=off;mallory.flag=;'
  . "search_path=pg_catalog, pg_temp;standard_conforming_strings=on;work_mem=$work_mem";

# ================================================================================
# 2. A pg_cron-style caller: a plain superuser session runs CALL
#    retention.run('mallory_cron'), then CALL retention.run() (every policy:
#    mallory's, then alice's), and goes on with its own statements.
# ================================================================================

# The same script around each call: every setting before, the call, then the
# settings that changed (or appeared), and unqualified now() and text = text
# (mallory's functions, should her search_path have stayed), and mallory's
# custom setting.
sub cron_script
{
	my ($call) = @_;
	return qq{
\\set VERBOSITY terse
-- Load PL/pgSQL first: its own settings appear in pg_settings when it loads.
DO \$\$ BEGIN END \$\$;
SELECT pg_catalog.string_agg(pg_catalog.format('%s=%s', s.name, s.setting), E'\\n' ORDER BY s.name)
         AS before_settings
  FROM pg_catalog.pg_settings s \\gset
$call
SELECT 'changed: ' || COALESCE(pg_catalog.string_agg(pg_catalog.format('%s=%s', s.name, s.setting),
                                                     ', ' ORDER BY s.name), '(none)')
  FROM pg_catalog.pg_settings s
 WHERE pg_catalog.format('%s=%s', s.name, s.setting)
       OPERATOR(pg_catalog.<>) ALL (pg_catalog.string_to_array(:'before_settings', E'\\n'));
SELECT 'now: ' || (now() IS NOT NULL);
SELECT 'eq: ' || ('x'::text = 'x'::text);
SELECT 'user: ' || current_user;
SELECT 'flag: ' || COALESCE(pg_catalog.current_setting('mallory.flag', true), '');
};
}

run_case('pg_cron-style caller', sub {
	$plain->safe_psql('postgres', 'CREATE DATABASE cron');
	setup_tenants($plain, 'cron', poison => \@poison);
	$plain->safe_psql('cron', qq{
SET ROLE mallory;
SELECT retention.add_policy('mallory.tokens', expires_at => 'expires_at', name => 'mallory_cron');
SET ROLE alice;
SELECT retention.add_policy('alice.tokens', expires_at => 'expires_at', filter => $alice_filter,
                            name => 'alice_cron');
RESET ROLE;
});

	# One policy.
	my ($ok, $out, $err) = RetentionTAP::run_sql($plain, 'cron',
		cron_script(q{CALL retention.run('mallory_cron');}), on_error_stop => 0);
	like($out, qr/^30\|0\|\d+\|ok$/m, 'cron: CALL retention.run(mallory_cron) purged her 30 rows');
	like($out, qr/^changed: \(none\)$/m,
		"cron: after CALL retention.run('mallory_cron') the caller's pg_settings are unchanged")
	  or diag $out;
	like($out, qr/^now: true\neq: true\nuser: \Q$user\E\nflag: $/m,
		'cron: the caller goes on as itself, without mallory.flag');
	is(val($plain, 'cron', 'SELECT count(*) FROM mallory.calls'),
		'0', "cron: the caller's unqualified now() and = never reached mallory's functions");
	is(val($plain, 'cron', q{SELECT count(*) > 0 FROM mallory.trigger_log WHERE note = 'fired'}),
		't', "cron: mallory's trigger did fire (the case is not vacuous)");
	check_no_escalation($plain, 'cron, one policy');

	# Every policy: mallory's first (lower id), then alice's, in one session.
	$plain->safe_psql('cron',
		q{INSERT INTO mallory.tokens SELECT i, now() - interval '1 day' FROM generate_series(31, 40) AS i});
	($ok, $out, $err) = RetentionTAP::run_sql($plain, 'cron',
		cron_script(q{CALL retention.run();}), on_error_stop => 0);
	like($out, qr/^changed: \(none\)$/m,
		"cron: after CALL retention.run() the caller's pg_settings are unchanged")
	  or diag $out;
	like($out, qr/^now: true\neq: true\nuser: \Q$user\E\nflag: $/m,
		'cron: the caller goes on as itself after run(), without mallory.flag');
	is(val($plain, 'cron', $alice_rows_sql), '10|10|0|5',
		"cron: alice's policy, run after mallory's in the same session, kept notes 'a\\b' and "
		  . 'rows made on 2024-03-04 and purged the rest');
	is( val($plain, 'cron',
			q{SELECT string_agg(policy || ':' || status, ',' ORDER BY run_id) FROM retention.runs}),
		'mallory_cron:ok,mallory_cron:ok,alice_cron:ok', 'cron: the runs are recorded');
	is(val($plain, 'cron', 'SELECT count(*) FROM mallory.calls'),
		'0', "cron: mallory's functions were never called");
	is(val($plain, 'cron', q{SELECT settings FROM alice.seen ORDER BY id DESC LIMIT 1}),
		$pinned_settings, "cron: alice's trigger ran under the pinned settings");
	check_no_escalation($plain, 'cron, every policy');
});

# ================================================================================
# 3. PgBouncer in transaction mode, one server connection: client A runs
#    mallory's policy; client B, on the same server connection, must find the
#    pool's settings as they were.
# ================================================================================

run_case('PgBouncer transaction mode', sub {
	my $pgbouncer = RetentionTAP::find_pgbouncer();
  SKIP:
	{
		skip 'pgbouncer not found', 1 unless defined $pgbouncer;
		$plain->safe_psql('postgres', q{
CREATE DATABASE pool;
-- Non-default settings, so that "restored" cannot mean "reset".
ALTER DATABASE pool SET search_path = app_schema, public;
ALTER DATABASE pool SET DateStyle = 'German, DMY';
});
		setup_tenants($plain, 'pool', poison => \@poison,
			actions => [ 'PREPARE mallory_stmt AS SELECT 1',
				'SELECT pg_catalog.pg_advisory_lock(4242)' ]);
		$plain->safe_psql('pool', q{
SET ROLE mallory;
SELECT retention.add_policy('mallory.tokens', expires_at => 'expires_at', name => 'mallory_pool');
RESET ROLE;
});
		my ($bouncer, $bconn) =
		  RetentionTAP::start_pgbouncer($plain, $pgbouncer, 'pool', '210_security_workers');
		my $pooled = sub {
			my ($sql) = @_;
			my ($ok, $out, $err) =
			  RetentionTAP::run_sql($plain, 'pool', $sql, connstr => $bconn, on_error_stop => 0);
			return $ok ? $out : "$out\nERROR: $err";
		};
		my $state_sql = q{
SELECT pg_catalog.concat_ws(' | ', pg_catalog.pg_backend_pid(),
       pg_catalog.current_setting('search_path'),
       pg_catalog.current_setting('standard_conforming_strings'),
       pg_catalog.current_setting('DateStyle'),
       pg_catalog.current_setting('default_transaction_read_only'),
       pg_catalog.current_setting('work_mem'),
       COALESCE(pg_catalog.current_setting('mallory.flag', true), ''),
       current_user, session_user)};
		my $residue_sql = q{
SELECT pg_catalog.concat_ws(' ',
       'prepared=' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements),
       'advisory=' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks l
                        WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
                          AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()))};
		my $baseline = $pooled->($state_sql);
		my ($backend) = split / \| /, $baseline;
		is($baseline, "$backend | app_schema, public | on | German, DMY | off | $work_mem |  | $user | $user",
			'pool: the pooled session starts with the database settings');

		for my $call (q{CALL retention.run('mallory_pool');}, q{CALL retention.run();})
		{
			$plain->safe_psql('pool',
				q{INSERT INTO mallory.tokens SELECT i, now() - interval '1 day'
                    FROM generate_series(1001, 1010) AS i ON CONFLICT DO NOTHING});
			my $out = $pooled->("SELECT pg_catalog.pg_backend_pid();\n$call");
			like($out, qr/^\Q$backend\E\n\d+\|0\|\d+\|ok$/,
				"pool: client A ($call) ran on the pooled backend");
			is($pooled->($state_sql), $baseline,
				"pool: after client A's $call client B finds the same backend, search_path, "
				  . 'standard_conforming_strings, DateStyle, read-only default, work_mem and user');
			$out = $pooled->(q{SELECT now() IS NOT NULL, 'x'::text = 'x'::text;});
			is($out, 't|t', "pool: client B's unqualified now() and = work");
			is(val($plain, 'pool', 'SELECT count(*) FROM mallory.calls'),
				'0', "pool: and never reach mallory's functions");
			{
				is($pooled->($residue_sql), 'prepared=0 advisory=0',
					"pool: client B inherits no prepared statement and no advisory lock from mallory's trigger");
			}
			check_no_escalation($plain, "pool, $call");
			# Start the next round from a clean pooled session, whatever happened.
			$pooled->('DEALLOCATE ALL; SELECT pg_catalog.pg_advisory_unlock_all()');
		}
		is( val($plain, 'pool',
				q{SELECT count(*) >= 2, bool_and(usr = 'mallory' AND NOT is_super) FROM mallory.trigger_log
                   WHERE note = 'fired'}),
			't|t', "pool: mallory's trigger fired in both runs, as mallory, without superuser");
		RetentionTAP::stop_pgbouncer($bouncer);
	}
});

# ================================================================================
# 6. Install script (CVE-2022-2625 / CVE-2023-39417 class).
# ================================================================================

run_case('install script', sub {
	# A role with CREATE on the database creates schema retention first.
	$plain->safe_psql('postgres', q{
CREATE DATABASE inst;
GRANT CREATE ON DATABASE inst TO mallory;
});
	$plain->safe_psql('inst', q{
SET ROLE mallory;
CREATE SCHEMA retention;
CREATE FUNCTION retention.mallory_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE retention.mallory_tab (x int);
RESET ROLE;
});
	my ($ok, $out, $err) = RetentionTAP::run_sql($plain, 'inst',
		"\\set VERBOSITY verbose\nCREATE EXTENSION pg_retention;");
	ok(!$ok, "install: CREATE EXTENSION into mallory's schema retention fails");
	like($err, qr/ERROR:\s+42501:.*mallory/,
		'install: with SQLSTATE 42501 and a message naming the schema owner')
	  or diag $err;
	is( val($plain, 'inst', q{
SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'pg_retention'),
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'retention'::regnamespace
                                        AND relname <> 'mallory_tab'),
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'retention'::regnamespace
                                       AND proname <> 'mallory_fn'),
       (SELECT count(*) FROM pg_event_trigger),
       (SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'retention')}),
		'0|0|0|0|mallory', 'install: nothing of the extension was created');
	check_no_escalation($plain, 'install into a tenant schema');

	# retention_archive created first by mallory: an archive policy refuses.
	$plain->safe_psql('postgres', q{
CREATE DATABASE inst2;
GRANT CREATE ON DATABASE inst2 TO mallory;
});
	$plain->safe_psql('inst2', q{
CREATE EXTENSION pg_retention;
CREATE SCHEMA alice AUTHORIZATION alice;
SET ROLE mallory;
CREATE SCHEMA retention_archive;
GRANT USAGE, CREATE ON SCHEMA retention_archive TO PUBLIC;
SET ROLE alice;
CREATE TABLE alice.orders (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO alice.orders SELECT i, now() - interval '1 day' FROM generate_series(1, 5) AS i;
RESET ROLE;
});
	($ok, $out, $err) = RetentionTAP::run_sql($plain, 'inst2', q{\set VERBOSITY verbose
SET ROLE alice;
SELECT retention.add_policy('alice.orders', expires_at => 'expires_at', mode => 'archive',
                            name => 'alice_archive');});
	ok(!$ok, "install: an archive policy refuses mallory's schema retention_archive");
	like($err, qr/ERROR:\s+42501:.*retention_archive.*mallory/,
		'install: 42501, naming the schema and its owner')
	  or diag $err;
	is( val($plain, 'inst2', q{
SELECT (SELECT count(*) FROM retention.policy),
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'retention_archive'::regnamespace),
       (SELECT count(*) FROM alice.orders)}),
		'0|0|5', 'install: no policy, no archive table in her schema, no row moved');

	# Every function of the extension written in SQL or PL/pgSQL has a pinned
	# search_path (SECURITY.md, "Install script"); SECURITY DEFINER ones above all.
	is( val($plain, 'inst2', q{
SELECT coalesce(string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text), '')
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_retention'
  JOIN pg_language l ON l.oid = p.prolang
 WHERE l.lanname <> 'c'
   AND NOT coalesce(EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%'), false)}),
		'', 'install: every SQL and PL/pgSQL function of the extension pins search_path');
	check_no_escalation($plain, 'retention_archive of a tenant');
});

# ================================================================================
# 4. The policy lock: a tag no SQL function can take (objsubid 4).
# ================================================================================

run_case('policy lock', sub {
	my $n = $snode;
	$n->safe_psql('postgres', 'CREATE DATABASE locks');
	$n->safe_psql('locks', q{
CREATE EXTENSION pg_retention;
CREATE TABLE lt (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO lt SELECT i, now() - interval '1 day' FROM generate_series(1, 30) AS i;
SELECT retention.add_policy('lt', expires_at => 'expires_at', name => 'lockp', batch_size => 10);
});
	my $id = $n->safe_psql('locks', q{SELECT id FROM retention.policy WHERE name = 'lockp'});

	my ($holder, $holder_pid) = RetentionTAP::hold_waitpoints($n, 'locks', 'before_batch');
	my $caller = $n->background_psql('locks');
	my $caller_pid = $caller->query_safe('SELECT pg_backend_pid()');
	$caller->query_until(qr/calling/, "\\echo calling\nCALL retention.run('lockp');\n");
	RetentionTAP::wait_for_waitpoint($n, $caller_pid);

	is( val($n, 'locks', qq{
SELECT string_agg(format('%s/%s/%s/%s/%s', pid, classid, objid, objsubid, granted), ', ')
  FROM pg_locks WHERE locktype = 'advisory' AND objsubid <> 3
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())}),
		"$caller_pid/1919251566/$id/4/t",
		'lock: a paused run holds exactly one advisory lock: classid 1919251566, objid = policy id, objsubid 4');
	my ($ok, $out, $err) = RetentionTAP::run_sql($n, 'locks', q{CALL retention.run('lockp')});
	is($out, '0|0|0|skipped', 'lock: a second CALL while the first run is paused is skipped');
	is( val($n, 'locks',
			"SELECT pg_try_advisory_lock(1919251566, $id), pg_advisory_unlock(1919251566, $id)"),
		't|t', 'lock: pg_try_advisory_lock(1919251566, id) from another session succeeds');

	$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
	like($caller->query_safe('SELECT 1'), qr/^30\|0\|\d+\|ok\n1$/, 'lock: the paused run then finishes');
	RetentionTAP::quit_session($caller);
	RetentionTAP::quit_session($holder);

	# A tenant holds the SQL key of the policy: a run started meanwhile purges.
	$n->safe_psql('locks',
		q{INSERT INTO lt SELECT i, now() - interval '1 day' FROM generate_series(101, 120) AS i});
	my $sql_holder = $n->background_psql('locks');
	$sql_holder->query_safe('SET ROLE mallory');
	$sql_holder->query_safe("SELECT pg_advisory_lock(1919251566, $id)");
	pass('lock: mallory holds pg_advisory_lock(1919251566, id)');
	($ok, $out, $err) = RetentionTAP::run_sql($n, 'locks', q{CALL retention.run('lockp')});
	like($out, qr/^20\|0\|\d+\|ok$/,
		'lock: a run started while that SQL lock is held completes with status ok')
	  or diag "$out $err";
	is(val($n, 'locks', 'SELECT count(*) FROM lt'), '0', 'lock: and purges the rows');
	RetentionTAP::quit_session($sql_holder);
	is( RetentionTAP::try_poll_value($n, 'locks',
			q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'}, sub { $_[0] eq '0' }, 30),
		'0', 'lock: no advisory lock is left');
	check_no_escalation($n, 'policy lock');
});

# ================================================================================
# 5. Bookkeeping of cut-short runs: rows_deleted is exactly the rows gone.
# ================================================================================

# Starts a manual run of $policy in a background session, held by two
# waitpoint sessions in turn until $batches batches have committed; leaves it
# waiting at before_batch. Returns ($caller, $caller_pid, @holders).
sub hold_after_batches
{
	my ($n, $db, $policy, $batches) = @_;
	my ($a, $a_pid) = RetentionTAP::hold_waitpoints($n, $db, 'after_delete_before_commit');
	my ($b, $b_pid) = RetentionTAP::hold_waitpoints($n, $db);
	my $caller = $n->background_psql($db);
	my $caller_pid = $caller->query_safe('SELECT pg_backend_pid()');
	$caller->query_until(qr/calling/, "\\echo calling\nCALL retention.run('$policy');\n");
	RetentionTAP::wait_for_waitpoint_of($n, $caller_pid, $a_pid);
	for my $k (1 .. $batches)
	{
		# Batch $k deleted, not committed: hold the next batch, let $k commit.
		$b->query_safe(q{SELECT retention_internal.debug_waitpoint_enable('before_batch')});
		$a->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
		RetentionTAP::wait_for_waitpoint_of($n, $caller_pid, $b_pid);
		last if $k == $batches;
		$a->query_safe(q{SELECT retention_internal.debug_waitpoint_enable('after_delete_before_commit')});
		$b->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
		RetentionTAP::wait_for_waitpoint_of($n, $caller_pid, $a_pid);
	}
	return ($caller, $caller_pid, $a, $b);
}

run_case('bookkeeping', sub {
	my $n = $snode;
	$n->safe_psql('postgres', 'CREATE DATABASE books');
	$n->safe_psql('books', q{
CREATE EXTENSION pg_retention;
CREATE TABLE b_cancel (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE TABLE b_term (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE TABLE b_rate (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO b_cancel SELECT i, now() - interval '1 day' FROM generate_series(1, 100) AS i;
INSERT INTO b_term SELECT i, now() - interval '1 day' FROM generate_series(1, 100) AS i;
INSERT INTO b_rate SELECT i, now() - interval '1 day' FROM generate_series(1, 60) AS i;
SELECT retention.add_policy('b_cancel', expires_at => 'expires_at', name => 'book_cancel',
                            batch_size => 10);
SELECT retention.add_policy('b_term', expires_at => 'expires_at', name => 'book_term',
                            batch_size => 10);
SELECT retention.add_policy('b_rate', expires_at => 'expires_at', name => 'book_rate',
                            batch_size => 10, max_rows_per_second => 10);
});

	for my $how ([ 'cancel', 'pg_cancel_backend' ], [ 'term', 'pg_terminate_backend' ])
	{
		my ($tag, $fn) = @$how;
		my ($caller, $caller_pid, @holders) = hold_after_batches($n, 'books', "book_$tag", 3);
		my $gone = 100 - $n->safe_psql('books', "SELECT count(*) FROM b_$tag");
		is($gone, 30, "books/$tag: three batches of 10 committed, the run waits before the fourth");
		is(val($n, 'books', "SELECT $fn($caller_pid)"), 't', "books/$tag: $fn of the running backend");
		my $status = RetentionTAP::try_poll_value($n, 'books',
			qq{SELECT status FROM retention.runs WHERE policy = 'book_$tag' ORDER BY run_id DESC LIMIT 1},
			sub { $_[0] ne 'running' }, 30);
		$gone = 100 - $n->safe_psql('books', "SELECT count(*) FROM b_$tag");
		is( val($n, 'books', qq{
SELECT status, rows_deleted, batches FROM retention.runs WHERE policy = 'book_$tag'
 ORDER BY run_id DESC LIMIT 1}),
			"interrupted|$gone|3",
			"books/$tag: retention.runs says interrupted, rows_deleted = the $gone rows gone, 3 batches");
		RetentionTAP::quit_session($_) for ($caller, @holders);
	}

	# A run asleep in its rate limit (10 rows/s, batches of 10: about a
	# second between batches), cancelled during the sleep, after its first
	# batch committed. The cancel is sent in the statement that sees the
	# sleep (wait event Extension), so it lands in it.
	my $caller = $n->background_psql('books');
	my $caller_pid = $caller->query_safe('SELECT pg_backend_pid()');
	$caller->query_until(qr/calling/, "\\echo calling\nCALL retention.run('book_rate');\n");
	my $cancelled = RetentionTAP::try_poll_value($n, 'books', qq{
SELECT coalesce(bool_or(pg_cancel_backend(a.pid)), false)
  FROM pg_stat_activity a
 WHERE a.pid = $caller_pid AND a.wait_event_type = 'Extension'
   AND (SELECT count(*) FROM b_rate) < 60},
		sub { $_[0] eq 't' }, 60);
	is($cancelled, 't', 'books/rate: cancelled while asleep in the rate limit, after a batch');
	my $status = RetentionTAP::try_poll_value($n, 'books',
		q{SELECT status FROM retention.runs WHERE policy = 'book_rate' ORDER BY run_id DESC LIMIT 1},
		sub { $_[0] ne 'running' }, 30);
	my $gone = 60 - $n->safe_psql('books', 'SELECT count(*) FROM b_rate');
	cmp_ok($gone, '>', 0, "books/rate: $gone rows were purged before the cancel");
	is( val($n, 'books', q{
SELECT status, rows_deleted FROM retention.runs WHERE policy = 'book_rate'
 ORDER BY run_id DESC LIMIT 1}),
		"interrupted|$gone", "books/rate: retention.runs says interrupted with rows_deleted = $gone");
	is( val($n, 'books', q{
SELECT h.status, h.rows_deleted FROM retention.run_history h
  JOIN retention.policy p ON p.id = h.policy_id WHERE p.name = 'book_rate'
 ORDER BY h.id DESC LIMIT 1}),
		"interrupted|$gone",
		'books/rate: the run was recorded as interrupted before the error was raised');
	RetentionTAP::quit_session($caller);
	# Never "running" afterwards.
	ok( RetentionTAP::never_within(
			sub { val($n, 'books', q{SELECT count(*) FROM retention.runs WHERE status = 'running'}) },
			sub { $_[0] ne '0' }, 1),
		'books: no run is shown running afterwards');
	check_no_escalation($n, 'bookkeeping');
});

# ================================================================================
# 1. Scheduler poisoning.
# ================================================================================

run_case('scheduler poisoning', sub {
	my $n = $snode;
	$n->safe_psql('postgres', 'CREATE DATABASE sched');
	setup_tenants($n, 'sched', poison => \@poison);
	my $sched = RetentionTAP::wait_for_scheduler($n, 'sched');

	# Both policies in one transaction: the scheduler sees them together and
	# runs mallory's (the lower id) first in the same pass.
	$n->safe_psql('sched', qq{
BEGIN;
SET ROLE mallory;
SELECT retention.add_policy('mallory.tokens', expires_at => 'expires_at', name => 'mallory_sched',
                            schedule => '1 second');
SET ROLE alice;
SELECT retention.add_policy('alice.tokens', expires_at => 'expires_at', filter => $alice_filter,
                            name => 'alice_sched', schedule => '1 second');
RESET ROLE;
COMMIT;
SELECT retention.wakeup();
});
	my $ran = RetentionTAP::try_poll_value($n, 'sched', q{
SELECT count(*) FROM retention.runs WHERE policy = 'alice_sched' AND status <> 'running'},
		sub { $_[0] >= 1 }, 60);
	ok(defined $ran, "sched: the scheduler ran alice's policy");
	is( val($n, 'sched', q{
SELECT m.pid = a.pid, m.run_id < a.run_id, a.status
  FROM (SELECT * FROM retention.runs WHERE policy = 'mallory_sched' ORDER BY run_id LIMIT 1) m,
       (SELECT * FROM retention.runs WHERE policy = 'alice_sched' ORDER BY run_id LIMIT 1) a}),
		't|t|ok', "sched: mallory's run came first, in the same scheduler, then alice's ran ok");
	is( val($n, 'sched', q{
SELECT count(*) > 0, bool_and(usr = 'mallory' AND NOT is_super) FROM mallory.trigger_log
 WHERE note = 'fired'}),
		't|t', "sched: mallory's trigger fired, as mallory, without superuser");
	is(val($n, 'sched', $alice_rows_sql), '10|10|0|5',
		"sched: alice's filter was read as written: notes 'a\\b' and rows made on 2024-03-04 kept, "
		  . 'the others purged');
	is(val($n, 'sched', q{SELECT settings FROM alice.seen ORDER BY id LIMIT 1}),
		$pinned_settings,
		"sched: alice's trigger, right after mallory's run, saw the pinned settings, not mallory's");

	# Now mallory also sets default_transaction_read_only = on.
	my $t1 = $n->safe_psql('sched', 'SELECT clock_timestamp()');
	$n->safe_psql('sched', q{
INSERT INTO mallory.poison VALUES ('default_transaction_read_only', 'on');
INSERT INTO mallory.tokens SELECT i, now() - interval '1 day' FROM generate_series(101, 110) AS i;
SELECT retention.wakeup();
});
	my $mallory_ran = RetentionTAP::try_poll_value($n, 'sched', qq{
SELECT count(*) FROM retention.runs
 WHERE policy = 'mallory_sched' AND started_at > '$t1' AND rows_deleted > 0 AND status = 'ok'},
		sub { $_[0] >= 1 }, 60);
	ok(defined $mallory_ran, "sched: mallory's run that sets the read-only poison ran and was recorded ok");

	# A third policy, added later, still runs, and goes on running.
	$n->safe_psql('sched', q{
SET ROLE alice;
CREATE TABLE alice.third (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO alice.third SELECT i, now() - interval '1 day' FROM generate_series(1, 20) AS i;
SELECT retention.add_policy('alice.third', expires_at => 'expires_at', name => 'alice_third',
                            schedule => '1 second');
RESET ROLE;
SELECT retention.wakeup();
});
	my $third = RetentionTAP::try_poll_value($n, 'sched',
		q{SELECT count(*) FROM retention.runs WHERE policy = 'alice_third' AND status = 'ok'},
		sub { $_[0] >= 1 }, 60);
	ok(defined $third,
		'sched: a policy added after the read-only poison runs (the scheduler was not stopped)');
	is(val($n, 'sched', 'SELECT count(*) FROM alice.third'), '0', 'sched: and purges its table');
  SKIP:
	{
		skip 'the scheduler runs nothing', 2 unless defined $third;
		my $t2 = $n->safe_psql('sched', 'SELECT clock_timestamp()');
		$n->safe_psql('sched', q{
INSERT INTO alice.third SELECT i, now() - interval '1 day' FROM generate_series(101, 110) AS i;
INSERT INTO alice.tokens
SELECT i, CASE WHEN i <= 105 THEN 'a\b' ELSE 'plain' END, date '2024-01-01', now() - interval '1 day'
  FROM generate_series(101, 110) AS i;
INSERT INTO mallory.tokens SELECT i, now() - interval '1 day' FROM generate_series(201, 210) AS i;
});
		my $passes = RetentionTAP::try_poll_value($n, 'sched', qq{
SELECT count(*) FROM retention.runs
 WHERE policy = 'alice_third' AND status = 'ok' AND started_at > '$t2'},
			sub { $_[0] >= 3 }, 60);
		ok(defined $passes, 'sched: several passes later the scheduler still runs it');
		is( val($n, 'sched', qq{
SELECT (SELECT count(*) FROM alice.third),
       (SELECT count(*) FROM retention.runs
         WHERE policy IN ('alice_sched', 'mallory_sched') AND started_at > '$t2'
           AND status NOT IN ('ok', 'skipped', 'running'))}),
			'0|0', 'sched: every run after the poison is ok');
	}
	is(val($n, 'sched', $alice_rows_sql . q{ WHERE id <= 45}), '10|10|0|5',
		"sched: alice's filter still holds in later passes");
	is(val($n, 'sched', q{SELECT count(*) FROM alice.tokens WHERE id > 100}),
		'5', "sched: her later 'a\\b' rows are kept too, the others purged");
	is( val($n, 'sched',
			q{SELECT coalesce(string_agg(DISTINCT settings, ' // '), '') FROM alice.seen}),
		$pinned_settings, "sched: every run of alice's saw the pinned settings");
	is(val($n, 'sched', 'SELECT count(*) FROM mallory.calls'),
		'0', "sched: the scheduler never called mallory's now() or =");
	is(RetentionTAP::scheduler_pids($n, 'sched'), $sched, 'sched: the same scheduler throughout');
	check_no_escalation($n, 'scheduler poisoning');
});

# ================================================================================
# 7. What else a trigger can leave in the scheduler's session: session-level
#    advisory locks (also on the SQL key of alice's policy), LISTEN,
#    PREPARE, cursors WITH HOLD, SET ROLE, temporary tables.
# ================================================================================

run_case('scheduler session residue', sub {
	my $n = $snode;
	$n->safe_psql('postgres', 'CREATE DATABASE sched7');
	setup_tenants($n, 'sched7',
		actions => [
			'SELECT pg_catalog.pg_advisory_lock(4242)',
			'LISTEN mallory_channel',
			'PREPARE mallory_stmt AS SELECT 1',
			'DECLARE mallory_cur CURSOR WITH HOLD FOR SELECT 1',
			'SET ROLE alice',
			q{SELECT pg_catalog.set_config('role', 'alice', false)},
			'SET SESSION AUTHORIZATION alice',
			'CREATE TEMP TABLE mallory_tmp (x int)',
			'DISCARD ALL' ]);
	my $sched = RetentionTAP::wait_for_scheduler($n, 'sched7');
	$n->safe_psql('sched7', qq{
BEGIN;
SET ROLE mallory;
SELECT retention.add_policy('mallory.tokens', expires_at => 'expires_at', name => 'mallory7',
                            schedule => '1 hour');
SET ROLE alice;
SELECT retention.add_policy('alice.tokens', expires_at => 'expires_at', filter => $alice_filter,
                            name => 'alice7', schedule => '1 hour');
RESET ROLE;
-- mallory also holds the SQL key of alice's policy, in the scheduler's session.
INSERT INTO mallory.actions (stmt)
SELECT format('SELECT pg_catalog.pg_advisory_lock(1919251566, %s)', id)
  FROM retention.policy WHERE name = 'alice7';
COMMIT;
SELECT retention.wakeup();
});
	my $ran = RetentionTAP::try_poll_value($n, 'sched7', q{
SELECT count(*) FROM retention.runs WHERE policy = 'alice7' AND status <> 'running'},
		sub { $_[0] >= 1 }, 60);
	ok(defined $ran, "sched7: the scheduler ran mallory's policy, then alice's");
	my $log = val($n, 'sched7',
		q{SELECT string_agg(note, E'\n' ORDER BY id) FROM mallory.trigger_log});
	for my $blocked ('LISTEN', 'DECLARE mallory_cur', 'SET ROLE',
		q{SELECT pg_catalog.set_config('role'}, 'SET SESSION AUTHORIZATION', 'CREATE TEMP TABLE',
		'DISCARD ALL')
	{
		like($log, qr/^failed: \Q$blocked\E/m, "sched7: mallory's trigger cannot run $blocked");
	}
	is( val($n, 'sched7', q{
SELECT m.pid = a.pid, m.run_id < a.run_id, a.status
  FROM (SELECT * FROM retention.runs WHERE policy = 'mallory7' ORDER BY run_id LIMIT 1) m,
       (SELECT * FROM retention.runs WHERE policy = 'alice7' ORDER BY run_id LIMIT 1) a}),
		't|t|ok', "sched7: alice's run came after mallory's in the same scheduler and was ok");
	is(val($n, 'sched7', $alice_rows_sql), '10|10|0|5', "sched7: alice's policy purged as written");
	my $residue = val($n, 'sched7', q{SELECT residue FROM alice.seen ORDER BY id LIMIT 1});
	like($residue, qr/^cursor=0;listen=0;/,
		"sched7: alice's trigger finds no cursor of mallory's and no LISTEN in the scheduler's session");
	{
		like($residue, qr/prepared=0;advisory=0$/,
			"sched7: nor a prepared statement or an advisory lock of mallory's");
		is( RetentionTAP::try_poll_value($n, 'postgres', qq{
SELECT count(*) FROM pg_locks WHERE pid = $sched AND locktype = 'advisory' AND objsubid IN (1, 2)},
				sub { $_[0] eq '0' }, 5),
			'0', "sched7: once idle, the scheduler holds no advisory lock taken by mallory's trigger");
	}

	# alice runs her own policy: mallory's lock on its SQL key (held by the
	# scheduler's session) does not stop it.
	my ($ok, $out, $err) = RetentionTAP::run_sql($n, 'sched7', q{
SET ROLE alice;
INSERT INTO alice.tokens SELECT i, 'plain', date '2024-01-01', now() - interval '1 day'
  FROM generate_series(101, 110) AS i;
CALL retention.run('alice7');});
	like($out, qr/^10\|0\|\d+\|ok$/,
		"sched7: alice's manual run is not stopped by the SQL lock mallory left in the scheduler")
	  or diag "$out $err";

	# Later runs of the scheduler are unaffected: a new policy of alice's.
	$n->safe_psql('sched7', q{
SET ROLE alice;
CREATE TABLE alice.later (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO alice.later SELECT i, now() - interval '1 day' FROM generate_series(1, 20) AS i;
SELECT retention.add_policy('alice.later', expires_at => 'expires_at', name => 'alice7_later');
RESET ROLE;
SELECT retention.wakeup();
});
	my $later = RetentionTAP::try_poll_value($n, 'sched7',
		q{SELECT count(*) FROM retention.runs WHERE policy = 'alice7_later' AND status = 'ok'},
		sub { $_[0] >= 1 }, 60);
	ok(defined $later, "sched7: the scheduler runs alice's later policy ok");
	is(val($n, 'sched7', 'SELECT count(*) FROM alice.later'), '0', 'sched7: and purges its table');
	is( val($n, 'sched7', q{SELECT coalesce(string_agg(DISTINCT settings, ' // '), '') FROM alice.seen}),
		$pinned_settings, "sched7: alice's triggers saw the pinned settings");
	is(val($n, 'sched7', 'SELECT count(*) FROM mallory.calls'), '0',
		"sched7: mallory's functions were never called");
	is(RetentionTAP::scheduler_pids($n, 'sched7'), $sched, 'sched7: the same scheduler throughout');
	check_no_escalation($n, 'scheduler session residue');
});

ok(!$snode->log_contains(qr/terminated by signal/), 'no process crashed (scheduler node)');
ok(!$plain->log_contains(qr/terminated by signal/), 'no process crashed (plain node)');
$plain->stop;
$snode->stop;
done_testing();
