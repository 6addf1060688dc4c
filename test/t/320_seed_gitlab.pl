# Seed scenario 001 end to end (issue #11, "Done when"): GitLab's plan for
# oauth_access_tokens, oauth_access_grants and authentication_events, with no
# script beside the extension. The policies come from retention.preset('gitlab')
# through retention.apply(); the background scheduler runs them:
#   - tokens and grants revoked more than a month ago go to the archive,
#     active ones and recently revoked ones stay;
#   - archived rows older than the archive retention (3 months) are removed
#     by the archive stage, younger archived rows stay;
#   - a mistaken purge is brought back with retention.restore();
#   - retention.metrics shows both stages.
# Every token version is in exactly one place at the end.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('main', scheduler => 1);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE gitlab');

# GitLab's tables as db/structure.sql defines them (the columns the policies
# read), and the rows of a GitLab.com that ran for a while.
$node->safe_psql('gitlab', q{
CREATE TABLE oauth_access_tokens (
    id bigint PRIMARY KEY, resource_owner_id bigint, application_id bigint,
    token character varying NOT NULL, refresh_token character varying,
    expires_in integer DEFAULT 7200, revoked_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL, scopes character varying,
    previous_refresh_token character varying DEFAULT ''::character varying NOT NULL);
CREATE TABLE oauth_access_grants (
    id bigint PRIMARY KEY, resource_owner_id bigint NOT NULL, application_id bigint NOT NULL,
    token character varying NOT NULL, expires_in integer NOT NULL, redirect_uri text NOT NULL,
    created_at timestamp without time zone NOT NULL, revoked_at timestamp without time zone,
    scopes character varying DEFAULT ''::character varying NOT NULL,
    code_challenge text, code_challenge_method text);
CREATE TABLE authentication_events (
    id bigint PRIMARY KEY, created_at timestamp with time zone NOT NULL, user_id bigint,
    result smallint NOT NULL, ip_address inet, provider text NOT NULL, user_name text NOT NULL);
-- ids 1..400: revoked 40 days ago (purgeable); 401..600: revoked 5 days ago;
-- 601..1000: active.
INSERT INTO oauth_access_tokens (id, token, created_at, revoked_at)
SELECT i, 'tok' || i, now() - interval '90 days',
       CASE WHEN i <= 400 THEN now() - interval '40 days'
            WHEN i <= 600 THEN now() - interval '5 days' END
  FROM generate_series(1, 1000) AS i;
-- grants 1..100 revoked 60 days ago; 101..200 still valid (10 minutes).
INSERT INTO oauth_access_grants (id, resource_owner_id, application_id, token, expires_in,
                                 redirect_uri, created_at, revoked_at)
SELECT i, 1, 1, 'grant' || i, 600, 'https://example.com/cb', now(),
       CASE WHEN i <= 100 THEN now() - interval '60 days' END
  FROM generate_series(1, 200) AS i;
INSERT INTO authentication_events (id, created_at, result, provider, user_name)
SELECT i, now() - (i || ' days')::interval, 1, 'standard', 'user' || i
  FROM generate_series(1, 500) AS i;
CREATE TABLE ledger AS SELECT id, token, revoked_at FROM oauth_access_tokens;
CREATE EXTENSION pg_retention;
});

# One call declares the three policies; a second changes nothing.
my $diff = $node->safe_psql('gitlab', q{
SELECT string_agg(action || ':' || policy, ',' ORDER BY policy)
  FROM retention.apply(retention.preset('gitlab'))});
is($diff, 'add:gitlab_access_grants,add:gitlab_access_tokens,add:gitlab_authentication_events',
	'apply(preset(gitlab)) adds the three policies');
is($node->safe_psql('gitlab', q{SELECT count(*) FROM retention.apply(retention.preset('gitlab'))}),
	'0', 'applying the preset again changes nothing');
is($node->safe_psql('gitlab', q{
SELECT string_agg(name || ':' || mode || ':' || retain || ':' || archive_retain, ',' ORDER BY name)
  FROM retention.policies}),
	'gitlab_access_grants:archive:1 mon:3 mons,gitlab_access_tokens:archive:1 mon:3 mons,'
	  . 'gitlab_authentication_events:archive:1 year:3 mons',
	'archive mode, one month (events: one year), archived rows kept 3 months');

