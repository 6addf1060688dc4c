-- scripts/demo/overview.sql: the generated data, before any policy runs.

SELECT s.tbl AS "table",
       s.rows_before AS "rows",
       s.expired_before AS "expired > retain ago",
       round(100.0 * s.expired_before / s.rows_before, 1) AS "%",
       s.first_created::date AS "oldest row",
       s.last_created::date AS "newest row",
       pg_size_pretty(s.size_before) AS "total size"
  FROM demo.subject s
 ORDER BY s.ord;
