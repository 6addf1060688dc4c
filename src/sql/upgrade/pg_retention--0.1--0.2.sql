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
-- Internal functions live in a schema of their own, so that \df retention.*
-- lists the API only. PUBLIC may use it (the views call these helpers) but
-- create nothing in it.
-- ---------------------------------------------------------------------------
CREATE SCHEMA retention_internal;
REVOKE ALL ON SCHEMA retention_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA retention_internal TO PUBLIC;
COMMENT ON SCHEMA retention_internal IS
    'pg_retention''s internal helpers (views, triggers, tests); not an API';
ALTER FUNCTION retention.policy_refresh_attnums() SET SCHEMA retention_internal;
ALTER FUNCTION retention.running_pid(integer) SET SCHEMA retention_internal;
ALTER FUNCTION retention.run_is_live(integer, integer) SET SCHEMA retention_internal;
ALTER FUNCTION retention.running_progress() SET SCHEMA retention_internal;
ALTER FUNCTION retention.debug_waitpoint_enable(text) SET SCHEMA retention_internal;
ALTER FUNCTION retention.debug_waitpoint_release(text) SET SCHEMA retention_internal;
ALTER FUNCTION retention.notify_launcher() SET SCHEMA retention_internal;
ALTER FUNCTION retention.on_sql_drop() SET SCHEMA retention_internal;

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
CREATE OR REPLACE FUNCTION retention_internal.running_pid(policy_id integer) RETURNS integer
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
CREATE OR REPLACE FUNCTION retention_internal.run_is_live(policy_id integer, pid integer) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_is_in_recovery()
        OR (SELECT CASE WHEN l.pid IS NULL OR $2 IS NULL
                        THEN l.pid IS NULL AND $2 IS NULL
                        ELSE l.pid OPERATOR(pg_catalog.=) $2 END
              FROM (SELECT retention_internal.running_pid($1) AS pid) l)
$$;

-- ---------------------------------------------------------------------------
-- The run history records the policy's owner when the run started: who may
-- see the run.
-- ---------------------------------------------------------------------------

ALTER TABLE retention.run_history ADD COLUMN owner oid;

-- Monitoring (0.2): collapsed skips, backlog and free space of each run;
-- counters and the last complete pass of each policy.
ALTER TABLE retention.run_history
    ADD COLUMN skipped_count integer,
    ADD COLUMN last_skipped_at timestamptz,
    ADD COLUMN backlog_rows bigint,
    ADD COLUMN free_bytes_after bigint,
    ADD COLUMN free_bytes_source text;
UPDATE retention.run_history SET skipped_count = 1
 WHERE status OPERATOR(pg_catalog.=) 'skipped';
ALTER TABLE retention.policy_state
    ADD COLUMN runs_total bigint NOT NULL DEFAULT 0,
    ADD COLUMN failed_runs_total bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_success_at timestamptz,
    ADD COLUMN caught_up_at timestamptz,
    ADD COLUMN backlog_rows bigint,
    ADD COLUMN free_bytes bigint;
-- The last complete run of 0.1 counts as the last success, and a policy whose
-- latest run was complete is caught up: behind_by does not jump to the age
-- of the policy at the update.
INSERT INTO retention.policy_state AS s (policy_id, last_success_at, caught_up_at, backlog_rows)
SELECT ok.policy_id, ok.finished_at, ok.started_at,
       CASE WHEN ok.id OPERATOR(pg_catalog.=) latest.id THEN 0 END
  FROM (SELECT DISTINCT ON (r.policy_id) r.policy_id, r.id, r.started_at, r.finished_at
          FROM retention.run_history r
         WHERE r.status OPERATOR(pg_catalog.=) 'ok'
           AND EXISTS (SELECT FROM retention.policy p WHERE p.id OPERATOR(pg_catalog.=) r.policy_id)
         ORDER BY r.policy_id, r.id DESC) ok
  JOIN LATERAL (SELECT pg_catalog.max(r.id) AS id FROM retention.run_history r
                 WHERE r.policy_id OPERATOR(pg_catalog.=) ok.policy_id
                   AND r.status OPERATOR(pg_catalog.<>) 'skipped') latest ON true
ON CONFLICT (policy_id) DO UPDATE
   SET last_success_at = excluded.last_success_at, caught_up_at = excluded.caught_up_at,
       backlog_rows = excluded.backlog_rows;

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
CREATE FUNCTION retention_internal.can_see(owner oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role('pg_monitor'::pg_catalog.name, 'USAGE'::pg_catalog.text)
        OR ($1 IS NOT NULL AND pg_catalog.pg_has_role($1, 'USAGE'::pg_catalog.text))
$$;

-- The views show each role only what retention_internal.can_see() allows. They are
-- security barriers: a condition of the reader's own (a function that
-- raises its argument, say) is not evaluated before that test.
-- The owner of a policy: a role's oid, read and written as the role's name
-- (see src/pg/policy/owner_type.cpp). A name that names no role, as in a
-- restore without the owner role or with --no-owner, reads as the current
-- role, with a WARNING, instead of failing the COPY of every policy.
CREATE TYPE retention.policy_owner;
CREATE FUNCTION retention_internal.policy_owner_in(cstring) RETURNS retention.policy_owner
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'retention_policy_owner_in';
CREATE FUNCTION retention_internal.policy_owner_out(retention.policy_owner) RETURNS cstring
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'retention_policy_owner_out';
CREATE TYPE retention.policy_owner (
    INPUT = retention_internal.policy_owner_in,
    OUTPUT = retention_internal.policy_owner_out,
    LIKE = pg_catalog.oid);
CREATE CAST (retention.policy_owner AS pg_catalog.oid) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (pg_catalog.oid AS retention.policy_owner) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (pg_catalog.regrole AS retention.policy_owner) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (retention.policy_owner AS pg_catalog.regrole) WITHOUT FUNCTION;
COMMENT ON CAST (retention.policy_owner AS pg_catalog.oid) IS 'the role''s oid';
COMMENT ON CAST (pg_catalog.oid AS retention.policy_owner) IS 'the role of that oid';
COMMENT ON CAST (pg_catalog.regrole AS retention.policy_owner) IS 'the same role';
COMMENT ON CAST (retention.policy_owner AS pg_catalog.regrole) IS 'the same role';
COMMENT ON TYPE retention.policy_owner IS
  'owner of a retention policy: a role, written as its name; an unknown name reads as the current role';
COMMENT ON FUNCTION retention_internal.policy_owner_in(cstring) IS
  'input of retention.policy_owner: a role name; an unknown one is the current role, with a WARNING';
COMMENT ON FUNCTION retention_internal.policy_owner_out(retention.policy_owner) IS
  'output of retention.policy_owner: the role''s name';

-- retention.policy.owner becomes a retention.policy_owner (same oid). The
-- views that read it are dropped first and created again below.
DROP VIEW retention.status;
DROP VIEW retention.policies;
ALTER TABLE retention.policy
    ALTER COLUMN owner TYPE retention.policy_owner USING owner::pg_catalog.oid;

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
 WHERE retention_internal.can_see(p.owner::pg_catalog.oid);

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
             AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
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
       r.error,
       r.skipped_count,
       r.last_skipped_at,
       r.backlog_rows,
       r.free_bytes_after,
       r.free_bytes_source
  FROM retention.run_history r
 WHERE retention_internal.can_see(r.owner);

-- ---------------------------------------------------------------------------
-- Monitoring (0.2): what is wrong with a policy, from the catalogs only, and
-- the repack advice threshold. Both are read by retention.status and never
-- raise an error for a broken policy.
-- ---------------------------------------------------------------------------

