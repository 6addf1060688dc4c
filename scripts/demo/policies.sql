-- scripts/demo/policies.sql: GitLab's retention rules as pg_retention policies.

-- Access tokens revoked more than a month ago move to an archive table.
SELECT retention.add_policy('oauth_access_tokens',
                            expires_at => 'revoked_at',
                            retain     => '1 month',
                            mode       => 'archive');

-- Grants revoked, or expired unused, more than a month ago: archived too.
SELECT retention.add_policy('oauth_access_grants',
                            expires_at => 'coalesce(revoked_at, created_at + make_interval(secs => expires_in))',
                            retain     => '1 month',
                            mode       => 'archive');

-- Authentication events are kept for a year, then deleted.
SELECT retention.add_policy('authentication_events',
                            expires_at => 'created_at',
                            retain     => '1 year');
