-- retention.restore(): archived rows move back into the table, one committed
-- batch at a time, as the table's owner; a row whose key is in the table
-- already stays in the archive and is counted; the dry run only counts;
-- restores are recorded in retention.runs with trigger 'restore'; only
-- whoever manages the policy may restore, and the filter is checked like a
-- policy's (against the archive).
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE regress_restore_owner;
CREATE ROLE regress_restore_stranger;

CREATE TABLE tokens (id int PRIMARY KEY, token text NOT NULL UNIQUE, version int NOT NULL,
                     revoked_at timestamptz,
                     token_len int GENERATED ALWAYS AS (length(token)) STORED);
ALTER TABLE tokens OWNER TO regress_restore_owner;
INSERT INTO tokens (id, token, version, revoked_at)
SELECT i, 'tok' || i, 1,
       CASE WHEN i <= 8 THEN timestamptz '2000-01-01 00:00:00+00' + i * interval '1 day' END
  FROM generate_series(1, 10) AS i;
-- Every row version ever written, to check that each is in exactly one place.
CREATE TABLE ledger AS SELECT id, token, version, revoked_at FROM tokens;

SET ROLE regress_restore_owner;
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', name => 'tokens',
                            batch_size => 3);
CALL retention.run('tokens');
RESET ROLE;

-- Key 5 comes back and expires again: the archive holds two versions of it.
INSERT INTO tokens (id, token, version, revoked_at)
VALUES (5, 'tok5-again', 2, timestamptz '2001-01-01 00:00:00+00');
INSERT INTO ledger VALUES (5, 'tok5-again', 2, timestamptz '2001-01-01 00:00:00+00');
SET ROLE regress_restore_owner;
CALL retention.run('tokens');
RESET ROLE;
SELECT id, version FROM retention_archive.tokens ORDER BY id, version;

-- Row versions missing from both places, and versions found in both.
CREATE VIEW misplaced AS
SELECT (SELECT count(*) FROM (SELECT * FROM ledger
                              EXCEPT ALL
                              (SELECT id, token, version, revoked_at FROM tokens
                               UNION ALL
                               SELECT id, token, version, revoked_at
                                 FROM retention_archive.tokens)) x) AS missing,
       (SELECT count(*) FROM (SELECT id, token, version FROM tokens
                              INTERSECT ALL
                              SELECT id, token, version FROM retention_archive.tokens) y)
         AS in_both;
GRANT SELECT ON misplaced TO regress_restore_owner;
SELECT * FROM misplaced;

-- Only the policy's managers may restore (or even count).
SET ROLE regress_restore_stranger;
CALL retention.restore('tokens');
CALL retention.restore('tokens', dry_run => true);
RESET ROLE;

-- The dry run counts and moves nothing; it works inside a transaction.
SET ROLE regress_restore_owner;
BEGIN;
CALL retention.restore('tokens', dry_run => true);
CALL retention.restore('tokens', filter => 'id <= 2', dry_run => true);
CALL retention.restore('tokens', max_rows => 4, dry_run => true);
COMMIT;
SELECT count(*) AS archived FROM retention_archive.tokens;
RESET ROLE;

-- A dry run leaves no advisory lock that code in its filter took behind in
-- the caller's session.
CREATE FUNCTION regress_restore_locker(integer) RETURNS boolean LANGUAGE plpgsql STABLE AS
  $$BEGIN PERFORM pg_advisory_lock(4242); RETURN true; END$$;
SET ROLE regress_restore_owner;
CALL retention.restore('tokens', filter => 'public.regress_restore_locker(id)', dry_run => true);
SELECT count(*) AS locks_left FROM pg_locks
 WHERE locktype = 'advisory' AND objid = 4242 AND pid = pg_backend_pid();

-- A real restore commits every batch: not inside a transaction block.
BEGIN;
CALL retention.restore('tokens');
ROLLBACK;

-- The filter is an expression over the archive's columns, checked like a
-- policy's filter.
CALL retention.restore('tokens', filter => 'id IN (SELECT 1)');
CALL retention.restore('tokens', filter => 'no_such_column = 1');
CALL retention.restore('tokens', filter => 'id');
CALL retention.restore('tokens', filter => 'random() < 0.5');
CALL retention.restore('tokens', max_rows => 0);
RESET ROLE;

