-- Code of one role must not run with another role's rights through a
-- policy: an archive table owned by another role, a function another role
-- owns in a schema nobody can write any more, a policy whose table changed
-- owner; and what a cancelled run leaves behind (review of issue #8).
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never
CREATE ROLE regress_ta;
CREATE ROLE regress_tb;
CREATE SCHEMA shared;
CREATE SCHEMA ta AUTHORIZATION regress_ta;
GRANT USAGE ON SCHEMA ta TO PUBLIC;
GRANT USAGE ON SCHEMA shared TO PUBLIC;
GRANT CREATE ON SCHEMA shared TO regress_tb;

CREATE TABLE t (id int PRIMARY KEY, created_at timestamptz, ttl int);
ALTER TABLE t OWNER TO regress_ta;
INSERT INTO t SELECT i, now() - interval '2 days', 60 FROM generate_series(1, 6) AS i;

-- An archive table owned by another role: its triggers would run as the
-- table's owner.
CREATE TABLE arch (id int, created_at timestamptz, ttl int, archived_at timestamptz DEFAULT now());
ALTER TABLE arch OWNER TO regress_tb;
GRANT INSERT ON arch TO PUBLIC;
SELECT retention.add_policy('t', 'created_at', mode => 'archive', archive_table => 'arch',
                            name => 'foreign archive');
-- ... also when it changes hands after the policy was added.
ALTER TABLE arch OWNER TO regress_ta;
SELECT retention.add_policy('t', 'created_at', mode => 'archive', archive_table => 'arch',
                            name => 'own archive', enabled => false);
ALTER TABLE arch OWNER TO regress_tb;
CALL retention.run('own archive');
SELECT status, sqlstate, error FROM retention.runs WHERE policy = 'own archive';
SELECT count(*) AS kept FROM t;
SELECT retention.drop_policy('own archive');

-- A function another role created while it could, in a schema it can no
-- longer write: the two parses agree, the owner check does not.
SET ROLE regress_tb;
CREATE FUNCTION shared.make_interval(secs integer) RETURNS interval
    LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.make_interval(secs => secs) $$;
RESET ROLE;
REVOKE CREATE ON SCHEMA shared FROM regress_tb;
SET ROLE regress_ta;
SET search_path = shared, public;
SELECT retention.add_policy('t', 'created_at + make_interval(secs => ttl)', name => 'captured');
SELECT retention.add_policy('t', 'created_at + shared.make_interval(ttl)', name => 'captured');
RESET search_path;
-- Its own function is fine.
CREATE FUNCTION ta.ta_expiry(t timestamptz, secs int) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE AS $$ SELECT t + pg_catalog.make_interval(secs => secs) $$;
SELECT retention.add_policy('t', 'ta.ta_expiry(created_at, ttl)', name => 'own function',
                            enabled => false);
RESET ROLE;
-- After the table changes owner, the old owner's function no longer runs as
-- the new owner, even in a policy a superuser owns.
SELECT retention.add_policy('t', 'ta.ta_expiry(created_at, ttl)', name => 'superuser policy',
                            enabled => false);
ALTER TABLE t OWNER TO regress_tb;
CALL retention.run('superuser policy');
SELECT status, sqlstate, error FROM retention.runs WHERE policy = 'superuser policy';
SELECT count(*) AS kept FROM t;
-- Nor can the new owner take the policy over with the old code in it.
SET ROLE regress_tb;
SELECT retention.alter_policy('own function', enabled => true);
SELECT retention.alter_policy('own function', expires_at => 'created_at');
RESET ROLE;
SELECT name, owner, expires_at FROM retention.policies WHERE name = 'own function';
ALTER TABLE t OWNER TO regress_ta;
SELECT retention.drop_policy('superuser policy');
SELECT retention.drop_policy('own function');

-- A cancelled run: recorded as interrupted (not left running), and the
-- session advisory lock its trigger took is released.
CREATE TABLE slow (id int PRIMARY KEY, created_at timestamptz);
INSERT INTO slow SELECT i, now() - interval '2 days' FROM generate_series(1, 3) AS i;
CREATE FUNCTION slow_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_lock(4242);
    PERFORM pg_catalog.pg_sleep(1);
    RETURN OLD;
END $$;
CREATE TRIGGER slow_trigger BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_trigger();
SELECT retention.add_policy('slow', 'created_at', name => 'slow', enabled => false);
SET statement_timeout = '300ms';
CALL retention.run('slow');
RESET statement_timeout;
SELECT status, sqlstate FROM retention.run_history WHERE policy = 'slow';
SELECT count(*) AS locks_left FROM pg_locks
 WHERE locktype = 'advisory' AND objid = 4242 AND pid = pg_backend_pid();
SELECT count(*) AS kept FROM slow;

-- A batch that swallows its statement timeout still fails as a timeout.
CREATE OR REPLACE FUNCTION slow_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pg_catalog.pg_sleep(1);
    EXCEPTION WHEN query_canceled THEN
        NULL;
    END;
    RETURN OLD;
END $$;
SET retention.statement_timeout = '100ms';
SET retention.max_batch_retries = 0;
SET client_min_messages = error;
CALL retention.run('slow');
RESET client_min_messages;
RESET retention.statement_timeout;
RESET retention.max_batch_retries;
SELECT status, sqlstate FROM retention.runs WHERE policy = 'slow' ORDER BY run_id;
SELECT count(*) AS kept FROM slow;

-- The walk's cursor is written under the pinned settings: a partial run in a
-- session with another DateStyle and TimeZone, then one with the defaults,
-- together purge every row.
CREATE TABLE ev (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON ev (at);
INSERT INTO ev SELECT i, timestamptz '2024-03-04 10:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 20) AS i;
SELECT retention.add_policy('ev', 'at', batch_size => 5, enabled => false);
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Europe/Berlin';
CALL retention.run('public.ev', max_rows => 5);
RESET DateStyle;
RESET TimeZone;
CALL retention.run('public.ev');
SELECT count(*) AS left_over FROM ev;

DROP EXTENSION pg_retention;
DROP TABLE t, arch, slow, ev;
DROP FUNCTION slow_trigger(), ta.ta_expiry(timestamptz, int), shared.make_interval(integer);
DROP SCHEMA shared, ta;
DROP ROLE regress_ta, regress_tb;
