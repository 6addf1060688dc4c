-- The SQL contract of pg_retention: functions and their signatures, views and
-- their columns, privileges on the catalog, settings.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pg_retention;
SELECT plan(51);

SELECT has_schema('retention');
SELECT is((SELECT trusted FROM pg_available_extension_versions
           WHERE name = 'pg_retention' AND version = '0.1'), false, 'the extension is not trusted');

-- Functions and procedures.
SELECT has_function('retention', 'add_policy',
    ARRAY['regclass', 'text', 'interval', 'text', 'regclass', 'text', 'text', 'interval',
          'integer', 'boolean', 'interval', 'integer', 'interval']);
SELECT function_returns('retention', 'add_policy',
    ARRAY['regclass', 'text', 'interval', 'text', 'regclass', 'text', 'text', 'interval',
          'integer', 'boolean', 'interval', 'integer', 'interval'], 'text');
SELECT has_function('retention', 'alter_policy',
    ARRAY['text', 'text', 'interval', 'text', 'regclass', 'text', 'interval', 'integer',
          'boolean', 'interval', 'integer', 'interval']);
SELECT has_function('retention', 'drop_policy', ARRAY['text']);
SELECT has_function('retention', 'pause', ARRAY['text']);
SELECT has_function('retention', 'resume', ARRAY['text']);
SELECT has_function('retention', 'preview', ARRAY['text']);
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text)'::regprocedure),
          'p', 'run is a procedure');
SELECT is((SELECT array_to_string(proargmodes, ',') FROM pg_proc
           WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text)'::regprocedure),
          'i,i,b,b,b,b', 'run takes name and max_rows, and returns its results as INOUT');
SELECT is((SELECT pronargdefaults FROM pg_proc
           WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text)'::regprocedure),
          6::int2, 'every argument of run has a default');
SELECT is((SELECT pronargdefaults FROM pg_proc
           WHERE oid = 'retention.add_policy(regclass, text, interval, text, regclass, text, text, interval, integer, boolean, interval, integer, interval)'::regprocedure),
          11::int2, 'add_policy needs only relation and expires_at');
SELECT isnt_definer('retention', 'add_policy',
    ARRAY['regclass', 'text', 'interval', 'text', 'regclass', 'text', 'text', 'interval',
          'integer', 'boolean', 'interval', 'integer', 'interval'], 'add_policy is not SECURITY DEFINER');
SELECT isnt_definer('retention', 'preview', ARRAY['text'], 'preview is not SECURITY DEFINER');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'retention' AND p.prosecdef AND p.proname <> 'on_sql_drop'),
          0, 'no SECURITY DEFINER function but the DDL event trigger');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'retention.on_sql_drop()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'the event trigger pins its search_path');

-- Preview's result columns.
SELECT is((SELECT array_agg(a ORDER BY o) FROM unnest(
              (SELECT proargnames FROM pg_proc WHERE oid = 'retention.preview(text)'::regprocedure))
              WITH ORDINALITY AS x(a, o) WHERE o > 1),
          ARRAY['purgeable_rows', 'oldest_expiry', 'access_path', 'cutoff', 'batch_size', 'mode'],
          'preview returns the documented columns');

-- Views.
SELECT has_view('retention', 'policies', 'view retention.policies');
SELECT has_view('retention', 'runs', 'view retention.runs');
SELECT columns_are('retention', 'policies',
    ARRAY['name', 'relation', 'expires_at', 'retain', 'mode', 'archive_table', 'filter',
          'schedule', 'batch_size', 'max_runtime', 'max_rows_per_second', 'target_batch_time', 'enabled', 'paused', 'owner', 'timezone',
          'created_at']);
SELECT col_type_is('retention', 'policies', 'relation', 'regclass', 'policies.relation is a regclass');
SELECT col_type_is('retention', 'policies', 'archive_table', 'regclass', 'policies.archive_table is a regclass');
SELECT columns_are('retention', 'runs',
    ARRAY['run_id', 'policy', 'trigger', 'pid', 'started_at', 'finished_at', 'status', 'cutoff',
          'rows_deleted', 'rows_archived', 'batches', 'retries', 'table_bytes_before',
          'table_bytes_after', 'dead_rows_before', 'dead_rows_after', 'analyzed', 'horizon_warning', 'sqlstate',
          'error']);

