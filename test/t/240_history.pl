# The run history caps itself: consecutive skipped attempts share one row
# with a count; the scheduler prunes runs beyond retention.history_max_rows
# per policy and past retention.history_retention, in small batches, never a
# run still going nor the latest run a policy's state points to; a table
# owner can neither prune nor change the caps.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('history', scheduler => 1);
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_retention;
CREATE ROLE tenant LOGIN;
CREATE TABLE h_t (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO h_t SELECT i, now() - interval '1 day' FROM generate_series(1, 50) AS i;
SELECT retention.add_policy('h_t', 'expires_at', name => 'h', batch_size => 10, enabled => false);
CREATE TABLE c_t (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
SELECT retention.add_policy('c_t', 'expires_at', name => 'capped', enabled => false);
CREATE TABLE t_t (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
ALTER TABLE t_t OWNER TO tenant;
});

# --- consecutive skips collapse ----------------------------------------------

my ($holder) = RetentionTAP::hold_waitpoints($node, 'postgres', 'before_batch');
my $caller = $node->background_psql('postgres');
my $caller_pid = $caller->query_safe('SELECT pg_backend_pid()');
$caller->query_until(qr/calling/, "\\echo calling\nCALL retention.run('h');\n");
RetentionTAP::wait_for_waitpoint($node, $caller_pid);
$node->safe_psql('postgres', q{CALL retention.run('h')}) for 1 .. 3;
is( $node->safe_psql(
		'postgres', q{
SELECT count(*), max(skipped_count), bool_and(last_skipped_at >= started_at)
  FROM retention.runs WHERE policy = 'h' AND status = 'skipped'}),
	'1|3|t', 'three skipped attempts in a row share one row with a count of 3');
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
like($caller->query_safe('SELECT 1'), qr/^50\|0\|\d+\|ok\n1$/, 'the held run finished');
RetentionTAP::quit_session($caller);
RetentionTAP::quit_session($holder);
$node->safe_psql('postgres', q{CALL retention.run('h')});
is( $node->safe_psql(
		'postgres', q{SELECT string_agg(status || coalesce(':' || skipped_count, ''), ',' ORDER BY run_id)
  FROM retention.runs WHERE policy = 'h'}),
	'ok,skipped:3,ok', 'the held run, the skips in one row, and a later run in a row of its own');

# --- a table owner cannot prune or change the caps ---------------------------

my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres',
	q{SELECT retention.prune_history()}, extra_params => [ '-U', 'tenant' ]);
ok(!$ok && $err =~ /permission denied for function prune_history/,
	'a table owner may not call retention.prune_history()') or diag $err;
($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres',
	q{SET retention.history_retention = '1s'}, extra_params => [ '-U', 'tenant' ]);
ok(!$ok && $err =~ /cannot be changed now/, 'nor set retention.history_retention')
  or diag $err;
($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres',
	q{DELETE FROM retention.run_history}, extra_params => [ '-U', 'tenant' ]);
ok(!$ok && $err =~ /permission denied/, 'nor delete run history') or diag $err;

# --- the scheduler caps rows per policy --------------------------------------

$node->safe_psql('postgres', q{CALL retention.run('capped')}) for 1 .. 6;
is($node->safe_psql('postgres', q{SELECT count(*) FROM retention.runs WHERE policy = 'capped'}),
	'6', 'six runs recorded');
my $last = $node->safe_psql('postgres',
	q{SELECT max(run_id) FROM retention.runs WHERE policy = 'capped'});
$node->safe_psql('postgres', q{
ALTER SYSTEM SET retention.history_max_rows = 3;
SELECT pg_reload_conf();
SELECT retention.wakeup();
});
RetentionTAP::poll_value($node, 'postgres',
	q{SELECT count(*) FROM retention.runs WHERE policy = 'capped'},
	sub { $_[0] eq '3' }, 'the scheduler to keep 3 runs of capped');
is( $node->safe_psql(
		'postgres', q{SELECT min(run_id) > 0, max(run_id) FROM retention.runs WHERE policy = 'capped'}),
	"t|$last", 'the newest runs are kept');

# --- and removes runs past retention.history_retention, but not the last -----

$node->safe_psql('postgres', q{
ALTER SYSTEM SET retention.history_retention = '1s';
SELECT pg_reload_conf();
});
RetentionTAP::poll_value($node, 'postgres',
	q{SELECT count(*) FROM retention.runs WHERE policy IN ('capped', 'h')},
	sub { $_[0] eq '2' }, 'the scheduler to remove old runs');
is( $node->safe_psql(
		'postgres', q{SELECT policy, last_status FROM retention.status ORDER BY policy}),
	"capped|ok\nh|ok", 'the last run of each policy stays, so retention.status still shows it');
is($node->safe_psql('postgres', q{SELECT max(run_id) FROM retention.runs WHERE policy = 'capped'}),
	$last, 'it is the latest run');

$node->stop;
done_testing();
