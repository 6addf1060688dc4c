-- scripts/demo/preview.sql: the dry run of every policy.

\echo '--- SELECT name, mode, retain, archive_table, expires_at FROM retention.policies ---'
SELECT name, mode, retain, archive_table, expires_at
  FROM retention.policies
 ORDER BY created_at, name;

\echo
\echo '--- SELECT * FROM retention.preview(name), for each policy (times rounded to the second) ---'
SELECT s.policy, v.purgeable_rows, v.oldest_expiry::timestamptz(0) AS oldest_expiry,
       v.access_path, v.cutoff::timestamptz(0) AS cutoff, v.batch_size, v.mode
  FROM demo.subject s, LATERAL retention.preview(s.policy) AS v
 ORDER BY s.ord;