-- Why a policy cannot run now, or NULL: its table or archive table is gone,
-- a column its expressions read was dropped or renamed, or the table's owner
-- is no longer a role the policy's owner acts as. Reads system catalogs only
-- (the caller passes the policy's row), so it runs with the reader's rights.
CREATE FUNCTION retention_internal.policy_problem(relation oid, archive_table oid, owner oid,
                                         expr_columns name[], expr_attnums smallint[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
             WHEN c.oid IS NULL THEN 'its table no longer exists'
             WHEN $2 IS NOT NULL AND NOT EXISTS (
                    SELECT FROM pg_catalog.pg_class a WHERE a.oid OPERATOR(pg_catalog.=) $2)
               THEN 'its archive table no longer exists'
             WHEN gone.columns IS NOT NULL
               THEN pg_catalog.format('column %s of table %s was dropped or renamed',
                                      gone.columns, c.oid::pg_catalog.regclass)
             WHEN NOT pg_catalog.pg_has_role($3, c.relowner, 'USAGE')
               THEN pg_catalog.format('table %s is owned by role %s, not by the policy''s owner %s',
                                      c.oid::pg_catalog.regclass,
                                      c.relowner::pg_catalog.regrole, $3::pg_catalog.regrole)
           END
      FROM (SELECT $1 AS relid) r
      LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.relid
      LEFT JOIN LATERAL (
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u.col), ', ') AS columns
              FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u(col, num)
             WHERE NOT EXISTS (
                   SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                      AND a.attnum OPERATOR(pg_catalog.=) u.num
                      AND a.attname OPERATOR(pg_catalog.=) u.col
                      AND NOT a.attisdropped)) gone ON true
$$;

-- retention.repack_advice_threshold in bytes (its default when the module
-- is not loaded in this session).
CREATE FUNCTION retention_internal.repack_advice_bytes() RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_size_bytes(
             coalesce(pg_catalog.current_setting('retention.repack_advice_threshold', true),
                      '128MB'))
$$;

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
       coalesce(s.consecutive_failures, 0) AS consecutive_failures,
       -- Monitoring (0.2): read from what runs recorded; never from the table.
       s.backlog_rows,
       CASE WHEN s.backlog_rows OPERATOR(pg_catalog.=) 0
            THEN GREATEST('0'::pg_catalog.interval,
                                     pg_catalog.now() OPERATOR(pg_catalog.-)
                                     coalesce(s.next_run_at, p.created_at))
            ELSE pg_catalog.now() OPERATOR(pg_catalog.-) coalesce(s.caught_up_at, p.created_at)
       END AS behind_by,
       s.last_success_at,
       retention_internal.policy_problem(p.relation::pg_catalog.oid, p.archive_table::pg_catalog.oid,
                                p.owner::pg_catalog.oid, p.expr_columns, p.expr_attnums)
         AS problem,
       s.free_bytes AS reclaimable_bytes,
       coalesce(s.free_bytes OPERATOR(pg_catalog.>=) retention_internal.repack_advice_bytes()
                AND retention_internal.repack_advice_bytes() OPERATOR(pg_catalog.>) 0, false)
         AS repack_advised,
       coalesce(s.runs_total, 0) AS runs_total,
       coalesce(s.failed_runs_total, 0) AS failed_runs_total
  FROM retention.policy p
  LEFT JOIN retention.policy_state s ON s.policy_id OPERATOR(pg_catalog.=) p.id
  LEFT JOIN LATERAL (SELECT retention_internal.running_pid(p.id) AS pid) lk ON true
  LEFT JOIN LATERAL (
        SELECT g.rows_deleted, g.throttle_reason, g.horizon_warning
          FROM retention_internal.running_progress() g
         WHERE g.policy_id OPERATOR(pg_catalog.=) p.id
           AND g.pid OPERATOR(pg_catalog.=) lk.pid) pr ON true
  LEFT JOIN LATERAL (
        SELECT r.started_at, r.finished_at, r.rows_deleted, r.rows_archived, r.error,
               r.sqlstate,
               CASE WHEN r.status OPERATOR(pg_catalog.=) 'running'
                     AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
                    THEN 'interrupted' ELSE r.status END AS status
          FROM retention.run_history r
         WHERE r.policy_id OPERATOR(pg_catalog.=) p.id
           AND r.status OPERATOR(pg_catalog.<>) 'skipped'
         ORDER BY r.id DESC
         LIMIT 1) last ON true
 WHERE retention_internal.can_see(p.owner::pg_catalog.oid);

-- Dropped above for the new type of retention.policy.owner.
GRANT SELECT ON retention.policies, retention.status TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Comments on every object that had none in 0.1
-- ---------------------------------------------------------------------------

COMMENT ON TABLE retention.run_history IS
  'one row per run of a retention policy; read it through retention.runs';
COMMENT ON TABLE retention.policy_state IS
  'when each retention policy is due and how it has fared, kept by the engine';
COMMENT ON SEQUENCE retention.policy_id_seq IS 'ids of retention policies';
COMMENT ON SEQUENCE retention.run_id_seq IS 'ids of retention runs';

COMMENT ON FUNCTION retention_internal.policy_refresh_attnums() IS
  'trigger: recompute the attribute numbers of the columns a policy reads';
COMMENT ON FUNCTION retention_internal.running_pid(integer) IS
  'process running a retention policy now, or NULL';
COMMENT ON FUNCTION retention_internal.run_is_live(integer, integer) IS
  'whether a recorded run is still going (always true on a hot standby)';
COMMENT ON FUNCTION retention_internal.can_see(oid) IS
  'whether the current role may see the retention policies and runs of a role';
COMMENT ON FUNCTION retention_internal.running_progress() IS
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
COMMENT ON FUNCTION retention_internal.debug_waitpoint_enable(text) IS
  'test hook: hold a waitpoint, so that runs passing it wait';
COMMENT ON FUNCTION retention_internal.debug_waitpoint_release(text) IS
  'test hook: release a waitpoint held by retention_internal.debug_waitpoint_enable';
COMMENT ON FUNCTION retention_internal.notify_launcher() IS
  'tell the retention launcher that this database has the extension';
COMMENT ON FUNCTION retention_internal.on_sql_drop() IS
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
  'size of the table after the run (pg_table_size; a purge frees space inside it, see '
  'free_bytes_after), or NULL when it was locked';
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
-- Policies as code: retention.apply() and retention.preset()
-- ---------------------------------------------------------------------------

-- The settings of one policy as apply() compares them: the columns of
-- retention.policies that apply() sets (not its owner, pause or creation).
CREATE FUNCTION retention_internal.apply_settings(policy_name text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
               'relation', p.relation::text, 'expires_at', p.expires_at,
               'retain', p.retain, 'mode', p.mode, 'archive_table', p.archive_table::text,
               'filter', p.filter, 'schedule', p.schedule, 'batch_size', p.batch_size,
               'enabled', p.enabled, 'max_runtime', p.max_runtime,
               'max_rows_per_second', p.max_rows_per_second,
               'target_batch_time', p.target_batch_time)
      FROM retention.policies p
     WHERE p.name OPERATOR(pg_catalog.=) $1
$$;

-- What changed between two results of apply_settings(): {key: {from, to}}.
CREATE FUNCTION retention_internal.apply_changes(before jsonb, after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_object_agg(
                        k, pg_catalog.jsonb_build_object(
                               'from', pg_catalog.jsonb_extract_path($1, k),
                               'to', pg_catalog.jsonb_extract_path($2, k)) ORDER BY k),
                    '{}')
      FROM pg_catalog.jsonb_object_keys($2) k
     WHERE NOT (coalesce(pg_catalog.jsonb_extract_path($1, k), 'null')
                OPERATOR(pg_catalog.=) pg_catalog.jsonb_extract_path($2, k))
$$;

-- Refuses input that is not a JSON array of policy objects with known keys
-- of the right JSON types, a name, a table and an expiry each, and no name
-- twice. Raises invalid_parameter_value naming the policy and the key.
CREATE FUNCTION retention_internal.apply_check(policies jsonb) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known CONSTANT text[] := ARRAY['name', 'relation', 'expires_at', 'retain', 'mode',
                                   'archive_table', 'filter', 'schedule', 'batch_size',
                                   'enabled', 'max_runtime', 'max_rows_per_second',
                                   'target_batch_time'];
    kinds CONSTANT text[] := ARRAY['string', 'string', 'string', 'string', 'string',
                                   'string', 'string', 'string', 'number',
                                   'boolean', 'string', 'number', 'string'];
    item jsonb;
    pos integer := 0;
    label text;
    k text;
    kind text;
    names text[] := '{}';
BEGIN
    IF coalesce(pg_catalog.jsonb_typeof(policies), 'null') OPERATOR(pg_catalog.<>) 'array' THEN
        RAISE EXCEPTION 'retention.apply() expects a JSON array of policies, not %',
                        coalesce(pg_catalog.jsonb_typeof(policies), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass ''[]'' to drop every policy you own.';
    END IF;
    FOR item IN SELECT e FROM pg_catalog.jsonb_array_elements(policies) e LOOP
        pos := pos OPERATOR(pg_catalog.+) 1;
        IF pg_catalog.jsonb_typeof(item) OPERATOR(pg_catalog.<>) 'object' THEN
            RAISE EXCEPTION 'policy % is a JSON %, not an object', pos, pg_catalog.jsonb_typeof(item)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        label := CASE WHEN pg_catalog.jsonb_typeof(pg_catalog.jsonb_extract_path(item, 'name'))
                           OPERATOR(pg_catalog.=) 'string'
                      THEN pg_catalog.format('policy "%s"', pg_catalog.jsonb_extract_path_text(item, 'name'))
                      ELSE pg_catalog.format('policy %s', pos) END;
        FOR k IN SELECT pg_catalog.jsonb_object_keys(item) LOOP
            IF NOT k OPERATOR(pg_catalog.=) ANY (known) THEN
                RAISE EXCEPTION '% has an unknown key "%"', label, k
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Known keys: ' OPERATOR(pg_catalog.||)
                                 pg_catalog.array_to_string(known, ', ') OPERATOR(pg_catalog.||) '.';
            END IF;
            kind := kinds[pg_catalog.array_position(known, k)];
            IF NOT pg_catalog.jsonb_typeof(pg_catalog.jsonb_extract_path(item, k))
                   OPERATOR(pg_catalog.=) ANY (ARRAY[kind, 'null']) THEN
                RAISE EXCEPTION '"%" of % must be a JSON %, not %', k, label, kind,
                                pg_catalog.jsonb_typeof(pg_catalog.jsonb_extract_path(item, k))
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF kind OPERATOR(pg_catalog.=) 'number'
               AND pg_catalog.jsonb_extract_path_text(item, k) OPERATOR(pg_catalog.!~) '^-?[0-9]+$' THEN
                RAISE EXCEPTION '"%" of % must be a whole number, not %', k, label,
                                pg_catalog.jsonb_extract_path_text(item, k)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
        FOREACH k IN ARRAY ARRAY['name', 'relation', 'expires_at'] LOOP
            IF pg_catalog.jsonb_extract_path_text(item, k) IS NULL THEN
                RAISE EXCEPTION '% has no "%"', label, k
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Every policy needs "name", "relation" and "expires_at".';
            END IF;
        END LOOP;
        IF pg_catalog.jsonb_extract_path_text(item, 'name') OPERATOR(pg_catalog.=) ANY (names) THEN
            RAISE EXCEPTION '% is listed twice', label
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        names := pg_catalog.array_append(names, pg_catalog.jsonb_extract_path_text(item, 'name'));
    END LOOP;
END
$$;

-- The table a policy's "relation" or "archive_table" names, or NULL when the
-- key is absent. Names are read with apply()'s search_path (pg_catalog,
-- pg_temp), so that the result never depends on the caller's session.
CREATE FUNCTION retention_internal.apply_relation(item jsonb, key text) RETURNS regclass
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    spelled text := pg_catalog.jsonb_extract_path_text(item, key);
    found regclass;
BEGIN
    IF spelled IS NULL THEN
        RETURN NULL;
    END IF;
    found := pg_catalog.to_regclass(spelled);
    IF found IS NULL THEN
        RAISE EXCEPTION 'relation "%" of policy "%" does not exist', spelled,
                        pg_catalog.jsonb_extract_path_text(item, 'name')
            USING ERRCODE = 'undefined_table',
                  HINT = 'retention.apply() reads names with search_path = pg_catalog, pg_temp: '
                         'qualify tables with their schema.';
    END IF;
    RETURN found;
END
$$;

-- Adds the policy one element of apply()'s list describes.
CREATE FUNCTION retention_internal.apply_add(item jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retention.add_policy(
        relation => retention_internal.apply_relation(item, 'relation'),
        expires_at => pg_catalog.jsonb_extract_path_text(item, 'expires_at'),
        retain => coalesce(pg_catalog.jsonb_extract_path_text(item, 'retain'), '0')::interval,
        mode => coalesce(pg_catalog.jsonb_extract_path_text(item, 'mode'), 'delete'),
        archive_table => retention_internal.apply_relation(item, 'archive_table'),
        filter => pg_catalog.jsonb_extract_path_text(item, 'filter'),
        name => pg_catalog.jsonb_extract_path_text(item, 'name'),
        schedule => coalesce(pg_catalog.jsonb_extract_path_text(item, 'schedule'),
                             '1 hour')::interval,
        batch_size => pg_catalog.jsonb_extract_path_text(item, 'batch_size')::integer,
        enabled => coalesce(pg_catalog.jsonb_extract_path_text(item, 'enabled')::boolean, true),
        max_runtime => pg_catalog.jsonb_extract_path_text(item, 'max_runtime')::interval,
        max_rows_per_second =>
            pg_catalog.jsonb_extract_path_text(item, 'max_rows_per_second')::integer,
        target_batch_time =>
            pg_catalog.jsonb_extract_path_text(item, 'target_batch_time')::interval);
END
$$;

-- Sets every setting of an existing policy to what one element of apply()'s
-- list says; a key left out means its default, as in add_policy(). The
-- schedule is passed only when it differs, since setting it reschedules.
CREATE FUNCTION retention_internal.apply_alter(item jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy_name text := pg_catalog.jsonb_extract_path_text(item, 'name');
    wanted interval := coalesce(pg_catalog.jsonb_extract_path_text(item, 'schedule'),
                                '1 hour')::interval;
    current interval;
BEGIN
    SELECT p.schedule INTO current FROM retention.policies p
     WHERE p.name OPERATOR(pg_catalog.=) policy_name;
    PERFORM retention.alter_policy(
        name => policy_name,
        expires_at => pg_catalog.jsonb_extract_path_text(item, 'expires_at'),
        retain => coalesce(pg_catalog.jsonb_extract_path_text(item, 'retain'), '0')::interval,
        mode => coalesce(pg_catalog.jsonb_extract_path_text(item, 'mode'), 'delete'),
        archive_table => retention_internal.apply_relation(item, 'archive_table'),
        filter => coalesce(pg_catalog.jsonb_extract_path_text(item, 'filter'), ''),
        schedule => CASE WHEN wanted OPERATOR(pg_catalog.=) current THEN NULL ELSE wanted END,
        batch_size => coalesce(pg_catalog.jsonb_extract_path_text(item, 'batch_size')::integer, 0),
        enabled => coalesce(pg_catalog.jsonb_extract_path_text(item, 'enabled')::boolean, true),
        max_runtime => coalesce(pg_catalog.jsonb_extract_path_text(item, 'max_runtime'),
                                '0')::interval,
        max_rows_per_second =>
            coalesce(pg_catalog.jsonb_extract_path_text(item, 'max_rows_per_second')::integer, 0),
        target_batch_time => coalesce(pg_catalog.jsonb_extract_path_text(item, 'target_batch_time'),
                                      '0')::interval);
END
$$;

-- Brings one policy of apply()'s list about, in a subtransaction that is
-- rolled back (RTNOP) when nothing changed or on a dry run. Returns the action
-- (add, alter or replace, NULL when nothing changed) and what changed.
CREATE FUNCTION retention_internal.apply_one(item jsonb, dry_run boolean,
                                    OUT action text, OUT changes jsonb)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy_name text := pg_catalog.jsonb_extract_path_text(item, 'name');
    owner_name text;
    before jsonb := retention_internal.apply_settings(policy_name);
BEGIN
    SELECT p.owner INTO owner_name FROM retention.policies p
     WHERE p.name OPERATOR(pg_catalog.=) policy_name;
    IF before IS NOT NULL
       AND owner_name OPERATOR(pg_catalog.<>) pg_catalog.quote_ident(current_user) THEN
        RAISE EXCEPTION 'retention policy "%" belongs to role %', policy_name, owner_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('retention.apply() manages only the policies of '
                                             'the current role, %s.',
                                             pg_catalog.quote_ident(current_user)),
                  HINT = 'Give the policy another name in the list, or take it over with '
                         'retention.alter_policy() as the owner of its table.';
    END IF;
    BEGIN
        IF before IS NULL THEN
            action := 'add';
            PERFORM retention_internal.apply_add(item);
        ELSIF retention_internal.apply_relation(item, 'relation')::text
              OPERATOR(pg_catalog.<>) pg_catalog.jsonb_extract_path_text(before, 'relation') THEN
            action := 'replace';
            PERFORM retention.drop_policy(policy_name);
            PERFORM retention_internal.apply_add(item);
        ELSE
            action := 'alter';
            PERFORM retention_internal.apply_alter(item);
        END IF;
        changes := CASE WHEN before IS NULL THEN retention_internal.apply_settings(policy_name)
                        ELSE retention_internal.apply_changes(before, retention_internal.apply_settings(policy_name))
                   END;
        IF dry_run OR changes OPERATOR(pg_catalog.=) '{}' THEN
            RAISE SQLSTATE 'RTNOP';
        END IF;
    EXCEPTION WHEN SQLSTATE 'RTNOP' THEN
        NULL;
    END;
    IF changes OPERATOR(pg_catalog.=) '{}' THEN
        action := NULL;
    END IF;
END
$$;

CREATE FUNCTION retention.apply(policies jsonb, dry_run boolean DEFAULT false)
RETURNS TABLE (action text, policy text, changes jsonb)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    item jsonb;
    wanted text[] := '{}';
    result record;
BEGIN
    PERFORM retention_internal.apply_check(policies);
    FOR item IN SELECT e FROM pg_catalog.jsonb_array_elements(policies) e LOOP
        policy := pg_catalog.jsonb_extract_path_text(item, 'name');
        wanted := pg_catalog.array_append(wanted, policy);
        result := retention_internal.apply_one(item, dry_run);
        IF result.action IS NOT NULL THEN
            action := result.action;
            changes := result.changes;
            RETURN NEXT;
        END IF;
    END LOOP;
    FOR policy, changes IN
        SELECT p.name, retention_internal.apply_settings(p.name) FROM retention.policies p
         WHERE p.owner OPERATOR(pg_catalog.=) pg_catalog.quote_ident(current_user)
           AND NOT p.name OPERATOR(pg_catalog.=) ANY (wanted)
         ORDER BY p.name
    LOOP
        IF NOT dry_run THEN
            PERFORM retention.drop_policy(policy);
        END IF;
        action := 'drop';
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION retention.apply(jsonb, boolean) IS
  'make the current role''s retention policies those of a JSON list: add, alter, drop; returns what changed';
COMMENT ON FUNCTION retention_internal.apply_settings(text) IS
  'internal to retention.apply: the settings of a policy as JSON';
COMMENT ON FUNCTION retention_internal.apply_changes(jsonb, jsonb) IS
  'internal to retention.apply: the settings that differ between two JSON objects';
COMMENT ON FUNCTION retention_internal.apply_check(jsonb) IS
  'internal to retention.apply: refuse a policy list with unknown keys, wrong types or repeated names';
COMMENT ON FUNCTION retention_internal.apply_relation(jsonb, text) IS
  'internal to retention.apply: the table a policy names, read with a pinned search_path';
COMMENT ON FUNCTION retention_internal.apply_add(jsonb) IS
  'internal to retention.apply: add one policy of the list';
COMMENT ON FUNCTION retention_internal.apply_alter(jsonb) IS
  'internal to retention.apply: set every setting of one policy of the list';
COMMENT ON FUNCTION retention_internal.apply_one(jsonb, boolean) IS
  'internal to retention.apply: converge one policy of the list, in a subtransaction';

-- Policies for the tables of common authentication servers, for
-- retention.apply(); each row of defs: preset, policy name, table,
-- expires_at, retain, mode. Each is tested against the projects' own DDL
-- (sql/presets.sql). schema: where the application keeps its tables.
CREATE FUNCTION retention.preset(name text, schema name DEFAULT 'public') RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known CONSTANT text[] := ARRAY['authgate', 'coder', 'doorkeeper', 'gitlab', 'hydra',
                                   'keycloak'];
    defs CONSTANT text[] := ARRAY[
        ['doorkeeper', 'doorkeeper_access_tokens', 'oauth_access_tokens', 'revoked_at',
         '1 mon', 'delete'],
        ['doorkeeper', 'doorkeeper_access_grants', 'oauth_access_grants',
         'least(revoked_at, created_at + expires_in * interval ''1 second'')', '1 mon', 'delete'],
        ['gitlab', 'gitlab_access_tokens', 'oauth_access_tokens', 'revoked_at', '1 mon', 'archive'],
        ['gitlab', 'gitlab_access_grants', 'oauth_access_grants',
         'least(revoked_at, created_at + expires_in * interval ''1 second'')', '1 mon', 'archive'],
        ['gitlab', 'gitlab_authentication_events', 'authentication_events', 'created_at',
         '1 year', 'archive'],
        ['hydra', 'hydra_access_tokens', 'hydra_oauth2_access', 'requested_at', '1 day', 'delete'],
        ['hydra', 'hydra_refresh_tokens', 'hydra_oauth2_refresh', 'requested_at', '31 days',
         'delete'],
        ['hydra', 'hydra_authorization_codes', 'hydra_oauth2_code', 'requested_at', '1 day',
         'delete'],
        ['keycloak', 'keycloak_offline_user_sessions', 'offline_user_session',
         'to_timestamp(last_session_refresh)', '30 days', 'delete'],
        ['keycloak', 'keycloak_offline_client_sessions', 'offline_client_session',
         'to_timestamp("timestamp")', '30 days', 'delete'],
        ['keycloak', 'keycloak_events', 'event_entity', 'to_timestamp(event_time / 1000.0)',
         '90 days', 'delete'],
        ['keycloak', 'keycloak_admin_events', 'admin_event_entity',
         'to_timestamp(admin_event_time / 1000.0)', '90 days', 'delete'],
        ['coder', 'coder_api_keys', 'api_keys', 'expires_at', '7 days', 'delete'],
        ['authgate', 'authgate_access_tokens', 'access_tokens', 'expires_at', '1 day', 'delete'],
        ['authgate', 'authgate_device_codes', 'device_codes', 'expires_at', '1 day', 'delete'],
        ['authgate', 'authgate_authorization_codes', 'authorization_codes', 'expires_at', '1 day',
         'delete'],
        ['authgate', 'authgate_audit_logs', 'audit_logs', 'event_time', '90 days', 'delete']];
    result jsonb := '[]';
    i integer;
BEGIN
    IF name IS NULL OR NOT name OPERATOR(pg_catalog.=) ANY (known) THEN
        RAISE EXCEPTION 'unknown retention preset "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Known presets: ' OPERATOR(pg_catalog.||)
                         pg_catalog.array_to_string(known, ', ') OPERATOR(pg_catalog.||) '.';
    END IF;
    FOR i IN 1 .. pg_catalog.array_length(defs, 1) LOOP
        CONTINUE WHEN defs[i][1] OPERATOR(pg_catalog.<>) name;
        result := result OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object(
                'name', defs[i][2],
                'relation', pg_catalog.format('%I.%I', schema, defs[i][3]),
                'expires_at', defs[i][4],
                'retain', defs[i][5],
                'mode', defs[i][6]));
    END LOOP;
    RETURN result;
END
$$;

COMMENT ON FUNCTION retention.preset(text, name) IS
  'retention policies for a known authentication schema, as JSON for retention.apply()';
-- Monitoring (0.2): retention.metrics for postgres_exporter
-- (monitoring/postgres_exporter.yml) and history capping.
-- ---------------------------------------------------------------------------

-- One row per policy the reader may see, in Prometheus' terms: counters end
-- in _total, durations in _seconds, times are Unix seconds; the policy name
-- is the label. Built on retention.status, so it shows what that shows.
CREATE VIEW retention.metrics WITH (security_barrier) AS
SELECT st.policy,
       CASE WHEN st.state OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'throttled'])
            THEN 1 ELSE 0 END AS running,
       CASE WHEN st.state OPERATOR(pg_catalog.=) 'paused' THEN 1 ELSE 0 END AS paused,
       CASE WHEN st.problem IS NULL THEN 0 ELSE 1 END AS broken,
       st.runs_total,
       st.failed_runs_total,
       st.total_rows_deleted AS rows_deleted_total,
       st.total_rows_archived AS rows_archived_total,
       st.consecutive_failures,
       st.backlog_rows,
       pg_catalog.date_part('epoch', st.behind_by) AS behind_by_seconds,
       pg_catalog.date_part('epoch', st.last_success_at) AS last_success_timestamp_seconds,
       pg_catalog.date_part('epoch', st.last_finished_at OPERATOR(pg_catalog.-) st.last_started_at)
         AS last_run_duration_seconds,
       st.reclaimable_bytes,
       CASE WHEN st.repack_advised THEN 1 ELSE 0 END AS repack_advised
  FROM retention.status st;

