# Archive mode never loses a row: when the archive table does not store every
# row handed to it (a BEFORE INSERT trigger returning NULL, a DO INSTEAD
# NOTHING rule), the batch is rolled back, the run ends with status 'error'
# (SQLSTATE 27000; 0A000 for rules, which PostgreSQL itself refuses under
# INSERT ... RETURNING), and the source keeps every row. Once the archive accepts
# rows again, source and archive together hold exactly the original rows.
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
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION pg_retention');

# Builds table $t with 1000 rows, 600 of them expired, a snapshot of its
# rows, and an archive policy (default name public.$t) with an explicit
# archive table archive_$t (so that the test can put a trigger or rule on it
# up front).
sub setup_table
{
	my ($t) = @_;
	$node->safe_psql(
		'app', qq{
CREATE TABLE $t (
    id         integer PRIMARY KEY,
    payload    text,
    expires_at timestamptz NOT NULL
);
INSERT INTO $t
SELECT i, 'row ' || i,
       CASE WHEN i % 5 < 3 THEN now() - i * interval '1 minute'
            ELSE now() + interval '1 day' END
  FROM generate_series(1, 1000) AS i;
CREATE TABLE snapshot_$t AS SELECT * FROM $t;
CREATE TABLE archive_$t (LIKE $t, archived_at timestamptz DEFAULT now());
SELECT retention.add_policy('$t', expires_at => 'expires_at', mode => 'archive',
                            archive_table => 'archive_$t', batch_size => 100);
});
	is($node->safe_psql('app', qq{SELECT purgeable_rows FROM retention.preview('public.$t')}),
		'600', "$t: 600 rows are purgeable");
}

# The source still holds every original row and the archive none.
sub check_nothing_lost
{
	my ($t, $what) = @_;
	is( $node->safe_psql(
			'app', qq{
SELECT (SELECT count(*) FROM (SELECT * FROM snapshot_$t EXCEPT ALL SELECT * FROM $t) a)
     + (SELECT count(*) FROM (SELECT * FROM $t EXCEPT ALL SELECT * FROM snapshot_$t) b)}),
		'0',
		"$t: $what: source still equals the snapshot");
	is($node->safe_psql('app', qq{SELECT count(*) FROM archive_$t}),
		'0', "$t: $what: archive holds no row");
}

# Source plus archive equal the snapshot exactly, no row is in both, and no
# purgeable row is left.
sub check_complete
{
	my ($t) = @_;
	my $cols = 'id, payload, expires_at';
	is( $node->safe_psql(
			'app', qq{
WITH together AS (SELECT $cols FROM $t UNION ALL SELECT $cols FROM archive_$t)
SELECT (SELECT count(*) FROM (SELECT * FROM snapshot_$t EXCEPT ALL SELECT * FROM together) a)
     + (SELECT count(*) FROM (SELECT * FROM together EXCEPT ALL SELECT * FROM snapshot_$t) b)}),
		'0',
		"$t: source and archive together equal the original rows exactly");
	is($node->safe_psql('app', qq{SELECT count(*) FROM $t s JOIN archive_$t a USING (id)}),
		'0', "$t: no id is both in the source and in the archive");
	is( $node->safe_psql(
			'app', qq{
SELECT count(*), count(*) FILTER (WHERE expires_at < now()) FROM archive_$t}),
		'600|600',
		"$t: the archive holds exactly the 600 expired rows");
	is($node->safe_psql('app', qq{SELECT count(*) FROM $t WHERE expires_at < now()}),
		'0', "$t: no expired row is left in the source");
	is($node->safe_psql('app', qq{SELECT count(*) FROM archive_$t WHERE archived_at IS NULL}),
		'0', "$t: archived_at is filled in");
}

# Runs the policy while the archive drops rows; expects an 'error' run.
sub run_expect_error
{
	my ($t, $what, $sqlstate) = @_;
	$sqlstate //= '27000';
	my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'app',
		"\\set VERBOSITY verbose\nCALL retention.run('public.$t');");
	ok($ok, "$t: $what: CALL returns (the failure is reported, not raised)")
	  or diag $err;
	like($out, qr/^0\|0\|0\|error$/, "$t: $what: run reports status error and nothing done");
	like($err, qr/WARNING:\s+$sqlstate: retention policy "public\.$t" stopped after an error/,
		"$t: $what: a WARNING with SQLSTATE $sqlstate is raised");
	is( $node->safe_psql(
			'app', qq{
SELECT status, sqlstate, rows_deleted, rows_archived, batches, error IS NOT NULL
  FROM retention.runs WHERE policy = 'public.$t' ORDER BY run_id DESC LIMIT 1}),
		"error|$sqlstate|0|0|0|t",
		"$t: $what: retention.runs records the error with SQLSTATE $sqlstate");
	is(RetentionTAP::advisory_locks($node), '0', "$t: $what: no advisory lock left");
	check_nothing_lost($t, $what);
}