-- A function of another role in the filter would run with the owner's rights.
CREATE FUNCTION regress_restore_spy(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
ALTER FUNCTION regress_restore_spy(int) OWNER TO regress_restore_stranger;
SET ROLE regress_restore_owner;
CALL retention.restore('tokens', filter => 'public.regress_restore_spy(id)');

-- Restore two rows by filter (archived_at is the archive's own column).
CALL retention.restore('tokens', filter => 'id <= 2 AND archived_at IS NOT NULL');
SELECT id, token, version, token_len FROM tokens WHERE id <= 2 ORDER BY id;
SELECT * FROM misplaced;

-- Key 3 is back in the table (a new row): its archived row stays. Key 5:
-- the latest version comes back, the older one stays. max_rows stops the
-- restore with rows left: partial.
INSERT INTO tokens (id, token, version) VALUES (3, 'tok3-new', 2);
RESET ROLE;
INSERT INTO ledger VALUES (3, 'tok3-new', 2, NULL);
SET ROLE regress_restore_owner;
CALL retention.restore('tokens', max_rows => 2);
CALL retention.restore('tokens');
SELECT id, version FROM tokens ORDER BY id;
SELECT id, version FROM retention_archive.tokens ORDER BY id, version;
SELECT * FROM misplaced;

-- Nothing left to restore.
CALL retention.restore('tokens');
RESET ROLE;

-- The history: restores under trigger 'restore', with their counts; the
-- status view still shows the last purge.
SELECT trigger, status, rows_deleted, rows_archived, rows_restored, rows_kept, batches
  FROM retention.runs ORDER BY run_id;
SELECT last_status, last_rows_archived, total_rows_archived FROM retention.status;

-- A delete-mode policy keeps nothing to restore.
CREATE TABLE sessions (id int PRIMARY KEY, ended_at timestamptz);
SELECT retention.add_policy('sessions', 'ended_at', name => 'sessions');
CALL retention.restore('sessions');
CALL retention.restore('no such policy');
CALL retention.restore(NULL);

-- A trigger on the table that swallows rows fails the batch: nothing moves.
CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
ALTER FUNCTION swallow() OWNER TO regress_restore_owner;
CREATE TRIGGER swallow BEFORE INSERT ON tokens FOR EACH ROW EXECUTE FUNCTION swallow();
SET ROLE regress_restore_owner;
CALL retention.run('tokens');
SELECT count(*) AS archived_before FROM retention_archive.tokens;
CALL retention.restore('tokens');
SELECT count(*) AS archived_after FROM retention_archive.tokens;
RESET ROLE;
SELECT trigger, status, sqlstate, rows_restored FROM retention.runs ORDER BY run_id DESC LIMIT 1;
SELECT * FROM misplaced;

-- A table given to another role: the policy's owner no longer restores into
-- it, nor does the new owner before taking the policy over.
DROP TRIGGER swallow ON tokens;
ALTER TABLE tokens OWNER TO regress_restore_stranger;
SET ROLE regress_restore_owner;
CALL retention.restore('tokens');
RESET ROLE;
SET ROLE regress_restore_stranger;
CALL retention.restore('tokens');
RESET ROLE;
-- Members of pg_monitor see the runs but may not restore, nor count.
CREATE ROLE regress_restore_watcher IN ROLE pg_monitor;
SET ROLE regress_restore_watcher;
SELECT count(*) AS restores_seen FROM retention.runs WHERE trigger = 'restore';
CALL retention.restore('tokens', dry_run => true);
RESET ROLE;

DROP VIEW misplaced;
DROP TABLE tokens, ledger, sessions, retention_archive.tokens;
DROP SCHEMA retention_archive;
DROP FUNCTION regress_restore_spy(int);
DROP FUNCTION swallow();
DROP FUNCTION regress_restore_locker(integer);
DROP ROLE regress_restore_owner, regress_restore_stranger, regress_restore_watcher;
DROP EXTENSION pg_retention;
