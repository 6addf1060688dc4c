# Policies survive pg_dump/pg_restore (the catalog is config-dumped), the
# default archive table and its rows come along, and the restored policies
# run. DROP EXTENSION leaves archive tables and their rows alone.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('main');
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE src');

$node->safe_psql(
	'src', q{
CREATE EXTENSION pg_retention;

-- A delete policy with a filter.
CREATE TABLE sessions (
    id         integer PRIMARY KEY,
    kind       text        NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO sessions
SELECT i, CASE WHEN i % 4 = 0 THEN 'sticky' ELSE 'web' END,
       CASE WHEN i <= 200 THEN now() - interval '3 days' ELSE now() + interval '3 days' END
  FROM generate_series(1, 300) AS i;
SELECT retention.add_policy('sessions', expires_at => 'expires_at', retain => '1 day',
                            filter => $$kind <> 'sticky'$$, name => 'session cleanup',
                            schedule => '15 minutes', batch_size => 40);

-- An archive policy with the default archive table on awkward identifiers.
-- The dropped column makes attribute numbers differ after a restore.
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Odd Tab" (
    "Id"         integer PRIMARY KEY,
    junk         text,
    "Token Text" text,
    "Revoked At" timestamptz
);
ALTER TABLE "Odd Schema"."Odd Tab" DROP COLUMN junk;
INSERT INTO "Odd Schema"."Odd Tab" ("Id", "Token Text", "Revoked At")
SELECT i, 'tok ' || i,
       CASE WHEN i % 3 = 0 THEN NULL
            WHEN i % 3 = 1 THEN now() - interval '40 days'
            ELSE now() - interval '1 day' END
  FROM generate_series(1, 150) AS i;
SELECT retention.add_policy('"Odd Schema"."Odd Tab"', expires_at => '"Revoked At"',
                            retain => '30 days', mode => 'archive');

-- A disabled policy and a paused one: their state must survive as well.
CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz NOT NULL);
SELECT retention.add_policy('audit', expires_at => 'at', retain => '90 days',
                            enabled => false);
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
SELECT retention.add_policy('events', expires_at => 'at + interval ''1 week''');
SELECT retention.pause('public.events');
});

my ($ok, $out, $err) =
  RetentionTAP::run_sql($node, 'src', q{CALL retention.run('session cleanup')});
ok($ok, 'delete policy runs in the source database') or diag $err;
like($out, qr/^150\|0\|\d+\|ok$/, 'delete policy purges the 150 non-sticky expired rows');

($ok, $out, $err) =
  RetentionTAP::run_sql($node, 'src', q{CALL retention.run('"Odd Schema"."Odd Tab"')});
ok($ok, 'archive policy runs in the source database') or diag $err;
like($out, qr/^50\|50\|\d+\|ok$/, 'archive policy moves the 50 rows revoked 40 days ago');

my $archive = $node->safe_psql('src',
	q{SELECT archive_table::text FROM retention.policies WHERE name = '"Odd Schema"."Odd Tab"'});
like($archive, qr/^retention_archive\./, "default archive table is $archive");

my $policies_sql = q{
SELECT name, relation::text, expires_at, retain, mode, archive_table::text, filter,
       schedule, batch_size, enabled, paused, owner
  FROM retention.policies ORDER BY name};
my $policies = $node->safe_psql('src', $policies_sql);
my $archive_rows_sql = qq{
SELECT "Id", "Token Text", "Revoked At", archived_at FROM $archive ORDER BY "Id"};
my $archive_rows = $node->safe_psql('src', $archive_rows_sql);
my $tables_sql = q{
SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM sessions) || ' / ' ||
       (SELECT string_agg("Id"::text, ',' ORDER BY "Id") FROM "Odd Schema"."Odd Tab")};
my $tables = $node->safe_psql('src', $tables_sql);

is(scalar(split /\n/, $policies), 4, 'four policies in the source database');

# --- dump and restore ------------------------------------------------------

my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $dumpfile = "$tempdir/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', 'src' ],
	'pg_dump (custom format) of the source database');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'dst', $dumpfile ],
	'pg_restore into a new database');

my $plainfile = "$tempdir/src.sql";
$node->command_ok([ 'pg_dump', '-Fp', '-f', $plainfile, '-d', 'src' ],
	'pg_dump (plain format) of the source database');
$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'dst_plain', '-f', $plainfile ],
	'plain dump restores with psql');

