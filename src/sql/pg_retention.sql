-- pg_retention install script (the single source of truth; the Makefile
-- copies it to pg_retention--<version>.sql).
--
-- Objects: the policy catalog and run history (not writable by users: every
-- change goes through the C functions, which check ownership), the views
-- retention.policies and retention.runs, and the SQL API.
-- Everything is schema-qualified: every function pins its search_path, and
-- every operator is written OPERATOR(pg_catalog.op), also where SQL would
-- resolve one by name behind the scenes (IN, BETWEEN, IS DISTINCT FROM, the
-- simple CASE). The extension's schema is only ever named literally.

\echo Use "CREATE EXTENSION pg_retention" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The schema
-- ---------------------------------------------------------------------------

-- CREATE EXTENSION creates the schema retention (pg_retention.control) only
-- when it does not exist yet. One that another role created first, or may
-- create objects in, would let that role replace or drop the extension's
-- objects (the class of CVE-2022-2625 and CVE-2023-39417): refuse it. A
-- schema of another superuser (pg_restore keeps the dumped owner) is fine.
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
    IF owner_name OPERATOR(pg_catalog.<>) CURRENT_USER THEN
        RAISE EXCEPTION 'schema "retention" is owned by role "%"', owner_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'pg_retention keeps its catalog in that schema; its owner could '
                           'replace or drop the extension''s objects.',
                  HINT = 'Drop or rename the schema, then run CREATE EXTENSION pg_retention again.';
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
                  HINT = 'Drop or rename the schema, then run CREATE EXTENSION pg_retention again.';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Catalog
-- ---------------------------------------------------------------------------

CREATE SEQUENCE retention.policy_id_seq AS integer;

CREATE TABLE retention.policy (
    id            integer     NOT NULL DEFAULT pg_catalog.nextval('retention.policy_id_seq')
                              PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    relation      regclass    NOT NULL,
    expires_at    text        NOT NULL,        -- deparsed, schema-qualified expression
    retain        interval    NOT NULL,
    mode          text        NOT NULL
                              CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['delete', 'archive'])),
    archive_table regclass,
    filter        text,                        -- deparsed boolean expression or NULL
    schedule      interval    NOT NULL,
    batch_size    integer     CHECK (batch_size OPERATOR(pg_catalog.>) 0),
    max_runtime   interval    CHECK (max_runtime OPERATOR(pg_catalog.>) '0'),  -- NULL: no limit
    max_rows_per_second integer
                  CHECK (max_rows_per_second OPERATOR(pg_catalog.>) 0),  -- NULL: no limit
    -- NULL: size adaptive batches toward retention.target_batch_time.
    target_batch_time interval CHECK (target_batch_time OPERATOR(pg_catalog.>=) '1 ms'
                                      AND target_batch_time OPERATOR(pg_catalog.<=) '1 min'),
    enabled       boolean     NOT NULL DEFAULT true,
    paused        boolean     NOT NULL DEFAULT false,
    owner         regrole     NOT NULL,
    -- The time zone in which the policy's dates and timestamps without time
    -- zone, and its calendar intervals, are read: the creator's TimeZone.
    timezone      text        NOT NULL DEFAULT pg_catalog.current_setting('TimeZone'),
    -- Columns the expressions read, by name and (sorted) attribute number, so
    -- that a rename or drop is detected instead of silently changing meaning.
    expr_columns  name[]      NOT NULL,
    expr_attnums  smallint[]  NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((mode OPERATOR(pg_catalog.=) 'archive') OPERATOR(pg_catalog.=)
           (archive_table IS NOT NULL))
);
ALTER SEQUENCE retention.policy_id_seq OWNED BY retention.policy.id;

COMMENT ON TABLE retention.policy IS
  'pg_retention policies; change them with retention.add_policy/alter_policy/drop_policy';

CREATE SEQUENCE retention.run_id_seq AS bigint;