GRANT SELECT ON retention.metrics TO PUBLIC;

-- Removes run history older than retention.history_retention and beyond
-- retention.history_max_rows per policy, at most max_batches batches of
-- 1000 rows; returns how many rows went. The scheduler does this every pass.
CREATE FUNCTION retention.prune_history(max_batches integer DEFAULT 10) RETURNS bigint
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_prune_history';
REVOKE ALL ON FUNCTION retention.prune_history(integer) FROM PUBLIC;

COMMENT ON FUNCTION retention_internal.policy_problem(oid, oid, oid, name[], smallint[]) IS
  'why a retention policy cannot run now (from the catalogs), or NULL';
COMMENT ON FUNCTION retention_internal.repack_advice_bytes() IS
  'retention.repack_advice_threshold in bytes';
COMMENT ON FUNCTION retention.prune_history(integer) IS
  'remove run history beyond retention.history_retention and retention.history_max_rows';
COMMENT ON COLUMN retention.runs.skipped_count IS
  'for a skipped run: how many attempts in a row were skipped (they share this row)';
COMMENT ON COLUMN retention.runs.last_skipped_at IS 'for a skipped run: the latest attempt';
COMMENT ON COLUMN retention.runs.backlog_rows IS
  'purgeable rows left at the run''s cutoff: 0 after a complete pass, else a planner estimate';
