# The README's pg_repack recipe: pg_repack rebuilds a table while a retention
# run purges it, and no row is lost. The run is held at a test waitpoint in
# its first batch (after its DELETE, before the commit) until pg_repack waits
# for its lock; then both go on together. Afterwards every id is in exactly
# one place, the table or its archive, and the table was rewritten.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('main');
my $bindir = $node->config_data('--bindir');
my $sharedir = $node->config_data('--sharedir');
plan skip_all => "pg_repack is not installed for this PostgreSQL (Debian: postgresql-NN-repack)"
  unless -x "$bindir/pg_repack" && -f "$sharedir/extension/pg_repack.control";

$node->append_conf('postgresql.conf', "retention.enable_debug_waitpoints = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
CREATE EXTENSION pg_repack;
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id integer PRIMARY KEY, revoked_at timestamptz, payload text NOT NULL);
CREATE INDEX tokens_revoked_at_idx ON tokens (revoked_at);
INSERT INTO tokens
SELECT i, CASE WHEN i % 2 = 0 THEN now() - interval '60 days' END, repeat('x', 200)
  FROM generate_series(1, 20000) AS i;
SELECT retention.add_policy('tokens', 'revoked_at', retain => '30 days', mode => 'archive',
                            batch_size => 500, name => 'tokens');
});
my $archive = $node->safe_psql('app',
	q{SELECT archive_table::text FROM retention.policies WHERE name = 'tokens'});
my $filenode_before = $node->safe_psql('app', q{SELECT pg_relation_filenode('tokens')});

# The run, held in its first batch.
my ($holder, $holder_pid) =
  RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
my $runner = $node->background_psql('app');
my $runner_pid = $runner->query_safe('SELECT pg_backend_pid()');
$runner->query_safe('SET lock_timeout = 0; SET statement_timeout = 0');
$runner->query_until(qr/calling/, "\\echo calling\nCALL retention.run('tokens');\n");
RetentionTAP::wait_for_waitpoint($node, $runner_pid);

# pg_repack of the table, which needs an ACCESS EXCLUSIVE lock at its start
# and end; it must never cancel or kill the run.
my ($repack_out, $repack_err) = ('', '');
my $repack = IPC::Run::start(
	[ "$bindir/pg_repack", '-h', $node->host, '-p', $node->port, '-d', 'app',
	  '--table', 'public.tokens', '--no-kill-backend', '--wait-timeout', '300' ],
	'>', \$repack_out, '2>', \$repack_err);
RetentionTAP::poll_value($node, 'app', q{
SELECT count(*) FROM pg_stat_activity
 WHERE query LIKE 'LOCK TABLE public.tokens IN ACCESS EXCLUSIVE MODE%'},
	sub { $_[0] ne '0' }, 'pg_repack to wait for the lock of the table');

$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
# (The ANALYZE after the run may meet pg_repack's lock and be skipped with a
# WARNING: query(), not query_safe().)
like($runner->query('SELECT 1'), qr/^10000\|10000\|\d+\|ok\n1$/,
	'the run archives the 10000 expired rows while pg_repack goes');
ok($repack->finish, 'pg_repack succeeds') or diag "$repack_out\n$repack_err";
unlike($repack_err, qr/ERROR|skipping/i, 'pg_repack did not skip the table');
RetentionTAP::quit_session($runner);
RetentionTAP::quit_session($holder);

isnt($node->safe_psql('app', q{SELECT pg_relation_filenode('tokens')}),
	$filenode_before, 'pg_repack rewrote the table');
is( $node->safe_psql(
		'app', qq{
SELECT count(*), count(DISTINCT id), min(id), max(id)
  FROM (SELECT id FROM tokens UNION ALL SELECT id FROM $archive) AS everywhere}),
	'20000|20000|1|20000', 'every id is in exactly one place, the table or the archive');
is( $node->safe_psql(
		'app', qq{
SELECT (SELECT count(*) FROM tokens WHERE revoked_at IS NOT NULL),
       (SELECT count(*) FROM $archive WHERE revoked_at IS NULL),
       (SELECT count(*) FROM tokens t JOIN $archive a USING (id))}),
	'0|0|0', 'only expired rows were archived, and all of them');
is( $node->safe_psql(
		'app', q{SELECT status, rows_archived FROM retention.runs ORDER BY run_id}),
	'ok|10000', 'the run history counts exactly what committed');

# --only-indexes while the next run is held the same way.
$node->safe_psql('app', q{
UPDATE tokens SET revoked_at = now() - interval '90 days' WHERE id % 4 = 1});
($holder, $holder_pid) = RetentionTAP::hold_waitpoints($node, 'app', 'after_delete_before_commit');
$runner = $node->background_psql('app');
$runner_pid = $runner->query_safe('SELECT pg_backend_pid()');
$runner->query_safe('SET lock_timeout = 0; SET statement_timeout = 0');
$runner->query_until(qr/calling/, "\\echo calling\nCALL retention.run('tokens');\n");
RetentionTAP::wait_for_waitpoint($node, $runner_pid);
($repack_out, $repack_err) = ('', '');
$repack = IPC::Run::start(
	[ "$bindir/pg_repack", '-h', $node->host, '-p', $node->port, '-d', 'app',
	  '--table', 'public.tokens', '--only-indexes', '--no-kill-backend', '--wait-timeout', '300' ],
	'>', \$repack_out, '2>', \$repack_err);
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
like($runner->query('SELECT 1'), qr/^5000\|5000\|\d+\|ok\n1$/,
	'the next run archives the 5000 newly expired rows');
ok($repack->finish, 'pg_repack --only-indexes succeeds') or diag "$repack_out\n$repack_err";
RetentionTAP::quit_session($runner);
RetentionTAP::quit_session($holder);
is( $node->safe_psql(
		'app', qq{
SELECT count(*), count(DISTINCT id)
  FROM (SELECT id FROM tokens UNION ALL SELECT id FROM $archive) AS everywhere}),
	'20000|20000', 'still every id in exactly one place');
is($node->safe_psql('app', q{SELECT count(*) FROM tokens WHERE revoked_at IS NOT NULL}),
	'0', 'and no expired row left');
is($node->safe_psql('app', q{SET enable_seqscan = off; SELECT count(*) FROM tokens WHERE id > 0}),
	'5000', 'the rebuilt indexes find every row left');

$node->stop;
done_testing();