CREATE TABLE retention.run_history (
    id            bigint      NOT NULL DEFAULT pg_catalog.nextval('retention.run_id_seq')
                              PRIMARY KEY,
    policy_id     integer     NOT NULL,
    policy        text        NOT NULL,
    trigger       text        NOT NULL
                              CHECK (trigger OPERATOR(pg_catalog.=) ANY (
                                         ARRAY['manual', 'worker', 'pg_cron', 'run_due'])),
    pid           integer     NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    status        text        NOT NULL
                              CHECK (status OPERATOR(pg_catalog.=) ANY (
                                         ARRAY['running', 'ok', 'error', 'skipped',
                                               'partial', 'interrupted'])),
    cutoff        timestamptz,
    rows_deleted  bigint      NOT NULL DEFAULT 0,
    rows_archived bigint      NOT NULL DEFAULT 0,
    batches       integer     NOT NULL DEFAULT 0,
    retries       integer     NOT NULL DEFAULT 0,  -- batches retried after a timeout
    -- The table before and after the run: pg_table_size and the dead rows
    -- the statistics know of, and whether the run ran ANALYZE.
    table_bytes_before bigint,
    table_bytes_after  bigint,
    dead_rows_before   bigint,
    dead_rows_after    bigint,
    analyzed      boolean     NOT NULL DEFAULT false,
    -- The first report of a transaction holding back the xmin horizon while
    -- the run went (retention.xmin_horizon_warning).
    horizon_warning text,
    sqlstate      text,                            -- of the error, or of the last retry
    error         text,
    -- The policy's owner when the run started: who may see the run. NULL
    -- for runs recorded before 0.2 of policies dropped before the update.
    owner         oid
);
ALTER SEQUENCE retention.run_id_seq OWNED BY retention.run_history.id;
CREATE INDEX run_history_policy_started_idx ON retention.run_history (policy_id, started_at);

-- When each policy is due and how it has fared, kept by the engine when a
-- run ends (the scheduler reads it; it is not configuration).
CREATE TABLE retention.policy_state (
    policy_id            integer     PRIMARY KEY
                                     REFERENCES retention.policy (id) ON DELETE CASCADE,
    next_run_at          timestamptz,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    total_rows_deleted   bigint      NOT NULL DEFAULT 0,
    total_rows_archived  bigint      NOT NULL DEFAULT 0,
    last_run_id          bigint,
    -- Where the walk of a run that stopped early (max_runtime, max_rows) was,
    -- so that the next run resumes there; NULL after a complete pass.
    -- cursor_kind names the access path and key types it belongs to.
    cursor               text[],
    cursor_kind          text
);

-- Policies survive pg_dump/restore. The run history is operational data and
-- is not dumped.
SELECT pg_catalog.pg_extension_config_dump('retention.policy', '');
SELECT pg_catalog.pg_extension_config_dump('retention.policy_id_seq', '');

-- After a restore the table may have different attribute numbers (dropped
-- columns are not recreated): recompute them from the column names whenever a
-- policy row is inserted.
CREATE FUNCTION retention.policy_refresh_attnums() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT coalesce(array_agg(a.attname ORDER BY a.attnum), '{}'),
           coalesce(array_agg(a.attnum ORDER BY a.attnum), '{}')
      INTO NEW.expr_columns, NEW.expr_attnums
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.relation
       AND a.attname OPERATOR(pg_catalog.=) ANY (NEW.expr_columns)
       AND NOT a.attisdropped;
    RETURN NEW;
END
$$;

CREATE TRIGGER policy_refresh_attnums
    BEFORE INSERT ON retention.policy
    FOR EACH ROW EXECUTE FUNCTION retention.policy_refresh_attnums();

-- Users never write the catalog directly.
REVOKE ALL ON retention.policy, retention.run_history, retention.policy_state FROM PUBLIC;
REVOKE ALL ON SEQUENCE retention.policy_id_seq, retention.run_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.policy_refresh_attnums() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------

-- The advisory lock that marks a policy as running: class 1919251566 ('retn')
-- and the policy id, with objsubid 4 in pg_locks, a key space that no SQL
-- function can take (pg_advisory_lock(1919251566, id) is objsubid 2 and does
-- not hold a policy up; see src/pg/SECURITY.md). Returns the pid holding it,
-- or NULL.
CREATE FUNCTION retention.running_pid(policy_id integer) RETURNS integer
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
CREATE FUNCTION retention.run_is_live(policy_id integer, pid integer) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_is_in_recovery()
        OR (SELECT CASE WHEN l.pid IS NULL OR $2 IS NULL
                        THEN l.pid IS NULL AND $2 IS NULL
                        ELSE l.pid OPERATOR(pg_catalog.=) $2 END
              FROM (SELECT retention.running_pid($1) AS pid) l)
$$;

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
CREATE VIEW retention.policies WITH (security_barrier) AS
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

CREATE VIEW retention.runs WITH (security_barrier) AS
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

-- Live progress of the runs in flight in this database, from shared memory.
CREATE FUNCTION retention.running_progress(
    OUT policy_id integer, OUT pid integer, OUT rows_deleted bigint,
    OUT rows_archived bigint, OUT batches integer, OUT throttle_reason text,
    OUT horizon_warning text)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_running_progress';

-- One row per policy: what it is doing, how its last run went, when it runs
-- next. Readable on a hot standby. Whoever may see the policy sees its last
-- run, whoever ran it.
CREATE VIEW retention.status WITH (security_barrier) AS
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

