-- scripts/bench/template.sql: the benchmark's template table (issue #4).
--
-- Run by scripts/bench/dataset.py (through scripts/bench.sh) in a fresh
-- database with psycopg2 parameters %(rows)s; not meant for psql.
--
-- A Doorkeeper/GitLab-shaped oauth_access_tokens table (columns as in
-- scripts/demo/schema.sql) with %(rows)s rows, inserted in id order. Each
-- row is purgeable or live by a hash of its id (so the same rows every time),
-- about 60%% purgeable, physically interleaved with the live rows:
--   purgeable: revoked between 2 and 702 days before generation;
--   live:      never revoked (3 in 4) or revoked less than 2 hours ago.
-- The benchmark's predicate is revoked_at < now() - interval '1 day', so no
-- row is within 22 hours of the boundary while the benchmark runs.
-- token = md5('tok' || id): the pgbench lookups derive it from a row number.
-- Indexes: the primary key and the unique token index only (built after the
-- load); no index on revoked_at, so pg_retention walks the primary key.

CREATE TABLE oauth_access_tokens (
    id                bigserial,
    resource_owner_id bigint,
    application_id    bigint,
    token             text        NOT NULL,
    refresh_token     text,
    expires_in        integer,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL,
    scopes            text
);

INSERT INTO oauth_access_tokens (id, resource_owner_id, application_id, token,
                                 refresh_token, expires_in, revoked_at,
                                 created_at, scopes)
SELECT g,
       1 + mod(h.h2, 100000),
       1 + mod(h.h2 / 100000, 50),
       md5('tok' || g),
       md5('ref' || g),
       7200,
       r.revoked_at,
       coalesce(r.revoked_at, gen.t) - mod(h.h2, 7200) * interval '1 second',
       CASE WHEN mod(h.h3, 3) = 0 THEN 'api' ELSE 'read_user openid' END
  FROM (SELECT now() AS t) gen,
       generate_series(1::bigint, %(rows)s::bigint) AS g,
       LATERAL (SELECT hashint8(g)::bigint & 2147483647 AS h1,
                       hashint8(-g)::bigint & 2147483647 AS h2,
                       hashint8(g + 1000000000000)::bigint & 2147483647 AS h3) h,
       LATERAL (SELECT CASE
                  WHEN mod(h.h1, 1000) < 600
                    THEN gen.t - interval '2 days' - mod(h.h3, 700 * 86400) * interval '1 second'
                  WHEN mod(h.h3, 4) = 0
                    THEN gen.t - mod(h.h3 / 4, 7200) * interval '1 second'
                END AS revoked_at) r
 ORDER BY g;

ALTER TABLE oauth_access_tokens
  ADD CONSTRAINT oauth_access_tokens_pkey PRIMARY KEY (id),
  ADD CONSTRAINT oauth_access_tokens_token_key UNIQUE (token);

SELECT setval(pg_get_serial_sequence('oauth_access_tokens', 'id'), %(rows)s::bigint);
