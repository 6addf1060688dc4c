# CALL retention.run_due() as the clock of an installation without
# shared_preload_libraries (no background scheduler at all): it runs the due
# policies, honours each policy's schedule, and the kill switch
# retention.enabled, read from the configuration file, stops it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->append_conf('postgresql.conf', "max_prepared_transactions = 0\n");
$node->start;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '', 'nothing is preloaded');

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE t (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO t SELECT i, now() - interval '1 day' FROM generate_series(1, 40) AS i;
INSERT INTO t SELECT i, now() + interval '1 day' FROM generate_series(41, 45) AS i;
SELECT retention.add_policy('t', 'expires_at', name => 'p', schedule => '1 hour', batch_size => 10);
});

is($node->safe_psql('postgres', 'CALL retention.run_due()'), '1|40|0|5|ok',
	'run_due runs the due policy (four batches and a last empty one)');
is( $node->safe_psql('postgres', q{
SELECT trigger, status, rows_deleted FROM retention.runs WHERE policy = 'p'}),
	'run_due|ok|40', 'recorded with trigger run_due');
is( $node->safe_psql('postgres', q{
SELECT state, next_run_at > now() + interval '50 minutes' FROM retention.status WHERE policy = 'p'}),
	'idle|t', 'its next run is one schedule ahead');

$node->safe_psql('postgres',
	q{INSERT INTO t SELECT i, now() - interval '1 day' FROM generate_series(101, 110) AS i});
is($node->safe_psql('postgres', 'CALL retention.run_due()'), '0|0|0|0|ok',
	'a second run_due runs nothing: the policy is not due');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '15', 'the new expired rows wait');

# Due again (as after its schedule), but the kill switch is off.
$node->safe_psql('postgres', q{
UPDATE retention.policy_state SET next_run_at = now() - interval '1 second'});
$node->append_conf('postgresql.conf', "retention.enabled = off\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('retention.enabled') = 'off'})
  or die 'timed out waiting for the reload';
my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', 'CALL retention.run_due()');
ok($ok, 'with retention.enabled = off run_due succeeds');
is($out, '0|0|0|0|skipped', 'runs nothing and says skipped');
like($err, qr/retention.enabled is off/, 'with a notice');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '15', 'nothing was purged');

$node->append_conf('postgresql.conf', "retention.enabled = on\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('retention.enabled') = 'on'})
  or die 'timed out waiting for the reload';
is($node->safe_psql('postgres', 'CALL retention.run_due()'), '1|10|0|2|ok',
	'switched on again, run_due runs it');

$node->stop;
done_testing();
