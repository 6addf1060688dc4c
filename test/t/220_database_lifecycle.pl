# Database-wide commands on a database the scheduler serves (issue #10):
# CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME TO and
# ... SET TABLESPACE, DROP DATABASE without FORCE, and createdb -T / dropdb,
# all succeed while a scheduler is connected; the scheduler makes way, and
# comes back (for the copy too) once the command is done. A role that may not
# run the command gets PostgreSQL's error and stops nothing. A scheduler held
# mid-run ends its run after the batch in flight, recorded as partial.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('lifecycle', scheduler => 1);
$node->start;
RetentionTAP::wait_for_launcher($node);

$node->safe_psql('postgres', q{CREATE ROLE stranger LOGIN; CREATE DATABASE app});
$node->safe_psql(
	'app', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL);
INSERT INTO tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 100) AS i;
SELECT retention.add_policy('tokens', 'expires_at', schedule => '1 hour');
SELECT retention.wakeup();
});
$node->poll_query_until('app', 'SELECT count(*) = 0 FROM tokens')
  or die 'timed out waiting for the first scheduled run';
my $sched = RetentionTAP::wait_for_scheduler($node, 'app');
pass("a scheduler ($sched) serves app and has run its policy");

# Runs $sql in database postgres; returns ($ok, $stderr).
sub in_postgres
{
	my ($sql, %opts) = @_;
	my ($ok, $out, $err) = RetentionTAP::run_sql($node, 'postgres', $sql, %opts);
	return ($ok, $err);
}

# --- a role that may not run the command stops nothing ---------------------

my ($ok, $err) = in_postgres(q{SET ROLE stranger; DROP DATABASE app});
ok(!$ok, 'DROP DATABASE by a role that does not own app fails');
like($err, qr/must be owner of database app/, "with PostgreSQL's own error");
is(RetentionTAP::scheduler_pids($node, 'app'), $sched, 'and the scheduler of app is untouched');

# --- CREATE DATABASE ... TEMPLATE --------------------------------------------

($ok, $err) = in_postgres('CREATE DATABASE app_copy TEMPLATE app');
ok($ok, 'CREATE DATABASE ... TEMPLATE app succeeds while its scheduler runs') or diag $err;
is($node->safe_psql('app_copy', q{SELECT name FROM retention.policies}),
	'public.tokens', 'the copy has the policy');
my $sched2 = RetentionTAP::wait_for_scheduler($node, 'app');
isnt($sched2, $sched, 'a new scheduler serves app again');
my $sched_copy = RetentionTAP::wait_for_scheduler($node, 'app_copy');
ok($sched_copy, 'and one serves the copy');

# createdb -T, the tool Django's and CI fixtures' cloning uses.
$node->command_ok([ 'createdb', '-h', $node->host, '-p', $node->port, '-T', 'app', 'app_copy2' ],
	'createdb -T app succeeds');
$sched = RetentionTAP::wait_for_scheduler($node, 'app');

# --- ALTER DATABASE ... RENAME TO and SET TABLESPACE -------------------------

($ok, $err) = in_postgres('ALTER DATABASE app RENAME TO app_renamed');
ok($ok, 'ALTER DATABASE app RENAME TO succeeds') or diag $err;
my $sched_renamed = RetentionTAP::wait_for_scheduler($node, 'app_renamed');
ok($sched_renamed, 'the renamed database is served again');

my $tsdir = PostgreSQL::Test::Utils::tempdir_short();
$node->safe_psql('postgres', "CREATE TABLESPACE elsewhere LOCATION '$tsdir'");
($ok, $err) = in_postgres('ALTER DATABASE app_renamed SET TABLESPACE elsewhere');
ok($ok, 'ALTER DATABASE ... SET TABLESPACE succeeds') or diag $err;
is( $node->safe_psql(
		'postgres', q{
SELECT t.spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
 WHERE d.datname = 'app_renamed'}),
	'elsewhere', 'and the database moved');
RetentionTAP::wait_for_scheduler($node, 'app_renamed', $sched_renamed);
pass('the moved database is served again');

# --- a transaction block holds the scheduler off until it ends ----------------

my $session = $node->background_psql('postgres');
$session->query_safe('BEGIN; ALTER DATABASE app_renamed RENAME TO app');
RetentionTAP::wait_for_no_scheduler($node, 'app_renamed');
# The launcher looks every naptime (200 ms here): watch ten of them.
ok( RetentionTAP::never_within(
		sub { RetentionTAP::scheduler_pids($node, 'app_renamed') },
		sub { $_[0] ne '' }, 2, $node),
	'no scheduler comes back while the renaming transaction is open');
$session->query_safe('COMMIT');
$session->quit;
RetentionTAP::wait_for_scheduler($node, 'app');
pass('after COMMIT the database is served again under its new name');

# --- DROP DATABASE and dropdb --------------------------------------------------

RetentionTAP::wait_for_scheduler($node, 'app_copy');
($ok, $err) = in_postgres('DROP DATABASE app_copy');
ok($ok, 'DROP DATABASE (no FORCE) of a served database succeeds') or diag $err;
RetentionTAP::wait_for_scheduler($node, 'app_copy2');
$node->command_ok([ 'dropdb', '-h', $node->host, '-p', $node->port, 'app_copy2' ],
	'dropdb of a served database succeeds');

# --- a scheduler held mid-run ends its run after the batch in flight ---------

$node->safe_psql(
	'app', q{
CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO events SELECT i, now() - interval '1 day' FROM generate_series(1, 300) AS i;});
$node->safe_psql('postgres', 'CREATE DATABASE app_mid TEMPLATE app');
my $sched_mid = RetentionTAP::wait_for_scheduler($node, 'app_mid');
my ($holder) = RetentionTAP::hold_waitpoints($node, 'app_mid', 'before_batch');
$node->safe_psql('app_mid',
	q{SELECT retention.add_policy('events', 'at', batch_size => 100); SELECT retention.wakeup()});
RetentionTAP::wait_for_waitpoint($node, $sched_mid);
my $dropper = $node->background_psql('postgres');
$dropper->query_until(qr/dropping/, "\\echo dropping\nCREATE DATABASE app_mid_copy TEMPLATE app_mid;\n");
$holder->query_safe(q{SELECT retention_internal.debug_waitpoint_release('before_batch')});
RetentionTAP::quit_session($holder);
$dropper->quit;
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app_mid_copy'}),
	'1', 'CREATE DATABASE ... TEMPLATE waited for the run in flight and succeeded');
is( $node->safe_psql(
		'app_mid', q{
SELECT status, batches FROM retention.runs WHERE policy = 'public.events' ORDER BY run_id LIMIT 1}),
	'partial|1', 'that run stopped after its batch and is recorded as partial');
is($node->poll_query_until('app_mid', 'SELECT count(*) = 0 FROM events'), 1,
	'the scheduler that came back finishes the purge');

$node->stop;
done_testing();
