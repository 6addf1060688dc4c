-- CALL retention.run_due() and run(raise_on_error => true): how they are
-- called, the kill switch (the regression server runs with
-- retention.enabled = off), the error that names the failed policies after
-- every run has committed, the trigger value a run records, and what a role
-- that owns one table sees of the others. (Due policies, schedules and
-- pg_cron itself: test/t/250_pg_cron.pl.)
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE regress_due_a;
CREATE ROLE regress_due_b;

CREATE TABLE good (id int PRIMARY KEY, expires timestamptz NOT NULL);
CREATE TABLE bad (id int PRIMARY KEY, expires timestamptz NOT NULL);
INSERT INTO good SELECT i, now() - interval '2 days' FROM generate_series(1, 10) AS i;
INSERT INTO bad SELECT i, now() - interval '2 days' FROM generate_series(1, 10) AS i;
ALTER TABLE good OWNER TO regress_due_a;
ALTER TABLE bad OWNER TO regress_due_b;
-- Every delete from bad fails.
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'rows of % stay', TG_TABLE_NAME; END$$;
ALTER FUNCTION refuse() OWNER TO regress_due_b;
CREATE TRIGGER refuse BEFORE DELETE ON bad FOR EACH ROW EXECUTE FUNCTION refuse();
SET ROLE regress_due_a;
SELECT retention.add_policy('good', 'expires', name => 'good one');
RESET ROLE;
SET ROLE regress_due_b;
SELECT retention.add_policy('bad', 'expires', name => 'bad one');
RESET ROLE;

-- Only with CALL, outside a transaction block.
SELECT retention.run_due();
BEGIN;
CALL retention.run_due();
ROLLBACK;

-- The kill switch is off here: run_due runs nothing, raises nothing.
CALL retention.run_due();
SELECT count(*) AS runs FROM retention.run_history;

-- run() ignores the kill switch, as before; by default a failure is a
-- WARNING and the status says error.
CALL retention.run('bad one');
-- Asked to, it raises once the run has been recorded.
CALL retention.run('bad one', raise_on_error => true);
SELECT policy, trigger, status, sqlstate, error FROM retention.runs ORDER BY run_id;

-- Without a name: every policy runs, then the error names the failed ones;
-- the good one's rows are gone for good.
CALL retention.run(raise_on_error => true);
SELECT count(*) AS good_left FROM good;
SELECT policy, trigger, status, rows_deleted FROM retention.runs ORDER BY run_id;

-- A role that owns one table runs only its own policies and sees no other
-- name: regress_due_a's run succeeds although b's policy fails.
INSERT INTO good SELECT i, now() - interval '2 days' FROM generate_series(11, 15) AS i;
SET ROLE regress_due_a;
CALL retention.run(raise_on_error => true);
SELECT policy, status, rows_deleted FROM retention.runs ORDER BY run_id;
RESET ROLE;
-- regress_due_b's fails, naming only its own.
SET ROLE regress_due_b;
CALL retention.run(raise_on_error => true);
CALL retention.run('good one', raise_on_error => true);
RESET ROLE;

-- A table owner's code that raises query_canceled itself is a failure of
-- its own policy, not a cancel of the caller: the other policies still run.
CREATE TABLE sly (id int PRIMARY KEY, expires timestamptz NOT NULL);
INSERT INTO sly SELECT i, now() - interval '2 days' FROM generate_series(1, 10) AS i;
ALTER TABLE sly OWNER TO regress_due_b;
CREATE FUNCTION pretend_cancel() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'canceling statement due to user request' USING ERRCODE = 'query_canceled'; END$$;
ALTER FUNCTION pretend_cancel() OWNER TO regress_due_b;
CREATE TRIGGER pretend_cancel BEFORE DELETE ON sly FOR EACH ROW EXECUTE FUNCTION pretend_cancel();
SET ROLE regress_due_b;
SELECT retention.pause('bad one');
SELECT retention.add_policy('sly', 'expires', name => 'sly one');
RESET ROLE;
-- regress_due_a's policy comes after it in the list.
CREATE TABLE victim (id int PRIMARY KEY, expires timestamptz NOT NULL);
INSERT INTO victim SELECT i, now() - interval '2 days' FROM generate_series(1, 10) AS i;
ALTER TABLE victim OWNER TO regress_due_a;
SET ROLE regress_due_a;
SELECT retention.add_policy('victim', 'expires', name => 'victim one');
RESET ROLE;
CALL retention.run(raise_on_error => true);
SELECT count(*) AS victim_left FROM victim;
SELECT policy, status, sqlstate, error FROM retention.runs
 WHERE policy IN ('sly one', 'victim one') ORDER BY run_id;

-- A run started from a pg_cron job records trigger pg_cron: pg_cron's libpq
-- connections say application_name = 'pg_cron'.
SET application_name = 'pg_cron';
CALL retention.run('good one');
RESET application_name;
SELECT trigger, status FROM retention.runs ORDER BY run_id DESC LIMIT 1;

-- The trigger column takes only the known values.
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'run_history_trigger_check';

DROP TABLE good, bad, sly, victim;
DROP FUNCTION refuse(), pretend_cancel();
DROP EXTENSION pg_retention;
DROP ROLE regress_due_a, regress_due_b;
