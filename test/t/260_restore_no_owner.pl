# A restore without the owner roles, or with pg_restore --no-owner, keeps the
# retention policies: a policy whose owner role does not exist in the target
# cluster belongs to the restoring role, with a WARNING, instead of the whole
# COPY of retention.policy failing. A plain restore with the roles present
# keeps the owners. The run-time owner checks still apply to what was
# restored, and a role that may not write the catalog cannot plant policies
# through a dump.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $src = RetentionTAP::new_node('src');
$src->start;
$src->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE alice LOGIN;
CREATE DATABASE shop;
});
$src->safe_psql('shop', q{
CREATE EXTENSION pg_retention;
GRANT CREATE ON SCHEMA public TO app, alice;
SET ROLE app;
CREATE TABLE tokens (id integer PRIMARY KEY, revoked_at timestamptz);
INSERT INTO tokens SELECT i, CASE WHEN i <= 40 THEN now() - interval '60 days' END
  FROM generate_series(1, 100) AS i;
SELECT retention.add_policy('tokens', 'revoked_at', retain => '30 days', name => 'app tokens');
SET ROLE alice;
CREATE TABLE events (id integer PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO events SELECT i, now() - interval '2 years' FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('events', 'at', retain => '1 year', name => 'alice events');
});
my $dumpfile = PostgreSQL::Test::Utils::tempdir . '/shop.dump';
$src->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', 'shop' ], 'pg_dump of the source');

# Runs pg_restore against $node as $user; returns (exit ok, stderr).
sub restore
{
	my ($node, $db, $user, @opts) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ 'pg_restore', '-h', $node->host, '-p', $node->port, '-U', $user, '-d', $db,
		  @opts, $dumpfile ],
		'>', \$out, '2>', \$err);
	return ($ok, $err);
}

my $owners_sql = q{SELECT string_agg(name || ':' || owner, ',' ORDER BY name)
                     FROM retention.policies};

# --- target without the roles, --no-owner, as another superuser --------------

my $dst = RetentionTAP::new_node('dst');
$dst->start;
$dst->safe_psql('postgres', q{
CREATE ROLE restorer SUPERUSER LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE mallory LOGIN;
CREATE DATABASE noowner OWNER restorer;
});
# (pg_restore shows the server's WARNINGs only with --verbose: read the log.)
my $log_offset = -s $dst->logfile;
my ($ok, $err) = restore($dst, 'noowner', 'restorer', '--no-owner', '--no-privileges');
ok($ok, 'pg_restore --no-owner succeeds without the owner roles') or diag $err;
my $log = substr(slurp_file($dst->logfile), $log_offset);
like($log,
	qr/WARNING:  retention policy owner "app" does not exist; the policy now belongs to role "restorer"/,
	'a WARNING names the missing owner and the new one');
like($log, qr/WARNING:  retention policy owner "alice" does not exist/,
	'one WARNING per missing owner');
is($dst->safe_psql('noowner', $owners_sql), 'alice events:restorer,app tokens:restorer',
	'both policies are restored, owned by the restoring role');
my ($rok, $out, $rerr) = RetentionTAP::run_sql($dst, 'noowner',
	q{CALL retention.run('app tokens')}, extra_params => [ '-U', 'restorer' ]);
ok($rok, 'the restored policy runs') or diag $rerr;
like($out, qr/^40\|0\|\d+\|ok$/, 'it purges the 40 rows revoked 60 days ago');

# --- target with the roles, plain restore ------------------------------------

$dst->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE alice LOGIN;
CREATE DATABASE plain;
});
$log_offset = -s $dst->logfile;
($ok, $err) = restore($dst, 'plain', $dst->safe_psql('postgres', 'SELECT current_user'));
ok($ok, 'plain pg_restore with the roles present succeeds') or diag $err;
unlike(substr(slurp_file($dst->logfile), $log_offset), qr/retention policy owner/,
	'no WARNING when every owner exists');
is($dst->safe_psql('plain', $owners_sql), 'alice events:alice,app tokens:app',
	'the policies keep their owners');

# --- the run-time owner checks still apply -----------------------------------

# With --no-owner the tables belong to the restoring role while alice, who
# exists, keeps her policy: it must not act on a table she does not own.
$dst->safe_psql('postgres', 'CREATE DATABASE tables_moved OWNER restorer');
($ok, $err) = restore($dst, 'tables_moved', 'restorer', '--no-owner', '--no-privileges');
ok($ok, 'pg_restore --no-owner with the roles present succeeds') or diag $err;
is($dst->safe_psql('tables_moved', $owners_sql), 'alice events:alice,app tokens:app',
	'existing owners keep their policies');
$dst->safe_psql('tables_moved', 'ALTER TABLE events OWNER TO bob');
($rok, $out, $rerr) = RetentionTAP::run_sql($dst, 'tables_moved',
	q{CALL retention.run('alice events')});
like("$out $rerr", qr/owner of retention policy "alice events" no longer owns table "events"/,
	'the run refuses a table the policy owner does not own');
is($dst->safe_psql('tables_moved', 'SELECT count(*) FROM events'), '10',
	'no row of that table was removed');

# A role that may not write the catalog cannot plant policies with a dump.
$dst->safe_psql('postgres', 'CREATE DATABASE planted OWNER mallory');
$dst->safe_psql('planted', 'CREATE EXTENSION pg_retention');
($ok, $err) = restore($dst, 'planted', 'mallory', '--no-owner', '--no-privileges');
like($err, qr/permission denied for table policy/, 'a non-superuser cannot COPY policies in');
is($dst->safe_psql('planted', 'SELECT count(*) FROM retention.policy'), '0',
	'no policy was planted');

$src->stop;
$dst->stop;
done_testing();
