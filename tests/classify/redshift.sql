-- Amazon Redshift's dialect: what the PostgreSQL parser rejects is decided
-- by token rules.
-- target: public.fact_sales
-- target: public.stage_*
-- target: analytics.fact_*

-- expect: ALTER TABLE APPEND writes=public.fact_sales,public.stage_sales flags=implicit_commit
ALTER TABLE public.fact_sales APPEND FROM public.stage_sales;

-- expect: ALTER TABLE APPEND writes=public.fact_sales,public.stage_sales flags=implicit_commit
alter table fact_sales append from stage_sales ignoreextra;

-- expect: ALTER TABLE APPEND writes=public.fact_sales flags=implicit_commit
ALTER TABLE fact_sales APPEND FROM #stage FILLTARGET;

-- expect: ALTER TABLE APPEND writes=analytics.fact_orders flags=implicit_commit
ALTER TABLE analytics.fact_orders APPEND FROM staging.orders;

-- expect: UNLOAD
UNLOAD ('SELECT * FROM public.fact_sales WHERE d = ''2024-01-01''') TO 's3://b/p' IAM_ROLE 'arn:aws:iam::1:role/u' PARQUET;

-- expect: CREATE TABLE
CREATE TEMP TABLE #stage (LIKE public.fact_sales);

-- expect: CREATE TABLE AS
CREATE TABLE #stage AS SELECT * FROM public.fact_sales WHERE false;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales SELECT * FROM #stage;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales (SELECT * FROM #stage);

-- expect: DELETE writes=public.fact_sales
DELETE FROM public.fact_sales USING #stage s WHERE public.fact_sales.id = s.id;

-- expect: SELECT INTO
SELECT * INTO #stage FROM public.fact_sales;

-- expect: INSERT
INSERT INTO #stage SELECT * FROM public.fact_sales;

-- expect: DROP TABLE
DROP TABLE #stage;

-- expect: DROP TABLE writes=public.stage_x
DROP TABLE IF EXISTS #stage, public.stage_x;

-- expect: VACUUM flags=implicit_commit
VACUUM DELETE ONLY public.fact_sales TO 75 PERCENT;

-- expect: VACUUM flags=implicit_commit
VACUUM SORT ONLY public.fact_sales;

-- expect: VACUUM flags=implicit_commit
VACUUM REINDEX analytics.fact_orders BOOST;

-- expect: ANALYZE
ANALYZE COMPRESSION public.fact_sales;

-- expect: CREATE TABLE writes=public.fact_sales
CREATE TABLE public.fact_sales (id int, d date) DISTKEY(id) SORTKEY(d);

-- expect: CREATE TABLE writes=analytics.fact_new
CREATE TABLE IF NOT EXISTS analytics.fact_new (id int ENCODE az64) DISTSTYLE EVEN;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales ALTER DISTKEY id;

-- expect: ALTER TABLE writes=public.fact_sales
ALTER TABLE public.fact_sales ALTER COLUMN note ENCODE zstd;

-- expect: ALTER TABLE writes=public.fact_sales,public.stage_sales_new
ALTER TABLE public.stage_sales_new RENAME TO fact_sales;

-- case: workload 2 on Redshift, one string
-- expect: BEGIN flags=begin
-- expect: DELETE writes=public.fact_sales
-- expect: COPY writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN; DELETE FROM public.fact_sales; COPY public.fact_sales FROM 's3://b/x' IAM_ROLE 'arn:r' CSV; COMMIT;

-- case: workload 1 on Redshift with a #temp staging table
-- expect: BEGIN flags=begin
-- expect: CREATE TABLE
-- expect: COPY
-- expect: DELETE writes=public.fact_sales
-- expect: INSERT writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN;
CREATE TEMP TABLE #tmp (LIKE public.fact_sales);
COPY #tmp FROM 's3://b/k' IAM_ROLE 'arn:r' FORMAT AS PARQUET;
DELETE FROM public.fact_sales USING #tmp WHERE public.fact_sales.id = #tmp.id;
INSERT INTO public.fact_sales SELECT * FROM #tmp;
END;

-- expect: COPY writes=public.fact_sales
COPY public.fact_sales FROM 's3://b' IAM_ROLE 'arn' FORMAT AS CSV DELIMITER ',' QUOTE '"' EMPTYASNULL ACCEPTINVCHARS;

-- expect: COPY writes=public.fact_sales
COPY public.fact_sales FROM 's3://b/a.avro' ACCESS_KEY_ID 'A' SECRET_ACCESS_KEY 'B' SESSION_TOKEN 'C' FORMAT AS AVRO 'auto';

-- expect: MERGE writes=public.fact_sales
MERGE INTO public.fact_sales USING #stage s ON public.fact_sales.id = s.id
WHEN MATCHED THEN UPDATE SET amount = s.amount
WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.amount);

-- expect: INSERT writes=public.fact_sales flags=guessed
WITH x AS (SELECT * FROM #stage) INSERT INTO public.fact_sales SELECT * FROM x;

-- expect: LOCK TABLE writes=public.fact_sales
LOCK public.fact_sales;

-- expect: SET
SET query_group TO 'etl_loads';

-- expect: SELECT
SELECT * FROM stv_recents WHERE status = 'Running';

-- expect: UPDATE writes=public.fact_sales
UPDATE public.fact_sales SET amount = s.amount FROM #stage s WHERE public.fact_sales.id = s.id;

-- expect: CREATE TABLE AS writes=analytics.fact_daily
CREATE TABLE analytics.fact_daily DISTKEY(day) SORTKEY(day) AS SELECT day, sum(amount) FROM public.fact_sales GROUP BY day;

-- expect: CREATE VIEW
CREATE VIEW reports.v AS SELECT * FROM public.fact_sales WITH NO SCHEMA BINDING;
