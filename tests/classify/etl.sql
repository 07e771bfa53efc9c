-- The ETL shapes of shared/context/workloads.md and the statements dbt,
-- Airflow and loaders send. The benchmark's "typical ETL" figure uses
-- this file.
-- target: public.fact_sales
-- target: public.results
-- target: public.checkpoints
-- target: analytics.fact_*

-- case: shape 1, upsert through a staging table in one transaction
-- expect: BEGIN flags=begin
-- expect: CREATE TABLE
-- expect: COPY
-- expect: DELETE writes=public.fact_sales
-- expect: INSERT writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN;
CREATE TEMP TABLE tmp (LIKE public.fact_sales);
COPY tmp FROM STDIN WITH (FORMAT csv);
DELETE FROM public.fact_sales USING tmp WHERE public.fact_sales.id = tmp.id;
INSERT INTO public.fact_sales SELECT * FROM tmp;
COMMIT;

-- case: shape 2, replace contents without TRUNCATE
-- expect: BEGIN flags=begin
-- expect: DELETE writes=public.fact_sales
-- expect: COPY writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN; DELETE FROM public.fact_sales; COPY public.fact_sales FROM '/data/sales.csv' CSV HEADER; COMMIT;

-- case: shape 3, staging outside the transaction
-- expect: CREATE TABLE
CREATE TEMP TABLE tmp (LIKE public.fact_sales);

-- expect: COPY
COPY tmp FROM STDIN;

-- expect: BEGIN flags=begin
-- expect: DELETE writes=public.fact_sales
-- expect: INSERT writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN; DELETE FROM public.fact_sales USING tmp WHERE public.fact_sales.id = tmp.id; INSERT INTO public.fact_sales SELECT * FROM tmp; COMMIT;

-- case: shape 4, load plus bookkeeping
-- expect: BEGIN flags=begin
-- expect: INSERT writes=analytics.fact_orders
-- expect: UPDATE writes=public.checkpoints
-- expect: COMMIT flags=end
BEGIN;
INSERT INTO analytics.fact_orders SELECT * FROM staging.orders WHERE batch = 17;
UPDATE public.checkpoints SET last_batch = 17, loaded_at = now() WHERE job = 'orders';
COMMIT;

-- case: shape 5, results written by several jobs
-- expect: BEGIN flags=begin
-- expect: DELETE writes=public.results
-- expect: INSERT writes=public.results
-- expect: COMMIT flags=end
BEGIN; DELETE FROM results WHERE run_id = 42; INSERT INTO results SELECT 42, k, v FROM tmp; COMMIT;

-- case: shape 6, deduplicating insert
-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales SELECT s.* FROM staging s WHERE NOT EXISTS (SELECT 1 FROM public.fact_sales t WHERE t.id = s.id);

-- case: shape 7, the runbook's job
-- expect: BEGIN flags=begin
-- expect: INSERT writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN; INSERT INTO public.fact_sales SELECT * FROM public.staging_sales; COMMIT;

-- case: shape 8, readers never wait
-- expect: SELECT
SELECT region, sum(amount) FROM public.fact_sales WHERE day >= current_date - 7 GROUP BY region;

-- expect: SELECT
SELECT count(*) FROM staging.orders;

-- case: dbt table materialization
-- expect: CREATE TABLE AS writes=analytics.fact_orders__dbt_tmp
create table "analytics"."fact_orders__dbt_tmp" as (select id, sum(amount) as amount from "staging"."orders" group by id);

-- expect: ALTER TABLE writes=analytics.fact_orders,analytics.fact_orders__dbt_backup
alter table "analytics"."fact_orders" rename to "fact_orders__dbt_backup";

-- expect: ALTER TABLE writes=analytics.fact_orders,analytics.fact_orders__dbt_tmp
alter table "analytics"."fact_orders__dbt_tmp" rename to "fact_orders";

-- expect: DROP TABLE writes=analytics.fact_orders__dbt_backup
drop table if exists "analytics"."fact_orders__dbt_backup" cascade;

-- case: dbt incremental delete+insert
-- expect: CREATE TABLE AS
create temporary table "fact_orders__dbt_tmp123" as (select * from "staging"."orders" where updated_at > '2024-01-01');

-- expect: DELETE writes=analytics.fact_orders
delete from "analytics"."fact_orders" where (id) in (select (id) from "fact_orders__dbt_tmp123");

-- expect: INSERT writes=analytics.fact_orders
insert into "analytics"."fact_orders" ("id", "amount") (select "id", "amount" from "fact_orders__dbt_tmp123");

-- case: upsert with ON CONFLICT from a loader
-- expect: INSERT writes=analytics.fact_events
INSERT INTO analytics.fact_events (id, payload) VALUES ($1, $2), ($3, $4) ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload;

-- case: psycopg2 execute_values style
-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales (id, day, amount) VALUES (1, '2024-01-01', 10.5), (2, '2024-01-01', 11.0), (3, '2024-01-02', 9.25);

-- case: an Airflow task's search_path preamble
-- expect: SET flags=search_path path=analytics, public
-- expect: TRUNCATE writes=analytics.fact_daily flags=implicit_commit
-- expect: INSERT writes=analytics.fact_daily
SET search_path TO analytics, public; TRUNCATE fact_daily; INSERT INTO fact_daily SELECT day, sum(amount) FROM fact_sales GROUP BY day;

-- case: a merge from staging
-- expect: MERGE writes=analytics.fact_orders
MERGE INTO analytics.fact_orders t USING staging.orders s ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = s.amount WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.amount);

-- case: a dashboard query with joins and window functions
-- expect: SELECT
SELECT o.region, date_trunc('week', o.day) AS wk, sum(o.amount) OVER (PARTITION BY o.region ORDER BY o.day) FROM analytics.fact_orders o JOIN public.fact_sales s ON s.id = o.id WHERE o.day > now() - interval '30 days';
