-- Monitoring: retention.status' backlog, behind_by, last success, problem
-- and repack advice; retention.metrics; skipped runs collapsing; who may
-- prune the history; every view column carries a comment.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE mon_tenant;
CREATE ROLE mon_other;
CREATE ROLE mon_watcher IN ROLE pg_monitor;
GRANT CREATE ON SCHEMA public TO mon_tenant;

SET ROLE mon_tenant;
CREATE TABLE mon_sessions (id integer PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE INDEX ON mon_sessions (expires_at);
INSERT INTO mon_sessions
SELECT i, CASE WHEN i <= 3000 THEN now() - interval '2 days' ELSE now() + interval '2 days' END
  FROM generate_series(1, 4000) AS i;
ANALYZE mon_sessions;
SELECT retention.add_policy('mon_sessions', 'expires_at', batch_size => 500);

-- Before any run: nothing known, behind since the policy was added.
SELECT backlog_rows, behind_by >= '0' AS behind_known, last_success_at, problem,
       reclaimable_bytes, repack_advised, runs_total, failed_runs_total
  FROM retention.status;

-- A run cut short by max_rows leaves rows: the planner's estimate, no scan.
CALL retention.run('public.mon_sessions', max_rows => 1000);
SELECT last_status, backlog_rows > 0 AS backlog_left, behind_by > '0' AS behind,
       last_success_at IS NULL AS never_succeeded, runs_total
  FROM retention.status;
SELECT status, backlog_rows > 0 AS backlog_left, free_bytes_source,
       free_bytes_after > 0 AS has_free_space
  FROM retention.runs ORDER BY run_id DESC LIMIT 1;

-- The rest: caught up.
CALL retention.run('public.mon_sessions');
SELECT last_status, backlog_rows, behind_by, last_success_at IS NOT NULL AS succeeded,
       runs_total, failed_runs_total
  FROM retention.status;
-- Table size on disk does not shrink; the free space says what a repack returns.
SELECT table_bytes_after = table_bytes_before AS same_size,
       free_bytes_after > 0 AS has_free_space, free_bytes_source
  FROM retention.runs ORDER BY run_id DESC LIMIT 1;

-- Repack advice follows retention.repack_advice_threshold.
SET retention.repack_advice_threshold = '8kB';
SELECT repack_advised FROM retention.status;
SET retention.repack_advice_threshold = '1TB';
SELECT repack_advised FROM retention.status;
SET retention.repack_advice_threshold = 0;
SELECT repack_advised FROM retention.status;
RESET retention.repack_advice_threshold;

-- With pgstattuple installed, runs measure the free space.
RESET ROLE;
CREATE EXTENSION pgstattuple;
SET ROLE mon_tenant;
INSERT INTO mon_sessions SELECT i, now() - interval '1 day' FROM generate_series(5001, 5500) AS i;
CALL retention.run('public.mon_sessions');
SELECT status, rows_deleted, free_bytes_source, free_bytes_after > 0 AS has_free_space
  FROM retention.runs ORDER BY run_id DESC LIMIT 1;
RESET ROLE;
DROP EXTENSION pgstattuple;

-- The metrics view, in Prometheus' terms.
SET ROLE mon_tenant;
SELECT policy, running, paused, broken, runs_total, failed_runs_total, rows_deleted_total,
       rows_archived_total, consecutive_failures, backlog_rows, behind_by_seconds,
       last_success_timestamp_seconds > 0 AS has_success, last_run_duration_seconds >= 0 AS dur,
       reclaimable_bytes > 0 AS reclaimable, repack_advised
  FROM retention.metrics;

-- A role that may not see the policy sees no metrics; pg_monitor sees all.
SET ROLE mon_other;
SELECT count(*) FROM retention.metrics;
SELECT count(*) FROM retention.status;
SET ROLE mon_watcher;
SELECT policy, runs_total, backlog_rows FROM retention.metrics;

-- A broken policy shows its problem in its own row; the views never fail.
SET ROLE mon_tenant;
CREATE TABLE mon_tokens (id integer PRIMARY KEY, revoked_at timestamptz);
SELECT retention.add_policy('mon_tokens', 'revoked_at');
ALTER TABLE mon_tokens DROP COLUMN revoked_at;
CREATE TABLE mon_grants (id integer PRIMARY KEY, expires_at timestamptz);
SELECT retention.add_policy('mon_grants', 'expires_at');
RESET ROLE;
ALTER TABLE mon_grants OWNER TO mon_other;
SET ROLE mon_watcher;
SELECT policy, problem FROM retention.status ORDER BY policy;
SELECT policy, broken FROM retention.metrics ORDER BY policy;
RESET ROLE;
CALL retention.run('public.mon_tokens');
SELECT policy, last_status, failed_runs_total, consecutive_failures, backlog_rows,
       behind_by > '0' AS behind
  FROM retention.status WHERE policy = 'public.mon_tokens';

-- A table owner's function that stalls only while the backlog is estimated
-- (the EXPLAIN runs with parallel plans off) cannot hold the run's end: the
-- batch timeout interrupts it and the estimate is left unknown.
SET retention.statement_timeout = '200ms';
SET ROLE mon_tenant;
CREATE FUNCTION mon_ttl() RETURNS interval LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('max_parallel_workers_per_gather') = '0' THEN
        PERFORM pg_sleep(5);
    END IF;
    RETURN interval '1 day';
END $$;
CREATE TABLE mon_slow (id integer PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO mon_slow SELECT i, now() - interval '3 days' FROM generate_series(1, 100) AS i;
SELECT retention.add_policy('mon_slow', 'created_at + public.mon_ttl()', batch_size => 10);
CALL retention.run('public.mon_slow', max_rows => 20);
SELECT status, rows_deleted, backlog_rows FROM retention.runs WHERE policy = 'public.mon_slow';
RESET ROLE;
RESET retention.statement_timeout;

-- Only whom the extension owner allows may prune the history; a table owner
-- cannot shorten anybody's history (the settings are server-wide, SIGHUP).
SET ROLE mon_tenant;
SELECT retention.prune_history();
SET retention.history_max_rows = 1;
DELETE FROM retention.run_history;
RESET ROLE;
SELECT retention.prune_history();  -- defaults: 30 days, 10000 rows: nothing

-- Every column of the views has a comment.
SELECT c.relname, a.attname
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'retention'::regnamespace AND c.relkind = 'v'
   AND col_description(c.oid, a.attnum) IS NULL;

DROP TABLE mon_sessions, mon_tokens, mon_grants, mon_slow;
DROP FUNCTION mon_ttl();
DROP EXTENSION pg_retention;
REVOKE CREATE ON SCHEMA public FROM mon_tenant;
DROP ROLE mon_tenant, mon_other, mon_watcher;
