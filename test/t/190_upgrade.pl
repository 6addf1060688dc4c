# The upgrade path from 0.1: install 0.1 with policies and run history, see
# that neither CALL nor the scheduler runs a policy while the installed
# version differs from the library's, ALTER EXTENSION pg_retention UPDATE
# with the scheduler running, compare the updated catalog with a fresh
# install, and run the policies again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('upgrade', scheduler => 1);
$node->start;
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql(
	'postgres', q{
CREATE DATABASE old;
CREATE ROLE tenant;
CREATE ROLE reader;
CREATE ROLE watcher IN ROLE pg_monitor;
});

# --- 0.1 with policies and history -------------------------------------------

my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'old',
	q{CREATE EXTENSION pg_retention VERSION '0.1'});
ok($ok, 'CREATE EXTENSION pg_retention VERSION 0.1') or diag $err;
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_retention'}),
	'0.1', 'version 0.1 is installed');

# add_policy is not held back by the version check (only runs are), and 0.1's
# policy catalog is 0.2's: the policies are added through the API. The ones
# run by CALL below are disabled, so that the scheduler leaves them alone;
# heartbeat is the scheduler's. (Names are given: the default name is the
# table's, qualified from 0.2 on.)
($ok, $out, $err) = RetentionTAP::run_sql(
	$node, 'old', q{
CREATE TABLE sessions (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO sessions
SELECT i, CASE WHEN i <= 60 THEN now() - interval '2 days' ELSE now() + interval '2 days' END
  FROM generate_series(1, 100) AS i;
SELECT retention.add_policy('sessions', expires_at => 'expires_at', name => 'sessions',
                            enabled => false);

CREATE TABLE tokens (id integer PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens
SELECT i, CASE WHEN i <= 30 THEN now() - interval '40 days' END
  FROM generate_series(1, 50) AS i;
ALTER TABLE tokens OWNER TO tenant;
SET ROLE tenant;
SELECT retention.add_policy('tokens', expires_at => 'revoked_at', retain => '30 days',
                            name => 'tokens', enabled => false);
RESET ROLE;

CREATE TABLE heartbeat (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
SELECT retention.add_policy('heartbeat', expires_at => 'expires_at', name => 'heartbeat',
                            schedule => '1 second');

CREATE TABLE gone (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
SELECT retention.add_policy('gone', expires_at => 'expires_at', name => 'gone',
                            enabled => false);
});
ok($ok, 'retention.add_policy works on the catalog of 0.1') or diag $err;
is( $node->safe_psql(
		'old', q{SELECT string_agg(name || ':' || owner, ',' ORDER BY name) FROM retention.policies}),
	"gone:$superuser,heartbeat:$superuser,sessions:$superuser,tokens:tenant",
	'four policies, one of them owned by tenant');

# Runs cannot happen while the library is 0.2, so the history of 0.1 is
# written directly: one run of each policy, then the policy gone is dropped
# and its run stays.
$node->safe_psql(
	'old', q{
INSERT INTO retention.run_history (policy_id, policy, trigger, pid, started_at, finished_at,
                                   status, cutoff, rows_deleted, batches, sqlstate, error)
SELECT id, name, 'manual', 4242, now() - interval '2 days',
       now() - interval '2 days' + interval '1 second',
       CASE WHEN name = 'gone' THEN 'error' ELSE 'ok' END, now() - interval '3 days',
       10, 1,
       CASE WHEN name = 'gone' THEN '57014' END,
       CASE WHEN name = 'gone' THEN 'canceling statement due to statement timeout' END
  FROM retention.policy ORDER BY id;
SELECT retention.drop_policy('gone');
});
is($node->safe_psql('old', 'SELECT count(*) FROM retention.runs'),
	'4', 'four runs in the history of 0.1');

# --- nothing runs while the versions differ ----------------------------------

my $mismatch =
  qr/extension pg_retention is installed at version 0\.1, but its library is version 0\.2/;
($ok, $out, $err) = RetentionTAP::run_sql($node, 'old', q{CALL retention.run('sessions')});
ok(!$ok, 'CALL retention.run refuses while 0.1 is installed');
like($err, $mismatch, 'with the version error');
like($err, qr/HINT:\s+Run ALTER EXTENSION pg_retention UPDATE\./, 'and the hint to update');

my $sched = RetentionTAP::wait_for_scheduler($node, 'old');
ok($sched, "a scheduler serves database old (pid $sched)");
$node->wait_for_log(
	qr/pg_retention scheduler for database "old" waits: extension version 0\.1 does not match library version 0\.2/
);
ok(1, 'the scheduler logs that it waits for the update');
ok( RetentionTAP::never_within(
		sub {
			$node->safe_psql('old',
				q{SELECT count(*) FROM retention.runs WHERE trigger = 'worker'});
		},
		sub { $_[0] ne '0' },
		2, $node, 'old'),
	'the scheduler runs nothing while 0.1 is installed');
is($node->safe_psql('old', 'SELECT count(*) FROM sessions'), '100', 'sessions untouched');

# --- ALTER EXTENSION ... UPDATE, with the scheduler running -------------------

($ok, $out, $err) =
  RetentionTAP::run_sql($node, 'old', 'ALTER EXTENSION pg_retention UPDATE');
ok($ok, 'ALTER EXTENSION pg_retention UPDATE') or diag $err;
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_retention'}),
	'0.2', 'version 0.2 is installed');
is(RetentionTAP::scheduler_pids($node, 'old'), $sched, 'the same scheduler serves old');

# --- the updated catalog equals a fresh 0.2 install --------------------------

$node->safe_psql('postgres', 'CREATE DATABASE new');
$node->safe_psql('new', 'CREATE EXTENSION pg_retention');

# Each query describes one aspect of the extension's objects by name, in a
# fixed order; the two databases must answer the same.
my $members = q{
  SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
   WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_retention'
     AND d.deptype = 'e'};
my $member_rels = qq{
  SELECT c.* FROM pg_class c JOIN ($members) m
    ON m.classid = 'pg_class'::regclass AND m.objid = c.oid};
my $member_procs = qq{
  SELECT p.* FROM pg_proc p JOIN ($members) m
    ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid};
my %aspects = (
	'member objects' => qq{
SELECT pg_describe_object(m.classid, m.objid, 0) FROM ($members) m ORDER BY 1},
	'relations (kind, owner, options, ACL)' => qq{
SELECT c.oid::regclass, c.relkind, c.relowner::regrole, c.relpersistence, c.reloptions,
       c.relacl, c.relrowsecurity
  FROM ($member_rels) c ORDER BY c.oid::regclass::text},
	'columns (types, defaults, not-null, collation)' => qq{
SELECT a.attrelid::regclass, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       co.collname, a.attacl
  FROM ($member_rels) c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
 ORDER BY a.attrelid::regclass::text, a.attnum},
	'constraints' => qq{
SELECT co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN ($member_rels) c ON c.oid = co.conrelid
 ORDER BY co.conrelid::regclass::text, co.conname},
	'indexes' => qq{
SELECT pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN ($member_rels) c ON c.oid = i.indrelid ORDER BY 1},
	'triggers' => qq{
SELECT pg_get_triggerdef(t.oid), t.tgenabled
  FROM pg_trigger t JOIN ($member_rels) c ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal ORDER BY 1},
	'event triggers' => q{
SELECT evtname, evtevent, evtowner::regrole, evtfoid::regprocedure, evtenabled, evttags
  FROM pg_event_trigger WHERE evtname LIKE 'retention%' ORDER BY 1},
	'sequences' => qq{
SELECT s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax,
       s.seqmin, s.seqcache, s.seqcycle,
       (SELECT pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) FROM pg_depend d
         WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a')
  FROM pg_sequence s JOIN ($member_rels) c ON c.oid = s.seqrelid
 ORDER BY s.seqrelid::regclass::text},
	'view definitions' => qq{
SELECT c.oid::regclass, pg_get_viewdef(c.oid, true)
  FROM ($member_rels) c WHERE c.relkind = 'v' ORDER BY c.oid::regclass::text},
	'functions (definition, settings, owner, ACL)' => qq{
SELECT p.oid::regprocedure, pg_get_functiondef(p.oid), p.proconfig, p.proowner::regrole,
       p.proacl
  FROM ($member_procs) p ORDER BY p.oid::regprocedure::text},
	'schema (owner, ACL)' => q{
SELECT nspname, nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace')
  FROM pg_namespace WHERE nspname = 'retention'},
	'comments on objects' => qq{
SELECT pg_describe_object(m.classid, m.objid, 0), obj_description(m.objid, m.classid::regclass::name)
  FROM ($members) m ORDER BY 1},
	'comments on columns' => qq{
SELECT a.attrelid::regclass, a.attname, col_description(a.attrelid, a.attnum)
  FROM ($member_rels) c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid::regclass::text, a.attnum},
	'extension (version, schema, config dump)' => q{
SELECT e.extversion, e.extnamespace::regnamespace, e.extrelocatable, e.extowner::regrole,
       (SELECT string_agg(format('%s %L', u.c::regclass, u.cond), ', ' ORDER BY u.c::regclass::text)
          FROM unnest(e.extconfig, e.extcondition) AS u(c, cond))
  FROM pg_extension e WHERE e.extname = 'pg_retention'},
);
for my $aspect (sort keys %aspects)
{
	my $fresh = $node->safe_psql('new', $aspects{$aspect});
	my $updated = $node->safe_psql('old', $aspects{$aspect});
	isnt($fresh, '', "$aspect: described");
	is($updated, $fresh, "$aspect: the update equals a fresh install");
}

# --- the history after the update --------------------------------------------

is( $node->safe_psql(
		'old', q{
SELECT string_agg(policy || ':' || coalesce(owner::regrole::text, '-'), ',' ORDER BY id)
  FROM retention.run_history WHERE pid = 4242}),
	"sessions:$superuser,tokens:tenant,heartbeat:$superuser,gone:-",
	'run_history.owner is filled for the runs of existing policies, NULL for the dropped one');

is( $node->safe_psql(
		'old', q{
SELECT string_agg(policy || ':' || (last_success_at IS NOT NULL) || ':' || backlog_rows
                  || ':' || (behind_by < interval '1 day'), ',' ORDER BY policy)
  FROM retention.status}),
	'heartbeat:true:0:true,sessions:true:0:true,tokens:true:0:true',
	'the last complete run of 0.1 is the last success: the policies are caught up');

my $seen = q{
SELECT concat_ws(' / ',
    (SELECT string_agg(name, ',' ORDER BY name) FROM retention.policies),
    (SELECT string_agg(policy, ',' ORDER BY run_id) FROM retention.runs WHERE pid = 4242),
    (SELECT string_agg(policy, ',' ORDER BY policy) FROM retention.status))};
is($node->safe_psql('old', "SET ROLE tenant; $seen"),
	'tokens / tokens / tokens', 'tenant sees its own policy and its run of 0.1');
is($node->safe_psql('old', "SET ROLE reader; $seen"), '', 'a role without a policy sees nothing');
is( $node->safe_psql('old', "SET ROLE watcher; $seen"),
	'heartbeat,sessions,tokens / sessions,tokens,heartbeat,gone / heartbeat,sessions,tokens',
	'a member of pg_monitor sees everything, the run of the dropped policy included');

# --- the policies run again ---------------------------------------------------

($ok, $out, $err) = RetentionTAP::run_sql($node, 'old', q{CALL retention.run('sessions')});
ok($ok, 'CALL retention.run works after the update') or diag $err;
like($out, qr/^60\|0\|\d+\|ok$/, 'sessions: the 60 expired rows are purged');
($ok, $out, $err) =
  RetentionTAP::run_sql($node, 'old', q{SET ROLE tenant; CALL retention.run('tokens')});
ok($ok, "the tenant runs its own policy") or diag $err;
like($out, qr/^30\|0\|\d+\|ok$/, 'tokens: the 30 rows revoked 40 days ago are purged');
is($node->safe_psql('old', 'SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM tokens)'),
	'40|20', 'the live rows stay');

RetentionTAP::poll_value(
	$node, 'old', q{
SELECT retention.wakeup(),
       (SELECT count(*) FROM retention.runs
         WHERE policy = 'heartbeat' AND trigger = 'worker' AND status = 'ok')},
	sub { $_[0] =~ /\|[1-9]/ }, 'a worker run of heartbeat');
ok(1, 'the scheduler runs the policies after the update');

# New runs record the owner of their policy (the library writes the column;
# with a library that does not yet, it stays NULL: never another role).
# Once the library writes it, this can demand owner = the policy's owner.
is( $node->safe_psql(
		'old', q{
SELECT count(*) FROM retention.run_history r JOIN retention.policy p ON p.id = r.policy_id
 WHERE r.pid <> 4242 AND r.owner IS DISTINCT FROM p.owner AND r.owner IS NOT NULL}),
	'0', 'runs after the update record no owner but their policy\'s');

$node->stop;
done_testing();
