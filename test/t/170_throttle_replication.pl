# The health throttle: with a streaming standby whose replay is paused
# (pg_wal_replay_pause()), replication lag grows past
# retention.max_replication_lag and a run waits before its next batch,
# holding no snapshot, with state 'throttled' and the reason in
# retention.status. After pg_wal_replay_resume() it goes on and finishes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetentionTAP;

my $primary = RetentionTAP::new_node('primary', allows_streaming => 1);
$primary->append_conf('postgresql.conf', "retention.max_replication_lag = '1MB'\n");
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 1000) AS i;
SELECT retention.add_policy('tokens', 'revoked_at', batch_size => 100);
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', "wal_receiver_status_interval = '200ms'\n");
$standby->start;
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

# Healthy: a run goes straight through.
$primary->safe_psql('postgres', q{CREATE TABLE canary (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO canary SELECT i, now() - interval '1 day' FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('canary', 'revoked_at')});
is($primary->safe_psql('postgres', q{CALL retention.run('public.canary')}),
	'10|0|1|ok', 'with the standby caught up, a run is not throttled');

# Pause replay and write a few MB of WAL: the lag passes the 1 MB bound.
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$primary->safe_psql('postgres',
	q{CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) AS g});
$primary->poll_query_until('postgres', q{
SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0) > 2 * 1024 * 1024
  FROM pg_stat_replication WHERE state = 'streaming'})
  or die 'timed out waiting for the replication lag to grow';

my $runner = $primary->background_psql('postgres');
my $runner_pid = $runner->query_safe('SELECT pg_backend_pid()');
$runner->query_until(qr/started/, "\\echo started\nCALL retention.run('public.tokens');\n");

my $state = RetentionTAP::poll_value($primary, 'postgres',
	q{SELECT state || ': ' || coalesce(throttle_reason, '') FROM retention.status WHERE policy = 'public.tokens'},
	sub { $_[0] =~ /^throttled/ }, 'the run to be throttled');
like($state, qr/^throttled: replication lag \d+ MB over 1024 kB$/,
	'retention.status shows the run throttled, and why');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM tokens'), '1000',
	'no batch ran while the standby lags');
is($primary->safe_psql('postgres', qq{SELECT backend_xmin IS NULL FROM pg_stat_activity WHERE pid = $runner_pid}),
	't', 'the waiting run holds no snapshot');

$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
$primary->poll_query_until('postgres', q{SELECT count(*) = 0 FROM tokens})
  or die 'timed out waiting for the run to go on';
$runner->quit;
is($primary->safe_psql('postgres',
		q{SELECT status, rows_deleted FROM retention.runs WHERE policy = 'public.tokens'}),
	'ok|1000', 'once the standby caught up, the run finished');
is($primary->safe_psql('postgres', q{SELECT state, throttle_reason IS NULL FROM retention.status
                                     WHERE policy = 'public.tokens'}),
	'idle|t', 'and the policy is idle again');
is(RetentionTAP::advisory_locks($primary), '0', 'no advisory lock left');

# max_runtime bounds a throttled run: it ends as partial.
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$primary->safe_psql('postgres', q{
INSERT INTO tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 100) AS i;
INSERT INTO filler SELECT g, repeat('y', 500) FROM generate_series(1, 20000) AS g;
SELECT retention.alter_policy('public.tokens', max_runtime => '1 second');
});
$primary->poll_query_until('postgres', q{
SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0) > 2 * 1024 * 1024
  FROM pg_stat_replication WHERE state = 'streaming'})
  or die 'timed out waiting for the replication lag to grow again';
is($primary->safe_psql('postgres', q{CALL retention.run('public.tokens')}),
	'0|0|0|partial', 'a run throttled past its max_runtime ends as partial');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');

$standby->stop;
$primary->stop;
done_testing();