my ($ok, $out, $err);
ok(defined RetentionTAP::poll_value($node, 'gitlab',
		q{SELECT count(*) FROM retention.runs WHERE policy = 'gitlab_access_tokens'
		   AND trigger = 'worker' AND status = 'ok' AND stage = 'purge'},
		sub { $_[0] =~ /^[1-9]/ }, 'a worker run of the tokens policy'),
	'the scheduler ran the tokens policy');
is($node->safe_psql('gitlab', q{
SELECT (SELECT count(*) FROM oauth_access_tokens) || '/'
    || (SELECT count(*) FROM retention_archive.oauth_access_tokens) || '/'
    || (SELECT count(*) FROM oauth_access_tokens WHERE revoked_at < now() - interval '1 month')}),
	'600/400/0', 'tokens revoked more than a month ago are in the archive, the rest stayed');
ok(defined RetentionTAP::poll_value($node, 'gitlab',
		q{SELECT (SELECT count(*) FROM oauth_access_grants) || '/'
		      || (SELECT count(*) FROM retention_archive.oauth_access_grants)},
		sub { $_[0] eq '100/100' }, 'the grants archived'),
	'grants revoked two months ago are archived, valid grants stay');

# The archive stage: 50 of the archived rows came in four months ago (as if
# an earlier run had archived them then). The scheduler is switched off and
# has let go of every policy, then one run goes: purge stage, archive stage.
$node->safe_psql('gitlab', q{
ALTER SYSTEM SET retention.enabled = off;
SELECT pg_reload_conf();
UPDATE retention_archive.oauth_access_tokens SET archived_at = now() - interval '4 months'
 WHERE id <= 50;});
ok(defined RetentionTAP::poll_value($node, 'gitlab',
		q{SELECT count(*) FROM retention.status WHERE running_pid IS NOT NULL},
		sub { $_[0] eq '0' }, 'no policy running'),
	'the scheduler runs nothing once switched off');
($ok, $out, $err) = RetentionTAP::run_sql($node, 'gitlab',
	q{CALL retention.run('gitlab_access_tokens')});
ok($ok, 'a run of the tokens policy') or diag $err;
is($node->safe_psql('gitlab', q{
SELECT (SELECT count(*) FROM retention_archive.oauth_access_tokens) || '/'
    || (SELECT count(*) FROM retention_archive.oauth_access_tokens WHERE id <= 50)}),
	'350/0', 'the archive stage removed exactly the archived rows older than 3 months');

# A mistaken purge: tokens 51..60 should not have gone. Restore them.
($ok, $out, $err) = RetentionTAP::run_sql($node, 'gitlab',
	q{CALL retention.restore('gitlab_access_tokens', filter => 'id BETWEEN 51 AND 60')});
ok($ok, 'restore() runs') or diag $err;
is($node->safe_psql('gitlab', q{
SELECT (SELECT count(*) FROM oauth_access_tokens WHERE id BETWEEN 51 AND 60) || '/'
    || (SELECT count(*) FROM retention_archive.oauth_access_tokens WHERE id BETWEEN 51 AND 60)}),
	'10/0', 'the restored tokens are back in the table and gone from the archive');

# Every token of the ledger is in exactly one place, unless the archive
# stage removed it on purpose (ids 1..50).
is($node->safe_psql('gitlab', q{
SELECT count(*) FROM ledger l
 WHERE l.id > 50
   AND (SELECT count(*) FROM oauth_access_tokens t WHERE t.id = l.id)
     + (SELECT count(*) FROM retention_archive.oauth_access_tokens a WHERE a.id = l.id) <> 1}),
	'0', 'every token is in exactly one place');

# Metrics show both stages, as a pg_monitor role sees them.
$node->safe_psql('gitlab', 'CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
my $m = $node->safe_psql('gitlab', q{
SET ROLE watcher;
SELECT rows_archived_total || '/' || archive_rows_deleted_total || '/'
    || (archive_last_success_timestamp_seconds > 0)
  FROM retention.metrics WHERE policy = 'gitlab_access_tokens'});
is($m, '400/50/true', 'retention.metrics shows the purge stage and the archive stage apart');
is($node->safe_psql('gitlab', q{
SELECT string_agg(DISTINCT stage || ':' || status, ',' ORDER BY stage || ':' || status)
  FROM retention.runs WHERE policy = 'gitlab_access_tokens' AND trigger = 'manual'}),
	'archive:ok,purge:ok', 'retention.runs records both stages of the run');

$node->stop;
done_testing();
