-- The SQL contract of pg_retention: versions, functions and their
-- signatures and settings, views and their columns, privileges on the
-- catalog, comments, settings.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pg_retention;
SELECT plan(79);

-- The members of the extension, for the checks below.
CREATE TEMPORARY TABLE members AS
SELECT d.classid, d.objid
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_retention'
   AND d.deptype = 'e';

SELECT has_schema('retention');

-- Versions.
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'pg_retention'), '0.2',
          'the installed version is 0.2');
SELECT is((SELECT default_version FROM pg_available_extensions WHERE name = 'pg_retention'),
          '0.2', 'the default version is 0.2');
SELECT is((SELECT array_agg(version ORDER BY version) FROM pg_available_extension_versions
           WHERE name = 'pg_retention'), ARRAY['0.1', '0.2'], '0.1 can still be installed');
SELECT is((SELECT path FROM pg_extension_update_paths('pg_retention')
           WHERE source = '0.1' AND target = '0.2'), '0.1--0.2', '0.1 updates to 0.2 in one step');
SELECT is((SELECT bool_or(trusted) FROM pg_available_extension_versions
           WHERE name = 'pg_retention'), false, 'no version of the extension is trusted');

-- Functions and procedures.
SELECT has_function('retention', 'add_policy',
    ARRAY['regclass', 'text', 'interval', 'text', 'regclass', 'text', 'text', 'interval',
          'integer', 'boolean', 'interval', 'integer', 'interval', 'boolean', 'interval', 'interval']);
SELECT function_returns('retention', 'add_policy',
    ARRAY['regclass', 'text', 'interval', 'text', 'regclass', 'text', 'text', 'interval',
          'integer', 'boolean', 'interval', 'integer', 'interval', 'boolean', 'interval', 'interval'], 'text');
SELECT has_function('retention', 'alter_policy',
    ARRAY['text', 'text', 'interval', 'text', 'regclass', 'text', 'interval', 'integer',
          'boolean', 'interval', 'integer', 'interval', 'boolean', 'interval']);
SELECT has_function('retention', 'drop_policy', ARRAY['text']);
SELECT has_function('retention', 'pause', ARRAY['text']);
SELECT has_function('retention', 'resume', ARRAY['text']);
SELECT has_function('retention', 'preview', ARRAY['text']);
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text, boolean)'::regprocedure),
          'p', 'run is a procedure');
SELECT is((SELECT array_to_string(proargmodes, ',') FROM pg_proc
           WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text, boolean)'::regprocedure),
          'i,i,b,b,b,b,i', 'run takes name, max_rows and raise_on_error, and returns its results as INOUT');
SELECT is((SELECT pronargdefaults FROM pg_proc
           WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text, boolean)'::regprocedure),
          7::int2, 'every argument of run has a default');
SELECT is((SELECT prokind::text || ':' || array_to_string(proargmodes, ',') || ':' || pronargdefaults
             FROM pg_proc WHERE oid = 'retention.run_due(integer, bigint, bigint, integer, text)'::regprocedure),
          'p:b,b,b,b,b:5', 'run_due is a procedure that needs no argument and returns its results as INOUT');
SELECT is((SELECT proconfig FROM pg_proc
           WHERE oid = 'retention.run_due(integer, bigint, bigint, integer, text)'::regprocedure),
          NULL, 'run_due has no SET clause (it commits after each batch)');
SELECT is((SELECT pronargdefaults FROM pg_proc
           WHERE oid = 'retention.add_policy(regclass, text, interval, text, regclass, text, text, interval, integer, boolean, interval, integer, interval, boolean, interval, interval)'::regprocedure),
          14::int2, 'add_policy needs only relation and expires_at');
SELECT isnt_definer('retention', 'add_policy',
    ARRAY['regclass', 'text', 'interval', 'text', 'regclass', 'text', 'text', 'interval',
          'integer', 'boolean', 'interval', 'integer', 'interval', 'boolean', 'interval', 'interval'], 'add_policy is not SECURITY DEFINER');
SELECT isnt_definer('retention', 'preview', ARRAY['text'], 'preview is not SECURITY DEFINER');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname IN ('retention', 'retention_internal') AND p.prosecdef
             AND p.proname <> 'on_sql_drop'),
          0, 'no SECURITY DEFINER function but the DDL event trigger');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'retention_internal.on_sql_drop()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'the event trigger pins its search_path');

-- \df retention.* lists the API only: internal helpers live in
-- retention_internal, which PUBLIC may use but not create in.
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname)
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'retention'),
          ARRAY['add_policy', 'alter_policy', 'apply', 'drop_policy', 'pause', 'preset', 'preview',
                'prune_history', 'restore', 'resume', 'run', 'run_due', 'wakeup'],
          'schema retention holds the API functions and procedures only');
