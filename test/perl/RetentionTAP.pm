# RetentionTAP: small helpers shared by the pg_retention TAP tests.
#
#   my $node = RetentionTAP::new_node('primary', allows_streaming => 1);
#   my $node = RetentionTAP::new_node('primary', scheduler => 1);
#   my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'db', $sql, %psql_opts);
#
# Every node gets pg_retention preloaded, as production servers must. The
# background scheduler starts no runs (retention.enabled = off) unless the
# test asks for it with scheduler => 1; then it checks every 200 ms and the
# test waitpoints are armed.
package RetentionTAP;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# A fresh, initialised (not started) node with the module preloaded.
# %init_params go to PostgreSQL::Test::Cluster::init.
sub new_node
{
	my ($name, %init_params) = @_;
	my $scheduler = delete $init_params{scheduler};
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init_params);
	$node->append_conf('postgresql.conf', <<'EOC');
shared_preload_libraries = 'pg_retention'
max_prepared_transactions = 0
EOC
	$node->append_conf('postgresql.conf',
		$scheduler
		? "retention.enabled = on\nretention.naptime = '200ms'\n"
		  . "retention.enable_debug_waitpoints = on\n"
		: "retention.enabled = off\n");
	return $node;
}

# Runs $sql with psql, never dying on an SQL error. Returns
# ($ok, $stdout, $stderr), $ok true when psql exited with status 0.
# The script stops at its first error; pass on_error_stop => 0 to go on.
# Extra options (connstr, extra_params, ...) go to $node->psql.
sub run_sql
{
	my ($node, $db, $sql, %opts) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		$db, $sql,
		stdout        => \$out,
		stderr        => \$err,
		on_error_stop => 1,
		timeout       => $PostgreSQL::Test::Utils::timeout_default,
		%opts);
	return ($rc == 0, $out, $err);
}

# Number of advisory locks held in the whole cluster (any database).
sub advisory_locks
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory'");
}

1;
