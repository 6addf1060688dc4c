# Hostile tenants against other people's sessions (issue #8, the model in
# src/pg/SECURITY.md). One node, database app, PUBLIC may create in schema
# public (as in clusters upgraded from before PostgreSQL 15). Roles:
#   mallory    hostile tenant: owns schema mallory and its tables, nothing else
#   app_owner  owns public.app_tokens and schema app
#   bob        owns nothing (until case 3 hands him mallory's tables)
#   watcher    member of pg_monitor, owns nothing
#   the bootstrap superuser, the victim.
# Every case ends with check_no_escalation(): no role gained an attribute, a
# membership or a privilege on another tenant's table (any gain is reported
# and then undone, so that each case is judged on its own), no row of
# app_owner's untouched table went missing, and app_owner's canary policy
# still runs.
#
# Mallory's code reports itself twice: a WARNING "MALLORY-TRAP <what> ran as
# <role>" (which survives a read-only transaction) and a row in mallory.log;
# then it tries ALTER ROLE mallory SUPERUSER.
#
# Cases, in the order they run: 1 settings leak (run, preview, alter_policy,
# archive column default); 2 add/alter_policy folding IMMUTABLE-labelled
# functions; 3a a superuser's policy on a tenant's table; 4 stored
# expressions under other settings; 5 add-time name resolution through
# public; 6 operators of the views' helpers; 7 overflowing retain and
# information_schema; 8 visibility; 9 reserved names; 11 role switches and
# residue (temporary objects, cursors, advisory locks, ...); 12 the policy
# lock; 3b ALTER TABLE ... OWNER TO (last: it hands bob tables); 10 a
# database whose public mallory prepared before CREATE EXTENSION, and 10b a
# squatted schema retention.
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

my $super = $node->safe_psql('postgres', 'SELECT current_user');

# --- helpers -----------------------------------------------------------------

sub connstr_for
{
	my ($role, $db) = @_;
	$db //= 'app';
	return $node->connstr($db) . ($role eq $super ? '' : " user=$role");
}

# Runs $sql as $role (a login of that role) in $db (default app) with verbose
# errors (SQLSTATEs in stderr); never dies, never stops at an error.
# Returns ($out, $err).
sub sql_as
{
	my ($role, $sql, $db) = @_;
	my ($ok, $out, $err) = RetentionTAP::run_sql($node, $db // 'app',
		"\\set VERBOSITY verbose\n$sql",
		connstr       => connstr_for($role, $db),
		on_error_stop => 0);
	return ($out, $err);
}

# One value, as the superuser in app (or $db); dies on error.
sub su
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'app', $sql);
}

# The same as $role; returns "ERROR: ..." instead of dying.
sub q_as
{
	my ($role, $sql, $db) = @_;
	my $v = eval { $node->safe_psql($db // 'app', $sql, connstr => connstr_for($role, $db)) };
	return defined $v ? $v : "ERROR: $@";
}

# Lines of mallory's trap WARNINGs in $err that report a role other than
# mallory.
sub foreign_traps
{
	my ($err) = @_;
	return join("\n", grep { /MALLORY-TRAP \S+ ran as (?!mallory\b)/ } split /\n/, $err);
}

# --- roles, databases, tenants ------------------------------------------------

$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE ROLE app_owner LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE watcher LOGIN IN ROLE pg_monitor;
CREATE DATABASE app;
});
su(q{
CREATE EXTENSION pg_retention;
GRANT CREATE ON SCHEMA public TO PUBLIC;   -- as in clusters upgraded from before 15
CREATE SCHEMA mallory AUTHORIZATION mallory;
CREATE SCHEMA app AUTHORIZATION app_owner;
});