SELECT ok(has_schema_privilege('public', 'retention_internal', 'USAGE')
          AND NOT has_schema_privilege('public', 'retention_internal', 'CREATE'),
          'PUBLIC may use retention_internal but create nothing in it');

-- Every SQL and PL/pgSQL function pins its search_path (a C function sets
-- what it needs itself: a SET clause on the procedure run would forbid the
-- commit after each batch).
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text)
             FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
             JOIN pg_language l ON l.oid = p.prolang
            WHERE l.lanname <> 'c'),
          ARRAY['retention.apply(jsonb,boolean)', 'retention.preset(text,name)',
                'retention_internal.apply_add(jsonb)', 'retention_internal.apply_alter(jsonb)',
                'retention_internal.apply_changes(jsonb,jsonb)',
                'retention_internal.apply_check(jsonb)',
                'retention_internal.apply_one(jsonb,boolean)',
                'retention_internal.apply_relation(jsonb,text)',
                'retention_internal.apply_settings(text)', 'retention_internal.can_see(oid)',
                'retention_internal.on_sql_drop()',
                'retention_internal.policy_problem(oid,oid,oid,name[],smallint[])',
                'retention_internal.policy_refresh_attnums()',
                'retention_internal.repack_advice_bytes()',
                'retention_internal.run_is_live(integer,integer)',
                'retention_internal.running_pid(integer)'],
          'the SQL and PL/pgSQL functions of the extension');
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ')
             FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
             JOIN pg_language l ON l.oid = p.prolang
            WHERE l.lanname <> 'c'
              AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']),
          NULL, 'every SQL and PL/pgSQL function has SET search_path = pg_catalog, pg_temp');
SELECT is((SELECT proconfig FROM pg_proc
           WHERE oid = 'retention.run(text, bigint, bigint, bigint, integer, text, boolean)'::regprocedure),
          NULL, 'run has no SET clause (it commits after each batch)');
-- No operator in a function body is looked up by name: each is written
-- OPERATOR(pg_catalog.op), and no construct that resolves one implicitly
-- (IN, BETWEEN, LIKE, IS DISTINCT FROM, the simple CASE) is used. String
-- literals, assignments (:=, SET x =, the options of RAISE), named
-- arguments (=>) and FOR/FOREACH ... IN loops are taken out first.
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ')
             FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
             JOIN pg_language l ON l.oid = p.prolang
            WHERE l.lanname IN ('sql', 'plpgsql')
              AND regexp_replace(regexp_replace(regexp_replace(regexp_replace(p.prosrc,
                    '''[^'']*''', '', 'g'),
                    'OPERATOR\(pg_catalog\.[^)]+\)', '', 'g'),
                    '\m(SET \w+ =|(HINT|DETAIL|ERRCODE) =|FOR [\w, ]+ IN|FOREACH \w+ IN)|:=|=>', '', 'g'),
                    '\s+', ' ', 'g')
                  ~ '[-+*/%|&#^=<>!~@?]|\m(IN|BETWEEN|LIKE|ILIKE|SIMILAR|DISTINCT|CASE \w+ WHEN)\M'),
          NULL, 'function bodies use only qualified operators');
SELECT is((SELECT string_agg(DISTINCT o.oid::regoperator::text, ', ')
             FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
             JOIN pg_rewrite r ON r.ev_class = c.oid
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                             AND d.refclassid = 'pg_operator'::regclass
             JOIN pg_operator o ON o.oid = d.refobjid
            WHERE c.relkind = 'v' AND o.oprnamespace <> 'pg_catalog'::regnamespace),
          NULL, 'the views use only operators of pg_catalog');

-- The executor lock of a policy is in a key space that SQL cannot take
-- (objsubid 4): an advisory lock on (1919251566, id) does not mark the
-- policy as running.
SELECT ok((SELECT prosrc FROM pg_proc WHERE oid = 'retention_internal.running_pid(integer)'::regprocedure)
          ~ 'l\.objsubid OPERATOR\(pg_catalog\.=\) 4\M',
          'running_pid looks for the policy lock at objsubid 4');
SELECT pg_advisory_xact_lock(1919251566, 424242);
SELECT is(retention_internal.running_pid(424242), NULL,
          'pg_advisory_lock(1919251566, id) does not make a policy running');

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
          'created_at', 'replicate_deletes', 'archive_retain', 'archive_partition']);
