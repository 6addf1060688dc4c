-- A table owner's own query_canceled must not cancel the caller (hostile
-- review of issue #11). After a partial run, the run estimates the backlog
-- with EXPLAIN, as the table's owner; planning folds the owner's IMMUTABLE
-- functions, which may raise query_canceled themselves. That leaves the
-- estimate unknown: the caller's CALL returns, and a run of every policy
-- goes on with the next one.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never
CREATE ROLE regress_oc_owner;
CREATE SCHEMA oc AUTHORIZATION regress_oc_owner;
GRANT USAGE ON SCHEMA oc TO PUBLIC;

CREATE TABLE poison (id int PRIMARY KEY, created_at timestamptz);
INSERT INTO poison SELECT i, now() - interval '2 days' FROM generate_series(1, 10) AS i;
ALTER TABLE poison OWNER TO regress_oc_owner;
-- True until the table has lost a row: the batch plans it before deleting,
-- the backlog estimate after.
CREATE FUNCTION oc.poisoned() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF (SELECT count(*) FROM public.poison) < 10 THEN
        RAISE EXCEPTION 'the owner cancels' USING ERRCODE = 'query_canceled';
    END IF;
    RETURN true;
END $$;
ALTER FUNCTION oc.poisoned() OWNER TO regress_oc_owner;
SELECT retention.add_policy('poison', 'created_at', filter => 'oc.poisoned()',
                            batch_size => 5, name => 'poison', enabled => true) IS NOT NULL AS added;

-- At most 5 rows: the run stops after its first batch (partial).
CALL retention.run('poison', max_rows => 5);
SELECT policy, status, rows_deleted, backlog_rows IS NULL AS backlog_unknown
  FROM retention.run_history ORDER BY id;

-- A run of every policy: "poison" first (a batch now fails on its own
-- cancel), then "victim", which still runs.
CREATE TABLE victim (id int PRIMARY KEY, created_at timestamptz);
INSERT INTO victim SELECT i, now() - interval '2 days' FROM generate_series(1, 3) AS i;
SELECT retention.add_policy('victim', 'created_at', name => 'victim') IS NOT NULL AS added;
CALL retention.run();
SELECT policy, status, rows_deleted, sqlstate FROM retention.run_history ORDER BY id;
SELECT count(*) AS victim_left FROM victim;

SELECT retention.drop_policy('poison');
SELECT retention.drop_policy('victim');
DROP TABLE poison, victim;
DROP SCHEMA oc CASCADE;
DROP ROLE regress_oc_owner;
DROP EXTENSION pg_retention;