COMMENT ON COLUMN retention.runs.free_bytes_after IS
  'free space in the table after the run (dead rows included): what a repack would return';
COMMENT ON COLUMN retention.runs.free_bytes_source IS
  'pgstattuple_approx when that extension is installed, otherwise estimate (statistics)';
COMMENT ON COLUMN retention.status.backlog_rows IS
  'purgeable rows the last run left (0: caught up), never counted on read; NULL before a run';
COMMENT ON COLUMN retention.status.behind_by IS
  'how long purgeable rows have waited: since the last complete pass when rows were left, '
  'else how long the policy is overdue; 0 when caught up';
COMMENT ON COLUMN retention.status.last_success_at IS 'when the last complete (ok) run ended';
COMMENT ON COLUMN retention.status.problem IS
  'why the policy cannot run now (table, column, owner or archive gone), or NULL';
COMMENT ON COLUMN retention.status.reclaimable_bytes IS
  'free space in the table after the last run: what a repack would return';
COMMENT ON COLUMN retention.status.repack_advised IS
  'reclaimable_bytes reached retention.repack_advice_threshold: a repack would pay';
COMMENT ON COLUMN retention.status.runs_total IS 'runs that ended (not skipped)';
COMMENT ON COLUMN retention.status.failed_runs_total IS 'runs that ended in an error';
COMMENT ON VIEW retention.metrics IS
  'retention metrics per policy for postgres_exporter (monitoring/postgres_exporter.yml)';