SELECT col_type_is('retention', 'policies', 'relation', 'regclass', 'policies.relation is a regclass');
SELECT col_type_is('retention', 'policies', 'archive_table', 'regclass', 'policies.archive_table is a regclass');
SELECT columns_are('retention', 'runs',
    ARRAY['run_id', 'policy', 'trigger', 'pid', 'started_at', 'finished_at', 'status', 'cutoff',
          'rows_deleted', 'rows_archived', 'batches', 'retries', 'table_bytes_before',
          'table_bytes_after', 'dead_rows_before', 'dead_rows_after', 'analyzed', 'horizon_warning', 'sqlstate',
          'error', 'skipped_count', 'last_skipped_at', 'backlog_rows', 'free_bytes_after',
          'free_bytes_source', 'rows_restored', 'rows_kept', 'stage']);
SELECT has_column('retention', 'run_history', 'owner', 'run_history records the owner of each run');
SELECT col_type_is('retention', 'run_history', 'owner', 'oid', 'run_history.owner is an oid');
SELECT col_is_null('retention', 'run_history', 'owner', 'run_history.owner may be NULL');
SELECT is((SELECT (attnum + 1)::smallint FROM pg_attribute
           WHERE attrelid = 'retention.run_history'::regclass AND attname = 'owner'),
          (SELECT attnum FROM pg_attribute
           WHERE attrelid = 'retention.run_history'::regclass AND attname = 'skipped_count'),
          'run_history.owner, then the monitoring columns, follow 0.1''s (as ALTER TABLE adds them in an update)');

SELECT has_view('retention', 'status', 'view retention.status');
SELECT columns_are('retention', 'status',
    ARRAY['policy', 'relation', 'mode', 'state', 'running_pid', 'current_rows',
          'throttle_reason', 'horizon_warning', 'last_started_at', 'last_finished_at', 'last_status', 'last_rows_deleted',
          'last_rows_archived', 'last_error', 'last_sqlstate', 'next_run_at',
          'total_rows_deleted', 'total_rows_archived', 'consecutive_failures', 'backlog_rows',
          'behind_by', 'last_success_at', 'problem', 'reclaimable_bytes', 'repack_advised',
          'runs_total', 'failed_runs_total', 'archive_last_status', 'archive_last_finished_at',
          'archive_last_rows_deleted', 'archive_rows_deleted_total', 'archive_runs_total',
          'archive_failed_runs_total', 'archive_last_success_at']);
SELECT has_view('retention', 'metrics', 'view retention.metrics');
SELECT table_privs_are('retention', 'metrics', 'public', ARRAY['SELECT']);
SELECT ok(NOT has_function_privilege('public', 'retention.prune_history(integer)', 'EXECUTE'),
          'prune_history is not callable by PUBLIC');
SELECT is((SELECT string_agg(name || '=' || context, ',' ORDER BY name) FROM pg_settings
            WHERE name IN ('retention.history_retention', 'retention.history_max_rows')),
          'retention.history_max_rows=sighup,retention.history_retention=sighup',
          'the history caps are server-wide settings');
SELECT table_privs_are('retention', 'status', 'public', ARRAY['SELECT']);
SELECT is((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class
           WHERE relnamespace = 'retention'::regnamespace AND relkind = 'v'
             AND reloptions @> ARRAY['security_barrier=true']),
          ARRAY['metrics', 'policies', 'runs', 'status'],
          'the views are security barriers (they filter rows by owner)');
SELECT is((SELECT provolatile FROM pg_proc WHERE oid = 'retention_internal.can_see(oid)'::regprocedure),
          's', 'can_see is STABLE');
SELECT table_privs_are('retention', 'policy_state', 'public', ARRAY[]::text[]);
SELECT ok(NOT has_function_privilege('public', 'retention.wakeup()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retention_internal.debug_waitpoint_enable(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retention_internal.debug_waitpoint_release(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retention_internal.notify_launcher()', 'EXECUTE'),
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
SELECT ok(has_function_privilege('public', 'retention.add_policy(regclass, text, interval, text, regclass, text, text, interval, integer, boolean, interval, integer, interval, boolean, interval, interval)', 'EXECUTE'),
          'anyone may call add_policy (it checks table ownership itself)');
SELECT ok(NOT has_function_privilege('public', 'retention_internal.policy_refresh_attnums()', 'EXECUTE'),
          'internal trigger functions are not callable by PUBLIC');

-- Comments.
SELECT is((SELECT string_agg(pg_describe_object(m.classid, m.objid, 0), ', '
                             ORDER BY pg_describe_object(m.classid, m.objid, 0))
             FROM members m
            WHERE obj_description(m.objid, m.classid::regclass::name) IS NULL),
          NULL, 'every object of the extension has a comment');
SELECT is((SELECT string_agg(format('%s.%s', a.attrelid::regclass, a.attname), ', ')
             FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind = 'v' AND col_description(a.attrelid, a.attnum) IS NULL),
          NULL, 'every column of every view has a comment');
SELECT ok((SELECT count(*) FROM members) >= 25, 'the extension has its members');

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
