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

-- ---------------------------------------------------------------------------
-- The views show a role only the policies and runs of the roles whose
-- privileges it has; members of pg_monitor and superusers see all.
-- ---------------------------------------------------------------------------

-- Whether the current role may see a policy or a run whose owner is the
-- given role: it has the privileges of that role or of pg_monitor (and a
-- superuser has every role's). A NULL owner (a run of a policy dropped
-- before 0.2) is seen only with pg_monitor's. pg_has_role() answers false,
-- not an error, for the oid of a role dropped since.
CREATE FUNCTION retention.can_see(owner oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role('pg_monitor'::pg_catalog.name, 'USAGE'::pg_catalog.text)
        OR ($1 IS NOT NULL AND pg_catalog.pg_has_role($1, 'USAGE'::pg_catalog.text))
$$;

-- The views show each role only what retention.can_see() allows. They are
-- security barriers: a condition of the reader's own (a function that
-- raises its argument, say) is not evaluated before that test.
CREATE OR REPLACE VIEW retention.policies WITH (security_barrier) AS
SELECT p.name,
       p.relation,
       p.expires_at,
       p.retain,
       p.mode,
       p.archive_table,
       p.filter,
       p.schedule,
       p.batch_size,
       p.max_runtime,
       p.max_rows_per_second,
       p.target_batch_time,
       p.enabled,
       p.paused,
       p.owner::text AS owner,
       p.timezone,
       p.created_at
  FROM retention.policy p
 WHERE retention.can_see(p.owner::pg_catalog.oid);

CREATE OR REPLACE VIEW retention.runs WITH (security_barrier) AS
SELECT r.id AS run_id,
       r.policy,
       r.trigger,
       r.pid,
       r.started_at,
       r.finished_at,
       -- A run marked running whose process no longer holds the policy lock
       -- was cut short (crash, kill -9, failover): report it as interrupted.
       CASE WHEN r.status OPERATOR(pg_catalog.=) 'running'
             AND NOT retention.run_is_live(r.policy_id, r.pid)
            THEN 'interrupted'
            ELSE r.status END AS status,
       r.cutoff,
       r.rows_deleted,
       r.rows_archived,
       r.batches,
       r.retries,
       r.table_bytes_before,
       r.table_bytes_after,
       r.dead_rows_before,
       r.dead_rows_after,
       r.analyzed,
       r.horizon_warning,
       r.sqlstate,
       r.error
  FROM retention.run_history r
 WHERE retention.can_see(r.owner);

-- One row per policy: what it is doing, how its last run went, when it runs
-- next. Readable on a hot standby. Whoever may see the policy sees its last
-- run, whoever ran it.
CREATE OR REPLACE VIEW retention.status WITH (security_barrier) AS
SELECT p.name AS policy,
       p.relation,
       p.mode,
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN 'standby'
            WHEN lk.pid IS NOT NULL AND pr.throttle_reason IS NOT NULL THEN 'throttled'
            WHEN lk.pid IS NOT NULL THEN 'running'
            WHEN p.paused THEN 'paused'
            WHEN NOT p.enabled THEN 'disabled'
            WHEN s.consecutive_failures OPERATOR(pg_catalog.>) 0
             AND s.next_run_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN 'backoff'
            ELSE 'idle' END AS state,
       lk.pid AS running_pid,
       pr.rows_deleted AS current_rows,
       pr.throttle_reason,
       pr.horizon_warning,
       last.started_at AS last_started_at,
       last.finished_at AS last_finished_at,
       last.status AS last_status,
       last.rows_deleted AS last_rows_deleted,
       last.rows_archived AS last_rows_archived,
       last.error AS last_error,
       last.sqlstate AS last_sqlstate,
       CASE WHEN p.enabled AND NOT p.paused
            THEN coalesce(s.next_run_at, p.created_at) END AS next_run_at,
       coalesce(s.total_rows_deleted, 0) AS total_rows_deleted,
       coalesce(s.total_rows_archived, 0) AS total_rows_archived,
       coalesce(s.consecutive_failures, 0) AS consecutive_failures
  FROM retention.policy p
  LEFT JOIN retention.policy_state s ON s.policy_id OPERATOR(pg_catalog.=) p.id
  LEFT JOIN LATERAL (SELECT retention.running_pid(p.id) AS pid) lk ON true
  LEFT JOIN LATERAL (
        SELECT g.rows_deleted, g.throttle_reason, g.horizon_warning
          FROM retention.running_progress() g
         WHERE g.policy_id OPERATOR(pg_catalog.=) p.id
           AND g.pid OPERATOR(pg_catalog.=) lk.pid) pr ON true
  LEFT JOIN LATERAL (
        SELECT r.started_at, r.finished_at, r.rows_deleted, r.rows_archived, r.error,
               r.sqlstate,
               CASE WHEN r.status OPERATOR(pg_catalog.=) 'running'
                     AND NOT retention.run_is_live(r.policy_id, r.pid)
                    THEN 'interrupted' ELSE r.status END AS status
          FROM retention.run_history r
         WHERE r.policy_id OPERATOR(pg_catalog.=) p.id
           AND r.status OPERATOR(pg_catalog.<>) 'skipped'
         ORDER BY r.id DESC
         LIMIT 1) last ON true
 WHERE retention.can_see(p.owner::pg_catalog.oid);
