-- pg_retention install script (the single source of truth; the Makefile
-- copies it to pg_retention--<version>.sql).
--
-- Objects: the policy catalog and run history (not writable by users: every
-- change goes through the C functions, which check ownership), the views
-- retention.policies and retention.runs, and the SQL API.
-- Everything is schema-qualified; no @extschema@ appears in a quoted body.

\echo Use "CREATE EXTENSION pg_retention" to load this file. \quit

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
    mode          text        NOT NULL CHECK (mode IN ('delete', 'archive')),
    archive_table regclass,
    filter        text,                        -- deparsed boolean expression or NULL
    schedule      interval    NOT NULL,
    batch_size    integer     CHECK (batch_size > 0),
    max_runtime   interval    CHECK (max_runtime > '0'),  -- NULL: no limit
    max_rows_per_second integer CHECK (max_rows_per_second > 0),  -- NULL: no limit
    -- NULL: size adaptive batches toward retention.target_batch_time.
    target_batch_time interval CHECK (target_batch_time BETWEEN '1 ms' AND '1 min'),
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
    CHECK ((mode = 'archive') = (archive_table IS NOT NULL))
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
    trigger       text        NOT NULL CHECK (trigger IN ('manual', 'worker')),
    pid           integer     NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    status        text        NOT NULL
                              CHECK (status IN ('running', 'ok', 'error', 'skipped',
                                                'partial', 'interrupted')),
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
    error         text
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
-- plus the policy id, in the two-int4 key space (see src/pg/README.md).
-- Returns the pid holding it, or NULL.
CREATE FUNCTION retention.running_pid(policy_id integer) RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT l.pid
      FROM pg_catalog.pg_locks l
     WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
       AND l.database OPERATOR(pg_catalog.=)
           (SELECT d.oid FROM pg_catalog.pg_database d
             WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND l.classid OPERATOR(pg_catalog.=) 1919251566::pg_catalog.oid
       AND l.objid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND l.objsubid OPERATOR(pg_catalog.=) 2
       AND l.granted
     LIMIT 1
$$;

-- Whether the run recorded for (policy, pid) is still going. On a hot
-- standby the run belongs to the primary, whose locks we cannot see: there
-- a "running" run is taken at its word.
CREATE FUNCTION retention.run_is_live(policy_id integer, pid integer) RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.pg_is_in_recovery()
        OR retention.running_pid($1) IS NOT DISTINCT FROM $2
$$;

CREATE VIEW retention.policies AS
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
  FROM retention.policy p;

CREATE VIEW retention.runs AS
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
  FROM retention.run_history r;

-- Live progress of the runs in flight in this database, from shared memory.
CREATE FUNCTION retention.running_progress(
    OUT policy_id integer, OUT pid integer, OUT rows_deleted bigint,
    OUT rows_archived bigint, OUT batches integer, OUT throttle_reason text,
    OUT horizon_warning text)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'retention_running_progress';

-- One row per policy: what it is doing, how its last run went, when it runs
-- next. Readable on a hot standby.
CREATE VIEW retention.status AS
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
         LIMIT 1) last ON true;

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
    INOUT status        text    DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'retention_run';

COMMENT ON PROCEDURE retention.run(text, bigint, bigint, bigint, integer, text) IS
  'run one policy (or every enabled one) now, one committed transaction per batch';

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
-- src/pg/waitpoint.hpp); they act only with retention.enable_debug_waitpoints.
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

SELECT retention.notify_launcher();
