-- scripts/bench/insert.sql: pgbench script of the benchmark's load (weight 1).
-- Run by scripts/bench/load.py (pgbench -M prepared -f insert.sql@1):
-- a new live token (never revoked, so never purgeable), as a sign-in does.
\set owner random(1, 100000)
\set app random(1, 50)
INSERT INTO oauth_access_tokens (resource_owner_id, application_id, token, refresh_token,
                                 expires_in, created_at, scopes)
VALUES (:owner, :app, md5(gen_random_uuid()::text), md5(gen_random_uuid()::text),
        7200, now(), 'api');