# app_owner's tables: public.app_tokens (never run by this test), app.sentinel
# (no policy: must never lose a row) and app.canary (a policy that must keep
# working after every case).
my ($o, $e) = sql_as('app_owner', q{
\set ON_ERROR_STOP 1
GRANT USAGE ON SCHEMA app TO PUBLIC;
CREATE TABLE public.app_tokens (
    id         integer PRIMARY KEY,
    token      text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_in integer NOT NULL,
    revoked_at timestamptz,
    kind       varchar(20)
);
INSERT INTO public.app_tokens
SELECT i, 'app-tok-' || i, now() - interval '2 days', 3600,
       CASE WHEN i <= 10 THEN now() - interval '1 day' END, 'revoked'
  FROM generate_series(1, 20) AS i;
CREATE TABLE app.sentinel (id integer PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO app.sentinel SELECT i, now() - interval '1 day' FROM generate_series(1, 50) AS i;
CREATE TABLE app.canary (id integer PRIMARY KEY, created_at timestamptz NOT NULL);
SELECT retention.add_policy('app.canary', 'created_at', name => 'app_canary');
});
is($e, '', 'setup: app_owner\'s tables and canary policy') or diag $e;

# Mallory's toolbox.
($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
GRANT USAGE ON SCHEMA mallory TO PUBLIC;
CREATE TABLE mallory.log (what text, who text, is_super boolean,
                          at timestamptz DEFAULT pg_catalog.clock_timestamp());
GRANT SELECT, INSERT ON mallory.log TO PUBLIC;
-- What the sandbox looked like from inside.
-- xid and seq tell which call came first in its transaction (its batch):
-- later calls in the same sandbox see what mallory's own earlier call set.
CREATE TABLE mallory.seen (tag text, who text, sp text, ds text, ist text, scs text,
                           efd text, tz text, dtro text, srr text, rls text, bo text,
                           xid xid8 DEFAULT pg_catalog.pg_current_xact_id(),
                           seq bigserial);
GRANT USAGE ON SEQUENCE mallory.seen_seq_seq TO PUBLIC;
GRANT SELECT, INSERT ON mallory.seen TO PUBLIC;

-- Reports who runs it, then tries to make mallory superuser.
CREATE FUNCTION mallory.trap(what text) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE WARNING 'MALLORY-TRAP % ran as %', what, current_user;
    BEGIN
        INSERT INTO mallory.log (what, who, is_super)
        SELECT what, current_user, r.rolsuper FROM pg_catalog.pg_roles r
         WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'MALLORY-TRAP % could not log: %', what, SQLERRM;
    END;
    BEGIN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
END $$;

-- (Also as a WARNING: a failing batch rolls the row back.)
CREATE FUNCTION mallory.record_seen(tag text) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE WARNING 'MALLORY-SEEN %: %', tag,
        pg_catalog.concat_ws('|', current_user, pg_catalog.current_setting('search_path'),
            pg_catalog.current_setting('DateStyle'), pg_catalog.current_setting('IntervalStyle'),
            pg_catalog.current_setting('standard_conforming_strings'),
            pg_catalog.current_setting('extra_float_digits'), pg_catalog.current_setting('TimeZone'),
            pg_catalog.current_setting('default_transaction_read_only'),
            pg_catalog.current_setting('session_replication_role'),
            pg_catalog.current_setting('row_security'), pg_catalog.current_setting('bytea_output'));
    INSERT INTO mallory.seen (tag, who, sp, ds, ist, scs, efd, tz, dtro, srr, rls, bo)
    VALUES (tag, current_user, pg_catalog.current_setting('search_path'),
            pg_catalog.current_setting('DateStyle'), pg_catalog.current_setting('IntervalStyle'),
            pg_catalog.current_setting('standard_conforming_strings'),
            pg_catalog.current_setting('extra_float_digits'), pg_catalog.current_setting('TimeZone'),
            pg_catalog.current_setting('default_transaction_read_only'),
            pg_catalog.current_setting('session_replication_role'),
            pg_catalog.current_setting('row_security'), pg_catalog.current_setting('bytea_output'));
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'MALLORY-SEEN % could not record: %', tag, SQLERRM;
END $$;

-- Changes every setting it can, for the session (is_local false / SET).
CREATE FUNCTION mallory.poison(tag text) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_catalog.set_config('standard_conforming_strings', 'off', false);
    PERFORM pg_catalog.set_config('DateStyle', 'SQL, DMY', false);
    PERFORM pg_catalog.set_config('extra_float_digits', '-10', false);
    PERFORM pg_catalog.set_config('default_transaction_read_only', 'on', false);
    BEGIN EXECUTE 'SET IntervalStyle = sql_standard'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET TimeZone = ''Pacific/Kiritimati'''; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET bytea_output = escape'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET xmloption = document'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET array_nulls = off'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET row_security = off'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET check_function_bodies = off'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET default_text_search_config = ''pg_catalog.german'''; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET work_mem = ''64kB'''; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET statement_timeout = ''1h'''; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET application_name = ''mallory was here'''; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET session_replication_role = replica'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET escape_string_warning = off'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'SET backslash_quote = on'; EXCEPTION WHEN OTHERS THEN NULL; END;
    PERFORM pg_catalog.set_config('search_path', 'mallory, pg_catalog', false);
END $$;

-- Shadows now() for any session whose search_path puts mallory first.
CREATE FUNCTION mallory.now() RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM mallory.trap('now');
    RETURN pg_catalog.now();
END $$;

-- Trigger: record what the sandbox looks like, poison, optionally fail.
CREATE FUNCTION mallory.trg_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mallory.record_seen(TG_TABLE_NAME);
    PERFORM mallory.poison(TG_TABLE_NAME);
    IF TG_NARGS > 0 AND TG_ARGV[0] = 'fail' THEN
        RAISE EXCEPTION 'mallory''s trigger fails on purpose';
    END IF;
    RETURN OLD;
END $$;

-- Trigger: just the trap (whose rights does a run use?).
CREATE FUNCTION mallory.trg_trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mallory.trap(TG_TABLE_NAME);
    RETURN OLD;
END $$;

-- A table of the shape every case uses: 5 expired rows (ids 1-5), 2 not.
CREATE FUNCTION mallory.make_table(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE pg_catalog.format('CREATE TABLE mallory.%I (id integer PRIMARY KEY, '
                              'created_at timestamptz NOT NULL, note text)', t);
    EXECUTE pg_catalog.format('INSERT INTO mallory.%I SELECT i, CASE WHEN i <= 5 '
                              'THEN pg_catalog.now() - interval ''1 day'' ELSE '
                              'pg_catalog.now() + interval ''1 day'' END, ''n'' || i '
                              'FROM pg_catalog.generate_series(1, 7) AS i', t);
END $$;
SELECT mallory.make_table('tokens');
});
is($e, '', 'setup: mallory\'s toolbox') or diag $e;

# --- the checks after every case ----------------------------------------------

my $roles_in = q{('mallory', 'app_owner', 'bob', 'watcher')};
my $state_sql = qq{
SELECT 'role', rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls
  FROM pg_catalog.pg_roles WHERE rolname IN $roles_in ORDER BY rolname;
SELECT 'member', m.member::regrole, m.roleid::regrole
  FROM pg_catalog.pg_auth_members m
 WHERE m.member IN (SELECT oid FROM pg_catalog.pg_roles WHERE rolname IN $roles_in)
 ORDER BY 2, 3;
SELECT 'priv', t, p, has_table_privilege('mallory', t, p)
  FROM unnest(ARRAY['public.app_tokens', 'app.sentinel', 'app.canary', 'retention.policy',
                    'retention.run_history']) AS t,
       unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                    'TRIGGER']) AS p
 ORDER BY 2, 3;
SELECT 'schema', has_schema_privilege('mallory', 'app', 'CREATE'),
       has_schema_privilege('mallory', 'retention', 'CREATE'),
       has_database_privilege('mallory', 'app', 'CREATE');
};
my $baseline = su($state_sql);

my $canary_id = 0;

sub check_no_escalation
{
	my ($label) = @_;
	my $now = su($state_sql);
	my %b = map { $_ => 1 } split /\n/, $baseline;
	my %n = map { $_ => 1 } split /\n/, $now;
	my @gone = grep { !$n{$_} } sort keys %b;
	my @new  = grep { !$b{$_} } sort keys %n;
	is(join("\n", map({ "was: $_" } @gone), map({ "now: $_" } @new)), '',
		"$label: no role gained an attribute, a membership or a privilege");
	if (@gone || @new)
	{
		# Undo it, so that the next case is judged on its own.
		su(qq{
ALTER ROLE $_ NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
}) for qw(mallory app_owner bob watcher);
		for my $line (@new)
		{
			su("REVOKE $2 FROM $1") if $line =~ /^member\|(\w+)\|(\w+)$/;
		}
		su(q{
REVOKE ALL ON public.app_tokens, app.sentinel, app.canary, retention.policy,
              retention.run_history FROM mallory;
REVOKE CREATE ON SCHEMA app, retention FROM mallory;
REVOKE CREATE ON DATABASE app FROM mallory;
});
		is(su($state_sql), $baseline, "$label: (the gain was undone for the next cases)");
	}
	is(su('SELECT count(*) FROM app.sentinel'), '50',
		"$label: app_owner's table without a policy still has its 50 rows");
	$canary_id++;
	my ($out, $err) = sql_as('app_owner', qq{
INSERT INTO app.canary VALUES ($canary_id, now() - interval '1 day');
CALL retention.run('app_canary');
});
	like($out, qr/^[1-9]\d*\|0\|\d+\|ok$/m, "$label: app_owner's canary policy still runs")
	  or diag $err;
	return;
}

sub mallory_log_count
{
	my ($where) = @_;
	return su("SELECT count(*) FROM mallory.log WHERE $where");
}

# A victim's session: non-default settings of its own (restored means
# restored to these, not to the defaults), then $sql between two captures of
# the whole session state, then an unqualified now(). Asserts that nothing of
# the session changed and that now() was pg_catalog's.
my $victim_prelude = q{
DO $$BEGIN NULL; END$$;   -- loads plpgsql now: its GUCs appearing is no leak
SET DateStyle = 'German';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = 3;
SET bytea_output = 'escape';
SET TimeZone = 'Asia/Kolkata';
SET search_path = "$user", public;
};

sub victim
{
	my ($label, $sql, %opts) = @_;
	my $role = $opts{role} // $super;
	my $before_now = mallory_log_count(q{what = 'now'});
	my $r = RetentionTAP::session_state_around($node, 'app', "\\set VERBOSITY verbose\n$sql",
		prelude => $victim_prelude,
		after   => q{SELECT 'now-called', now() IS NOT NULL;},
		connstr => connstr_for($role));
	is(join("\n", @{ $r->{settings_diff} }), '',
		"$label: the victim's pg_settings are the same afterwards");
	is($r->{user_after}, $r->{user_before},
		"$label: current_user and session_user are the same afterwards");
	for my $k (qw(advisory cursor temp prepared listen))
	{
		is(join(', ', @{ $r->{residue_diff}{$k} }), '',
			"$label: nothing left behind in the victim's session ($k)");
	}
	like($r->{out_after}, qr/^now-called\|t$/m, "$label: the victim's now() afterwards answers");
	my $trap_lines = join("\n", grep { /MALLORY-TRAP now ran as/ } split /\n/, $r->{err});
	is($trap_lines, '', "$label: an unqualified now() afterwards does not run mallory.now()");
	is(mallory_log_count(q{what = 'now'}), $before_now,
		"$label: mallory.now() left no record either");
	return $r;
}

# The settings mallory's code must see inside the sandbox (SECURITY.md), with
# mallory as current_user and the policy's time zone.
sub pinned_row
{
	my ($tz) = @_;
	return join('|', 'mallory', 'pg_catalog, pg_temp', 'ISO, MDY', 'postgres', 'on', '1',
		$tz, 'off', 'origin', 'on', 'hex');
}

# What the first call of mallory's code in each transaction (each batch, the
# preview, each alter_policy) saw; later calls in the same sandbox see what
# the earlier ones set, which is mallory's own business.
sub seen_rows
{
	my ($tag) = @_;
	return su(qq{
SELECT string_agg(DISTINCT v, E'\\n')
  FROM (SELECT DISTINCT ON (xid) concat_ws('|', who, sp, ds, ist, scs, efd, tz, dtro, srr, rls, bo) AS v
          FROM mallory.seen WHERE tag = '$tag' ORDER BY xid, seq) AS first_calls});
}

# =============================================================================
# Case 1: settings leak out of a run, a preview and an alter_policy.
# =============================================================================

# Mallory adds her policies from a session in America/Santiago: that is their
# time zone. Batches of 2 rows: later batches run after earlier ones poisoned.
($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
SET TimeZone = 'America/Santiago';
SELECT mallory.make_table(t) FROM unnest(ARRAY['t_before', 't_after', 't_error', 't_filter',
                                               't_fold', 't_default']) AS t;
CREATE TRIGGER poison BEFORE DELETE ON mallory.t_before
    FOR EACH ROW EXECUTE FUNCTION mallory.trg_poison();
CREATE TRIGGER poison_row AFTER DELETE ON mallory.t_after
    FOR EACH ROW EXECUTE FUNCTION mallory.trg_poison();
CREATE TRIGGER poison_stmt AFTER DELETE ON mallory.t_after
    FOR EACH STATEMENT EXECUTE FUNCTION mallory.trg_poison();
CREATE TRIGGER poison_fail BEFORE DELETE ON mallory.t_error
    FOR EACH ROW EXECUTE FUNCTION mallory.trg_poison('fail');

-- Expression functions labelled STABLE / IMMUTABLE that poison anyway.
CREATE FUNCTION mallory.leaky_stable(integer) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM mallory.record_seen('filter');
    PERFORM mallory.poison('filter');
    RETURN true;
END $$;
CREATE FUNCTION mallory.leaky_imm(integer) RETURNS interval LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM mallory.record_seen('fold');
    PERFORM mallory.poison('fold');
    RETURN interval '0';
END $$;

SELECT retention.add_policy('mallory.t_before', 'created_at', name => 'm_before', batch_size => 2);
SELECT retention.add_policy('mallory.t_after', 'created_at', name => 'm_after', batch_size => 2);
SELECT retention.add_policy('mallory.t_error', 'created_at', name => 'm_error', batch_size => 2);
SELECT retention.add_policy('mallory.t_filter', 'created_at', name => 'm_filter', batch_size => 2,
                            filter => 'mallory.leaky_stable(id)');
SELECT retention.add_policy('mallory.t_fold', 'created_at + mallory.leaky_imm(0)',
                            name => 'm_fold', batch_size => 2);
});
is($e =~ /ERROR/ ? $e : '', '', 'case 1: mallory\'s poisoned tables and policies') or diag $e;
su('TRUNCATE mallory.seen');    # what mallory's own adds recorded does not count
my $mtz = su(q{SELECT timezone FROM retention.policies WHERE name = 'm_before'});
is($mtz, 'America/Santiago', 'case 1: mallory\'s policies keep the time zone they were added in');

for my $t (qw(before after))
{
	my $r = victim("case 1 (AFTER/BEFORE trigger): superuser CALL run('m_$t')",
		"CALL retention.run('m_$t');");
	is(su("SELECT string_agg(id::text, ',' ORDER BY id) FROM mallory.t_$t"), '6,7',
		"case 1: run('m_$t') still removed exactly the 5 expired rows");
	is(seen_rows("t_$t"), pinned_row($mtz),
		"case 1: every trigger call of m_$t saw the pinned settings, as mallory");
}
{
	my $r = victim(q{case 1 (trigger fails after poisoning): superuser CALL run('m_error')},
		q{CALL retention.run('m_error');});
	like($r->{out_call} . $r->{err}, qr/error/,
		'case 1: run(\'m_error\') reports the trigger\'s error');
	is(su(q{SELECT count(*) FROM mallory.t_error}), '7', 'case 1: m_error removed nothing');
	# The batch failed and rolled its record back: read the first WARNING.
	my ($first) = $r->{err} =~ /MALLORY-SEEN t_error: (.*)$/m;
	is($first // '(no call)', pinned_row($mtz),
		'case 1: the failing trigger saw the pinned settings, as mallory');
}
{
	my $r = victim(q{case 1 (STABLE filter function): superuser preview('m_filter')},
		q{SELECT 'purgeable', purgeable_rows FROM retention.preview('m_filter');});
	like($r->{out_call}, qr/^purgeable\|5$/m, 'case 1: preview(\'m_filter\') counts the 5 rows');
	is(seen_rows('filter'), pinned_row($mtz),
		'case 1: the filter function saw the pinned settings during preview, as mallory');
}
{
	su('TRUNCATE mallory.seen');
	my $r = victim(q{case 1 (IMMUTABLE function folded): superuser alter_policy('m_fold')},
		q{SELECT retention.alter_policy('m_fold', batch_size => 50);
SELECT retention.alter_policy('m_fold', retain => '1 minute');});
	unlike($r->{err}, qr/ERROR/, 'case 1: the superuser\'s alter_policy calls succeed');
	is(su(q{SELECT batch_size || ' ' || retain FROM retention.policies WHERE name = 'm_fold'}),
		'50 00:01:00', 'case 1: alter_policy changed m_fold');
	my $seen = seen_rows('fold');
	ok($seen eq '' || $seen eq pinned_row($mtz),
		'case 1: if alter_policy ran the folded function, it ran as mallory with pinned settings')
	  or diag "seen: $seen";
}
# The same poison in a column default of an archive table (archive mode).
{
	($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
CREATE FUNCTION mallory.default_poison() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM mallory.record_seen('default');
    PERFORM mallory.poison('default');
    RETURN 'x';
END $$;
CREATE TABLE mallory.t_default_arch (id integer, created_at timestamptz, note text,
                                     archived_at timestamptz NOT NULL DEFAULT now(),
                                     extra text DEFAULT mallory.default_poison());
SET TimeZone = 'America/Santiago';
SELECT retention.add_policy('mallory.t_default', 'created_at', name => 'm_default',
                            mode => 'archive', archive_table => 'mallory.t_default_arch',
                            batch_size => 2);
});
	is($e =~ /ERROR/ ? $e : '', '', 'case 1: archive with a poisoning column default') or diag $e;
	my $r = victim(q{case 1 (archive column default): superuser CALL run('m_default')},
		q{CALL retention.run('m_default');});
	is(su(q{SELECT count(*) FROM mallory.t_default_arch}), '5',
		'case 1: run(\'m_default\') archived the 5 expired rows');
	is(seen_rows('default'), pinned_row($mtz),
		'case 1: the archive\'s column default saw the pinned settings, as mallory');
}
is(mallory_log_count(q{who <> 'mallory'}), '0', 'case 1: no trap of mallory ran as anyone else');
check_no_escalation('case 1');

# =============================================================================
# Case 2: alter_policy / add_policy must not run the owner's functions with
# the caller's rights (constant folding of IMMUTABLE-labelled functions).
# =============================================================================

($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
SELECT mallory.make_table('t_esc');
-- IMMUTABLE by label only: it calls a volatile function that escalates.
CREATE FUNCTION mallory.f(integer) RETURNS interval LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM mallory.trap('f');
    RETURN interval '0';
END $$;
CREATE FUNCTION mallory.g(timestamptz) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM mallory.trap('g');
    RETURN $1;
END $$;
SELECT retention.add_policy('mallory.t_esc', 'mallory.g(created_at) + mallory.f(0)',
                            name => 'm_esc', batch_size => 2);
});
is($e =~ /ERROR/ ? $e : '', '', 'case 2: mallory\'s escalating policy') or diag $e;
su(q{DELETE FROM mallory.log});
{
	my ($out, $err) = sql_as($super, q{
SELECT retention.alter_policy('m_esc', batch_size => 50);
SELECT retention.alter_policy('m_esc', retain => '2 minutes');
SELECT retention.alter_policy('m_esc', expires_at => 'mallory.g(created_at) + mallory.f(1)');
});
	unlike($err, qr/ERROR/, 'case 2: the superuser\'s alter_policy calls succeed') or diag $err;
	is(su(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		'case 2: mallory is not superuser after the superuser\'s alter_policy');
	is(foreign_traps($err), '', 'case 2: mallory\'s functions ran as nobody but mallory (alter)');
	is(mallory_log_count(q{who <> 'mallory'}), '0',
		'case 2: every logged current_user is mallory (alter)');
}
{
	my ($out, $err) = sql_as($super, q{
SELECT retention.add_policy('mallory.t_esc', 'mallory.g(created_at) + mallory.f(2)',
                            name => 'su_esc', enabled => false);
SELECT 'preview', purgeable_rows FROM retention.preview('m_esc');
CALL retention.run('m_esc');
});
	is(su(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		'case 2: mallory is not superuser after the superuser\'s add_policy, preview and run');
	is(foreign_traps($err), '',
		'case 2: mallory\'s functions ran as nobody but mallory (add, preview, run)');
	is(mallory_log_count(q{who <> 'mallory'}), '0',
		'case 2: every logged current_user is mallory (add, preview, run)');
	sql_as($super, q{SELECT retention.drop_policy('su_esc')});
}
check_no_escalation('case 2');

# =============================================================================
# Case 3a: a policy the superuser adds on mallory's table runs as the table's
# owner.
# =============================================================================

($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
SELECT mallory.make_table('t_whose');
CREATE TRIGGER trap BEFORE DELETE ON mallory.t_whose
    FOR EACH ROW EXECUTE FUNCTION mallory.trg_trap();
});
is($e =~ /ERROR/ ? $e : '', '', 'case 3: mallory\'s table with a trap trigger') or diag $e;
{
	my ($out, $err) = sql_as($super, q{
SELECT retention.add_policy('mallory.t_whose', 'created_at', name => 'su_whose');
CALL retention.run('su_whose');
});
	unlike($err, qr/ERROR/, 'case 3: the superuser adds and runs a policy on mallory\'s table')
	  or diag $err;
	is(su(q{SELECT owner FROM retention.policies WHERE name = 'su_whose'}), $super,
		'case 3: the policy belongs to the superuser who added it');
	is(su(q{SELECT count(*) FROM mallory.t_whose}), '2', 'case 3: the run removed the 5 expired rows');
	is(su(q{SELECT string_agg(DISTINCT who || ' super=' || is_super, ',') FROM mallory.log
            WHERE what = 't_whose'}),
		'mallory super=false', 'case 3: mallory\'s trigger ran as mallory, not as superuser');
	is(foreign_traps($err), '', 'case 3: no trap warning names another role');
	sql_as($super, q{SELECT retention.drop_policy('su_whose')});
}
check_no_escalation('case 3a');

# =============================================================================
# Case 4: stored expressions keep their meaning in every session.
# =============================================================================

# (Literal heredocs: Perl leaves every backslash alone.)
($o, $e) = sql_as('app_owner', <<'SQL');
\set ON_ERROR_STOP 1
CREATE TABLE app.scs_t (id integer PRIMARY KEY, note text, created_at timestamptz NOT NULL);
-- 1: a\b (one backslash), 2: ab, 3: a\\b (two backslashes), 4: other
INSERT INTO app.scs_t VALUES (1, E'a\\b', now() - interval '1 day'),
                             (2, 'ab', now() - interval '1 day'),
                             (3, E'a\\\\b', now() - interval '1 day'),
                             (4, 'other', now() - interval '1 day');
CREATE TABLE app.ds_t (id integer PRIMARY KEY, day date, created_at timestamptz NOT NULL);
INSERT INTO app.ds_t VALUES (1, date '2020-02-01', now() - interval '1 day'),
                            (2, date '2020-01-02', now() - interval '1 day'),
                            (3, date '2020-03-03', now() - interval '1 day');
CREATE TABLE app.is_t (id integer PRIMARY KEY, shift interval, created_at timestamptz NOT NULL);
INSERT INTO app.is_t VALUES (1, interval '-27 hours', now() - interval '1 day'),
                            (2, interval '-25 hours', now() - interval '1 day'),
                            (3, interval '-23 hours', now() - interval '1 day');
CREATE TABLE app.tz_t (id integer PRIMARY KEY, local_ts timestamp, created_at timestamptz NOT NULL);
INSERT INTO app.tz_t VALUES (1, timestamp '2020-06-01 10:00', now() - interval '1 day'),
                            (2, timestamp '2020-06-01 16:00', now() - interval '1 day');
SQL
is($e, '', 'case 4: app_owner\'s tables') or diag $e;

{
	# Under standard_conforming_strings = off the literal 'a\\b' is a\b. The
	# outer literal is dollar-quoted, so the filter text arrives unchanged.
	my ($out, $err) = sql_as('app_owner', <<'SQL');
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT retention.add_policy('app.scs_t', 'created_at', name => 'scs_pol',
                            filter => $f$note <> 'a\\b'$f$);
SET DateStyle = 'SQL, DMY';
SELECT retention.add_policy('app.ds_t', 'created_at', name => 'ds_pol',
                            filter => $f$day <> '01/02/2020'$f$);
RESET DateStyle;
SET IntervalStyle = 'sql_standard';
SELECT retention.add_policy('app.is_t', 'created_at', name => 'is_pol',
                            filter => $f$shift < '-1 2:00:00'$f$);
RESET IntervalStyle;
SET TimeZone = 'Pacific/Kiritimati';
SELECT retention.add_policy('app.tz_t', 'created_at', name => 'tz_pol',
                            filter => $f$local_ts::timestamptz < '2020-06-01 00:00:00+00'$f$);
SQL
	unlike($err, qr/ERROR/, 'case 4: the policies are added under unusual settings') or diag $err;
	($out, $err) = sql_as('app_owner', q{
SET standard_conforming_strings = on;
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SET TimeZone = 'UTC';
CALL retention.run('scs_pol');
CALL retention.run('ds_pol');
CALL retention.run('is_pol');
CALL retention.run('tz_pol');
});
	unlike($err, qr/ERROR|WARNING/, 'case 4: the runs from a session with other settings succeed')
	  or diag $err;
	is(su(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.scs_t}), '1',
		'case 4: a filter added under standard_conforming_strings = off keeps a\\b, purges the rest');
	is(su(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.ds_t}), '1',
		'case 4: a date literal added under DateStyle SQL, DMY keeps 1 February 2020 only');
	is(su(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.is_t}), '2,3',
		'case 4: an interval literal added under IntervalStyle sql_standard means -26 hours');
	is(su(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM app.tz_t}), '2',
		'case 4: timestamps are read in the policy\'s time zone (Pacific/Kiritimati)');
}
check_no_escalation('case 4');

# =============================================================================
# Case 5: add-time name resolution must not follow the caller's search_path
# into a schema others can write.
# =============================================================================

{
	# Without mallory's function the README's unqualified form means the same
	# with and without public: accepted.
	my ($out, $err) = sql_as('app_owner', q{
SELECT retention.add_policy('public.app_tokens', 'created_at + make_interval(secs => expires_in)',
                            name => 'mi_plain', enabled => false);
});
	unlike($err, qr/ERROR/,
		'case 5: the unqualified make_interval is accepted while it means pg_catalog\'s')
	  or diag $err;
	unlike(su(q{SELECT coalesce(string_agg(expires_at, ''), '') FROM retention.policy
                WHERE name = 'mi_plain'}), qr/public\./,
		'case 5: ... and is stored without public.');
	sql_as('app_owner', q{SELECT retention.drop_policy('mi_plain')});
}
($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
-- Better matches than pg_catalog's for an integer and a varchar argument.
CREATE FUNCTION public.make_interval(secs integer) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM mallory.trap('make_interval');
    RETURN pg_catalog.make_interval(secs => $1::double precision);
END $$;
CREATE FUNCTION public.lower(character varying) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM mallory.trap('lower');
    RETURN pg_catalog.lower($1::text);
END $$;
});
is($e, '', 'case 5: mallory plants public.make_interval(integer) and public.lower(varchar)')
  or diag $e;
{
	my ($out, $err) = sql_as('app_owner', q{
SHOW search_path;
SELECT retention.add_policy('public.app_tokens', 'created_at + make_interval(secs => expires_in)',
                            name => 'mi_unsafe', enabled => false);
});
	like($out, qr/^"\$user", public$/m, 'case 5: app_owner has the default search_path');
	like($err, qr/ERROR:\s+42501:.*expires_at.*schema "public"/,
		'case 5: an expires_at that resolves through public differently is refused with 42501');
	like($err, qr/HINT:.*qualif/i, 'case 5: ... and the hint says to qualify the name');
	is(su(q{SELECT count(*) FROM retention.policy WHERE name = 'mi_unsafe'}), '0',
		'case 5: ... and nothing is stored');
	sql_as('app_owner', q{SELECT retention.drop_policy('mi_unsafe')});

	($out, $err) = sql_as('app_owner', q{
SELECT retention.add_policy('public.app_tokens', 'revoked_at', filter => $f$lower(kind) = 'revoked'$f$,
                            name => 'lower_unsafe', enabled => false);
});
	like($err, qr/ERROR:\s+42501:.*schema "public"/,
		'case 5: a filter that resolves lower(varchar) through public is refused with 42501');
	is(su(q{SELECT count(*) FROM retention.policy WHERE name = 'lower_unsafe'}), '0',
		'case 5: ... and nothing is stored');
	sql_as('app_owner', q{SELECT retention.drop_policy('lower_unsafe')});

	($out, $err) = sql_as('app_owner', q{
SELECT retention.add_policy('public.app_tokens',
                            'created_at + pg_catalog.make_interval(secs => expires_in)',
                            filter => $f$pg_catalog.lower(kind) = 'revoked'$f$,
                            name => 'mi_qualified', retain => '100 days');
SELECT 'preview', purgeable_rows FROM retention.preview('mi_qualified');
});
	unlike($err, qr/ERROR/, 'case 5: the qualified pg_catalog.make_interval is accepted')
	  or diag $err;
	my $stored = su(q{SELECT expires_at || ' / ' || filter FROM retention.policy
                      WHERE name = 'mi_qualified'});
	like($stored, qr/make_interval/, 'case 5: the stored expires_at calls make_interval');
	unlike($stored, qr/public\./, 'case 5: the stored expressions mention no function of public')
	  or diag $stored;
	is(mallory_log_count(q{what IN ('make_interval', 'lower')}), '0',
		'case 5: mallory\'s public functions never ran');
	is(foreign_traps($err), '', 'case 5: no trap warning');
	sql_as('app_owner', q{SELECT retention.drop_policy('mi_qualified')});
}
sql_as('mallory', q{
DROP FUNCTION public.make_interval(integer);
DROP FUNCTION public.lower(character varying);
});
check_no_escalation('case 5');

# =============================================================================
# Case 6: the views' helpers resolve no operator through the reader's path.
# =============================================================================

($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
CREATE FUNCTION mallory.eq_int(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.trap('op_int'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION mallory.eq_oid(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.trap('op_oid'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION mallory.eq_text(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.trap('op_text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION mallory.eq_name(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.trap('op_name'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION mallory.gt_tstz(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.trap('op_tstz'); RETURN $1 OPERATOR(pg_catalog.>) $2; END $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = mallory.eq_int);
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = mallory.eq_oid);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mallory.eq_text);
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = mallory.eq_name);
CREATE OPERATOR public.> (LEFTARG = timestamptz, RIGHTARG = timestamptz,
                          FUNCTION = mallory.gt_tstz);
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = mallory.eq_text);
});
is($e, '', 'case 6: mallory plants operators in public') or diag $e;
($o, $e) = sql_as('app_owner', q{
\set ON_ERROR_STOP 1
CREATE TABLE app.wait_t (id integer PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO app.wait_t SELECT i, now() - interval '1 day' FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('app.wait_t', 'created_at', name => 'app_wait');
});
is($e, '', 'case 6: app_owner\'s policy to hold mid-run') or diag $e;
{
	my $views = q{
SET search_path = public, pg_catalog;
SELECT 'run', policy, status FROM retention.runs;
SELECT 'status', policy, state FROM retention.status;
SELECT 'policy', name, owner FROM retention.policies;
};
	my ($out, $err) = sql_as($super, $views);
	unlike($err, qr/ERROR/, 'case 6: the superuser reads the views (no run in flight)') or diag $err;
	is(foreign_traps($err), '', 'case 6: no operator of mallory ran (no run in flight)');

	# Now with a run in flight: its history row says 'running', so the
	# views ask whether its process still holds the lock.
	my ($holder) = RetentionTAP::hold_waitpoints($node, 'app', 'before_batch');
	my $runner = $node->background_psql('app', on_error_stop => 0);
	my $runner_pid = $runner->query_safe('SELECT pg_backend_pid()');
	$runner->query_until(qr/started/, "\\echo started\nCALL retention.run('app_wait');\n");
	RetentionTAP::wait_for_waitpoint($node, $runner_pid);
	($out, $err) = sql_as($super, $views . q{
});
	like($out, qr/^status\|app_wait\|running$/m, 'case 6: retention.status shows app_wait running');
	like($out, qr/^run\|app_wait\|running$/m, 'case 6: retention.runs shows app_wait running');
	unlike($err, qr/ERROR/, 'case 6: the superuser reads the views (run in flight)') or diag $err;
	is(foreign_traps($err), '', 'case 6: no operator of mallory ran (run in flight)');
	$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
	RetentionTAP::quit_session($holder);
	$node->poll_query_until('app', q{SELECT count(*) = 0 FROM app.wait_t})
	  or diag 'app_wait did not finish';
	$runner->quit;
	is(mallory_log_count(q{what LIKE 'op_%'}), '0', 'case 6: mallory\'s operators left no record');
}
sql_as('mallory', q{
DROP OPERATOR public.= (integer, integer);
DROP OPERATOR public.= (oid, oid);
DROP OPERATOR public.= (text, text);
DROP OPERATOR public.= (name, name);
DROP OPERATOR public.> (timestamptz, timestamptz);
DROP OPERATOR public.<> (text, text);
});
check_no_escalation('case 6');

# =============================================================================
# Case 7: an overflowing retain, and information_schema as a source.
# =============================================================================

($o, $e) = sql_as('app_owner', q{
\set ON_ERROR_STOP 1
CREATE TABLE app.r7 (id integer PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO app.r7 SELECT i, now() - interval '1 day' FROM generate_series(1, 4) AS i;
SELECT retention.add_policy('app.r7', 'created_at', name => 'r7_ok', retain => '1 hour');
});
is($e, '', 'case 7: app_owner\'s policy r7_ok') or diag $e;
{
	my ($out, $err) = sql_as('app_owner', q{
SELECT retention.add_policy('app.r7', 'created_at', name => 'r7_huge', retain => '100000000 years');
});
	like($err, qr/ERROR:\s+22[0-9A-Z]{3}:.*retain/,
		'case 7: add_policy refuses a retain whose cutoff overflows (SQLSTATE class 22)');
	is(su(q{SELECT count(*) FROM retention.policy WHERE name = 'r7_huge'}), '0',
		'case 7: ... and stores nothing');
	sql_as('app_owner', q{SELECT retention.drop_policy('r7_huge')});

	($out, $err) = sql_as('app_owner', q{
SELECT retention.alter_policy('r7_ok', retain => '100000000 years');
});
	like($err, qr/ERROR:\s+22[0-9A-Z]{3}:.*retain/,
		'case 7: alter_policy refuses the same retain (SQLSTATE class 22)');
	is(su(q{SELECT retain FROM retention.policies WHERE name = 'r7_ok'}), '01:00:00',
		'case 7: ... and the policy keeps its retain');
	($out, $err) = sql_as('app_owner', q{
SELECT 'preview', purgeable_rows FROM retention.preview('r7_ok');
CALL retention.run('r7_ok');
});
	like($out, qr/^4\|0\|\d+\|ok$/m, 'case 7: r7_ok still runs') or diag $err;
	($out, $err) = sql_as('app_owner', q{SELECT retention.drop_policy('r7_ok');});
	unlike($err, qr/ERROR/, 'case 7: r7_ok can still be dropped') or diag $err;

	($out, $err) = sql_as($super, q{
SELECT retention.add_policy('information_schema.sql_features',
                            $x$'2000-01-01'::timestamptz$x$, name => 'infoschema',
                            enabled => false);
});
	like($err, qr/ERROR:.*(information_schema|system)/,
		'case 7: a table of information_schema is refused as a source');
	is(su(q{SELECT count(*) FROM retention.policy WHERE name = 'infoschema'}), '0',
		'case 7: ... and nothing is stored');
	su(q{DELETE FROM retention.policy WHERE name = 'infoschema'});
}
check_no_escalation('case 7');

# =============================================================================
# Case 8: who sees which policies, runs and errors.
# =============================================================================

($o, $e) = sql_as('app_owner', q{
\set ON_ERROR_STOP 1
CREATE TABLE app.secret_t (id integer PRIMARY KEY, token text NOT NULL,
                           created_at timestamptz NOT NULL);
INSERT INTO app.secret_t SELECT i, 'tok-SECRET-ROW-' || i, now() - interval '1 day'
  FROM generate_series(1, 3) AS i;
CREATE TABLE app.secret_arch (id integer, token text, created_at timestamptz,
                              archived_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION app.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'archive refused token %', NEW.token;
END $$;
CREATE TRIGGER refuse BEFORE INSERT ON app.secret_arch
    FOR EACH ROW EXECUTE FUNCTION app.refuse();
SELECT retention.add_policy('app.secret_t', 'created_at', name => 'app_secret',
                            mode => 'archive', archive_table => 'app.secret_arch',
                            filter => $f$token <> 'tok-SECRET-FILTER'$f$);
CALL retention.run('app_secret');
});
unlike($e, qr/ERROR/, 'case 8: app_owner\'s policy whose run fails with a token in its error')
  or diag $e;
like(su(q{SELECT error FROM retention.runs WHERE policy = 'app_secret' ORDER BY run_id DESC LIMIT 1}),
	qr/tok-SECRET-ROW-/, 'case 8: (the recorded error carries a token value)');
{
	my $names_of = sub {
		my ($owner) = @_;
		return su(qq{SELECT string_agg(quote_literal(name), ',') FROM retention.policy
                     WHERE owner = '$owner'::regrole});
	};
	my $mallory_names = $names_of->('mallory');
	my $app_names     = $names_of->('app_owner');
	my $all = su(q{SELECT (SELECT count(*) FROM retention.policies) || '/'
                      || (SELECT count(*) FROM retention.runs) || '/'
                      || (SELECT count(*) FROM retention.status)});
	my $leaks = sub {
		my ($role, $others) = @_;
		return q_as($role, qq{
SELECT (SELECT count(*) FROM retention.policies WHERE name IN ($others)) || '/'
    || (SELECT count(*) FROM retention.runs WHERE policy IN ($others)) || '/'
    || (SELECT count(*) FROM retention.status WHERE policy IN ($others)) || '/'
    || (SELECT count(*) FROM retention.runs WHERE error LIKE '%tok-SECRET%') || '/'
    || (SELECT count(*) FROM retention.status WHERE last_error LIKE '%tok-SECRET%') || '/'
    || (SELECT count(*) FROM retention.policies WHERE filter LIKE '%tok-SECRET%')});
	};
	is($leaks->('bob', "$mallory_names,$app_names"), '0/0/0/0/0/0',
		'case 8: bob sees no policy, run, status, error or filter of mallory or app_owner');
	is($leaks->('mallory', $app_names), '0/0/0/0/0/0',
		'case 8: mallory sees nothing of app_owner\'s (policies, runs, status, errors, filters)');
	isnt(q_as('mallory', q{SELECT count(*) FROM retention.policies}), '0',
		'case 8: mallory sees her own policies');
	is(q_as('mallory', q{SELECT count(*) FROM retention.policies WHERE owner <> 'mallory'}), '0',
		'case 8: every policy mallory sees is hers');
	is(q_as('watcher', q{SELECT (SELECT count(*) FROM retention.policies) || '/'
                      || (SELECT count(*) FROM retention.runs) || '/'
                      || (SELECT count(*) FROM retention.status)}),
		$all, 'case 8: watcher (pg_monitor) sees every policy, run and status');
	is(q_as('watcher', q{SELECT count(*) > 0 FROM retention.runs WHERE error LIKE '%tok-SECRET%'}),
		't', 'case 8: watcher sees the error texts');
	like($all, qr/^[1-9]\d*\/[1-9]\d*\/[1-9]\d*$/, 'case 8: the superuser sees them all');
}
check_no_escalation('case 8');

# =============================================================================
# Case 9: names. The default name is the qualified table name; a name with a
# period is reserved for the table it spells.
# =============================================================================

{
	my ($out, $err) = sql_as('mallory', q{
SELECT retention.add_policy('mallory.tokens', 'created_at', name => 'public.app_tokens');
});
	like($err, qr/ERROR/, 'case 9: mallory cannot name her policy public.app_tokens');
	($out, $err) = sql_as('mallory', q{
SELECT retention.add_policy('mallory.tokens', 'created_at', name => 'app.x');
});
	like($err, qr/ERROR/, 'case 9: mallory cannot name her policy app.x');
	($out, $err) = sql_as('mallory', q{
SELECT retention.add_policy('mallory.tokens', 'created_at', name => '"public"."app_tokens"');
});
	like($err, qr/ERROR/, 'case 9: mallory cannot name her policy "public"."app_tokens"');
	($out, $err) = sql_as('mallory', q{
SELECT retention.add_policy('mallory.tokens', 'created_at', name => 'app_tokens', enabled => false);
});
	unlike($err, qr/ERROR/, 'case 9: mallory may name her policy app_tokens') or diag $err;
	($out, $err) = sql_as('app_owner', q{
SELECT 'name', retention.add_policy('public.app_tokens', 'revoked_at', enabled => false);
});
	like($out, qr/^name\|public\.app_tokens$/m,
		'case 9: app_owner\'s default-named policy on public.app_tokens is named public.app_tokens')
	  or diag $err;
	is(su(q{SELECT owner || ' ' || relation FROM retention.policies
            WHERE name = 'public.app_tokens'}),
		'app_owner app_tokens', 'case 9: ... it is app_owner\'s, on app_tokens');
	su(q{DELETE FROM retention.policy WHERE name IN ('public.app_tokens', 'app.x',
                                                    '"public"."app_tokens"', 'app_tokens')});
}
check_no_escalation('case 9');

# =============================================================================
# Case 11: what else a tenant's trigger tries in someone else's run: switch
# roles, leave temporary objects, cursors, prepared statements, listeners and
# advisory locks behind.
# =============================================================================

($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
CREATE FUNCTION mallory.try(what text, stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    INSERT INTO mallory.log (what, who, is_super) VALUES ('did:' || what, current_user, NULL);
EXCEPTION WHEN OTHERS THEN
    INSERT INTO mallory.log (what, who, is_super) VALUES ('refused:' || what, current_user, NULL);
END $$;
CREATE FUNCTION mallory.trg_residue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c refcursor := 'mallory_open_cursor';
BEGIN
    PERFORM mallory.try('set role', 'SET ROLE app_owner');
    PERFORM mallory.try('reset role', 'RESET ROLE');
    PERFORM mallory.try('set_config role', $q$SELECT pg_catalog.set_config('role', 'app_owner', false)$q$);
    PERFORM mallory.try('session authorization', 'SET SESSION AUTHORIZATION app_owner');
    PERFORM mallory.try('set_config session_authorization',
                        $q$SELECT pg_catalog.set_config('session_authorization', 'app_owner', false)$q$);
    PERFORM mallory.try('temp table', 'CREATE TEMP TABLE mallory_tmp (x int)');
    PERFORM mallory.try('temp function',
                        $q$CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT pg_catalog.now()'$q$);
    PERFORM mallory.try('hold cursor', 'DECLARE mallory_hold CURSOR WITH HOLD FOR SELECT 1');
    PERFORM mallory.try('advisory lock', 'SELECT pg_catalog.pg_advisory_lock(4242)');
    PERFORM mallory.try('prepare', 'PREPARE mallory_stmt AS SELECT 1');
    PERFORM mallory.try('listen', 'LISTEN mallory_channel');
    BEGIN
        OPEN c FOR SELECT 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN OLD;
END $$;
SELECT mallory.make_table('t_residue');
CREATE TRIGGER residue BEFORE DELETE ON mallory.t_residue
    FOR EACH ROW EXECUTE FUNCTION mallory.trg_residue();
-- A rule that calls mallory's poison on every delete.
SELECT mallory.make_table('t_rule');
CREATE RULE poison AS ON DELETE TO mallory.t_rule
    DO ALSO SELECT mallory.poison('rule');
SELECT retention.add_policy('mallory.t_residue', 'created_at', name => 'm_residue', batch_size => 2);
SELECT retention.add_policy('mallory.t_rule', 'created_at', name => 'm_rule', batch_size => 2);
});
is($e =~ /ERROR/ ? $e : '', '', 'case 11: mallory\'s residue trigger and poisoning rule') or diag $e;
{
	su(q{DELETE FROM mallory.log});
	victim(q{case 11 (residue trigger): superuser CALL run('m_residue')},
		q{CALL retention.run('m_residue');});
	is(su(q{SELECT coalesce(string_agg(DISTINCT what, ', ' ORDER BY what), '') FROM mallory.log
            WHERE what IN ('did:set role', 'did:reset role', 'did:set_config role',
                           'did:session authorization', 'did:set_config session_authorization',
                           'did:temp table', 'did:hold cursor')}),
		'', 'case 11: no role switch, temporary table or holdable cursor was allowed');
  TODO:
	{
		local $TODO = 'PostgreSQL 15 allows CREATE FUNCTION pg_temp.f() inside a '
		  . 'security-restricted operation; SECURITY.md says "no temporary objects"';
		is(su(q{SELECT count(*) FROM mallory.log WHERE what = 'did:temp function'}), '0',
			'case 11: no temporary function was created in the victim\'s session');
	}
	is(su(q{SELECT coalesce(string_agg(DISTINCT who, ','), '') FROM mallory.log
            WHERE what LIKE 'did:%' OR what LIKE 'refused:%'}),
		'mallory', 'case 11: the residue trigger ran as mallory');
	victim(q{case 11 (DO ALSO rule): superuser CALL run('m_rule')},
		q{CALL retention.run('m_rule');});
	victim(q{case 11 (residue trigger, app_owner as the victim): app_owner CALL run of a policy owned by mallory is refused or harmless},
		q{CALL retention.run('m_residue');}, role => 'app_owner');
}
check_no_escalation('case 11');

# =============================================================================
# Case 12: nobody stops a policy by holding an advisory lock SQL can take.
# =============================================================================

{
	my $id = su(q{SELECT id FROM retention.policy WHERE name = 'app_canary'});
	my $locker = $node->background_psql('app');
	$locker->query_safe('SET SESSION AUTHORIZATION mallory');
	my $got = $locker->query_safe("SELECT pg_advisory_lock(1919251566, $id)");
	my ($out, $err) = sql_as('app_owner', q{
INSERT INTO app.canary VALUES (100000, now() - interval '1 day');
CALL retention.run('app_canary');
});
	like($out, qr/^1\|0\|\d+\|ok$/m,
		'case 12: mallory holding pg_advisory_lock(1919251566, id) does not stop app_canary')
	  or diag "$out\n$err";
	$locker->quit;
}
check_no_escalation('case 12');

# =============================================================================
# Case 3b: after ALTER TABLE ... OWNER TO, the old owner's policy stops, and
# the new owner can drop it or take it over.
# =============================================================================

($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
SELECT mallory.make_table(t) FROM unnest(ARRAY['t_h1', 't_h2']) AS t;
CREATE TRIGGER trap BEFORE DELETE ON mallory.t_h1 FOR EACH ROW EXECUTE FUNCTION mallory.trg_trap();
CREATE TRIGGER trap BEFORE DELETE ON mallory.t_h2 FOR EACH ROW EXECUTE FUNCTION mallory.trg_trap();
SELECT retention.add_policy('mallory.t_h1', 'created_at', name => 'm_handover_drop');
SELECT retention.add_policy('mallory.t_h2', 'created_at', name => 'm_handover_alter');
});
is($e =~ /ERROR/ ? $e : '', '', 'case 3b: mallory\'s two policies') or diag $e;
su(q{
ALTER TABLE mallory.t_h1 OWNER TO bob;
ALTER TABLE mallory.t_h2 OWNER TO bob;
-- mallory's login still writes these tables for the application
GRANT SELECT, INSERT, UPDATE, DELETE ON mallory.t_h1, mallory.t_h2 TO mallory;
});
su(q{DELETE FROM mallory.log});
for my $caller ($super, 'mallory')
{
	my ($out, $err) = sql_as($caller, q{CALL retention.run('m_handover_drop');});
	like($err,
		qr/(ERROR|WARNING):\s+42501:.*owner of retention policy.*no longer owns table/,
		"case 3b: a run of the old owner's policy called by "
		  . ($caller eq $super ? 'the superuser' : 'mallory')
		  . ' stops with 42501 "... no longer owns table ..."');
	is(su(q{SELECT count(*) FROM mallory.t_h1}), '7', "case 3b: ... and removes no row");
}
is(mallory_log_count('true'), '0', 'case 3b: the old owner\'s policy ran no trigger');
{
	my ($out, $err) = sql_as('bob', q{SELECT retention.drop_policy('m_handover_drop');});
	unlike($err, qr/ERROR/, 'case 3b: bob, the table\'s new owner, can drop the policy') or diag $err;
	is(su(q{SELECT count(*) FROM retention.policy WHERE name = 'm_handover_drop'}), '0',
		'case 3b: ... and it is gone');

	($out, $err) = sql_as('bob', q{SELECT retention.alter_policy('m_handover_alter', batch_size => 10);});
	unlike($err, qr/ERROR/, 'case 3b: bob can take the other policy over with alter_policy')
	  or diag $err;
	is(su(q{SELECT owner FROM retention.policies WHERE name = 'm_handover_alter'}), 'bob',
		'case 3b: ... and then owns it');
	($out, $err) = sql_as('bob', q{CALL retention.run('m_handover_alter');});
	like($out, qr/^5\|0\|\d+\|ok$/m, 'case 3b: bob runs the policy he took over') or diag $err;
	is(su(q{SELECT coalesce(string_agg(DISTINCT who, ','), '') FROM mallory.log WHERE what = 't_h2'}),
		'bob', 'case 3b: ... as bob');
	($out, $err) = sql_as('mallory', q{SELECT retention.drop_policy('m_handover_alter');});
	like($err, qr/ERROR/, 'case 3b: mallory can no longer drop the policy bob took over');
}
check_no_escalation('case 3b');

# =============================================================================
# Case 10: CVE-2018-1058 / CVE-2020-14350: mallory prepares public in a new
# database before the superuser installs the extension and adds policies.
# =============================================================================

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
su(q{GRANT CREATE ON SCHEMA public TO PUBLIC;}, 'fresh');
($o, $e) = sql_as('mallory', q{
\set ON_ERROR_STOP 1
CREATE TABLE public.mlog (what text, who text, is_super boolean);
GRANT SELECT, INSERT ON public.mlog TO PUBLIC;
CREATE FUNCTION public.mtrap(what text) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE WARNING 'MALLORY-TRAP % ran as %', what, current_user;
    BEGIN
        INSERT INTO public.mlog SELECT what, current_user, r.rolsuper FROM pg_catalog.pg_roles r
         WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
END $$;
CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM public.mtrap('make_interval'); RETURN pg_catalog.make_interval(secs => $1::float8); END $$;
CREATE FUNCTION public.lower(character varying) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM public.mtrap('lower'); RETURN pg_catalog.lower($1::text); END $$;
CREATE FUNCTION public.now(integer DEFAULT 0) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN PERFORM public.mtrap('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN PERFORM public.mtrap('current_setting'); RETURN pg_catalog.current_setting($1); END $$;
CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mtrap('nextval'); RETURN pg_catalog.nextval($1::regclass); END $$;
CREATE FUNCTION public.eq_int(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mtrap('op_int'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION public.eq_text(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mtrap('op_text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.eq_int);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_text);
CREATE TYPE public.mtype AS (x integer);
CREATE FUNCTION public.mtype_text(public.mtype) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mtrap('cast'); RETURN 'x'; END $$;
CREATE CAST (public.mtype AS text) WITH FUNCTION public.mtype_text(public.mtype) AS IMPLICIT;
}, 'fresh');
is($e, '', 'case 10: mallory prepares public in database fresh') or diag $e;
{
	my ($out, $err) = sql_as($super, q{
SET search_path = public, pg_catalog;
CREATE EXTENSION pg_retention;
}, 'fresh');
	unlike($err, qr/ERROR/, 'case 10: the superuser installs the extension in fresh') or diag $err;
	is(su(q{SELECT count(*) FROM public.mlog}, 'fresh'), '0',
		'case 10: nothing of mallory ran during CREATE EXTENSION');
	is(foreign_traps($err), '', 'case 10: no trap warning during CREATE EXTENSION');

	($out, $err) = sql_as($super, q{
CREATE TABLE public.su_tokens (id integer PRIMARY KEY, created_at timestamptz NOT NULL,
                               expires_in integer NOT NULL, kind varchar(10));
INSERT INTO public.su_tokens
SELECT i, now() - interval '2 days', 60, CASE WHEN i % 2 = 0 THEN 'revoked' ELSE 'active' END
  FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('public.su_tokens', 'created_at + make_interval(secs => expires_in)',
                            name => 'su_readme');
}, 'fresh');
	like($err, qr/ERROR:\s+42501:/,
		'case 10: the README\'s unqualified make_interval is refused where public has mallory\'s');
	($out, $err) = sql_as($super, q{
SELECT retention.add_policy('public.su_tokens', 'created_at',
                            filter => $f$lower(kind) = 'revoked'$f$, name => 'su_lower');
}, 'fresh');
	like($err, qr/ERROR:\s+42501:/,
		'case 10: an unqualified lower(varchar) in a filter is refused where public has mallory\'s');
	($out, $err) = sql_as($super, q{
SELECT retention.add_policy('public.su_tokens',
                            'created_at + pg_catalog.make_interval(secs => expires_in)',
                            filter => $f$pg_catalog.lower(kind) = 'revoked'$f$, name => 'su_ok');
SET search_path = public, pg_catalog;
SELECT 'preview', purgeable_rows FROM retention.preview('su_ok');
CALL retention.run();
SELECT 'run', policy, status FROM retention.runs;
SELECT 'status', policy, state FROM retention.status;
SELECT 'policy', name, owner FROM retention.policies;
}, 'fresh');
	like($out, qr/^preview\|5$/m, 'case 10: the qualified policy previews its 5 rows') or diag $err;
	is(su(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM public.su_tokens}, 'fresh'),
		'1,3,5,7,9', 'case 10: the run removed exactly the revoked rows');
	is(su(q{SELECT coalesce(string_agg(DISTINCT what || ' as ' || who, ', '), '') FROM public.mlog},
		   'fresh'),
		'', 'case 10: nothing of mallory\'s ran while the superuser added, ran and read policies');
	is(foreign_traps($err), '', 'case 10: no trap warning');
}
check_no_escalation('case 10');

# A schema "retention" squatted before CREATE EXTENSION.
$node->safe_psql('postgres', q{
CREATE DATABASE fresh2;
GRANT CREATE ON DATABASE fresh2 TO mallory;
});
($o, $e) = sql_as('mallory', q{CREATE SCHEMA retention;}, 'fresh2');
is($e, '', 'case 10b: mallory creates schema retention in fresh2') or diag $e;
{
	my ($out, $err) = sql_as($super, q{CREATE EXTENSION pg_retention;}, 'fresh2');
	like($err, qr/ERROR/,
		'case 10b: CREATE EXTENSION refuses a schema retention owned by another role');
	my $installed = su(q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_retention'}, 'fresh2');
	# As the schema's owner, mallory could drop everything in it.
	($out, $err) = sql_as('mallory', q{DROP SCHEMA retention CASCADE;}, 'fresh2');
	my $left = su(q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_retention'}, 'fresh2');
	ok($installed eq '0' || $left eq '1',
		'case 10b: mallory cannot drop the extension through the schema she owns')
	  or diag "installed: $installed, left after DROP SCHEMA CASCADE: $left";
}
check_no_escalation('case 10b');

$node->stop;
done_testing();
