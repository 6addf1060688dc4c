# The replication origin of replicate_deletes => false is one per cluster:
# batches of such policies take turns for it. A batch that holds it (its
# table's triggers may keep it as long as they please) must not stop another
# tenant's policy for longer than retention.lock_timeout: the waiting batch
# fails with 55P03, backs off and retries like after any lock timeout, and
# its run ends failed instead of hanging (found by a hostile review of issue
# #11; before the fix the wait had no bound). PostgreSQL 16 and later only.
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
if ($node->safe_psql('postgres', 'SHOW server_version_num') < 160000)
{
	$node->stop;
	plan skip_all => 'replicate_deletes => false needs PostgreSQL 16 or later';
}
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE a_tokens (id int PRIMARY KEY, revoked_at timestamptz);
CREATE TABLE b_tokens (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO a_tokens SELECT i, now() - interval '40 days' FROM generate_series(1, 10) AS i;
INSERT INTO b_tokens SELECT i, now() - interval '40 days' FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('a_tokens', 'revoked_at', retain => '30 days', name => 'a',
                            replicate_deletes => false);
SELECT retention.add_policy('b_tokens', 'revoked_at', retain => '30 days', name => 'b',
                            replicate_deletes => false);
});

# Policy a's batch holds the origin, held at the waitpoint before its commit.
my ($holder, $holder_pid) =
  RetentionTAP::hold_waitpoints($node, 'postgres', 'after_delete_before_commit');
my $runner = $node->background_psql('postgres');
my $runner_pid = $runner->query_safe('SELECT pg_backend_pid()');
$runner->query_until(qr/calling/, "\\echo calling\nCALL retention.run('a');\n");
RetentionTAP::wait_for_waitpoint($node, $runner_pid);

# Policy b waits for the origin at most lock_timeout per attempt, retries
# once, and gives up with 55P03. Without that bound it would wait until the
# session's statement_timeout cancelled the CALL (57014).
my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', q{
SET retention.lock_timeout = '200ms';
SET retention.max_batch_retries = 1;
SET retention.statement_timeout = '5min';
SET statement_timeout = '60s';
CALL retention.run('b');
SELECT status, rows_deleted, sqlstate, retries FROM retention.runs
 WHERE policy = 'b' ORDER BY run_id DESC LIMIT 1;
});
ok($ok, 'the run of policy b returns') or diag $err;
like($out, qr/^error\|0\|55P03\|1$/m, 'its batch gave up on the origin with 55P03 after one retry');
like($node->safe_psql('postgres', q{SELECT error FROM retention.runs WHERE policy = 'b'}),
	qr/could not take the replication origin "pg_retention" in time/, 'the run says why');
is($node->safe_psql('postgres', 'SELECT count(*) FROM b_tokens'), '10', 'policy b removed nothing');

# Once a's batch commits, b runs.
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
like($runner->query('SELECT 1'), qr/^10\|0\|1\|ok\n1$/, "policy a's run ends normally");
like($node->safe_psql('postgres', q{CALL retention.run('b')}), qr/^10\|0\|1\|ok$/,
	'policy b runs once the origin is free');
RetentionTAP::quit_session($runner);
RetentionTAP::quit_session($holder);
done_testing();
