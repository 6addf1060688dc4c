-- Least privilege: who may add, change and run a policy, as whom a run
-- executes, and that hostile objects on the search_path are never used.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE regress_app_owner;
CREATE ROLE regress_app_member IN ROLE regress_app_owner;
CREATE ROLE regress_stranger;
CREATE ROLE regress_hacker;
GRANT CREATE ON SCHEMA public TO PUBLIC;   -- as in clusters upgraded from before 15

CREATE TABLE app_tokens (id int PRIMARY KEY, revoked_at timestamptz, who text);
ALTER TABLE app_tokens OWNER TO regress_app_owner;
INSERT INTO app_tokens SELECT i, now() - interval '1 day', NULL FROM generate_series(1, 10) AS i;

-- Users cannot touch the catalog directly.
SET ROLE regress_stranger;
INSERT INTO retention.policy (name, relation, expires_at, retain, mode, schedule, owner,
                              expr_columns, expr_attnums)
VALUES ('evil', 'app_tokens', 'now()', '0', 'delete', '1 hour', 'regress_stranger', '{}', '{}');
UPDATE retention.policy SET owner = 'regress_stranger';
DELETE FROM retention.run_history;
SELECT count(*) FROM retention.policies;  -- the views are readable
-- Only the table owner (or a member of the owning role) may add a policy.
SELECT retention.add_policy('app_tokens', 'revoked_at');
RESET ROLE;

SET ROLE regress_app_member;
SELECT retention.add_policy('app_tokens', 'revoked_at', name => 'member policy', enabled => false);
RESET ROLE;
SET ROLE regress_app_owner;
SELECT retention.add_policy('app_tokens', 'revoked_at', batch_size => 4);
RESET ROLE;
SELECT name, owner FROM retention.policies ORDER BY name;

-- Only the policy owner (or a member of it, or a superuser) may change or run it.
SET ROLE regress_stranger;
SELECT retention.alter_policy('public.app_tokens', retain => '1 year');
SELECT retention.pause('public.app_tokens');
SELECT retention.resume('public.app_tokens');
SELECT retention.drop_policy('public.app_tokens');
SELECT * FROM retention.preview('public.app_tokens');
CALL retention.run('public.app_tokens');
-- run(NULL) runs only the caller's policies: nothing here.
CALL retention.run();
RESET ROLE;
SELECT count(*) AS untouched FROM app_tokens;

-- A run executes as the policy owner, even when a superuser calls it.
CREATE TABLE seen_as (who text, is_super boolean);
GRANT INSERT ON seen_as TO PUBLIC;
CREATE FUNCTION record_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen_as
    SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    RETURN OLD;
END $$;
CREATE TRIGGER record_user BEFORE DELETE ON app_tokens
    FOR EACH ROW EXECUTE FUNCTION record_user();
CALL retention.run('public.app_tokens');
SELECT who, is_super, count(*) FROM seen_as GROUP BY 1, 2;

-- The owner can still run it, and the search_path is pinned while it runs.
INSERT INTO app_tokens SELECT i, now() - interval '1 day' FROM generate_series(11, 12) AS i;
SET ROLE regress_app_owner;
SET search_path = public, pg_catalog;
CALL retention.run('public.app_tokens');
SHOW search_path;      -- restored after the run
SHOW lock_timeout;     -- the batch setting did not leak
RESET search_path;
RESET ROLE;

-- Hostile objects: a hacker owns a table and plants traps that try to make
-- itself superuser when a superuser runs its policy.
CREATE TABLE hacker_tokens (id int PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE hacker_tokens OWNER TO regress_hacker;
SET ROLE regress_hacker;
INSERT INTO hacker_tokens SELECT i, now() - interval '1 day' FROM generate_series(1, 3) AS i;
CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE regress_hacker SUPERUSER;
    RETURN OLD;
END $$;
CREATE TRIGGER escalate BEFORE DELETE ON hacker_tokens
    FOR EACH ROW EXECUTE FUNCTION public.escalate();
-- Shadows of catalog functions and operators in public and pg_temp.
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'infinity'::timestamptz $$;
CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$;
CREATE FUNCTION pg_temp.coalesce_trap(timestamptz) RETURNS timestamptz LANGUAGE sql AS $$ SELECT $1 $$;
SELECT retention.add_policy('hacker_tokens', 'revoked_at');
RESET ROLE;
SET search_path = public, pg_temp, pg_catalog;
CALL retention.run('public.hacker_tokens');
RESET search_path;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hacker';
SELECT status, sqlstate FROM retention.runs WHERE policy = 'public.hacker_tokens';
SELECT count(*) AS hacker_rows_kept FROM hacker_tokens;

-- A policy cannot point its archive at a table the owner may not write.
CREATE TABLE private_archive (id int, revoked_at timestamptz, archived_at timestamptz);
SET ROLE regress_hacker;
SELECT retention.alter_policy('public.hacker_tokens', mode => 'archive', archive_table => 'private_archive');
RESET ROLE;

-- A retention_archive schema created by someone else is not used: its owner
-- could drop the archived rows.
CREATE ROLE regress_squatter;
GRANT CREATE ON DATABASE contrib_regression TO regress_squatter;
SET ROLE regress_squatter;
CREATE SCHEMA retention_archive;
RESET ROLE;
SET ROLE regress_app_owner;
SELECT retention.add_policy('app_tokens', 'revoked_at', mode => 'archive', name => 'app archive');
RESET ROLE;
DROP SCHEMA retention_archive;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_squatter;
DROP ROLE regress_squatter;

-- Nobody but the owner reads a default archive table.
SET ROLE regress_app_owner;
SELECT retention.add_policy('app_tokens', 'revoked_at', mode => 'archive', name => 'app archive');
RESET ROLE;
SET ROLE regress_stranger;
SELECT count(*) FROM retention_archive.app_tokens;
RESET ROLE;
SELECT relowner::regrole FROM pg_class WHERE oid = 'retention_archive.app_tokens'::regclass;

-- A table owner who is no superuser can still drop a table with a policy;
-- the policy goes with it.
CREATE TABLE owner_temp_tokens (id int PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE owner_temp_tokens OWNER TO regress_app_owner;
SET ROLE regress_app_owner;
SELECT retention.add_policy('owner_temp_tokens', 'revoked_at');
DROP TABLE owner_temp_tokens;
RESET ROLE;
SELECT count(*) FROM retention.policies WHERE name = 'public.owner_temp_tokens';

DROP TABLE app_tokens, hacker_tokens, seen_as, private_archive;
DROP FUNCTION record_user(), public.escalate(), public.now(), public.count(anyelement),
              pg_temp.coalesce_trap(timestamptz);
DROP SCHEMA retention_archive CASCADE;
DROP EXTENSION pg_retention;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DROP ROLE regress_app_member, regress_app_owner, regress_stranger, regress_hacker;
