-- Weird identifiers: mixed case, spaces, quotes, keywords, in schemas, tables,
-- columns and policy names. Everything is quoted on the way into SQL.
CREATE EXTENSION pg_retention;

CREATE SCHEMA "Auth ""Data""";
CREATE TABLE "Auth ""Data"""."Access Tokens" (
    "Id"          bigint PRIMARY KEY,
    "select"      text,
    "Revoked At"  timestamptz,
    "order"       integer NOT NULL DEFAULT 1
);
INSERT INTO "Auth ""Data"""."Access Tokens"
SELECT i, 'v' || i, CASE WHEN i % 2 = 0 THEN now() - interval '2 days' END, i
FROM generate_series(1, 20) AS i;

-- A name with a double quote (or a period) is reserved for the table it
-- spells; any other quote, semicolon or keyword is fine.
SELECT retention.add_policy('"Auth ""Data"""."Access Tokens"', '"Revoked At"',
                            retain => '1 day', filter => '"order" > 4',
                            name => 'weird "policy"; DROP TABLE x', mode => 'archive',
                            batch_size => 3);
SELECT retention.add_policy('"Auth ""Data"""."Access Tokens"', '"Revoked At"',
                            retain => '1 day', filter => '"order" > 4',
                            name => 'weird ''policy''; DROP TABLE x', mode => 'archive',
                            batch_size => 3);
SELECT name, relation, expires_at, filter, archive_table FROM retention.policies;
SELECT purgeable_rows, access_path FROM retention.preview('weird ''policy''; DROP TABLE x');
CALL retention.run('weird ''policy''; DROP TABLE x');
SELECT "Id" FROM "Auth ""Data"""."Access Tokens" WHERE "Revoked At" IS NOT NULL ORDER BY 1;
SELECT "Id", "select", "order" FROM retention_archive."Access Tokens" ORDER BY 1;

-- The same table name in another schema gets a schema-prefixed archive.
CREATE SCHEMA other;
CREATE TABLE other."Access Tokens" (id int PRIMARY KEY, "Revoked At" timestamptz);
SELECT retention.add_policy('other."Access Tokens"', '"Revoked At"', mode => 'archive',
                            name => 'other tokens');
SELECT name, archive_table FROM retention.policies ORDER BY name;

-- Keyword table names and a composite primary key with a keyword column.
CREATE TABLE "user" ("group" int, "table" int, "when" date, PRIMARY KEY ("group", "table"));
INSERT INTO "user" SELECT g, t, DATE '2000-01-01' + t FROM generate_series(1, 3) g, generate_series(1, 4) t;
SELECT retention.add_policy('"user"', '"when"', batch_size => 5);
SELECT purgeable_rows, access_path FROM retention.preview('public."user"');
CALL retention.run('public."user"');
SELECT count(*) FROM "user";

-- A table without a primary key is walked by block ranges.
CREATE TABLE "no key" ("Expires" timestamp);
INSERT INTO "no key" SELECT now()::timestamp - i * interval '1 hour' FROM generate_series(0, 499) AS i;
SELECT retention.add_policy('"no key"', '"Expires"', retain => '10 hours', batch_size => 50);
SELECT purgeable_rows, access_path FROM retention.preview('public."no key"');
CALL retention.run('public."no key"');
SELECT count(*) FROM "no key";

DROP TABLE "Auth ""Data"""."Access Tokens", other."Access Tokens", "user", "no key";
DROP SCHEMA "Auth ""Data""", other;
DROP SCHEMA retention_archive CASCADE;
DROP EXTENSION pg_retention;
