-- pg_retention 0.1 -> 0.2. Every change of src/sql/pg_retention.sql since
-- 0.1 (src/sql/pg_retention--0.1.sql) is made here too, so that an updated
-- installation equals a fresh one (test/t/190_upgrade.pl compares them).

\echo Use "ALTER EXTENSION pg_retention UPDATE TO '0.2'" to load this file. \quit

-- 0.1 installed into a schema retention that existed already, whoever owned
-- it. One that a role other than a superuser owns, or may create objects in,
-- lets that role replace the extension's objects: refuse to go on with it,
-- as the 0.2 install script refuses to install into it.
DO $$
DECLARE
    owner_name pg_catalog.name;
    grantee_name text;
BEGIN
    SELECT pg_catalog.pg_get_userbyid(n.nspowner) INTO owner_name
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname OPERATOR(pg_catalog.=) 'retention'
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                        WHERE r.oid OPERATOR(pg_catalog.=) n.nspowner AND r.rolsuper);
    IF owner_name IS NOT NULL THEN
        RAISE EXCEPTION 'schema "retention" is owned by role "%"', owner_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'pg_retention keeps its catalog in that schema; its owner could '
                           'replace or drop the extension''s objects.',
                  HINT = 'Give the schema to a superuser with ALTER SCHEMA retention OWNER TO, '
                         'check its objects, then update again.';
    END IF;
    SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                ELSE pg_catalog.format('role "%s"', pg_catalog.pg_get_userbyid(a.grantee)) END
      INTO grantee_name
      FROM pg_catalog.pg_namespace n,
           LATERAL pg_catalog.aclexplode(n.nspacl) a
     WHERE n.nspname OPERATOR(pg_catalog.=) 'retention'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                        WHERE r.oid OPERATOR(pg_catalog.=) a.grantee AND r.rolsuper)
     ORDER BY a.grantee
     LIMIT 1;
    IF grantee_name IS NOT NULL THEN
        RAISE EXCEPTION 'schema "retention" grants CREATE to %', grantee_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'pg_retention keeps its catalog in that schema; a role that can create '
                           'objects in it could replace or drop the extension''s objects.',
                  HINT = 'Revoke that privilege, check the schema''s objects, then update again.';
    END IF;
END
$$;

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

-- ---------------------------------------------------------------------------
-- Comments on every object that had none in 0.1
-- ---------------------------------------------------------------------------

COMMENT ON TABLE retention.run_history IS
  'one row per run of a retention policy; read it through retention.runs';
COMMENT ON TABLE retention.policy_state IS
  'when each retention policy is due and how it has fared, kept by the engine';
COMMENT ON SEQUENCE retention.policy_id_seq IS 'ids of retention policies';
COMMENT ON SEQUENCE retention.run_id_seq IS 'ids of retention runs';

COMMENT ON FUNCTION retention.policy_refresh_attnums() IS
  'trigger: recompute the attribute numbers of the columns a policy reads';
COMMENT ON FUNCTION retention.running_pid(integer) IS
  'process running a retention policy now, or NULL';
COMMENT ON FUNCTION retention.run_is_live(integer, integer) IS
  'whether a recorded run is still going (always true on a hot standby)';
COMMENT ON FUNCTION retention.can_see(oid) IS
  'whether the current role may see the retention policies and runs of a role';
COMMENT ON FUNCTION retention.running_progress() IS
  'live progress of the retention runs in flight in this database';
COMMENT ON FUNCTION retention.alter_policy(text, text, interval, text, regclass, text, interval,
                                           integer, boolean, interval, integer, interval) IS
  'change a retention policy; arguments left NULL keep their setting';
COMMENT ON FUNCTION retention.drop_policy(text) IS 'remove a retention policy';
COMMENT ON FUNCTION retention.pause(text) IS
  'stop the scheduled runs of a retention policy, keeping its settings';
COMMENT ON FUNCTION retention.resume(text) IS 'let a paused retention policy run again';
COMMENT ON FUNCTION retention.wakeup() IS
  'make this database''s retention scheduler look for due policies now';
COMMENT ON FUNCTION retention.debug_waitpoint_enable(text) IS
  'test hook: hold a waitpoint, so that runs passing it wait';
COMMENT ON FUNCTION retention.debug_waitpoint_release(text) IS
  'test hook: release a waitpoint held by retention.debug_waitpoint_enable';
