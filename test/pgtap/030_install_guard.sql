-- CREATE EXTENSION refuses a schema "retention" that another role owns or
-- may create objects in (a tenant who made it first could replace or drop
-- the extension's objects: the class of CVE-2022-2625 and CVE-2023-39417).
BEGIN;
SET LOCAL client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_retention;
DROP SCHEMA IF EXISTS retention CASCADE;
RESET client_min_messages;
SELECT plan(9);

CREATE ROLE pgr_mallory;

-- Tries CREATE EXTENSION pg_retention; returns 'installed', or the error as
-- "SQLSTATE: message | detail | hint".
CREATE FUNCTION pg_temp.try_install() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text; message text; detail text; hint text;
BEGIN
    CREATE EXTENSION pg_retention;
    DROP EXTENSION pg_retention;
    RETURN 'installed';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN format('%s: %s | %s | %s', state, message, detail, hint);
END
$$;

CREATE SCHEMA retention AUTHORIZATION pgr_mallory;
SELECT is(pg_temp.try_install(),
          '42501: schema "retention" is owned by role "pgr_mallory" | '
          'pg_retention keeps its catalog in that schema; its owner could replace or drop '
          'the extension''s objects. | '
          'Drop or rename the schema, then run CREATE EXTENSION pg_retention again.',
          'a schema retention owned by another role is refused');
SELECT is((SELECT count(*)::int FROM pg_extension WHERE extname = 'pg_retention'), 0,
          'the extension is not installed');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'retention'::regnamespace), 0,
          'nothing was created in the schema');

ALTER SCHEMA retention OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA retention TO PUBLIC;
SELECT is(pg_temp.try_install(),
          '42501: schema "retention" grants CREATE to PUBLIC | '
          'pg_retention keeps its catalog in that schema; a role that can create objects in it '
          'could replace or drop the extension''s objects. | '
          'Drop or rename the schema, then run CREATE EXTENSION pg_retention again.',
          'a schema retention in which PUBLIC may create objects is refused');
REVOKE CREATE ON SCHEMA retention FROM PUBLIC;

GRANT CREATE ON SCHEMA retention TO pgr_mallory;
SELECT matches(pg_temp.try_install(), '^42501: schema "retention" grants CREATE to role "pgr_mallory" \|',
               'a schema retention in which another role may create objects is refused');
REVOKE CREATE ON SCHEMA retention FROM pgr_mallory;

GRANT USAGE ON SCHEMA retention TO pgr_mallory;
SELECT is(pg_temp.try_install(), 'installed',
          'a schema retention of the installing role, in which nobody else may create, is used');
REVOKE USAGE ON SCHEMA retention FROM pgr_mallory;

-- Where the schema does not exist, CREATE EXTENSION creates it.
DROP SCHEMA retention;
SELECT lives_ok('CREATE EXTENSION pg_retention', 'installs where there is no schema retention');
SELECT is((SELECT nspowner FROM pg_namespace WHERE nspname = 'retention'),
          (SELECT oid FROM pg_roles WHERE rolname = current_user),
          'the schema belongs to the installing role');
SELECT is((SELECT string_agg(CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE grantee::regrole::text END
                             || ':' || privilege_type, ', ')
             FROM pg_namespace, aclexplode(nspacl)
            WHERE nspname = 'retention' AND grantee <> nspowner),
          'PUBLIC:USAGE', 'only USAGE is granted on it, to PUBLIC');

SELECT * FROM finish();
ROLLBACK;
