-- scripts/bench/lookup.sql: pgbench script of the benchmark's load (weight 9).
-- Run by scripts/bench/load.py (pgbench -M prepared -D nrows=N -f lookup.sql@9):
-- looks a token up by value, as an OAuth server does on every API call.
-- :r is a random row number of the template; tokens are md5('tok' || id),
-- so about 60% of the lookups miss once the purge has removed their row.
\set r random(1, :nrows)
SELECT id, resource_owner_id, application_id, expires_in, revoked_at, created_at, scopes
  FROM oauth_access_tokens
 WHERE token = md5('tok' || :r::text);
