# retention.max_rows_per_second paces all runs of the cluster together: two
# policies in two databases, 30 rows each in batches of 10, at 40 rows per
# second for the whole cluster, cannot both finish in less than about 1.5 s
# (60 rows / 40 per second, the first batch free). Only that lower bound is
# asserted: pacing can make runs slower, never faster.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RetentionTAP;

my $node = RetentionTAP::new_node('main');
$node->start;
for my $db ('one', 'two')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 30) AS i;
SELECT retention.add_policy('tokens', 'revoked_at', batch_size => 10);
});
}
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET retention.max_rows_per_second = 40; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT current_setting('retention.max_rows_per_second') = '40'})
  or die 'timed out waiting for the setting';

# Both runs at once, from two sessions.
my $a = $node->background_psql('one');
my $b = $node->background_psql('two');
my $t0 = $node->safe_psql('postgres', q{SELECT extract(epoch FROM clock_timestamp())});
$a->query_until(qr/go/, "\\echo go\nCALL retention.run('public.tokens');\n");
$b->query_until(qr/go/, "\\echo go\nCALL retention.run('public.tokens');\n");
for my $db ('one', 'two')
{
	$node->poll_query_until($db, q{SELECT count(*) = 0 FROM tokens})
	  or die "timed out waiting for the run in $db";
}
$a->quit;
$b->quit;
my $span = $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM clock_timestamp()) - $t0});
cmp_ok($span, '>=', 1.2, 'the cluster-wide limit paced both runs together');
for my $db ('one', 'two')
{
	is($node->safe_psql($db, q{SELECT status, rows_deleted FROM retention.runs}),
		'ok|30', "the run in $db finished");
}

# Off again: a run is not paced.
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET retention.max_rows_per_second; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT current_setting('retention.max_rows_per_second') = '0'})
  or die 'timed out waiting for the setting';
$node->stop;
done_testing();