GRANT USAGE ON SCHEMA retention TO PUBLIC;
GRANT SELECT ON retention.policies, retention.runs, retention.status TO PUBLIC;

-- ---------------------------------------------------------------------------
-- SQL API (C). Every function checks ownership itself; none is SECURITY
-- DEFINER.
-- ---------------------------------------------------------------------------

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
    target_batch_time interval DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_add_policy';

COMMENT ON FUNCTION retention.add_policy(regclass, text, interval, text, regclass, text, text,
                                         interval, integer, boolean, interval, integer,
                                         interval) IS
  'declare a retention policy on a table; returns the policy name';

-- NULL means "leave unchanged". filter => '' removes the filter,
-- batch_size => 0 hands the batch size back to the engine and
-- max_runtime => '0' and max_rows_per_second => 0 remove those limits;
-- target_batch_time => '0' follows retention.target_batch_time again.
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
    target_batch_time interval DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_alter_policy';

CREATE FUNCTION retention.drop_policy(name text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_drop_policy';

CREATE FUNCTION retention.pause(name text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_pause';

CREATE FUNCTION retention.resume(name text)
RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_resume';

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

-- What the background scheduler would run now (the same due list and kill
-- switch), for pg_cron or cron + psql as the clock. Raises an error at the
-- end, after every run has committed, if a policy ended in error.
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

CREATE FUNCTION retention.preview(name text)
RETURNS TABLE (purgeable_rows bigint,
               oldest_expiry  timestamptz,
               access_path    text,
               cutoff         timestamptz,
               batch_size     integer,
               mode           text)
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_preview';

COMMENT ON FUNCTION retention.preview(text) IS
  'dry run: how many rows a run would remove now, and how batches would find them';

-- Background scheduler hooks. wakeup() makes this database's scheduler look
-- for due policies now (superuser; returns false when the module is not
-- preloaded). The waitpoint functions are test hooks (superuser-only, see
-- src/pg/module/waitpoint.hpp); they act only with retention.enable_debug_waitpoints.
CREATE FUNCTION retention.wakeup() RETURNS boolean
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_wakeup';
REVOKE ALL ON FUNCTION retention.wakeup() FROM PUBLIC;

CREATE FUNCTION retention.debug_waitpoint_enable(name text) RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_debug_waitpoint_enable';
CREATE FUNCTION retention.debug_waitpoint_release(name text) RETURNS void
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'retention_debug_waitpoint_release';
REVOKE ALL ON FUNCTION retention.debug_waitpoint_enable(text),
                       retention.debug_waitpoint_release(text) FROM PUBLIC;

-- Tells the launcher that this database now has the extension.
CREATE FUNCTION retention.notify_launcher() RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_notify_launcher';
REVOKE ALL ON FUNCTION retention.notify_launcher() FROM PUBLIC;

-- Keep policies consistent with DDL: a dropped source table takes its
-- policies with it; a dropped archive table disables the policy.
-- SECURITY DEFINER: it runs as whoever dropped the table, who may not write
-- the catalog; it only reads the list of dropped objects.
CREATE FUNCTION retention.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped record;
    p record;
BEGIN
    FOR dropped IN
        SELECT o.objid FROM pg_catalog.pg_event_trigger_dropped_objects() o
         WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND o.objsubid OPERATOR(pg_catalog.=) 0
           AND o.object_type OPERATOR(pg_catalog.=) 'table'
    LOOP
        FOR p IN DELETE FROM retention.policy
                  WHERE relation::pg_catalog.oid OPERATOR(pg_catalog.=) dropped.objid
                  RETURNING name
        LOOP
            RAISE NOTICE 'dropped retention policy "%" because its table was dropped', p.name;
        END LOOP;
        FOR p IN UPDATE retention.policy SET enabled = false
                  WHERE archive_table::pg_catalog.oid OPERATOR(pg_catalog.=) dropped.objid
                  RETURNING name
        LOOP
            RAISE WARNING 'disabled retention policy "%" because its archive table was dropped', p.name
                USING HINT = 'Give it a new archive table with retention.alter_policy(), then enable it.';
        END LOOP;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION retention.on_sql_drop() FROM PUBLIC;

CREATE EVENT TRIGGER retention_sql_drop ON sql_drop
    EXECUTE FUNCTION retention.on_sql_drop();

-- ---------------------------------------------------------------------------
-- Comments
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
COMMENT ON COLUMN retention.runs.trigger IS
  'manual (CALL retention.run), worker (the scheduler), pg_cron (a pg_cron job) '
  'or run_due (CALL retention.run_due outside pg_cron)';
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

SELECT retention.notify_launcher();