sub run_expect_ok
{
	my ($t) = @_;
	my $left = $node->safe_psql('app', qq{SELECT count(*) FROM $t WHERE expires_at < now()});
	is($node->safe_psql('app', qq{SELECT purgeable_rows FROM retention.preview('public.$t')}),
		$left, "$t: preview counts the $left expired rows still in the source");
	my ($ok, $out, $err) =
	  RetentionTAP::run_sql($node, 'app', "CALL retention.run('public.$t');");
	ok($ok, "$t: run succeeds once the archive stores every row") or diag $err;
	like($out, qr/^$left\|$left\|\d+\|ok$/, "$t: run archives and deletes the $left rows left");
	is( $node->safe_psql(
			'app', qq{
SELECT status, sqlstate IS NULL, rows_deleted, rows_archived
  FROM retention.runs WHERE policy = 'public.$t' ORDER BY run_id DESC LIMIT 1}),
		"ok|t|$left|$left",
		"$t: retention.runs records the successful run");
	is(RetentionTAP::advisory_locks($node), '0', "$t: no advisory lock left");
	check_complete($t);
}

# --- a BEFORE INSERT trigger that silently drops some rows -----------------

setup_table('trg');
$node->safe_psql(
	'app', q{
CREATE FUNCTION drop_odd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id % 2 = 1 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER drop_odd BEFORE INSERT ON archive_trg
    FOR EACH ROW EXECUTE FUNCTION drop_odd();
});
run_expect_error('trg', 'trigger drops odd ids');

# A trigger that drops only a single row, late in the walk: earlier batches
# may commit, the failing one must not.
$node->safe_psql(
	'app', q{
DROP TRIGGER drop_odd ON archive_trg;
CREATE FUNCTION drop_one() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 951 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER drop_one BEFORE INSERT ON archive_trg
    FOR EACH ROW EXECUTE FUNCTION drop_one();
});
{
	my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'app',
		"\\set VERBOSITY verbose\nCALL retention.run('public.trg');");
	ok($ok, 'trg: late failure: CALL returns') or diag $err;
	like($out, qr/^(\d+)\|\1\|\d+\|error$/,
		'trg: late failure: status error, as many rows archived as deleted');
	my ($moved) = $out =~ /^(\d+)\|/;
	$moved //= -1;
	cmp_ok($moved, '<', 600, 'trg: late failure: the failing batch was not counted');
	is($node->safe_psql('app', 'SELECT count(*) FROM archive_trg'),
		$moved, 'trg: late failure: the archive holds exactly the rows reported moved');
	is( $node->safe_psql(
			'app', q{
SELECT rows_deleted = rows_archived AND rows_deleted = (SELECT count(*) FROM archive_trg)
  FROM retention.runs WHERE policy = 'public.trg' ORDER BY run_id DESC LIMIT 1}),
		't', 'trg: late failure: retention.runs counts match the archive');
	like($err, qr/WARNING:\s+27000:/, 'trg: late failure: WARNING with SQLSTATE 27000');
	is( $node->safe_psql(
			'app', q{
SELECT status, sqlstate FROM retention.runs WHERE policy = 'public.trg'
 ORDER BY run_id DESC LIMIT 1}),
		'error|27000', 'trg: late failure: recorded as error 27000');
	is($node->safe_psql('app', 'SELECT count(*) FROM trg WHERE id = 951'),
		'1', 'trg: late failure: the row the archive refused is still in the source');
	# Whatever the committed batches moved, nothing is lost or duplicated.
	is( $node->safe_psql(
			'app', q{
WITH together AS (SELECT id, payload, expires_at FROM trg
                  UNION ALL SELECT id, payload, expires_at FROM archive_trg)
SELECT (SELECT count(*) FROM (SELECT * FROM snapshot_trg EXCEPT ALL SELECT * FROM together) a)
     + (SELECT count(*) FROM (SELECT * FROM together EXCEPT ALL SELECT * FROM snapshot_trg) b)}),
		'0', 'trg: late failure: source and archive together still equal the original rows');
	is( $node->safe_psql(
			'app', q{
SELECT count(*) FROM archive_trg a JOIN trg s USING (id)}),
		'0', 'trg: late failure: no row both archived and kept');
}

$node->safe_psql('app', 'DROP TRIGGER drop_one ON archive_trg');
run_expect_ok('trg');

# --- a DO INSTEAD NOTHING rule on the archive table -------------------------

setup_table('rul');
$node->safe_psql('app',
	q{CREATE RULE swallow AS ON INSERT TO archive_rul DO INSTEAD NOTHING});
# PostgreSQL refuses INSERT ... RETURNING through such a rule (0A000), so the
# batch fails before the comparison of counts; the outcome must be the same.
run_expect_error('rul', 'DO INSTEAD NOTHING rule', '0A000');

$node->safe_psql('app', 'DROP RULE swallow ON archive_rul');
run_expect_ok('rul');

# --- a conditional rule that diverts some rows elsewhere -------------------

setup_table('div');
$node->safe_psql(
	'app', q{
CREATE TABLE elsewhere (LIKE archive_div);
CREATE RULE divert AS ON INSERT TO archive_div WHERE NEW.id > 500
    DO INSTEAD INSERT INTO elsewhere VALUES (NEW.*);
});
run_expect_error('div', 'conditional DO INSTEAD rule', '0A000');
is($node->safe_psql('app', 'SELECT count(*) FROM elsewhere'),
	'0', 'div: the diverted rows were rolled back too');

$node->safe_psql('app', 'DROP RULE divert ON archive_div');
run_expect_ok('div');

$node->stop;
done_testing();