for my $db ('dst', 'dst_plain')
{
	is($node->safe_psql($db, $policies_sql),
		$policies, "$db: retention.policies equals the original");
	is($node->safe_psql($db, $archive_rows_sql),
		$archive_rows, "$db: archive table and its rows are restored");
	is($node->safe_psql($db, $tables_sql), $tables, "$db: source tables are restored");
	is($node->safe_psql($db, 'SELECT count(*) FROM retention.runs'),
		'0', "$db: run history is not dumped");
	is( $node->safe_psql(
			$db, q{
SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE e.extname = 'pg_retention' AND d.deptype = 'e'
   AND d.classid = 'pg_class'::regclass AND d.objid = (SELECT archive_table FROM
       retention.policies WHERE name = '"Odd Schema"."Odd Tab"')}),
		'0', "$db: the archive table is not a member of the extension");

	# The stored column numbers were recomputed for the restored table,
	# whose dropped column is gone.
	is( $node->safe_psql(
			$db, q{
SELECT preview.purgeable_rows FROM retention.preview('"Odd Schema"."Odd Tab"') AS preview}),
		'0', "$db: preview of the restored archive policy works");

	# New expired rows are purged by the restored policies.
	$node->safe_psql(
		$db, q{
INSERT INTO sessions
SELECT i, CASE WHEN i % 2 = 0 THEN 'sticky' ELSE 'web' END, now() - interval '2 days'
  FROM generate_series(1001, 1010) AS i;
INSERT INTO "Odd Schema"."Odd Tab" ("Id", "Token Text", "Revoked At")
SELECT i, 'new ' || i, now() - interval '31 days' FROM generate_series(1001, 1007) AS i;
});
	($ok, $out, $err) =
	  RetentionTAP::run_sql($node, $db, q{CALL retention.run('session cleanup')});
	ok($ok, "$db: restored delete policy runs") or diag $err;
	like($out, qr/^5\|0\|\d+\|ok$/, "$db: restored delete policy purges the 5 new web rows");
	is( $node->safe_psql(
			$db, q{
SELECT count(*) FROM sessions WHERE id > 1000 AND kind = 'sticky'}),
		'5', "$db: the filter still protects sticky sessions");

	($ok, $out, $err) =
	  RetentionTAP::run_sql($node, $db, q{CALL retention.run('"Odd Schema"."Odd Tab"')});
	ok($ok, "$db: restored archive policy runs") or diag $err;
	like($out, qr/^7\|7\|\d+\|ok$/, "$db: restored archive policy archives the 7 new rows");
	is( $node->safe_psql(
			$db, qq{
SELECT count(*), min("Id"), max("Id") FROM $archive WHERE "Id" > 1000}),
		'7|1001|1007', "$db: the new rows are in the restored archive table");
	is($node->safe_psql($db, q{SELECT count(*) FROM "Odd Schema"."Odd Tab" WHERE "Id" > 1000}),
		'0', "$db: and gone from the source");
	is($node->safe_psql($db, "SELECT count(*) FROM $archive"),
		'57', "$db: archive holds the old and the new rows");

	is( $node->safe_psql(
			$db, q{
SELECT string_agg(policy || ':' || status, ',' ORDER BY run_id) FROM retention.runs}),
		'session cleanup:ok,"Odd Schema"."Odd Tab":ok', "$db: runs are recorded");

	# The restored policy sequence continues after the dumped ids.
	($ok, $out, $err) = RetentionTAP::run_sql($node, $db,
		q{SELECT retention.add_policy('audit', expires_at => 'at', name => 'audit 2')});
	ok($ok, "$db: a new policy can be added after the restore") or diag $err;

	is(RetentionTAP::advisory_locks($node), '0', "$db: no advisory lock left");
}

# --- DROP EXTENSION keeps archive tables -----------------------------------

for my $db ('src', 'dst')
{
	my $before = $node->safe_psql($db, "SELECT count(*) FROM $archive");
	($ok, $out, $err) =
	  RetentionTAP::run_sql($node, $db, 'DROP EXTENSION pg_retention');
	ok($ok, "$db: DROP EXTENSION pg_retention succeeds") or diag $err;
	# (PostgreSQL leaves the schema named in the control file, now empty.)
	is( $node->safe_psql(
			$db, q{
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'retention'::regnamespace)
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'retention'::regnamespace)
     + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'retention%')}),
		'0', "$db: the extension's objects are gone");
	is($node->safe_psql($db, "SELECT count(*) FROM $archive"),
		$before, "$db: the archive table and its $before rows remain");

	# The extension can come back and reuse the archive table.
	($ok, $out, $err) = RetentionTAP::run_sql(
		$node, $db, qq{
CREATE EXTENSION pg_retention;
SELECT retention.add_policy('"Odd Schema"."Odd Tab"', expires_at => '"Revoked At"',
                            mode => 'archive', archive_table => '$archive');
INSERT INTO "Odd Schema"."Odd Tab" ("Id", "Token Text", "Revoked At")
VALUES (2001, 'again', now() - interval '1 hour');
});
	ok($ok, "$db: re-created extension accepts the kept archive table") or diag $err;
	($ok, $out, $err) =
	  RetentionTAP::run_sql($node, $db, q{CALL retention.run('"Odd Schema"."Odd Tab"')});
	ok($ok, "$db: run with the kept archive table") or diag $err;
	like($out, qr/^51\|51\|\d+\|ok$/,
		"$db: archives the 50 rows revoked a day ago and the new one");
	is($node->safe_psql($db, qq{SELECT count(*) FROM $archive WHERE "Id" = 2001}),
		'1', "$db: the kept archive table receives new rows");
}

$node->stop;
done_testing();
