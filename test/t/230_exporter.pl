# Prometheus' postgres_exporter (Debian's prometheus-postgres-exporter) with
# the shipped monitoring/postgres_exporter.yml, connected as a pg_monitor
# role that owns no policy, on a free loopback port: after runs, /metrics has
# every retention.metrics series with the right values, a broken policy
# reports broken without failing the scrape, and the Grafana dashboard uses
# only metrics the file exports.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep);

my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => "$exporter is not installed (Debian package prometheus-postgres-exporter)"
  unless -x $exporter;

my $monitoring = "$FindBin::RealBin/../../monitoring";
my $queries = "$monitoring/postgres_exporter.yml";

# --- the metric names the queries file exports and the dashboard uses ------

sub exported_metrics
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!";
	my ($query, %names, $name);
	while (my $line = <$fh>)
	{
		$query = $1 if $line =~ /^(\w+):\s*$/;
		$name = $1 if $line =~ /^\s+-\s+(\w+):\s*$/;
		$names{"${query}_$name"} = 1
		  if $line =~ /^\s+usage:\s*"(GAUGE|COUNTER)"/ && defined $query;
	}
	return \%names;
}

sub dashboard_metrics
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!";
	my $json = decode_json(do { local $/; <$fh> });
	my %names;
	my @stack = ($json);
	while (my $node = pop @stack)
	{
		if (ref $node eq 'HASH')
		{
			for my $key (keys %$node)
			{
				my $v = $node->{$key};
				if (!ref $v && ($key eq 'expr' || $key eq 'query' || $key eq 'definition'))
				{
					$names{$1} = 1 while $v =~ /\b(pg_retention_\w+)/g;
				}
				push @stack, $v if ref $v;
			}
		}
		elsif (ref $node eq 'ARRAY') { push @stack, @$node; }
	}
	return \%names;
}

my $exported = exported_metrics($queries);
my $used = dashboard_metrics("$monitoring/grafana-dashboard.json");
ok(scalar(keys %$exported) >= 10, 'the queries file exports the retention metrics')
  or diag explain $exported;
ok(scalar(keys %$used) >= 5, 'the dashboard uses retention metrics');
my @unknown = grep { !$exported->{$_} } sort keys %$used;
is("@unknown", '', 'the dashboard uses only metrics that postgres_exporter.yml exports');

# --- a server with policies and runs -----------------------------------------

my $node = RetentionTAP::new_node('exporter');
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_retention;
CREATE ROLE tenant;
CREATE ROLE scraper LOGIN IN ROLE pg_monitor;
CREATE TABLE sessions (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE INDEX ON sessions (expires_at);
INSERT INTO sessions
SELECT i, CASE WHEN i <= 3000 THEN now() - interval '2 days' ELSE now() + interval '2 days' END
  FROM generate_series(1, 4000) AS i;
ANALYZE sessions;
ALTER TABLE sessions OWNER TO tenant;
CREATE TABLE tokens (id integer PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE tokens OWNER TO tenant;
SET ROLE tenant;
SELECT retention.add_policy('sessions', 'expires_at', batch_size => 500);
SELECT retention.add_policy('tokens', 'revoked_at');
CALL retention.run('public.sessions', max_rows => 1000);
CALL retention.run('public.sessions');
RESET ROLE;
ALTER TABLE tokens DROP COLUMN revoked_at;
});
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM retention.policies WHERE owner = 'scraper'}),
	'0', 'the scraping role owns no policy');

# --- the exporter ------------------------------------------------------------

# A free loopback port: bound by the kernel's choice, then released for the
# exporter. Another process could take it in between: then try another.
sub free_port
{
	my $sock = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 0)
	  or die "no free port: $!";
	my $port = $sock->sockport;
	close $sock;
	return $port;
}

my $http = HTTP::Tiny->new(timeout => 10);
my $dsn = sprintf('host=%s port=%d user=scraper dbname=postgres sslmode=disable',
	$node->host, $node->port);
my ($handle, $url, $log);
for my $attempt (1 .. 5)
{
	my $port = free_port();
	$url = "http://127.0.0.1:$port/metrics";
	$log = '';
	local $ENV{DATA_SOURCE_NAME} = $dsn;
	$handle = IPC::Run::start(
		[
			$exporter, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries", '--disable-settings-metrics',
			'--log.level=warn'
		],
		'<', \undef, '>&', \$log);
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline && $handle->pumpable)
	{
		my $r = $http->get($url);
		last if $r->{success};
		usleep(100_000);
		$handle->pump_nb;
	}
	last if $handle->pumpable;
	$handle->finish;
	diag "exporter attempt $attempt on port $port ended: $log";
	undef $handle;
}
ok(defined $handle, 'postgres_exporter serves /metrics on a free loopback port') or diag $log;

# Scrapes until $pred holds for the body (the first scrapes may precede the
# exporter's connection), or the default timeout.
sub scrape_until
{
	my ($pred) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my $body = '';
	while (time < $deadline)
	{
		my $r = $http->get($url);
		$body = $r->{content} if $r->{success};
		return $body if $pred->($body);
		usleep(200_000);
	}
	return $body;
}

sub value_of
{
	my ($body, $metric, $policy) = @_;
	return $1 if $body =~ /^\Q$metric\E\{[^}]*policy="\Q$policy\E"[^}]*\}\s+(\S+)\s*$/m;
	return undef;
}

my $body = scrape_until(sub { defined value_of($_[0], 'pg_retention_runs_total', 'public.sessions') });
is(value_of($body, 'pg_retention_runs_total', 'public.sessions'), '2', 'runs_total counts both runs');
is(value_of($body, 'pg_retention_rows_deleted_total', 'public.sessions'),
	'3000', 'rows_deleted_total counts every removed row');
is(value_of($body, 'pg_retention_backlog_rows', 'public.sessions'), '0', 'caught up: no backlog');
is(value_of($body, 'pg_retention_behind_by_seconds', 'public.sessions'), '0', 'caught up: behind by 0');
is(value_of($body, 'pg_retention_broken', 'public.sessions'), '0', 'sessions is not broken');
is(value_of($body, 'pg_retention_broken', 'public.tokens'), '1',
	'the broken policy reports broken, and the scrape still works');
cmp_ok(value_of($body, 'pg_retention_last_success_timestamp_seconds', 'public.sessions'),
	'>', 1_600_000_000, 'last success is a Unix time');
like($body, qr/^# TYPE pg_retention_runs_total counter$/m, 'runs_total is a counter');
like($body, qr/^# TYPE pg_retention_backlog_rows gauge$/m, 'backlog_rows is a gauge');
for my $metric (sort keys %$exported)
{
	ok(defined value_of($body, $metric, 'public.sessions'), "$metric is scraped");
}
for my $metric (sort keys %$used)
{
	like($body, qr/^\Q$metric\E\{/m, "dashboard metric $metric is served");
}

# A failing run shows up in the counters at the next scrape.
$node->safe_psql('postgres', q{CALL retention.run('public.tokens')});
$body = scrape_until(sub { (value_of($_[0], 'pg_retention_failed_runs_total', 'public.tokens') // '') eq '1' });
is(value_of($body, 'pg_retention_failed_runs_total', 'public.tokens'), '1', 'the failed run is counted');
is(value_of($body, 'pg_retention_consecutive_failures', 'public.tokens'), '1',
	'consecutive_failures follows');

$handle->kill_kill;
$handle->finish;
$node->stop;
done_testing();
