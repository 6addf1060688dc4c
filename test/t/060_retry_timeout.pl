# A batch that fails on a lock timeout is retried; the per-batch statement
# timeout it had armed must not outlive it. (Regression test: the deadline of
# the failed attempt used to stay armed, so a run that retried once was
# cancelled retention.statement_timeout after its first attempt, as if the
# user had cancelled it, although every later batch was far below the bound.)
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
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE slow (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO slow SELECT i, now() - interval '1 day' FROM generate_series(1, 300) AS i;
-- Each deleted row costs 10 ms: a batch of 10 rows takes about 100 ms, the
-- whole run about 3 s.
CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.01);
    RETURN OLD;
END $$;
CREATE TRIGGER slow_delete BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_delete();
SELECT retention.add_policy('slow', expires_at => 'expires_at', batch_size => 10);
});

# A second session blocks the first batch with a table lock.
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE slow IN SHARE MODE');

my $runner = $node->background_psql('postgres', on_error_stop => 0);
$runner->query_until(
	qr/started/, q{
\set VERBOSITY verbose
SET retention.lock_timeout = '200ms';
SET retention.statement_timeout = '2s';
SET statement_timeout = '120s';
\echo started
CALL retention.run('public.slow');
SHOW statement_timeout;
SHOW lock_timeout;
SHOW search_path;
\echo finished
});

# Release the table once the first batch has failed and been scheduled again.
$node->wait_for_log(qr/retention policy "public\.slow": batch failed, retrying/);
$holder->query_safe('COMMIT');
$holder->quit;

# quit waits for psql to work through its input and exit.
$runner->quit;
my $out = $runner->{stdout};
my $err = $runner->{stderr};

unlike($err, qr/ERROR/, 'the run that retried once raises no error') or diag $err;
like($out, qr/^300\|0\|\d+\|ok\n2min\n0\n"\$user", public\nfinished/m,
	'the run purges every row; the session settings are unchanged afterwards')
  or diag $out;

is( $node->safe_psql(
		'postgres', q{
SELECT status, rows_deleted, retries >= 1, finished_at - started_at > interval '2 s'
  FROM retention.runs}),
	'ok|300|t|t',
	'retention.runs: ok after a retry, for a run longer than retention.statement_timeout');
is($node->safe_psql('postgres', 'SELECT count(*) FROM slow'), '0', 'no row left');
is(RetentionTAP::advisory_locks($node), '0', 'no advisory lock left');

$node->stop;
done_testing();
