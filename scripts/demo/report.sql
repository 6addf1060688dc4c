-- scripts/demo/report.sql: what the runs did. Expects the first-pass runs to
-- be the first run of each policy in retention.runs.

\echo
\echo '--- Rows moved, per policy (first pass) ---'
WITH first AS (
    SELECT DISTINCT ON (r.policy) r.*
      FROM retention.runs r
     ORDER BY r.policy, r.run_id
)
SELECT s.policy,
       p.mode,
       s.rows_before                                  AS "rows before",
       greatest(f.rows_deleted, f.rows_archived)      AS "rows moved",
       s.rows_before - greatest(f.rows_deleted, f.rows_archived) AS "rows left",
       f.batches,
       round(extract(epoch FROM f.finished_at - f.started_at), 2) AS "seconds",
       round(greatest(f.rows_deleted, f.rows_archived)
             / nullif(extract(epoch FROM f.finished_at - f.started_at), 0)) AS "rows/s"
  FROM demo.subject s
  JOIN retention.policies p ON p.name = s.policy
  JOIN first f ON f.policy = s.policy
 ORDER BY s.ord;

\echo
\echo '--- Table sizes (pg_total_relation_size: heap + indexes + TOAST) ---'
\echo 'DELETE leaves dead rows behind; VACUUM makes their space reusable for new rows. The'
\echo 'files keep their size (the freed pages are not at the end of the tables); giving the'
\echo 'space back to the file system would take VACUUM FULL or pg_repack.'
SELECT x.relation,
       pg_size_pretty(x.before)   AS "before",
       pg_size_pretty(x.after)    AS "after run",
       pg_size_pretty(x.vacuumed) AS "after VACUUM",
       CASE WHEN x.free IS NOT NULL
            THEN pg_size_pretty(x.free) || ' (' || round(x.pct) || '% of heap)' END
                                  AS "free for reuse"
  FROM demo.subject s,
       LATERAL (VALUES (1, s.tbl::text, s.size_before, s.size_after, s.size_vacuumed,
                        s.free_vacuumed, s.free_percent),
                       (2, s.archive::text, s.archive_before, s.archive_after, s.archive_after,
                        NULL, NULL))
               AS x(k, relation, before, after, vacuumed, free, pct)
 WHERE x.relation IS NOT NULL
 ORDER BY s.ord, x.k;

\echo
\echo '--- Totals ---'
SELECT sum(s.rows_before)                                         AS "rows before",
       (SELECT sum(greatest(rows_deleted, rows_archived)) FROM retention.runs) AS "rows moved",
       (SELECT sum(rows_archived) FROM retention.runs)             AS archived,
       (SELECT sum(rows_deleted) - sum(rows_archived) FROM retention.runs) AS "deleted outright",
       pg_size_pretty(sum(s.size_before))                         AS "sources before",
       pg_size_pretty(sum(s.size_vacuumed))                       AS "sources after",
       pg_size_pretty(sum(s.free_vacuumed))                       AS "free for reuse",
       pg_size_pretty(sum(coalesce(s.archive_after, 0)))          AS "archives"
  FROM demo.subject s;

\echo
\echo '--- History: SELECT policy, status, rows_deleted, rows_archived, batches, finished_at - started_at AS took FROM retention.runs ---'
SELECT policy, trigger, status, rows_deleted, rows_archived, batches,
       finished_at - started_at AS took
  FROM retention.runs
 ORDER BY run_id;