COMMENT ON COLUMN retention.metrics.policy IS 'name of the policy (the label)';
COMMENT ON COLUMN retention.metrics.running IS '1 while a run of the policy goes';
COMMENT ON COLUMN retention.metrics.paused IS '1 while the policy is paused';
COMMENT ON COLUMN retention.metrics.broken IS '1 when retention.status.problem names a problem';
COMMENT ON COLUMN retention.metrics.runs_total IS 'runs that ended (counter)';
COMMENT ON COLUMN retention.metrics.failed_runs_total IS 'runs that ended in an error (counter)';
COMMENT ON COLUMN retention.metrics.rows_deleted_total IS 'rows removed (counter)';
COMMENT ON COLUMN retention.metrics.rows_archived_total IS 'rows archived (counter)';
COMMENT ON COLUMN retention.metrics.consecutive_failures IS 'runs in a row that ended in an error';
COMMENT ON COLUMN retention.metrics.backlog_rows IS 'purgeable rows the last run left';
COMMENT ON COLUMN retention.metrics.behind_by_seconds IS 'retention.status.behind_by in seconds';
COMMENT ON COLUMN retention.metrics.last_success_timestamp_seconds IS
  'when the last complete run ended, Unix time';
COMMENT ON COLUMN retention.metrics.last_run_duration_seconds IS 'duration of the last run';
COMMENT ON COLUMN retention.metrics.reclaimable_bytes IS 'free space after the last run';
COMMENT ON COLUMN retention.metrics.repack_advised IS '1 when a repack would pay';


