-- archive_partition: add_policy makes the archive it creates a table
-- partitioned by range of archived_at (DEFAULT partition plus the range
-- holding now and two ahead, owned by the table's owner). The archive stage
-- drops a wholly expired partition whole (DETACH + DROP) and row-deletes a
-- partition that holds both expired and live rows.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE regress_apart_owner;
CREATE TABLE events (id int PRIMARY KEY, at timestamptz);
ALTER TABLE events OWNER TO regress_apart_owner;

SET ROLE regress_apart_owner;
SELECT retention.add_policy('events', 'at', name => 'bad', archive_partition => '1 month');
SELECT retention.add_policy('events', 'at', name => 'bad', mode => 'archive',
                            archive_partition => '1 month 1 day');
SELECT retention.add_policy('events', 'at', name => 'bad', mode => 'archive',
                            archive_partition => '10 minutes');
SELECT retention.add_policy('events', 'at', name => 'bad', mode => 'archive',
                            archive_table => 'events', archive_partition => '1 day');
SELECT retention.add_policy('events', 'at', name => 'events', mode => 'archive',
                            retain => '1 day', batch_size => 3,
                            archive_partition => '1 day', archive_retain => '5 days');
SELECT name, archive_table, archive_retain, archive_partition FROM retention.policies;
RESET ROLE;

SELECT c.relkind, pt.partstrat, c.relowner::regrole,
       (SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid AND x.indisunique) AS unique_indexes
  FROM pg_class c JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
 WHERE c.oid = 'retention_archive.events'::regclass;
SELECT count(*) FILTER (WHERE pg_get_expr(p.relpartbound, p.oid) = 'DEFAULT') AS defaults,
       count(*) AS partitions,
       bool_and(p.relowner = 'regress_apart_owner'::regrole) AS owned_by_table_owner
  FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
 WHERE i.inhparent = 'retention_archive.events'::regclass;
-- Now and the next two days land in range partitions, not in the DEFAULT.
BEGIN;
INSERT INTO retention_archive.events (id, archived_at)
VALUES (-1, now()), (-2, now() + interval '1 day'), (-3, now() + interval '2 days')
RETURNING id, tableoid::regclass::text <> 'retention_archive.events_default' AS in_range;
ROLLBACK;

-- An old partition (10 days ago, wholly past archive_retain) and a mixed
-- one (6 to 4 days ago: the cutoff, 5 days ago, falls inside it).
DO $$
DECLARE
    t timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('CREATE TABLE retention_archive.events_old PARTITION OF retention_archive.events'
                   ' FOR VALUES FROM (%L) TO (%L)', t - interval '10 days', t - interval '9 days');
    EXECUTE format('CREATE TABLE retention_archive.events_mixed PARTITION OF retention_archive.events'
                   ' FOR VALUES FROM (%L) TO (%L)', t - interval '6 days', t - interval '4 days');
    INSERT INTO retention_archive.events (id, archived_at)
    SELECT i, t - interval '10 days' + interval '1 hour' FROM generate_series(1, 3) i;
    INSERT INTO retention_archive.events (id, archived_at)
    VALUES (4, t - interval '6 days' + interval '1 hour'),
           (5, t - interval '6 days' + interval '2 hours'),
           (6, t - interval '4 days' - interval '1 microsecond'),  -- not past the cutoff
           (7, now());
END
$$;
ALTER TABLE retention_archive.events_old OWNER TO regress_apart_owner;
ALTER TABLE retention_archive.events_mixed OWNER TO regress_apart_owner;
SELECT CASE WHEN tableoid::regclass::text LIKE 'retention_archive.events\_p%'
            THEN 'the partition of today' ELSE tableoid::regclass::text END AS partition,
       array_agg(id ORDER BY id)
  FROM retention_archive.events GROUP BY 1 ORDER BY 1;

SET ROLE regress_apart_owner;
CALL retention.run('events');
RESET ROLE;
-- The old partition went whole; the mixed one lost its expired rows only.
SELECT to_regclass('retention_archive.events_old') AS old_partition;
SELECT CASE WHEN tableoid::regclass::text LIKE 'retention_archive.events\_p%'
            THEN 'the partition of today' ELSE tableoid::regclass::text END AS partition,
       array_agg(id ORDER BY id)
  FROM retention_archive.events GROUP BY 1 ORDER BY 1;
SELECT stage, status, rows_deleted, retries FROM retention.runs ORDER BY run_id;
SELECT archive_last_status, archive_rows_deleted_total FROM retention.status;

-- retention.restore() reads a partitioned archive with its partitions.
SET ROLE regress_apart_owner;
CALL retention.restore('events', filter => 'id = 6', dry_run => true);
CALL retention.restore('events', filter => 'id = 6');
RESET ROLE;
SELECT id FROM events;
SELECT array_agg(id ORDER BY id) FROM retention_archive.events;
DELETE FROM events;

-- A partition owned by another role is not dropped by the policy's owner.
CREATE ROLE regress_apart_other;
DO $$
DECLARE
    t timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('CREATE TABLE retention_archive.events_foreign PARTITION OF retention_archive.events'
                   ' FOR VALUES FROM (%L) TO (%L)', t - interval '20 days', t - interval '19 days');
    INSERT INTO retention_archive.events (id, archived_at) VALUES (8, t - interval '20 days');
END
$$;
ALTER TABLE retention_archive.events_foreign OWNER TO regress_apart_other;
SET ROLE regress_apart_owner;
CALL retention.run('events');
RESET ROLE;
SELECT id FROM retention_archive.events_foreign;
SELECT stage, status, sqlstate FROM retention.runs ORDER BY run_id DESC LIMIT 1;

-- apply() takes archive_partition when it adds a policy, and refuses to
-- change it afterwards.
CREATE TABLE logins (id int PRIMARY KEY, at timestamptz);
SELECT action, policy FROM retention.apply(
  '[{"name": "logins", "relation": "public.logins", "expires_at": "at", "mode": "archive",
     "archive_partition": "1 month", "archive_retain": "3 months"}]');
SELECT name, archive_table, archive_partition FROM retention.policies WHERE name = 'logins';
SELECT pt.partstrat FROM pg_partitioned_table pt
 WHERE pt.partrelid = 'retention_archive.logins'::regclass;
SELECT action, policy FROM retention.apply(
  '[{"name": "logins", "relation": "public.logins", "expires_at": "at", "mode": "archive",
     "archive_table": "retention_archive.logins", "archive_partition": "1 day",
     "archive_retain": "3 months"}]');
SELECT action, policy FROM retention.apply(
  '[{"name": "logins", "relation": "public.logins", "expires_at": "at", "mode": "archive",
     "archive_table": "retention_archive.logins", "archive_partition": "1 month",
     "archive_retain": "3 months"}]');
DROP TABLE logins, retention_archive.logins;

DROP TABLE events;
DROP TABLE retention_archive.events;
DROP SCHEMA retention_archive;
DROP ROLE regress_apart_owner, regress_apart_other;
DROP EXTENSION pg_retention;
