# Partitioned archives and the table owner's code (issue #11, found by a
# hostile review): the partitions a run creates ahead must never run the
# archive owner's code with the extension owner's rights. Attaching a
# partition builds the archive's indexes on it, which plans (and so may
# evaluate) their expressions: a tenant's IMMUTABLE function in an index
# expression of its archive would otherwise run as superuser.
#
# Also: a relation that takes a partition's name (an archive owner may
# rename its table to anything in retention_archive) does not keep another
# archive from getting its partitions.
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
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_retention;
CREATE ROLE tenant LOGIN;
CREATE SCHEMA t AUTHORIZATION tenant;
GRANT CREATE ON SCHEMA public TO tenant;
});

# The tenant's archive policy, and an index expression on its archive that
# records every role that evaluates it (run as a superuser, it could do
# anything).
$node->safe_psql('postgres', q{
SET ROLE tenant;
CREATE TABLE t.tokens (id integer PRIMARY KEY, revoked_at timestamptz);
CREATE TABLE t.seen (who text, super text);
CREATE FUNCTION t.note() RETURNS void LANGUAGE sql VOLATILE AS
  $$INSERT INTO t.seen
    SELECT current_user, CASE WHEN r.rolsuper THEN 'on' ELSE 'off' END
      FROM pg_catalog.pg_roles r WHERE r.rolname = current_user$$;
-- Without arguments, so that planning the index expression folds it: the
-- function runs whenever an index on it is built, even on an empty table.
CREATE FUNCTION t.probe() RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM t.note();
  RETURN 0;
END $$;
SELECT retention.add_policy('t.tokens', 'revoked_at', mode => 'archive', name => 'tok',
                            archive_partition => '1 day');
RESET ROLE;
-- The tenant may not create in retention_archive; an operator adds an index
-- with the tenant's function for it (or any expression index the archive
-- got): its expression runs whenever a partition is attached.
CREATE INDEX ON retention_archive.tokens ((id + t.probe()));
GRANT USAGE ON SCHEMA retention_archive TO tenant;
});

# Make the next run create a partition: drop one of the ranges ahead.
my $part = $node->safe_psql('postgres', q{
SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'retention_archive.tokens'::regclass
   AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
 ORDER BY pg_get_expr(c.relpartbound, c.oid) DESC LIMIT 1});
$node->safe_psql('postgres', "SET ROLE tenant; TRUNCATE t.seen; DROP TABLE $part");

# A superuser runs the policy (as the scheduler or a pg_cron job would).
my ($ok, $out, $err) =
  RetentionTAP::run_sql($node, 'postgres', q{CALL retention.run('tok')});
ok($ok, 'a superuser runs the policy') or diag $err;
is($node->safe_psql('postgres', "SELECT to_regclass('$part') IS NOT NULL"),
	't', 'the run created the missing partition again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t.seen WHERE super = 'on'}),
	'0', 'the index expression never ran with superuser rights');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who, ',') FROM t.seen}),
	'tenant', 'it ran as the archive owner only');
is($node->safe_psql('postgres', "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '$part'::regclass"),
	'tenant', 'the new partition belongs to the archive owner');

# A name taken: another tenant's table is called like the partition the run
# creates next, so its archive (made first) holds that name in
# retention_archive.
my $next = $part;
$next =~ s/^retention_archive\.//;
$node->safe_psql('postgres', qq{
CREATE ROLE other LOGIN;
GRANT CREATE ON SCHEMA public TO other;
SET ROLE tenant;
DROP TABLE $part;
RESET ROLE;
SET ROLE other;
CREATE TABLE public.$next (id integer PRIMARY KEY, revoked_at timestamptz);
SELECT retention.add_policy('public.$next', 'revoked_at', mode => 'archive');
});
is($node->safe_psql('postgres', "SELECT relispartition FROM pg_class WHERE oid = '$part'::regclass"),
	'f', 'the other archive took the name');
($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', q{CALL retention.run('tok')});
ok($ok, 'the run goes on although the partition name is taken') or diag $err;
is($node->safe_psql('postgres', qq{
SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'retention_archive.tokens'::regclass
   AND c.relname = '${next}_1'}),
	'1', 'the partition was created under the next free name');

# alter_policy() can point the policy at the tenant's own partitioned table:
# the run then creates no partition in it at all (only the archive that
# add_policy made, in retention_archive and owned by the table's owner, gets
# partitions ahead).
$node->safe_psql('postgres', q{
SET ROLE tenant;
TRUNCATE t.seen;
CREATE TABLE t.mine (LIKE t.tokens, archived_at timestamptz NOT NULL DEFAULT now())
  PARTITION BY RANGE (archived_at);
CREATE TABLE t.mine_default PARTITION OF t.mine DEFAULT;
CREATE INDEX ON t.mine ((id + t.probe()));
SELECT retention.alter_policy('tok', archive_table => 't.mine');
TRUNCATE t.seen;
});
($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', q{CALL retention.run('tok')});
ok($ok, 'a superuser runs the policy with the tenant\'s own archive') or diag $err;
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 't.mine'::regclass}),
	'1', 'no partition was created in an archive add_policy did not make');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t.seen WHERE super = 'on'}),
	'0', 'and the index expression never ran with superuser rights');

$node->stop;
done_testing();