-- ---------------------------------------------------------------------------
-- Archive lifecycle (issue #11): the archive holds every version of a key.
-- ---------------------------------------------------------------------------

-- 0.1 gave the archive tables it created (schema retention_archive) a unique
-- index on the source's primary key, so a key that came back into the source
-- and expired again failed every batch of its policy. 0.2 creates them with
-- a unique index on (primary key..., archived_at): one row per version.
-- Reshape the archives 0.1 created, and only those: in retention_archive,
-- with an archived_at column, whose index is a plain unique index (no
-- constraint, predicate or expression) on exactly the source's primary key
-- columns. The new index is built before the old one goes; PostgreSQL
-- builds it as the archive's owner in a restricted context.
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN
        SELECT DISTINCT p.archive_table, i.indexrelid::pg_catalog.regclass AS old_index,
               (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(att.attname), ', '
                                             ORDER BY k.ord)
                  FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_catalog.pg_attribute att
                    ON att.attrelid OPERATOR(pg_catalog.=) i.indrelid
                   AND att.attnum OPERATOR(pg_catalog.=) k.attnum) AS cols
          FROM retention.policy p
          JOIN pg_catalog.pg_class c
            ON c.oid OPERATOR(pg_catalog.=) p.archive_table::pg_catalog.oid
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
          JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) c.oid
          JOIN pg_catalog.pg_index pk
            ON pk.indrelid OPERATOR(pg_catalog.=) p.relation::pg_catalog.oid AND pk.indisprimary
         WHERE n.nspname OPERATOR(pg_catalog.=) 'retention_archive'
           AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
           AND i.indnatts OPERATOR(pg_catalog.=) i.indnkeyatts
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint co
                            WHERE co.conindid OPERATOR(pg_catalog.=) i.indexrelid)
           AND EXISTS (SELECT FROM pg_catalog.pg_attribute att
                        WHERE att.attrelid OPERATOR(pg_catalog.=) c.oid
                          AND att.attname OPERATOR(pg_catalog.=) 'archived_at'
                          AND NOT att.attisdropped)
           -- the same column names, in the same order, as the source's key
           AND (SELECT pg_catalog.array_agg(att.attname ORDER BY k.ord)
                  FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_catalog.pg_attribute att
                    ON att.attrelid OPERATOR(pg_catalog.=) i.indrelid
                   AND att.attnum OPERATOR(pg_catalog.=) k.attnum)
               OPERATOR(pg_catalog.=)
               (SELECT pg_catalog.array_agg(att.attname ORDER BY k.ord)
                  FROM pg_catalog.unnest(pk.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_catalog.pg_attribute att
                    ON att.attrelid OPERATOR(pg_catalog.=) pk.indrelid
                   AND att.attnum OPERATOR(pg_catalog.=) k.attnum
                 WHERE k.ord OPERATOR(pg_catalog.<=) pk.indnkeyatts)
    LOOP
        EXECUTE pg_catalog.format('CREATE UNIQUE INDEX ON %s (%s, archived_at)',
                                  a.archive_table, a.cols);
        EXECUTE pg_catalog.format('DROP INDEX %s', a.old_index);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Archive lifecycle (issue #11): retention.restore() and its history.
-- ---------------------------------------------------------------------------

ALTER TABLE retention.run_history DROP CONSTRAINT run_history_trigger_check;
ALTER TABLE retention.run_history ADD CONSTRAINT run_history_trigger_check
    CHECK (trigger OPERATOR(pg_catalog.=) ANY (ARRAY['manual', 'worker', 'restore']));
-- retention.restore() (trigger 'restore'): rows moved back from the archive,
-- and matching rows that stayed there (their key was in the table already);
-- NULL for other runs.
ALTER TABLE retention.run_history ADD COLUMN rows_restored bigint NOT NULL DEFAULT 0;
ALTER TABLE retention.run_history ADD COLUMN rows_kept bigint;

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
             AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
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
       r.error,
       r.skipped_count,
       r.last_skipped_at,
       r.backlog_rows,
       r.free_bytes_after,
       r.free_bytes_source,
       r.rows_restored,
       r.rows_kept
  FROM retention.run_history r
 WHERE retention_internal.can_see(r.owner);

-- A restore is not the policy's last run: status shows the purges.
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
       coalesce(s.consecutive_failures, 0) AS consecutive_failures,
       -- Monitoring (0.2): read from what runs recorded; never from the table.
       s.backlog_rows,
       CASE WHEN s.backlog_rows OPERATOR(pg_catalog.=) 0
            THEN GREATEST('0'::pg_catalog.interval,
                                     pg_catalog.now() OPERATOR(pg_catalog.-)
                                     coalesce(s.next_run_at, p.created_at))
            ELSE pg_catalog.now() OPERATOR(pg_catalog.-) coalesce(s.caught_up_at, p.created_at)
       END AS behind_by,
       s.last_success_at,
       retention_internal.policy_problem(p.relation::pg_catalog.oid, p.archive_table::pg_catalog.oid,
                                p.owner::pg_catalog.oid, p.expr_columns, p.expr_attnums)
         AS problem,
       s.free_bytes AS reclaimable_bytes,
       coalesce(s.free_bytes OPERATOR(pg_catalog.>=) retention_internal.repack_advice_bytes()
                AND retention_internal.repack_advice_bytes() OPERATOR(pg_catalog.>) 0, false)
         AS repack_advised,
       coalesce(s.runs_total, 0) AS runs_total,
       coalesce(s.failed_runs_total, 0) AS failed_runs_total
  FROM retention.policy p
  LEFT JOIN retention.policy_state s ON s.policy_id OPERATOR(pg_catalog.=) p.id
  LEFT JOIN LATERAL (SELECT retention_internal.running_pid(p.id) AS pid) lk ON true
  LEFT JOIN LATERAL (
        SELECT g.rows_deleted, g.throttle_reason, g.horizon_warning
          FROM retention_internal.running_progress() g
         WHERE g.policy_id OPERATOR(pg_catalog.=) p.id
           AND g.pid OPERATOR(pg_catalog.=) lk.pid) pr ON true
  LEFT JOIN LATERAL (
        SELECT r.started_at, r.finished_at, r.rows_deleted, r.rows_archived, r.error,
               r.sqlstate,
               CASE WHEN r.status OPERATOR(pg_catalog.=) 'running'
                     AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
                    THEN 'interrupted' ELSE r.status END AS status
          FROM retention.run_history r
         WHERE r.policy_id OPERATOR(pg_catalog.=) p.id
           AND r.status OPERATOR(pg_catalog.<>) 'skipped'
           AND r.trigger OPERATOR(pg_catalog.<>) 'restore'
         ORDER BY r.id DESC
         LIMIT 1) last ON true
 WHERE retention_internal.can_see(p.owner::pg_catalog.oid);

-- Moves archived rows back into the table. filter is an expression over the
-- archive's columns, checked like a policy's filter; NULL restores every
-- archived row.
CREATE PROCEDURE retention.restore(
    policy              text,
    filter              text    DEFAULT NULL,
    max_rows            bigint  DEFAULT NULL,
    dry_run             boolean DEFAULT false,
    INOUT rows_restored bigint  DEFAULT NULL,
    INOUT rows_kept     bigint  DEFAULT NULL,
    INOUT batches       integer DEFAULT NULL,
    INOUT status        text    DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'retention_restore';

COMMENT ON PROCEDURE retention.restore(text, text, bigint, boolean, bigint, bigint, integer, text) IS
  'move archived rows of an archive-mode policy back into its table, one committed batch at a time';

COMMENT ON COLUMN retention.runs.trigger IS
  'manual (CALL retention.run), worker (the scheduler) or restore (CALL retention.restore)';
COMMENT ON COLUMN retention.runs.rows_restored IS
  'rows a restore moved back from the archive into the table';
COMMENT ON COLUMN retention.runs.rows_kept IS
  'rows a restore left in the archive because their key was in the table; NULL for other runs';
COMMENT ON COLUMN retention.status.last_started_at IS
  'when the last run (not skipped, not a restore) started';

-- ---------------------------------------------------------------------------
-- Archive lifecycle (issue #11): deletes replicas can skip.
-- ---------------------------------------------------------------------------

-- false: the batches carry the replication origin "pg_retention", so that
-- subscribers with origin = none (16+) skip them.
ALTER TABLE retention.policy ADD COLUMN replicate_deletes boolean NOT NULL DEFAULT true;

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
       p.created_at,
       p.replicate_deletes
  FROM retention.policy p
 WHERE retention_internal.can_see(p.owner::pg_catalog.oid);

DROP FUNCTION retention.add_policy(regclass, text, interval, text, regclass, text, text, interval,
                                   integer, boolean, interval, integer, interval);
CREATE FUNCTION retention.add_policy(
    relation      regclass,
    expires_at    text,
    retain        interval DEFAULT '0',
    mode          text     DEFAULT 'delete',
    archive_table regclass DEFAULT NULL,
    filter        text     DEFAULT NULL,
    name          text     DEFAULT NULL,
    schedule      interval DEFAULT '1 hour',
    batch_size    integer  DEFAULT NULL,
    enabled       boolean  DEFAULT true,
    max_runtime   interval DEFAULT NULL,
    max_rows_per_second integer DEFAULT NULL,
    target_batch_time interval DEFAULT NULL,
    replicate_deletes boolean DEFAULT true)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_add_policy';

COMMENT ON FUNCTION retention.add_policy(regclass, text, interval, text, regclass, text, text,
                                         interval, integer, boolean, interval, integer,
                                         interval, boolean) IS
  'declare a retention policy on a table; returns the policy name';

DROP FUNCTION retention.alter_policy(text, text, interval, text, regclass, text, interval, integer,
                                     boolean, interval, integer, interval);
CREATE FUNCTION retention.alter_policy(
    name          text,
    expires_at    text     DEFAULT NULL,
    retain        interval DEFAULT NULL,
    mode          text     DEFAULT NULL,
    archive_table regclass DEFAULT NULL,
    filter        text     DEFAULT NULL,
    schedule      interval DEFAULT NULL,
    batch_size    integer  DEFAULT NULL,
    enabled       boolean  DEFAULT NULL,
    max_runtime   interval DEFAULT NULL,
    max_rows_per_second integer DEFAULT NULL,
    target_batch_time interval DEFAULT NULL,
    replicate_deletes boolean  DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_alter_policy';

COMMENT ON FUNCTION retention.alter_policy(text, text, interval, text, regclass, text, interval,
                                           integer, boolean, interval, integer, interval,
                                           boolean) IS
  'change a retention policy; arguments left NULL keep their setting';

COMMENT ON COLUMN retention.policies.replicate_deletes IS
  'false: the policy''s batches carry the replication origin pg_retention, which subscribers with origin = none skip';

-- ---------------------------------------------------------------------------
-- pg_cron as a clock: retention.run_due(), run(raise_on_error => ...), and
-- the trigger values pg_cron and run_due.
-- ---------------------------------------------------------------------------

ALTER TABLE retention.run_history DROP CONSTRAINT run_history_trigger_check;
ALTER TABLE retention.run_history ADD CONSTRAINT run_history_trigger_check
    CHECK (trigger OPERATOR(pg_catalog.=) ANY (
               ARRAY['manual', 'worker', 'restore', 'pg_cron', 'run_due']));

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
  'manual (CALL retention.run), worker (the scheduler), restore (CALL retention.restore), '
  'pg_cron (a pg_cron job) or run_due (CALL retention.run_due outside pg_cron)';

-- ---------------------------------------------------------------------------
-- Archive lifecycle (issue #11): the archive stage (archive_retain) and
-- partitioned archives (archive_partition). The views and functions below
-- are the final ones, as in the install script.
-- ---------------------------------------------------------------------------

ALTER TABLE retention.policy
    ADD COLUMN archive_retain interval CHECK (archive_retain OPERATOR(pg_catalog.>) '0'),
    ADD COLUMN archive_partition interval;
ALTER TABLE retention.run_history
    ADD COLUMN stage text NOT NULL DEFAULT 'purge'
        CHECK (stage OPERATOR(pg_catalog.=) ANY (ARRAY['purge', 'archive']));
ALTER TABLE retention.policy_state
    ADD COLUMN archive_runs_total         bigint NOT NULL DEFAULT 0,
    ADD COLUMN archive_failed_runs_total  bigint NOT NULL DEFAULT 0,
    ADD COLUMN archive_rows_deleted_total bigint NOT NULL DEFAULT 0,
    ADD COLUMN archive_last_success_at    timestamptz;

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
       p.created_at,
       p.replicate_deletes,
       p.archive_retain,
       p.archive_partition
  FROM retention.policy p
 WHERE retention_internal.can_see(p.owner::pg_catalog.oid);

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
             AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
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
       r.error,
       r.skipped_count,
       r.last_skipped_at,
       r.backlog_rows,
       r.free_bytes_after,
       r.free_bytes_source,
       r.rows_restored,
       r.rows_kept,
       r.stage
  FROM retention.run_history r
 WHERE retention_internal.can_see(r.owner);

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
       coalesce(s.consecutive_failures, 0) AS consecutive_failures,
       -- Monitoring (0.2): read from what runs recorded; never from the table.
       s.backlog_rows,
       CASE WHEN s.backlog_rows OPERATOR(pg_catalog.=) 0
            THEN GREATEST('0'::pg_catalog.interval,
                                     pg_catalog.now() OPERATOR(pg_catalog.-)
                                     coalesce(s.next_run_at, p.created_at))
            ELSE pg_catalog.now() OPERATOR(pg_catalog.-) coalesce(s.caught_up_at, p.created_at)
       END AS behind_by,
       s.last_success_at,
       retention_internal.policy_problem(p.relation::pg_catalog.oid, p.archive_table::pg_catalog.oid,
                                p.owner::pg_catalog.oid, p.expr_columns, p.expr_attnums)
         AS problem,
       s.free_bytes AS reclaimable_bytes,
       coalesce(s.free_bytes OPERATOR(pg_catalog.>=) retention_internal.repack_advice_bytes()
                AND retention_internal.repack_advice_bytes() OPERATOR(pg_catalog.>) 0, false)
         AS repack_advised,
       coalesce(s.runs_total, 0) AS runs_total,
       coalesce(s.failed_runs_total, 0) AS failed_runs_total,
       arch.status AS archive_last_status,
       arch.finished_at AS archive_last_finished_at,
       arch.rows_deleted AS archive_last_rows_deleted,
       coalesce(s.archive_rows_deleted_total, 0) AS archive_rows_deleted_total,
       coalesce(s.archive_runs_total, 0) AS archive_runs_total,
       coalesce(s.archive_failed_runs_total, 0) AS archive_failed_runs_total,
       s.archive_last_success_at
  FROM retention.policy p
  LEFT JOIN retention.policy_state s ON s.policy_id OPERATOR(pg_catalog.=) p.id
  LEFT JOIN LATERAL (SELECT retention_internal.running_pid(p.id) AS pid) lk ON true
  LEFT JOIN LATERAL (
        SELECT g.rows_deleted, g.throttle_reason, g.horizon_warning
          FROM retention_internal.running_progress() g
         WHERE g.policy_id OPERATOR(pg_catalog.=) p.id
           AND g.pid OPERATOR(pg_catalog.=) lk.pid) pr ON true
  LEFT JOIN LATERAL (
        SELECT r.started_at, r.finished_at, r.rows_deleted, r.rows_archived, r.error,
               r.sqlstate,
               CASE WHEN r.status OPERATOR(pg_catalog.=) 'running'
                     AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
                    THEN 'interrupted' ELSE r.status END AS status
          FROM retention.run_history r
         WHERE r.policy_id OPERATOR(pg_catalog.=) p.id
           AND r.status OPERATOR(pg_catalog.<>) 'skipped'
           AND r.trigger OPERATOR(pg_catalog.<>) 'restore'
           AND r.stage OPERATOR(pg_catalog.=) 'purge'
         ORDER BY r.id DESC
         LIMIT 1) last ON true
  LEFT JOIN LATERAL (
        SELECT r.finished_at, r.rows_deleted,
               CASE WHEN r.status OPERATOR(pg_catalog.=) 'running'
                     AND NOT retention_internal.run_is_live(r.policy_id, r.pid)
                    THEN 'interrupted' ELSE r.status END AS status
          FROM retention.run_history r
         WHERE r.policy_id OPERATOR(pg_catalog.=) p.id
           AND r.stage OPERATOR(pg_catalog.=) 'archive'
         ORDER BY r.id DESC
         LIMIT 1) arch ON true
 WHERE retention_internal.can_see(p.owner::pg_catalog.oid);

CREATE OR REPLACE VIEW retention.metrics WITH (security_barrier) AS
SELECT st.policy,
       CASE WHEN st.state OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'throttled'])
            THEN 1 ELSE 0 END AS running,
       CASE WHEN st.state OPERATOR(pg_catalog.=) 'paused' THEN 1 ELSE 0 END AS paused,
       CASE WHEN st.problem IS NULL THEN 0 ELSE 1 END AS broken,
       st.runs_total,
       st.failed_runs_total,
       st.total_rows_deleted AS rows_deleted_total,
       st.total_rows_archived AS rows_archived_total,
       st.consecutive_failures,
       st.backlog_rows,
       pg_catalog.date_part('epoch', st.behind_by) AS behind_by_seconds,
       pg_catalog.date_part('epoch', st.last_success_at) AS last_success_timestamp_seconds,
       pg_catalog.date_part('epoch', st.last_finished_at OPERATOR(pg_catalog.-) st.last_started_at)
         AS last_run_duration_seconds,
       st.reclaimable_bytes,
       CASE WHEN st.repack_advised THEN 1 ELSE 0 END AS repack_advised,
       st.archive_runs_total,
       st.archive_failed_runs_total,
       st.archive_rows_deleted_total,
       pg_catalog.date_part('epoch', st.archive_last_success_at)
         AS archive_last_success_timestamp_seconds
  FROM retention.status st;

DROP FUNCTION retention.add_policy(regclass, text, interval, text, regclass, text, text, interval,
                                   integer, boolean, interval, integer, interval, boolean);
CREATE FUNCTION retention.add_policy(
    relation      regclass,
    expires_at    text,
    retain        interval DEFAULT '0',
    mode          text     DEFAULT 'delete',
    archive_table regclass DEFAULT NULL,
    filter        text     DEFAULT NULL,
    name          text     DEFAULT NULL,
    schedule      interval DEFAULT '1 hour',
    batch_size    integer  DEFAULT NULL,
    enabled       boolean  DEFAULT true,
    max_runtime   interval DEFAULT NULL,
    max_rows_per_second integer DEFAULT NULL,
    target_batch_time interval DEFAULT NULL,
    replicate_deletes boolean DEFAULT true,
    archive_retain interval DEFAULT NULL,
    archive_partition interval DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_add_policy';

COMMENT ON FUNCTION retention.add_policy(regclass, text, interval, text, regclass, text, text,
                                         interval, integer, boolean, interval, integer,
                                         interval, boolean, interval, interval) IS
  'declare a retention policy on a table; returns the policy name';

DROP FUNCTION retention.alter_policy(text, text, interval, text, regclass, text, interval, integer,
                                     boolean, interval, integer, interval, boolean);
CREATE FUNCTION retention.alter_policy(
    name          text,
    expires_at    text     DEFAULT NULL,
    retain        interval DEFAULT NULL,
    mode          text     DEFAULT NULL,
    archive_table regclass DEFAULT NULL,
    filter        text     DEFAULT NULL,
    schedule      interval DEFAULT NULL,
    batch_size    integer  DEFAULT NULL,
    enabled       boolean  DEFAULT NULL,
    max_runtime   interval DEFAULT NULL,
    max_rows_per_second integer DEFAULT NULL,
    target_batch_time interval DEFAULT NULL,
    replicate_deletes boolean  DEFAULT NULL,
    archive_retain interval DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_alter_policy';

COMMENT ON FUNCTION retention.alter_policy(text, text, interval, text, regclass, text, interval,
                                           integer, boolean, interval, integer, interval,
                                           boolean, interval) IS
  'change a retention policy; arguments left NULL keep their setting';

CREATE OR REPLACE FUNCTION retention_internal.apply_settings(policy_name text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
               'relation', p.relation::text, 'expires_at', p.expires_at,
               'retain', p.retain, 'mode', p.mode, 'archive_table', p.archive_table::text,
               'filter', p.filter, 'schedule', p.schedule, 'batch_size', p.batch_size,
               'enabled', p.enabled, 'max_runtime', p.max_runtime,
               'max_rows_per_second', p.max_rows_per_second,
               'target_batch_time', p.target_batch_time, 'archive_retain', p.archive_retain,
               'archive_partition', p.archive_partition)
      FROM retention.policies p
     WHERE p.name OPERATOR(pg_catalog.=) $1
$$;

CREATE OR REPLACE FUNCTION retention_internal.apply_check(policies jsonb) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known CONSTANT text[] := ARRAY['name', 'relation', 'expires_at', 'retain', 'mode',
                                   'archive_table', 'filter', 'schedule', 'batch_size',
                                   'enabled', 'max_runtime', 'max_rows_per_second',
                                   'target_batch_time', 'archive_retain', 'archive_partition'];
    kinds CONSTANT text[] := ARRAY['string', 'string', 'string', 'string', 'string',
                                   'string', 'string', 'string', 'number',
                                   'boolean', 'string', 'number', 'string', 'string', 'string'];
    item jsonb;
    pos integer := 0;
    label text;
    k text;
    kind text;
    names text[] := '{}';
BEGIN
    IF coalesce(pg_catalog.jsonb_typeof(policies), 'null') OPERATOR(pg_catalog.<>) 'array' THEN
        RAISE EXCEPTION 'retention.apply() expects a JSON array of policies, not %',
                        coalesce(pg_catalog.jsonb_typeof(policies), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass ''[]'' to drop every policy you own.';
    END IF;
    FOR item IN SELECT e FROM pg_catalog.jsonb_array_elements(policies) e LOOP
        pos := pos OPERATOR(pg_catalog.+) 1;
        IF pg_catalog.jsonb_typeof(item) OPERATOR(pg_catalog.<>) 'object' THEN
            RAISE EXCEPTION 'policy % is a JSON %, not an object', pos, pg_catalog.jsonb_typeof(item)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        label := CASE WHEN pg_catalog.jsonb_typeof(pg_catalog.jsonb_extract_path(item, 'name'))
                           OPERATOR(pg_catalog.=) 'string'
                      THEN pg_catalog.format('policy "%s"', pg_catalog.jsonb_extract_path_text(item, 'name'))
                      ELSE pg_catalog.format('policy %s', pos) END;
        FOR k IN SELECT pg_catalog.jsonb_object_keys(item) LOOP
            IF NOT k OPERATOR(pg_catalog.=) ANY (known) THEN
                RAISE EXCEPTION '% has an unknown key "%"', label, k
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Known keys: ' OPERATOR(pg_catalog.||)
                                 pg_catalog.array_to_string(known, ', ') OPERATOR(pg_catalog.||) '.';
            END IF;
            kind := kinds[pg_catalog.array_position(known, k)];
            IF NOT pg_catalog.jsonb_typeof(pg_catalog.jsonb_extract_path(item, k))
                   OPERATOR(pg_catalog.=) ANY (ARRAY[kind, 'null']) THEN
                RAISE EXCEPTION '"%" of % must be a JSON %, not %', k, label, kind,
                                pg_catalog.jsonb_typeof(pg_catalog.jsonb_extract_path(item, k))
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF kind OPERATOR(pg_catalog.=) 'number'
               AND pg_catalog.jsonb_extract_path_text(item, k) OPERATOR(pg_catalog.!~) '^-?[0-9]+$' THEN
                RAISE EXCEPTION '"%" of % must be a whole number, not %', k, label,
                                pg_catalog.jsonb_extract_path_text(item, k)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
        FOREACH k IN ARRAY ARRAY['name', 'relation', 'expires_at'] LOOP
            IF pg_catalog.jsonb_extract_path_text(item, k) IS NULL THEN
                RAISE EXCEPTION '% has no "%"', label, k
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Every policy needs "name", "relation" and "expires_at".';
            END IF;
        END LOOP;
        IF pg_catalog.jsonb_extract_path_text(item, 'name') OPERATOR(pg_catalog.=) ANY (names) THEN
            RAISE EXCEPTION '% is listed twice', label
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        names := pg_catalog.array_append(names, pg_catalog.jsonb_extract_path_text(item, 'name'));
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION retention_internal.apply_add(item jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retention.add_policy(
        relation => retention_internal.apply_relation(item, 'relation'),
        expires_at => pg_catalog.jsonb_extract_path_text(item, 'expires_at'),
        retain => coalesce(pg_catalog.jsonb_extract_path_text(item, 'retain'), '0')::interval,
        mode => coalesce(pg_catalog.jsonb_extract_path_text(item, 'mode'), 'delete'),
        archive_table => retention_internal.apply_relation(item, 'archive_table'),
        filter => pg_catalog.jsonb_extract_path_text(item, 'filter'),
        name => pg_catalog.jsonb_extract_path_text(item, 'name'),
        schedule => coalesce(pg_catalog.jsonb_extract_path_text(item, 'schedule'),
                             '1 hour')::interval,
        batch_size => pg_catalog.jsonb_extract_path_text(item, 'batch_size')::integer,
        enabled => coalesce(pg_catalog.jsonb_extract_path_text(item, 'enabled')::boolean, true),
        max_runtime => pg_catalog.jsonb_extract_path_text(item, 'max_runtime')::interval,
        max_rows_per_second =>
            pg_catalog.jsonb_extract_path_text(item, 'max_rows_per_second')::integer,
        target_batch_time =>
            pg_catalog.jsonb_extract_path_text(item, 'target_batch_time')::interval,
        archive_retain => pg_catalog.jsonb_extract_path_text(item, 'archive_retain')::interval,
        archive_partition =>
            pg_catalog.jsonb_extract_path_text(item, 'archive_partition')::interval);
END
$$;

CREATE OR REPLACE FUNCTION retention_internal.apply_alter(item jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy_name text := pg_catalog.jsonb_extract_path_text(item, 'name');
    wanted interval := coalesce(pg_catalog.jsonb_extract_path_text(item, 'schedule'),
                                '1 hour')::interval;
    current interval;
    partitioned interval;
    wanted_partition interval :=
        pg_catalog.jsonb_extract_path_text(item, 'archive_partition')::interval;
BEGIN
    SELECT p.schedule, p.archive_partition INTO current, partitioned FROM retention.policies p
     WHERE p.name OPERATOR(pg_catalog.=) policy_name;
    IF (wanted_partition IS NULL) OPERATOR(pg_catalog.<>) (partitioned IS NULL)
       OR wanted_partition OPERATOR(pg_catalog.<>) partitioned THEN
        RAISE EXCEPTION 'archive_partition of retention policy "%" cannot change', policy_name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It is set when the policy is added, with the archive it creates.',
                  HINT = 'Drop the policy and add it again (its archive table stays), or '
                         'keep its archive_partition in the list.';
    END IF;
    PERFORM retention.alter_policy(
        name => policy_name,
        expires_at => pg_catalog.jsonb_extract_path_text(item, 'expires_at'),
        retain => coalesce(pg_catalog.jsonb_extract_path_text(item, 'retain'), '0')::interval,
        mode => coalesce(pg_catalog.jsonb_extract_path_text(item, 'mode'), 'delete'),
        archive_table => retention_internal.apply_relation(item, 'archive_table'),
        filter => coalesce(pg_catalog.jsonb_extract_path_text(item, 'filter'), ''),
        schedule => CASE WHEN wanted OPERATOR(pg_catalog.=) current THEN NULL ELSE wanted END,
        batch_size => coalesce(pg_catalog.jsonb_extract_path_text(item, 'batch_size')::integer, 0),
        enabled => coalesce(pg_catalog.jsonb_extract_path_text(item, 'enabled')::boolean, true),
        max_runtime => coalesce(pg_catalog.jsonb_extract_path_text(item, 'max_runtime'),
                                '0')::interval,
        max_rows_per_second =>
            coalesce(pg_catalog.jsonb_extract_path_text(item, 'max_rows_per_second')::integer, 0),
        target_batch_time => coalesce(pg_catalog.jsonb_extract_path_text(item, 'target_batch_time'),
                                      '0')::interval,
        archive_retain => coalesce(pg_catalog.jsonb_extract_path_text(item, 'archive_retain'),
                                   '0')::interval);
END
$$;

CREATE OR REPLACE FUNCTION retention.preset(name text, schema name DEFAULT 'public') RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known CONSTANT text[] := ARRAY['authgate', 'coder', 'doorkeeper', 'gitlab', 'hydra',
                                   'keycloak'];
    defs CONSTANT text[] := ARRAY[
        ['doorkeeper', 'doorkeeper_access_tokens', 'oauth_access_tokens', 'revoked_at',
         '1 mon', 'delete', NULL],
        ['doorkeeper', 'doorkeeper_access_grants', 'oauth_access_grants',
         'least(revoked_at, created_at + expires_in * interval ''1 second'')', '1 mon', 'delete', NULL],
        ['gitlab', 'gitlab_access_tokens', 'oauth_access_tokens', 'revoked_at', '1 mon', 'archive',
         '3 mons'],
        ['gitlab', 'gitlab_access_grants', 'oauth_access_grants',
         'least(revoked_at, created_at + expires_in * interval ''1 second'')', '1 mon', 'archive',
         '3 mons'],
        ['gitlab', 'gitlab_authentication_events', 'authentication_events', 'created_at',
         '1 year', 'archive', '3 mons'],
        ['hydra', 'hydra_access_tokens', 'hydra_oauth2_access', 'requested_at', '1 day', 'delete', NULL],
        ['hydra', 'hydra_refresh_tokens', 'hydra_oauth2_refresh', 'requested_at', '31 days',
         'delete', NULL],
        ['hydra', 'hydra_authorization_codes', 'hydra_oauth2_code', 'requested_at', '1 day',
         'delete', NULL],
        ['keycloak', 'keycloak_offline_user_sessions', 'offline_user_session',
         'to_timestamp(last_session_refresh)', '30 days', 'delete', NULL],
        ['keycloak', 'keycloak_offline_client_sessions', 'offline_client_session',
         'to_timestamp("timestamp")', '30 days', 'delete', NULL],
        ['keycloak', 'keycloak_events', 'event_entity', 'to_timestamp(event_time / 1000.0)',
         '90 days', 'delete', NULL],
        ['keycloak', 'keycloak_admin_events', 'admin_event_entity',
         'to_timestamp(admin_event_time / 1000.0)', '90 days', 'delete', NULL],
        ['coder', 'coder_api_keys', 'api_keys', 'expires_at', '7 days', 'delete', NULL],
        ['authgate', 'authgate_access_tokens', 'access_tokens', 'expires_at', '1 day', 'delete', NULL],
        ['authgate', 'authgate_device_codes', 'device_codes', 'expires_at', '1 day', 'delete', NULL],
        ['authgate', 'authgate_authorization_codes', 'authorization_codes', 'expires_at', '1 day',
         'delete', NULL],
        ['authgate', 'authgate_audit_logs', 'audit_logs', 'event_time', '90 days', 'delete', NULL]];
    result jsonb := '[]';
    i integer;
BEGIN
    IF name IS NULL OR NOT name OPERATOR(pg_catalog.=) ANY (known) THEN
        RAISE EXCEPTION 'unknown retention preset "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Known presets: ' OPERATOR(pg_catalog.||)
                         pg_catalog.array_to_string(known, ', ') OPERATOR(pg_catalog.||) '.';
    END IF;
    FOR i IN 1 .. pg_catalog.array_length(defs, 1) LOOP
        CONTINUE WHEN defs[i][1] OPERATOR(pg_catalog.<>) name;
        result := result OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object(
                'name', defs[i][2],
                'relation', pg_catalog.format('%I.%I', schema, defs[i][3]),
                'expires_at', defs[i][4],
                'retain', defs[i][5],
                'mode', defs[i][6])
            OPERATOR(pg_catalog.||)
            CASE WHEN defs[i][7] IS NULL THEN '{}'::jsonb
                 ELSE pg_catalog.jsonb_build_object('archive_retain', defs[i][7]) END);
    END LOOP;
    RETURN result;
END
$$;

COMMENT ON COLUMN retention.policies.archive_retain IS
  'archive mode: archived rows older than this (archived_at) are removed by the run''s archive stage; NULL keeps them';
COMMENT ON COLUMN retention.runs.stage IS
  'purge (rows of the table) or archive (archived rows older than archive_retain)';
COMMENT ON COLUMN retention.status.archive_last_status IS
  'how the last archive stage ended, or NULL when none ran';
COMMENT ON COLUMN retention.status.archive_last_finished_at IS 'when the last archive stage ended';
COMMENT ON COLUMN retention.status.archive_last_rows_deleted IS
  'archived rows the last archive stage removed';
COMMENT ON COLUMN retention.status.archive_rows_deleted_total IS
  'archived rows removed by all archive stages';
COMMENT ON COLUMN retention.status.archive_runs_total IS 'archive stages that ended';
COMMENT ON COLUMN retention.status.archive_failed_runs_total IS
  'archive stages that ended in an error';
COMMENT ON COLUMN retention.status.archive_last_success_at IS
  'when the last complete (ok) archive stage ended';
COMMENT ON COLUMN retention.metrics.archive_runs_total IS 'archive stages that ended (counter)';
COMMENT ON COLUMN retention.metrics.archive_failed_runs_total IS
  'archive stages that ended in an error (counter)';
COMMENT ON COLUMN retention.metrics.archive_rows_deleted_total IS
  'archived rows removed by the archive stage (counter)';
COMMENT ON COLUMN retention.metrics.archive_last_success_timestamp_seconds IS
  'when the last complete archive stage ended, Unix time';
COMMENT ON COLUMN retention.policies.archive_partition IS
  'the archive add_policy created is partitioned by range of archived_at in steps of this interval; NULL: a plain table';
