-- scripts/demo/data.sql: ~1M rows over the last two years, most of them
-- revoked or expired. Deterministic apart from now(): setseed() fixes random().
-- Rows are inserted in created_at order, as an application would have.

SELECT setseed(0.4242) \g /dev/null

-- Access tokens: two-hour tokens, refreshed (and so revoked) by clients;
-- about 88% end up revoked, the rest simply expired without revocation.
INSERT INTO oauth_access_tokens
       (resource_owner_id, application_id, token, refresh_token, expires_in,
        revoked_at, created_at, scopes)
SELECT 1 + (random() * 49999)::int,
       1 + (random() * 199)::int,
       encode(sha256(('access-' || g)::bytea), 'hex'),
       encode(sha256(('refresh-' || g)::bytea), 'hex'),
       7200,
       CASE WHEN random() < 0.88
            THEN least(now(), c + random() * interval '2 hours') END,
       c,
       (ARRAY['api', 'read_user', 'openid profile email', 'read_repository', 'api read_user'])
           [1 + (g % 5)]
  FROM (SELECT g, now() - interval '730 days' * (1 - g / 600000.0) AS c
          FROM generate_series(1, 600000) AS g) AS s
 ORDER BY g;

-- Access grants (authorization codes): valid ten minutes, exchanged (revoked)
-- within seconds in 95% of the cases.
INSERT INTO oauth_access_grants
       (resource_owner_id, application_id, token, expires_in, redirect_uri,
        created_at, revoked_at, scopes)
SELECT 1 + (random() * 49999)::int,
       1 + (g % 200),
       encode(sha256(('grant-' || g)::bytea), 'hex'),
       600,
       'https://app' || (g % 200) || '.example.com/oauth/callback',
       c,
       CASE WHEN random() < 0.95 THEN c + random() * interval '30 seconds' END,
       (ARRAY['api', 'read_user', 'openid profile email'])[1 + (g % 3)]
  FROM (SELECT g, now() - interval '730 days' * (1 - g / 150000.0) AS c
          FROM generate_series(1, 150000) AS g) AS s
 ORDER BY g;

-- Sign-in events: 90% successes, from a few thousand addresses.
INSERT INTO authentication_events
       (created_at, user_id, result, ip_address, provider, user_name)
SELECT c,
       CASE WHEN r < 0.97 THEN u END,
       CASE WHEN r < 0.90 THEN 1 ELSE 0 END,
       ('10.' || (u % 250) || '.' || (u / 250 % 250) || '.' || (g % 250 + 1))::inet,
       (ARRAY['standard', 'standard', 'standard', 'google_oauth2', 'ldapmain'])[1 + (u % 5)],
       'user' || u
  FROM (SELECT g, random() AS r, 1 + (random() * 49999)::int AS u,
               now() - interval '730 days' * (1 - g / 250000.0) AS c
          FROM generate_series(1, 250000) AS g) AS s
 ORDER BY g;

VACUUM (ANALYZE) oauth_access_tokens, oauth_access_grants, authentication_events;
