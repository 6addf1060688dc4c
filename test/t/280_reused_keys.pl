# Re-used keys (issue #11): a key that comes back into the source after its
# earlier row was archived never blocks the policy. The archive keeps one row
# per version of a key; "every row is in exactly one place" is checked per
# row VERSION: every version ever written to the source is either in the
# source or in the archive, exactly once.
#
# Both archive shapes are covered: one created by 0.2 (unique on the key and
# archived_at), and one created by 0.1 (unique on the key alone), which
# ALTER EXTENSION ... UPDATE reshapes.
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
$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE old');

# A token table whose rows carry a version; every version ever inserted is
# also written to versions (by a trigger), the ledger the invariant reads.
my $schema = q{
CREATE TABLE tokens (id integer PRIMARY KEY, version integer NOT NULL,
                     revoked_at timestamptz);
CREATE TABLE versions (id integer, version integer, revoked_at timestamptz);
CREATE FUNCTION ledger() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO versions VALUES (NEW.id, NEW.version, NEW.revoked_at); RETURN NEW; END$$;
CREATE TRIGGER ledger AFTER INSERT ON tokens FOR EACH ROW EXECUTE FUNCTION ledger();
INSERT INTO tokens
SELECT i, 1, CASE WHEN i <= 3 THEN now() - interval '40 days' END
  FROM generate_series(1, 5) AS i;
};

# Versions missing from both places plus versions found twice.
my $invariant = q{
SELECT (SELECT count(*) FROM (
          SELECT id, version, revoked_at FROM versions
          EXCEPT ALL
          (SELECT id, version, revoked_at FROM tokens
           UNION ALL
           SELECT id, version, revoked_at FROM retention_archive.tokens)) missing)
     + (SELECT count(*) FROM (
          (SELECT id, version, revoked_at FROM tokens
           UNION ALL
           SELECT id, version, revoked_at FROM retention_archive.tokens)
          EXCEPT ALL
          SELECT id, version, revoked_at FROM versions) twice)};

# Archives id 1..3, brings keys 1 and 2 back expired, archives again, then
# brings key 1 back a third time.
sub reuse_keys
{
	my ($db, $label) = @_;
	my ($ok, $out, $err) =
	  RetentionTAP::run_sql($node, $db, q{CALL retention.run('tokens')});
	ok($ok, "$label: first run") or diag $err;
	like($out, qr/^3\|3\|\d+\|ok$/, "$label: ids 1..3 archived");

	$node->safe_psql(
		$db, q{
INSERT INTO tokens VALUES (1, 2, now() - interval '35 days'), (2, 2, now() - interval '35 days')});
	($ok, $out, $err) = RetentionTAP::run_sql($node, $db, q{CALL retention.run('tokens')});
	ok($ok, "$label: run after keys 1 and 2 came back") or diag $err;
	like($out, qr/^2\|2\|\d+\|ok$/, "$label: the second versions are archived too");

	$node->safe_psql($db,
		q{INSERT INTO tokens VALUES (1, 3, now() - interval '31 days')});
	($ok, $out, $err) = RetentionTAP::run_sql($node, $db, q{CALL retention.run('tokens')});
	ok($ok, "$label: third version of key 1") or diag $err;
	like($out, qr/^1\|1\|\d+\|ok$/, "$label: archived beside the two before it");

	is( $node->safe_psql(
			$db, q{
SELECT string_agg(id || ':' || version, ',' ORDER BY id, version)
  FROM retention_archive.tokens}),
		'1:1,1:2,1:3,2:1,2:2,3:1',
		"$label: the archive holds every version of each key");
	is($node->safe_psql($db, $invariant), '0',
		"$label: every row version is in exactly one place");
	is( $node->safe_psql(
			$db, q{
SELECT last_status, consecutive_failures FROM retention.status WHERE policy = 'tokens'}),
		'ok|0', "$label: the policy is healthy");
	is( $node->safe_psql(
			$db, q{SELECT count(*) FROM retention.runs WHERE status <> 'ok'}),
		'0', "$label: no run failed");
}

# --- an archive created by 0.2 -------------------------------------------------

$node->safe_psql('fresh', 'CREATE EXTENSION pg_retention');
$node->safe_psql('fresh', $schema);
$node->safe_psql(
	'fresh', q{
SELECT retention.add_policy('tokens', expires_at => 'revoked_at', retain => '30 days',
                            mode => 'archive', name => 'tokens')});
is( $node->safe_psql(
		'fresh', q{
SELECT string_agg(pg_get_indexdef(indexrelid), ';') FROM pg_index
 WHERE indrelid = 'retention_archive.tokens'::regclass}),
	'CREATE UNIQUE INDEX tokens_id_archived_at_idx ON retention_archive.tokens USING btree (id, archived_at)',
	'the archive is unique on (key, archived_at)');
reuse_keys('fresh', '0.2 archive');

# The same statement cannot archive one version twice: the index still
# refuses a duplicate within one transaction (same archived_at).
my ($ok, $out, $err) = RetentionTAP::run_sql(
	$node, 'fresh', q{
BEGIN;
INSERT INTO retention_archive.tokens (id, version, revoked_at) VALUES (9, 1, now());
INSERT INTO retention_archive.tokens (id, version, revoked_at) VALUES (9, 1, now());
COMMIT;});
ok(!$ok, 'a version written twice in one transaction is refused');
like($err, qr/duplicate key value violates unique constraint "tokens_id_archived_at_idx"/,
	'by the archive\'s unique index');

# --- an archive created by 0.1, reshaped by the update -------------------------

$node->safe_psql('old', q{CREATE EXTENSION pg_retention VERSION '0.1'});
$node->safe_psql('old', $schema);
# add_policy works on 0.1's catalog; the library is 0.2's, so the index it
# built is put back into 0.1's shape: unique on the key alone.
$node->safe_psql(
	'old', q{
SELECT retention.add_policy('tokens', expires_at => 'revoked_at', retain => '30 days',
                            mode => 'archive', name => 'tokens');
DROP INDEX retention_archive.tokens_id_archived_at_idx;
CREATE UNIQUE INDEX tokens_id_idx ON retention_archive.tokens (id);
-- an index of the user's own is left alone
CREATE INDEX tokens_revoked_idx ON retention_archive.tokens (revoked_at);
});
($ok, $out, $err) =
  RetentionTAP::run_sql($node, 'old', 'ALTER EXTENSION pg_retention UPDATE');
ok($ok, 'ALTER EXTENSION pg_retention UPDATE') or diag $err;
is( $node->safe_psql(
		'old', q{
SELECT string_agg(pg_get_indexdef(indexrelid), ';' ORDER BY indexrelid::regclass::text)
  FROM pg_index WHERE indrelid = 'retention_archive.tokens'::regclass}),
	'CREATE UNIQUE INDEX tokens_id_archived_at_idx ON retention_archive.tokens USING btree (id, archived_at);'
	  . 'CREATE INDEX tokens_revoked_idx ON retention_archive.tokens USING btree (revoked_at)',
	'the 0.1 index is replaced, the user\'s own index stays');
is( $node->safe_psql(
		'old', q{SELECT relowner::regrole FROM pg_class
                  WHERE oid = 'retention_archive.tokens_id_archived_at_idx'::regclass}),
	$node->safe_psql('old', 'SELECT current_user'),
	'the new index belongs to the archive\'s owner');
reuse_keys('old', 'reshaped 0.1 archive');

$node->stop;
done_testing();
