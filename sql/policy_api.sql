-- The policy API: add, inspect, preview, run, alter, pause, resume, drop.
CREATE EXTENSION pg_retention;

CREATE TABLE oauth_access_tokens (
    id          bigint PRIMARY KEY,
    token       text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_in  integer NOT NULL,
    revoked_at  timestamptz
);
-- 100 tokens: every third revoked 40 days ago, every fifth revoked 10 days ago,
-- the rest live.
INSERT INTO oauth_access_tokens
SELECT i, 'tok' || i, now() - interval '60 days', 7200,
       CASE WHEN i % 3 = 0 THEN now() - interval '40 days'
            WHEN i % 5 = 0 THEN now() - interval '10 days' END
FROM generate_series(1, 100) AS i;

-- Delete mode, name defaults to the table's qualified name.
SELECT retention.add_policy('oauth_access_tokens', 'revoked_at', retain => '30 days');
SELECT name, relation, expires_at, retain, mode, archive_table, filter, schedule, batch_size,
       enabled, paused, owner = current_user AS owned_by_me
FROM retention.policies;

SELECT purgeable_rows, oldest_expiry IS NOT NULL AS has_oldest, access_path, batch_size, mode
FROM retention.preview('public.oauth_access_tokens');
-- preview changed nothing
SELECT count(*) FROM oauth_access_tokens;

-- Small batches so the run takes several transactions.
SELECT retention.alter_policy('public.oauth_access_tokens', batch_size => 10);
CALL retention.run('public.oauth_access_tokens');
SELECT count(*) AS left_total,
       count(*) FILTER (WHERE revoked_at < now() - interval '30 days') AS left_purgeable
FROM oauth_access_tokens;
SELECT policy, trigger, status, rows_deleted, rows_archived, batches, sqlstate, error,
       finished_at >= started_at AS finished
FROM retention.runs ORDER BY run_id;

-- Nothing left: a second run deletes nothing.
CALL retention.run('public.oauth_access_tokens');

-- The next regular run comes one schedule after the last start; a new
-- schedule re-times it.
SELECT state, last_status, next_run_at - last_started_at AS next_after
FROM retention.status WHERE policy = 'public.oauth_access_tokens';
SELECT retention.alter_policy('public.oauth_access_tokens', schedule => '1 day');
SELECT next_run_at - last_started_at AS next_after
FROM retention.status WHERE policy = 'public.oauth_access_tokens';
SELECT retention.alter_policy('public.oauth_access_tokens', schedule => '1 hour');

-- Alter only what is given.
SELECT retention.alter_policy('public.oauth_access_tokens', retain => '7 days', filter => 'expires_in > 0');
SELECT name, expires_at, retain, filter, batch_size, schedule FROM retention.policies;
SELECT purgeable_rows FROM retention.preview('public.oauth_access_tokens');
-- filter => '' removes the filter, batch_size => 0 hands the size back to the engine
SELECT retention.alter_policy('public.oauth_access_tokens', filter => '', batch_size => 0);
SELECT name, filter, batch_size FROM retention.policies;

-- Expressions are stored in canonical form.
SELECT retention.alter_policy('public.oauth_access_tokens',
    expires_at => 'coalesce(revoked_at, created_at + make_interval(secs => expires_in))');
SELECT expires_at FROM retention.policies;

-- Pause and resume.
SELECT retention.pause('public.oauth_access_tokens');
SELECT paused FROM retention.policies;
-- run(NULL) skips paused policies
CALL retention.run();
SELECT retention.resume('public.oauth_access_tokens');
SELECT paused FROM retention.policies;

-- A second policy with its own name on the same table.
SELECT retention.add_policy('oauth_access_tokens', 'created_at', retain => '1 year',
                            name => 'old tokens', enabled => false);
SELECT name, enabled FROM retention.policies ORDER BY name;

-- max_rows stops early with status partial.
UPDATE oauth_access_tokens SET revoked_at = now() - interval '90 days' WHERE id <= 20;
SELECT retention.alter_policy('public.oauth_access_tokens', expires_at => 'revoked_at',
                              retain => '30 days', batch_size => 3);
CALL retention.run('public.oauth_access_tokens', max_rows => 5);
-- A partial run left work: the policy is due again at once.
SELECT last_status, next_run_at <= now() AS due_again FROM retention.status
WHERE policy = 'public.oauth_access_tokens';
CALL retention.run('public.oauth_access_tokens');

-- run(NULL) runs every enabled policy.
UPDATE oauth_access_tokens SET revoked_at = now() - interval '90 days' WHERE id BETWEEN 21 AND 25;
CALL retention.run();

-- Archive mode: the default archive table.
CREATE TABLE oauth_access_grants (
    id          bigint PRIMARY KEY,
    token       text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_in  integer NOT NULL,
    revoked_at  timestamptz
);
INSERT INTO oauth_access_grants
SELECT i, 'grant' || i, now() - (i || ' days')::interval, 600, NULL
FROM generate_series(1, 60) AS i;
CREATE TABLE grants_before AS SELECT * FROM oauth_access_grants;
SELECT retention.add_policy('oauth_access_grants',
    'coalesce(revoked_at, created_at + make_interval(secs => expires_in))',
    retain => '30 days', mode => 'archive', batch_size => 7);
\d retention_archive.oauth_access_grants
SELECT relowner::regrole = current_user::regrole AS owned_by_policy_owner,
       relacl IS NOT NULL AS acl_set
FROM pg_class WHERE oid = 'retention_archive.oauth_access_grants'::regclass;
-- the archive table is not part of the extension
SELECT count(*) FROM pg_depend
WHERE objid = 'retention_archive.oauth_access_grants'::regclass AND deptype = 'e';
CALL retention.run('public.oauth_access_grants');
-- every row in exactly one place, nothing changed on the way
SELECT (SELECT count(*) FROM oauth_access_grants) AS source,
       (SELECT count(*) FROM retention_archive.oauth_access_grants) AS archive;
SELECT count(*) AS lost FROM (
    SELECT * FROM grants_before
    EXCEPT ALL
    (SELECT * FROM oauth_access_grants
     UNION ALL
     SELECT id, token, created_at, expires_in, revoked_at FROM retention_archive.oauth_access_grants)
) AS missing;
SELECT count(*) AS in_both FROM oauth_access_grants g
JOIN retention_archive.oauth_access_grants a USING (id);
SELECT count(*) AS archived_too_young FROM retention_archive.oauth_access_grants
WHERE created_at + make_interval(secs => expires_in) >= now() - interval '30 days';

-- Switching to delete mode forgets the archive table but keeps its rows.
SELECT retention.alter_policy('public.oauth_access_grants', mode => 'delete');
SELECT name, mode, archive_table FROM retention.policies WHERE name = 'public.oauth_access_grants';
SELECT count(*) FROM retention_archive.oauth_access_grants;

-- Drop.
SELECT retention.drop_policy('old tokens');
SELECT name FROM retention.policies ORDER BY name;

-- Dropping a table drops its policies.
DROP TABLE oauth_access_grants;
SELECT name FROM retention.policies ORDER BY name;

-- DROP EXTENSION keeps the archived rows.
DROP EXTENSION pg_retention;
SELECT count(*) FROM retention_archive.oauth_access_grants;
CREATE EXTENSION pg_retention;
SELECT count(*) FROM retention.policies;

DROP TABLE oauth_access_tokens, grants_before;
DROP SCHEMA retention_archive CASCADE;
DROP EXTENSION pg_retention;