COMMENT ON FUNCTION retention.notify_launcher() IS
  'tell the retention launcher that this database has the extension';
COMMENT ON FUNCTION retention.on_sql_drop() IS
  'event trigger: drop the retention policies of dropped tables, disable those of dropped archive tables';
COMMENT ON EVENT TRIGGER retention_sql_drop IS
  'keeps retention policies consistent with dropped tables';

COMMENT ON VIEW retention.policies IS 'retention policies the current role may see';
COMMENT ON COLUMN retention.policies.name IS 'name of the policy';
COMMENT ON COLUMN retention.policies.relation IS 'table the policy purges';
COMMENT ON COLUMN retention.policies.expires_at IS
  'when a row expires: a schema-qualified expression over the table''s columns';
COMMENT ON COLUMN retention.policies.retain IS 'how long rows are kept after they expire';
COMMENT ON COLUMN retention.policies.mode IS 'delete or archive';
COMMENT ON COLUMN retention.policies.archive_table IS 'table that archive mode moves rows to';
COMMENT ON COLUMN retention.policies.filter IS
  'condition a row must also meet to be removed, or NULL';
COMMENT ON COLUMN retention.policies.schedule IS 'how often the scheduler runs the policy';
COMMENT ON COLUMN retention.policies.batch_size IS
  'rows per batch, or NULL for batches the engine sizes';
COMMENT ON COLUMN retention.policies.max_runtime IS 'longest run, or NULL for no limit';
COMMENT ON COLUMN retention.policies.max_rows_per_second IS
  'rate limit of the policy''s runs, or NULL for none';
COMMENT ON COLUMN retention.policies.target_batch_time IS
  'duration batches are sized toward, or NULL to follow retention.target_batch_time';
COMMENT ON COLUMN retention.policies.enabled IS 'whether the scheduler runs the policy';
COMMENT ON COLUMN retention.policies.paused IS 'whether the policy is paused';
COMMENT ON COLUMN retention.policies.owner IS 'role that owns the policy';
COMMENT ON COLUMN retention.policies.timezone IS
  'time zone in which the policy''s dates, timestamps and calendar intervals are read';
COMMENT ON COLUMN retention.policies.created_at IS 'when the policy was added';

COMMENT ON VIEW retention.runs IS 'runs of the retention policies the current role may see';
COMMENT ON COLUMN retention.runs.run_id IS 'id of the run';
COMMENT ON COLUMN retention.runs.policy IS 'name of the policy when it ran';
COMMENT ON COLUMN retention.runs.trigger IS 'manual (CALL retention.run) or worker (the scheduler)';
COMMENT ON COLUMN retention.runs.pid IS 'process that ran it';
COMMENT ON COLUMN retention.runs.started_at IS 'when the run started';
COMMENT ON COLUMN retention.runs.finished_at IS 'when the run ended, or NULL while it runs';
COMMENT ON COLUMN retention.runs.status IS 'running, ok, error, skipped, partial or interrupted';
COMMENT ON COLUMN retention.runs.cutoff IS 'rows that expired before this time were purgeable';
COMMENT ON COLUMN retention.runs.rows_deleted IS 'rows removed from the table';
COMMENT ON COLUMN retention.runs.rows_archived IS 'rows written to the archive table';
COMMENT ON COLUMN retention.runs.batches IS 'batches committed';
COMMENT ON COLUMN retention.runs.retries IS
  'batches retried after a timeout, deadlock or serialization failure';
COMMENT ON COLUMN retention.runs.table_bytes_before IS
  'size of the table before the run (pg_table_size), or NULL when it was locked';
COMMENT ON COLUMN retention.runs.table_bytes_after IS
  'size of the table after the run (pg_table_size), or NULL when it was locked';
COMMENT ON COLUMN retention.runs.dead_rows_before IS
  'dead rows of the table before the run, as the statistics know them';
COMMENT ON COLUMN retention.runs.dead_rows_after IS
  'dead rows of the table after the run, as the statistics know them';
COMMENT ON COLUMN retention.runs.analyzed IS 'whether the run analyzed the table';
COMMENT ON COLUMN retention.runs.horizon_warning IS
  'first report, during the run, of a transaction holding back the xmin horizon';
