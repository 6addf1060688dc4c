-- Policy owners and role DDL: DROP ROLE of a role that owns policies fails as
-- it does for owned objects, REASSIGN OWNED moves the policies, DROP OWNED
-- drops them. Also: error texts are clipped to whole characters.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE regress_a;
CREATE ROLE regress_b;
CREATE ROLE regress_c;          -- owns nothing
CREATE ROLE regress_owners;     -- owns a table; regress_a is a member
GRANT regress_owners TO regress_a;

CREATE TABLE a_tokens (id int PRIMARY KEY, revoked_at timestamptz);
CREATE TABLE a_sessions (id int PRIMARY KEY, ended_at timestamptz);
CREATE TABLE b_tokens (id int PRIMARY KEY, revoked_at timestamptz);
CREATE TABLE shared_tokens (id int PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE a_tokens OWNER TO regress_a;
ALTER TABLE a_sessions OWNER TO regress_a;
ALTER TABLE b_tokens OWNER TO regress_b;
ALTER TABLE shared_tokens OWNER TO regress_owners;

SET ROLE regress_a;
SELECT retention.add_policy('a_tokens', 'revoked_at');
SELECT retention.add_policy('a_sessions', 'ended_at', name => 'a ''sessions''');
-- regress_a owns this policy, but not the table: PostgreSQL knows of nothing
-- that depends on regress_a but its tables.
SELECT retention.add_policy('shared_tokens', 'revoked_at', name => 'shared by a');
RESET ROLE;
SET ROLE regress_b;
SELECT retention.add_policy('b_tokens', 'revoked_at');
RESET ROLE;
SELECT name, owner FROM retention.policy ORDER BY name;

-- The tables go to regress_b; regress_a keeps its policies and, through
-- them, still depends on something.
ALTER TABLE a_tokens OWNER TO regress_b;
ALTER TABLE a_sessions OWNER TO regress_b;
DROP ROLE regress_a;
-- Roles in one statement are checked in order; nothing is dropped.
DROP ROLE regress_c, regress_a;
DROP ROLE IF EXISTS regress_missing, regress_a;
SELECT rolname FROM pg_roles WHERE rolname IN ('regress_a', 'regress_c') ORDER BY 1;
-- Inside a function, too.
DO $$ BEGIN EXECUTE 'DROP ROLE regress_a'; END $$;
-- In a subtransaction the failed DROP ROLE takes nothing with it.
BEGIN;
SAVEPOINT s;
DROP ROLE regress_a;
ROLLBACK TO s;
SELECT count(*) AS policies_of_a FROM retention.policy WHERE owner = 'regress_a'::regrole;
COMMIT;

-- PostgreSQL's own checks come first: a role without the right to drop
-- regress_a learns nothing about its policies.
CREATE ROLE regress_nobody;
SET ROLE regress_nobody;
DROP ROLE regress_a;
REASSIGN OWNED BY regress_a TO regress_nobody;
DROP OWNED BY regress_a;
RESET ROLE;
DROP ROLE regress_nobody;
-- Missing roles are PostgreSQL's to report.
DROP ROLE regress_missing;
DROP ROLE IF EXISTS regress_missing;
REASSIGN OWNED BY regress_missing TO regress_b;
DROP OWNED BY regress_missing;

-- REASSIGN OWNED moves the policies along with the objects, in the same
-- transaction: a rollback keeps them where they were.
BEGIN;
REASSIGN OWNED BY regress_a TO regress_b;
SELECT name, owner FROM retention.policy ORDER BY name;
ROLLBACK;
SELECT name, owner FROM retention.policy ORDER BY name;
REASSIGN OWNED BY regress_a TO regress_b;
SELECT name, owner FROM retention.policy ORDER BY name;
-- The new owner can change them; regress_a no longer owns anything.
SET ROLE regress_b;
SELECT retention.pause('a_tokens');
RESET ROLE;
DROP ROLE regress_a;
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname = 'regress_a';

-- DROP OWNED drops regress_b's tables (their policies go with them, as with
-- any DROP TABLE) and its other policies, quietly, in the same transaction.
DROP ROLE regress_b;
BEGIN;
DROP OWNED BY regress_b;
SELECT name, owner FROM retention.policy ORDER BY name;
ROLLBACK;
SELECT name, owner FROM retention.policy ORDER BY name;
DROP OWNED BY regress_b;
SELECT name, owner FROM retention.policy ORDER BY name;
SELECT count(*) AS tables_left FROM pg_class WHERE relname IN ('a_tokens', 'a_sessions', 'b_tokens');
DROP ROLE regress_b;

-- A role that owns no policy drops as always.
DROP ROLE regress_c;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_%' ORDER BY 1;

-- Many policies: the detail names at most 100 of them.
CREATE ROLE regress_many;
CREATE TABLE many_tokens (id int PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE many_tokens OWNER TO regress_many;
SET ROLE regress_many;
SELECT count(retention.add_policy('many_tokens', 'revoked_at', name => 'many ' || lpad(i::text, 3, '0')))
FROM generate_series(1, 102) AS i;
RESET ROLE;
ALTER TABLE many_tokens OWNER TO regress_owners;
DO $$
BEGIN
    DROP ROLE regress_many;
EXCEPTION WHEN dependent_objects_still_exist THEN
    DECLARE
        detail text;
    BEGIN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        RAISE NOTICE 'lines: %, first: %, last two: %',
            array_length(string_to_array(detail, E'\n'), 1),
            split_part(detail, E'\n', 1),
            array_to_string((string_to_array(detail, E'\n'))[100:101], ' / ');
    END;
END $$;
-- Role specifiers such as CURRENT_USER name roles too.
BEGIN;
REASSIGN OWNED BY regress_many TO CURRENT_USER;
SELECT count(*) FILTER (WHERE owner = current_user::regrole) AS moved_to_me, count(*)
FROM retention.policy;
ROLLBACK;
-- A role that may not write the catalog still drops its own policies.
SET ROLE regress_many;
DROP OWNED BY CURRENT_USER;
RESET ROLE;
DROP ROLE regress_many;
SELECT count(*) AS policies_left FROM retention.policy;

-- Error texts from the core are clipped to whole characters. The message of
-- a too long name repeats the name and fills the 1024-byte buffer: 13 bytes
-- of "policy name \"" and 337 three-byte characters would cut the last one in
-- half. The text must still be valid (convert_to checks it) and end on a
-- whole character.
DO $$
BEGIN
    PERFORM retention.add_policy('shared_tokens', 'revoked_at', name => repeat('€', 400));
EXCEPTION WHEN invalid_name THEN
    RAISE NOTICE 'bytes: %, valid: %, ends with: %', octet_length(SQLERRM),
        length(convert_to(SQLERRM, 'UTF8')) = octet_length(SQLERRM), right(SQLERRM, 1);
END $$;

DROP TABLE shared_tokens, many_tokens;
DROP EXTENSION pg_retention;

-- Without the extension in this database role DDL is PostgreSQL's alone.
CREATE ROLE regress_plain;
CREATE TABLE plain_tokens (id int PRIMARY KEY);
ALTER TABLE plain_tokens OWNER TO regress_plain;
REASSIGN OWNED BY regress_plain TO regress_owners;
DROP OWNED BY regress_owners;
DROP ROLE regress_plain, regress_owners;
