-- Who sees what in retention.policies, retention.runs and retention.status:
-- a role sees the policies and runs of the roles whose privileges it has;
-- members of pg_monitor and superusers see all. Only the SQL side: the
-- policies and runs are written into the catalog directly.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pg_retention;
SELECT plan(20);

CREATE ROLE pgr_alice;
CREATE ROLE pgr_bob;
CREATE ROLE pgr_alice_team IN ROLE pgr_alice;              -- has alice's privileges
CREATE ROLE pgr_alice_noinherit NOINHERIT IN ROLE pgr_alice;  -- member, without them
CREATE ROLE pgr_monitor IN ROLE pg_monitor;
CREATE ROLE pgr_gone;

CREATE TABLE pgr_t (id integer PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO retention.policy (name, relation, expires_at, retain, mode, schedule, owner,
                              expr_columns, expr_attnums, filter)
VALUES ('alice''s', 'pgr_t', 'at', '1 day', 'delete', '1 hour', 'pgr_alice', '{at}', '{}',
        'secret of alice'),
       ('bob''s', 'pgr_t', 'at', '1 day', 'delete', '1 hour', 'pgr_bob', '{at}', '{}',
        'secret of bob');
INSERT INTO retention.run_history (policy_id, policy, trigger, pid, started_at, status, owner,
                                   error)
SELECT id, name, 'manual', 1, now(), 'error', owner, 'error of ' || name
  FROM retention.policy WHERE name IN ('alice''s', 'bob''s');
-- A run of a policy dropped before 0.2 (no owner), and one of a role that
-- was dropped since.
INSERT INTO retention.run_history (policy_id, policy, trigger, pid, started_at, status, owner,
                                   error)
VALUES (-1, 'dropped before 0.2', 'manual', 1, now(), 'ok', NULL, 'error of nobody'),
       (-2, 'of a dropped role', 'manual', 1, now(), 'ok', 'pgr_gone'::regrole, 'error of gone');
DROP ROLE pgr_gone;

-- Runs a query as a role and returns its result as text (pgTAP's own
-- functions cannot run under SET ROLE).
CREATE FUNCTION pg_temp.as_role(role name, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    EXECUTE query INTO result;
    RESET ROLE;
    RETURN result;
END
$$;
CREATE FUNCTION pg_temp.seen(role name) RETURNS text
LANGUAGE sql AS $$
    SELECT pg_temp.as_role(role, $q$
        SELECT concat_ws(' / ',
            (SELECT string_agg(name, ',' ORDER BY name) FROM retention.policies),
            (SELECT string_agg(policy, ',' ORDER BY policy) FROM retention.runs),
            (SELECT string_agg(policy || ':' || coalesce(last_error, '-'), ',' ORDER BY policy)
               FROM retention.status))$q$)
$$;

SELECT is(pg_temp.seen('pgr_alice'), 'alice''s / alice''s / alice''s:error of alice''s',
          'a policy owner sees its own policy, runs and status');
SELECT is(pg_temp.seen('pgr_bob'), 'bob''s / bob''s / bob''s:error of bob''s',
          'and not the other tenant''s');
SELECT is(pg_temp.seen('pgr_alice_team'), 'alice''s / alice''s / alice''s:error of alice''s',
          'a role with the privileges of the owner sees its policies');
SELECT is(pg_temp.seen('pgr_alice_noinherit'), '',
          'a NOINHERIT member without SET ROLE sees nothing');
SELECT is(pg_temp.seen('pgr_monitor'),
          'alice''s,bob''s / alice''s,bob''s,dropped before 0.2,of a dropped role / '
          'alice''s:error of alice''s,bob''s:error of bob''s',
          'a member of pg_monitor sees everything, runs without an owner included');
SELECT is(pg_temp.seen(current_user),
          'alice''s,bob''s / alice''s,bob''s,dropped before 0.2,of a dropped role / '
          'alice''s:error of alice''s,bob''s:error of bob''s',
          'a superuser sees everything');
SELECT is(pg_temp.as_role('pgr_bob', $q$
            SELECT count(*) FROM retention.runs WHERE policy = 'of a dropped role'$q$),
          '0', 'the run of a dropped role is hidden from others, without an error');

-- can_see itself.
SELECT is(pg_temp.as_role('pgr_alice', $q$
            SELECT string_agg(coalesce(retention_internal.can_see(o)::text, 'null'), ',' ORDER BY n)
              FROM (VALUES (1, 'pgr_alice'::regrole::oid), (2, 'pgr_bob'::regrole::oid),
                           (3, NULL::oid), (4, 4294967295::oid)) v(n, o)$q$),
          'true,false,false,false', 'can_see: own role, another, no owner, a missing role');
SELECT is(pg_temp.as_role('pgr_monitor', $q$
            SELECT string_agg(retention_internal.can_see(o)::text, ',' ORDER BY n)
              FROM (VALUES (1, 'pgr_alice'::regrole::oid), (2, NULL::oid),
                           (3, 4294967295::oid)) v(n, o)$q$),
          'true,true,true', 'can_see: pg_monitor sees every owner');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'retention_internal.can_see(oid)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'], 'can_see pins its search_path');