COMMENT ON COLUMN retention.runs.sqlstate IS
  'SQLSTATE of the error that ended the run, or of the last retried batch';
COMMENT ON COLUMN retention.runs.error IS
  'message of the error that ended the run, or of the last retried batch';

COMMENT ON VIEW retention.status IS
  'what each retention policy the current role may see is doing, and how it has fared';
COMMENT ON COLUMN retention.status.policy IS 'name of the policy';
COMMENT ON COLUMN retention.status.relation IS 'table the policy purges';
COMMENT ON COLUMN retention.status.mode IS 'delete or archive';
COMMENT ON COLUMN retention.status.state IS
  'idle, running, throttled, paused, disabled, backoff or standby';
COMMENT ON COLUMN retention.status.running_pid IS 'process running the policy now, or NULL';
COMMENT ON COLUMN retention.status.current_rows IS 'rows the run in flight has removed so far';
COMMENT ON COLUMN retention.status.throttle_reason IS 'why the run in flight waits, or NULL';
COMMENT ON COLUMN retention.status.horizon_warning IS
  'transaction holding back the xmin horizon while the run goes, or NULL';
COMMENT ON COLUMN retention.status.last_started_at IS 'when the last run (not skipped) started';
COMMENT ON COLUMN retention.status.last_finished_at IS 'when the last run ended';
COMMENT ON COLUMN retention.status.last_status IS 'how the last run ended';
COMMENT ON COLUMN retention.status.last_rows_deleted IS 'rows the last run removed';
COMMENT ON COLUMN retention.status.last_rows_archived IS 'rows the last run archived';
COMMENT ON COLUMN retention.status.last_error IS 'error of the last run, or NULL';
COMMENT ON COLUMN retention.status.last_sqlstate IS 'SQLSTATE of the last run''s error, or NULL';
COMMENT ON COLUMN retention.status.next_run_at IS
  'when the scheduler runs the policy next; NULL while it is disabled or paused';
COMMENT ON COLUMN retention.status.total_rows_deleted IS 'rows removed by all its runs';
COMMENT ON COLUMN retention.status.total_rows_archived IS 'rows archived by all its runs';
COMMENT ON COLUMN retention.status.consecutive_failures IS 'runs in a row that ended in an error';

-- ---------------------------------------------------------------------------
-- pg_cron as a clock: retention.run_due(), run(raise_on_error => ...), and
-- the trigger values pg_cron and run_due.
-- ---------------------------------------------------------------------------

ALTER TABLE retention.run_history DROP CONSTRAINT run_history_trigger_check;
ALTER TABLE retention.run_history ADD CONSTRAINT run_history_trigger_check
    CHECK (trigger OPERATOR(pg_catalog.=) ANY (
               ARRAY['manual', 'worker', 'pg_cron', 'run_due']));

DROP PROCEDURE retention.run(text, bigint, bigint, bigint, integer, text);
CREATE PROCEDURE retention.run(
    name                text    DEFAULT NULL,
    max_rows            bigint  DEFAULT NULL,
    INOUT rows_deleted  bigint  DEFAULT NULL,
    INOUT rows_archived bigint  DEFAULT NULL,
    INOUT batches       integer DEFAULT NULL,
    INOUT status        text    DEFAULT NULL,
    raise_on_error      boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'retention_run';

COMMENT ON PROCEDURE retention.run(text, bigint, bigint, bigint, integer, text, boolean) IS
  'run one policy (or every enabled one) now, one committed transaction per batch; '
  'raise_on_error => true raises an error at the end if a policy ended in error';

CREATE PROCEDURE retention.run_due(
    INOUT policies      integer DEFAULT NULL,
    INOUT rows_deleted  bigint  DEFAULT NULL,
    INOUT rows_archived bigint  DEFAULT NULL,
    INOUT batches       integer DEFAULT NULL,
    INOUT status        text    DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'retention_run_due';

COMMENT ON PROCEDURE retention.run_due(integer, bigint, bigint, integer, text) IS
  'run the due policies the caller manages, as the scheduler would; '
  'raises an error naming those that ended in error';

COMMENT ON COLUMN retention.runs.trigger IS
  'manual (CALL retention.run), worker (the scheduler), pg_cron (a pg_cron job) '
  'or run_due (CALL retention.run_due outside pg_cron)';
