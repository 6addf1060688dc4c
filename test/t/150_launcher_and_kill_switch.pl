# The launcher and the kill switch after the review fixes:
#  - a launcher that is terminated and comes back does not start a second
#    scheduler for a database that already has one;
#  - turning retention.enabled off while a worker run is between batches
#    stops that run after the batch in flight (status 'partial').
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetentionTAP;

my $node = RetentionTAP::new_node('main', scheduler => 1);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 100) AS i;
});
my $sched = RetentionTAP::wait_for_scheduler($node, 'shop');
my $launcher = RetentionTAP::wait_for_launcher($node);

# --- a restarted launcher adopts the running scheduler ---------------------
for my $round (1 .. 2)
{
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
	$launcher = RetentionTAP::poll_value($node, 'postgres',
		qq{SELECT coalesce((SELECT pid FROM pg_stat_activity
		                     WHERE backend_type = 'pg_retention launcher'
		                       AND pid <> $launcher), 0)},
		sub { $_[0] ne '0' }, "a new launcher (round $round)");
	# Give the new launcher a few passes (naptime 200 ms) to make a mistake.
	RetentionTAP::try_poll_value($node, 'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_retention scheduler'},
		sub { $_[0] > 1 }, 2);
	is(RetentionTAP::scheduler_pids($node, 'shop'), $sched,
		"round $round: still exactly the one scheduler of the database");
}

# --- the kill switch stops a run between batches ---------------------------
my ($holder, $holder_pid) =
  RetentionTAP::hold_waitpoints($node, 'shop', 'after_delete_before_commit');
$node->safe_psql('shop', q{
SELECT retention.add_policy('tokens', 'revoked_at', batch_size => 10, schedule => '1 hour');
SELECT retention.wakeup();
});
RetentionTAP::wait_for_waitpoint($node, $sched);
# The first batch has deleted its rows but not committed; switch off now.
$node->safe_psql('postgres', q{ALTER SYSTEM SET retention.enabled = off; SELECT pg_reload_conf()});
# The reload reaches the scheduler while it waits; let the batch commit.
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('after_delete_before_commit')});
RetentionTAP::quit_session($holder);
my $status = RetentionTAP::poll_value($node, 'shop',
	q{SELECT coalesce((SELECT status FROM retention.runs ORDER BY run_id DESC LIMIT 1), '')},
	sub { $_[0] ne '' && $_[0] ne 'running' }, 'the worker run to end');
is($status, 'partial', 'the run ended after the batch in flight, as partial');
is($node->safe_psql('shop', 'SELECT count(*) FROM tokens'), '90',
	'exactly one batch of 10 rows was purged');
is($node->safe_psql('shop', q{SELECT batches FROM retention.runs ORDER BY run_id DESC LIMIT 1}),
	'1', 'one batch recorded');
# Nothing new starts while switched off, even when woken.
$node->safe_psql('shop', q{SELECT retention.alter_policy('public.tokens', schedule => '1 second');
                           SELECT retention.wakeup()});
ok(!defined RetentionTAP::try_poll_value($node, 'shop',
		q{SELECT count(*) FROM retention.runs}, sub { $_[0] > 1 }, 2),
	'no run starts while retention.enabled is off');
$node->safe_psql('postgres', q{ALTER SYSTEM SET retention.enabled = on; SELECT pg_reload_conf()});
RetentionTAP::poll_value($node, 'shop', 'SELECT count(*) FROM tokens',
	sub { $_[0] eq '0' }, 'the worker to finish the job once switched on again');
pass('switched on again, the worker purges the rest');
RetentionTAP::check_quiet($node, 'after the kill switch test');

ok(!$node->log_contains(qr/terminated by signal/), 'no process crashed');
$node->stop;
done_testing();
