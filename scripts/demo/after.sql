-- scripts/demo/after.sql: sizes right after the runs, then after a plain
-- VACUUM (which makes the space of removed rows reusable but, as the removed
-- rows were the oldest ones at the start of each table, gives nothing back
-- to the file system).

UPDATE demo.subject
   SET size_after    = pg_total_relation_size(tbl),
       archive_after = CASE WHEN archive IS NOT NULL THEN pg_total_relation_size(archive) END;

VACUUM (ANALYZE) oauth_access_tokens, oauth_access_grants, authentication_events;

UPDATE demo.subject
   SET size_vacuumed = pg_total_relation_size(tbl),
       free_vacuumed = (pgstattuple_approx(tbl)).approx_free_space,
       free_percent  = (pgstattuple_approx(tbl)).approx_free_percent;