SELECT has_view('retention', 'status', 'view retention.status');
SELECT columns_are('retention', 'status',
    ARRAY['policy', 'relation', 'mode', 'state', 'running_pid', 'current_rows',
          'throttle_reason', 'horizon_warning', 'last_started_at', 'last_finished_at', 'last_status', 'last_rows_deleted',
          'last_rows_archived', 'last_error', 'last_sqlstate', 'next_run_at',
          'total_rows_deleted', 'total_rows_archived', 'consecutive_failures']);
SELECT table_privs_are('retention', 'status', 'public', ARRAY['SELECT']);
SELECT table_privs_are('retention', 'policy_state', 'public', ARRAY[]::text[]);
SELECT ok(NOT has_function_privilege('public', 'retention.wakeup()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retention.debug_waitpoint_enable(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retention.debug_waitpoint_release(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retention.notify_launcher()', 'EXECUTE'),
          'scheduler hooks are not callable by PUBLIC');
SELECT is((SELECT boot_val || unit FROM pg_settings WHERE name = 'retention.naptime'), '10000ms',
          'retention.naptime default');
SELECT is((SELECT context FROM pg_settings WHERE name = 'retention.enabled'), 'sighup',
          'the kill switch is a server-wide setting');

-- Privileges: the catalog belongs to the API, the views to everybody.
SELECT table_privs_are('retention', 'policy', 'public', ARRAY[]::text[]);
SELECT table_privs_are('retention', 'run_history', 'public', ARRAY[]::text[]);
SELECT table_privs_are('retention', 'policies', 'public', ARRAY['SELECT']);
SELECT table_privs_are('retention', 'runs', 'public', ARRAY['SELECT']);
SELECT schema_privs_are('retention', 'public', ARRAY['USAGE']);
SELECT ok(has_function_privilege('public', 'retention.add_policy(regclass, text, interval, text, regclass, text, text, interval, integer, boolean, interval, integer, interval)', 'EXECUTE'),
          'anyone may call add_policy (it checks table ownership itself)');
SELECT ok(NOT has_function_privilege('public', 'retention.policy_refresh_attnums()', 'EXECUTE'),
          'internal trigger functions are not callable by PUBLIC');

-- Catalog survives pg_dump.
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text)
           FROM pg_extension, unnest(extconfig) AS c WHERE extname = 'pg_retention'),
          ARRAY['retention.policy', 'retention.policy_id_seq'], 'policies are dumped');

-- Settings.
SELECT is(current_setting('retention.lock_timeout'), '1s', 'retention.lock_timeout default');
SELECT is(current_setting('retention.statement_timeout'), '30s', 'retention.statement_timeout default');
SELECT is(current_setting('retention.default_batch_size'), '5000', 'retention.default_batch_size default');
SELECT is(current_setting('retention.xmin_horizon_warning'), '5min',
          'runs report transactions that have held the xmin horizon for 5 minutes');
SELECT is(current_setting('retention.max_batch_retries'), '3', 'retention.max_batch_retries default');
SELECT is((SELECT array_agg(boot_val ORDER BY name) FROM pg_settings
           WHERE name IN ('retention.target_batch_time', 'retention.min_batch_size',
                          'retention.max_batch_size')),
          ARRAY['100000', '100', '200'], 'adaptive batch size defaults');
SELECT is((SELECT array_agg(name || '=' || boot_val ORDER BY name) FROM pg_settings
           WHERE name IN ('retention.max_replication_lag', 'retention.max_replication_delay',
                          'retention.max_archive_backlog', 'retention.pause_for_autovacuum')),
          ARRAY['retention.max_archive_backlog=64', 'retention.max_replication_delay=0',
                'retention.max_replication_lag=65536', 'retention.pause_for_autovacuum=on'],
          'health throttle defaults');
SELECT is((SELECT context FROM pg_settings WHERE name = 'retention.lock_timeout'), 'superuser',
          'batch bounds can only be changed by a superuser');
SELECT is((SELECT vartype FROM pg_settings WHERE name = 'retention.statement_timeout'), 'integer',
          'timeouts are real integer settings with units');
SELECT is((SELECT unit FROM pg_settings WHERE name = 'retention.statement_timeout'), 'ms',
          'timeouts are in milliseconds');
SELECT throws_ok($$SET retention.no_such_setting = 1$$, '42602', NULL,
                 'the retention. prefix is reserved');

-- The archive schema is created on demand, outside the extension.
SELECT hasnt_schema('retention_archive', 'no archive schema before an archive policy');

SELECT * FROM finish();
ROLLBACK;
