-- pg_retention 0.1 -> 0.2. Every change of src/sql/pg_retention.sql since
-- 0.1 (src/sql/pg_retention--0.1.sql) is made here too, so that an updated
-- installation equals a fresh one (test/t/190_upgrade.pl compares them).

\echo Use "ALTER EXTENSION pg_retention UPDATE TO '0.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Every function pins its search_path; every operator is qualified.
-- ---------------------------------------------------------------------------

-- The CHECK constraints of the catalog tables are written with qualified
-- operators in 0.2's install script. Their stored form is unchanged: 0.1's
-- script resolved the same pg_catalog operators (pg_catalog comes first
-- when the script runs), so nothing is done here.

-- The advisory lock that marks a policy as running: class 1919251566 ('retn')
-- and the policy id, with objsubid 4 in pg_locks, a key space that no SQL
-- function can take (pg_advisory_lock(1919251566, id) is objsubid 2 and does
-- not hold a policy up; see src/pg/SECURITY.md). Returns the pid holding it,
-- or NULL.
CREATE OR REPLACE FUNCTION retention.running_pid(policy_id integer) RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.pid
      FROM pg_catalog.pg_locks l
     WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
       AND l.database OPERATOR(pg_catalog.=)
           (SELECT d.oid FROM pg_catalog.pg_database d
             WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND l.classid OPERATOR(pg_catalog.=) 1919251566::pg_catalog.oid
       AND l.objid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND l.objsubid OPERATOR(pg_catalog.=) 4
       AND l.granted
     LIMIT 1
$$;

-- Whether the run recorded for (policy, pid) is still going. On a hot
-- standby the run belongs to the primary, whose locks we cannot see: there
-- a "running" run is taken at its word. (running_pid IS NOT DISTINCT FROM
-- pid, spelled out: that form looks "=" up by name.)
CREATE OR REPLACE FUNCTION retention.run_is_live(policy_id integer, pid integer) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_is_in_recovery()
        OR (SELECT CASE WHEN l.pid IS NULL OR $2 IS NULL
                        THEN l.pid IS NULL AND $2 IS NULL
                        ELSE l.pid OPERATOR(pg_catalog.=) $2 END
              FROM (SELECT retention.running_pid($1) AS pid) l)
$$;

-- ---------------------------------------------------------------------------
-- The run history records the policy's owner when the run started: who may
-- see the run.
-- ---------------------------------------------------------------------------

ALTER TABLE retention.run_history ADD COLUMN owner oid;

-- Runs of 0.1 belong to their policy's owner now; runs of policies dropped
-- since keep NULL (only members of pg_monitor and superusers see them).
UPDATE retention.run_history r
   SET owner = p.owner::pg_catalog.oid
  FROM retention.policy p
 WHERE r.policy_id OPERATOR(pg_catalog.=) p.id;
