-- DDL that writes a table: TRUNCATE, DROP, ALTER, RENAME, CREATE ... AS,
-- SELECT INTO, LOCK, REFRESH. Temporary tables never match.
-- target: public.fact_sales
-- target: analytics.fact_*
-- target: public.manifest

-- expect: TRUNCATE writes=public.fact_sales flags=implicit_commit
TRUNCATE public.fact_sales;

-- expect: TRUNCATE writes=analytics.fact_orders,public.fact_sales flags=implicit_commit
TRUNCATE TABLE ONLY public.fact_sales, analytics.fact_orders * RESTART IDENTITY CASCADE;

-- expect: TRUNCATE flags=implicit_commit
TRUNCATE staging_sales;

-- expect: DROP TABLE writes=analytics.fact_old,public.fact_sales
DROP TABLE IF EXISTS public.fact_sales, analytics.fact_old, public.other CASCADE;

-- expect: DROP VIEW writes=analytics.fact_view
DROP VIEW analytics.fact_view;

-- case: dropping an index is not a write of a table
-- expect: DROP INDEX
DROP INDEX public.fact_sales_pkey;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales ADD COLUMN region text;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE IF EXISTS ONLY public.fact_sales ALTER COLUMN amount TYPE numeric(12,2);

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales RENAME COLUMN amt TO amount;

-- case: the swap: renaming a staging table onto the target's name
-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales_new RENAME TO fact_sales;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales RENAME TO fact_sales_old;

-- expect: ALTER TABLE writes=analytics.fact_sales,public.fact_sales
ALTER TABLE public.fact_sales SET SCHEMA analytics;

-- expect: ALTER INDEX
ALTER INDEX public.fact_sales_pkey RENAME TO fact_sales_pk;

-- expect: CREATE TABLE AS writes=analytics.fact_daily
CREATE TABLE analytics.fact_daily AS SELECT day, sum(amount) FROM public.fact_sales GROUP BY day;

-- expect: CREATE TABLE AS
CREATE TEMP TABLE tmp AS SELECT * FROM public.fact_sales;

-- expect: CREATE TABLE AS
CREATE TEMPORARY TABLE fact_sales AS SELECT * FROM public.fact_sales LIMIT 0;

-- expect: CREATE MATERIALIZED VIEW writes=analytics.fact_mv
CREATE MATERIALIZED VIEW analytics.fact_mv AS SELECT * FROM public.fact_sales;

-- expect: SELECT INTO writes=analytics.fact_copy
SELECT * INTO analytics.fact_copy FROM public.fact_sales;

-- expect: SELECT INTO
SELECT * INTO TEMP staging FROM public.fact_sales;

-- expect: SELECT INTO
SELECT * INTO TEMPORARY TABLE fact_sales FROM public.fact_sales;

-- expect: SELECT INTO
SELECT 1 INTO pg_temp.fact_sales;

-- case: workload 3: CREATE TEMP TABLE (LIKE target) is not a write
-- expect: CREATE TABLE
CREATE TEMP TABLE tmp (LIKE public.fact_sales);

-- expect: CREATE TABLE writes=public.fact_sales
CREATE TABLE IF NOT EXISTS public.fact_sales (id int PRIMARY KEY, amount numeric);

-- expect: CREATE TABLE
CREATE TABLE public.other (id int REFERENCES public.fact_sales (id));

-- expect: LOCK TABLE writes=public.fact_sales
LOCK TABLE public.fact_sales IN ACCESS EXCLUSIVE MODE;

-- expect: LOCK TABLE writes=analytics.fact_orders,public.fact_sales
LOCK public.fact_sales, ONLY analytics.fact_orders IN SHARE ROW EXCLUSIVE MODE NOWAIT;

-- expect: REFRESH MATERIALIZED VIEW writes=analytics.fact_mv
REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.fact_mv;

-- expect: CREATE INDEX
CREATE INDEX ON public.fact_sales (day);

-- expect: CREATE VIEW
CREATE VIEW reports.v AS SELECT * FROM public.fact_sales;

-- expect: GRANT
GRANT INSERT, UPDATE ON public.fact_sales TO loader;

-- expect: VACUUM flags=implicit_commit
VACUUM public.fact_sales;

-- expect: ANALYZE
ANALYZE public.fact_sales;

-- expect: COMMENT
COMMENT ON TABLE public.fact_sales IS 'INSERT INTO public.fact_sales';

-- case: shapes the token rules settle must agree with the parser
-- expect: CREATE TABLE writes=public.fact_sales
CREATE TABLE public.fact_sales (id int REFERENCES public.other ON DELETE CASCADE);

-- expect: CREATE TABLE
CREATE TEMP TABLE stage_rows (id int) ON COMMIT DELETE ROWS;

-- expect: CREATE VIEW
CREATE TEMP VIEW fact_sales AS SELECT 1;

-- expect: CREATE VIEW writes=analytics.fact_view
CREATE OR REPLACE VIEW analytics.fact_view (a) AS SELECT 1;

-- expect: CREATE VIEW writes=analytics.fact_rview
CREATE RECURSIVE VIEW analytics.fact_rview (n) AS VALUES (1) UNION ALL SELECT n + 1 FROM analytics.fact_rview WHERE n < 3;

-- expect: CREATE TABLE AS writes=analytics.fact_y
CREATE TABLE analytics.fact_y (a, b) WITH (fillfactor = 70) AS TABLE public.fact_sales WITH NO DATA;

-- expect: CREATE TABLE writes=public.fact_sales
CREATE TABLE public.fact_sales PARTITION OF public.sales_all FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales OWNER TO loader;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES public.other ON UPDATE CASCADE;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales RENAME amt TO amount;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales SET TABLESPACE fast;

-- expect: ALTER TABLE
ALTER TABLE pg_temp.stage RENAME TO fact_sales;

-- expect: DROP TABLE writes=public.fact_sales
DROP TABLE public.fact_sales RESTRICT;

-- expect: ALTER TABLE MOVE ALL
ALTER TABLE ALL IN TABLESPACE slow SET TABLESPACE fast;

-- expect: SET
SET TIME ZONE 'UTC';

-- expect: SET
SET LOCAL statement_timeout = 0;

-- expect: SET
SET SESSION AUTHORIZATION DEFAULT;

-- expect: SET
SET myapp.batch_id = '42';

-- expect: RESET
RESET ROLE;

-- expect: CONSTRAINTS SET
SET CONSTRAINTS ALL DEFERRED;

-- expect: SET flags=search_path path=analytics
SET "search_path" TO analytics;
