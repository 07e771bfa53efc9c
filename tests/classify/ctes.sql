-- Writable CTEs, at any depth.
-- target: public.fact_sales
-- target: analytics.fact_*
-- target: public.manifest

-- expect: SELECT writes=public.fact_sales
WITH moved AS (DELETE FROM public.fact_sales WHERE id < 10 RETURNING *)
SELECT count(*) FROM moved;

-- expect: INSERT writes=analytics.fact_archive,public.fact_sales
WITH moved AS (DELETE FROM public.fact_sales WHERE old RETURNING *)
INSERT INTO analytics.fact_archive SELECT * FROM moved;

-- case: a read-only CTE before a write
-- expect: INSERT writes=public.manifest
WITH totals AS (SELECT sum(amount) AS s FROM public.fact_sales)
INSERT INTO public.manifest SELECT s FROM totals;

-- case: a read-only CTE is a read
-- expect: SELECT
WITH totals AS (SELECT sum(amount) FROM public.fact_sales) SELECT * FROM totals;

-- expect: SELECT writes=public.fact_sales
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5),
     u AS (UPDATE public.fact_sales SET flag = true WHERE id IN (SELECT n FROM r) RETURNING id)
SELECT * FROM u;

-- case: a data-modifying CTE nested inside another CTE
-- expect: SELECT writes=analytics.fact_orders
WITH outer_cte AS (
    WITH inner_cte AS (INSERT INTO analytics.fact_orders VALUES (1) RETURNING id)
    SELECT id FROM inner_cte)
SELECT * FROM outer_cte;

-- case: a writable CTE in a subquery of the select list
-- expect: SELECT writes=public.manifest
SELECT (SELECT 1 FROM (WITH x AS (UPDATE public.manifest SET n = 1 RETURNING n) SELECT * FROM x) s);

-- expect: UPDATE writes=public.fact_sales,public.manifest
WITH m AS (MERGE INTO public.manifest t USING (SELECT 1 AS id) s ON t.id = s.id
           WHEN NOT MATCHED THEN INSERT VALUES (s.id))
UPDATE public.fact_sales SET n = 0;

-- case: CTE named like a target is only a name
-- expect: SELECT
WITH fact_sales AS (SELECT 1) SELECT * FROM fact_sales;

-- case: UNION of reads stays a read
-- expect: SELECT
SELECT id FROM public.fact_sales UNION ALL SELECT id FROM analytics.fact_orders;