-- A reader's own cheap function in WHERE must not see the rows the view
-- filters out (the views are security barriers).
CREATE FUNCTION pg_temp.peek(text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE COST 0.0001 AS $$
BEGIN
    IF $1 LIKE '%of bob%' THEN
        RAISE EXCEPTION 'saw "%"', $1;
    END IF;
    RETURN true;
END
$$;
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_alice',
                    'SELECT count(*) FROM retention.policies WHERE pg_temp.peek(filter)')$$,
                'a function in WHERE does not see filters of other tenants in policies');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_alice',
                    'SELECT count(*) FROM retention.runs WHERE pg_temp.peek(error)')$$,
                'nor their errors in runs');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_alice',
                    'SELECT count(*) FROM retention.status WHERE pg_temp.peek(last_error)')$$,
                'nor their errors in status');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_monitor',
                     'SELECT count(*) FROM retention.runs WHERE pg_temp.peek(error)')$$,
                 'P0001', 'saw "error of bob''s"', '(the probe works: pg_monitor sees them)');
SELECT is(pg_temp.as_role('pgr_alice', $q$
            SELECT count(*) FROM retention.policies WHERE pg_temp.peek(filter)$q$),
          '1', 'and the reader''s own rows still pass its function');

-- The catalog itself stays closed.
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_alice', 'SELECT count(*) FROM retention.policy')$$,
                 '42501', NULL, 'the policy table is not readable');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_alice',
                     'SELECT count(*) FROM retention.run_history')$$,
                 '42501', NULL, 'the run history is not readable');

-- The owner column of the run history, and a run whose policy changed hands:
-- the run stays with the role that owned the policy when it ran.
UPDATE retention.policy SET owner = 'pgr_bob' WHERE name = 'alice''s';
SELECT is(pg_temp.as_role('pgr_alice', $q$
            SELECT concat_ws(' / ',
              (SELECT count(*) FROM retention.policies), (SELECT string_agg(policy, ',') FROM retention.runs))$q$),
          '0 / alice''s', 'after a takeover the old owner keeps its runs but not the policy');
SELECT is(pg_temp.as_role('pgr_bob', $q$
            SELECT concat_ws(' / ',
              (SELECT string_agg(name, ',' ORDER BY name) FROM retention.policies),
              (SELECT string_agg(policy, ',' ORDER BY policy) FROM retention.runs))$q$),
          'alice''s,bob''s / bob''s', 'and the new owner sees the policy, not the old runs');
SELECT is(pg_temp.as_role('pgr_bob', $q$
            SELECT last_error FROM retention.status WHERE policy = 'alice''s'$q$),
          'error of alice''s', 'the status of a policy shows its last run, whoever ran it');

SELECT * FROM finish();
ROLLBACK;
