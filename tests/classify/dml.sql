-- INSERT, UPDATE, DELETE and MERGE in their forms.
-- target: public.fact_sales
-- target: analytics.fact_*
-- target: public.manifest

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales (id, amount) VALUES (1, 2.5), (2, 3.5);

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales DEFAULT VALUES;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales AS f SELECT * FROM staging s
ON CONFLICT (id) DO UPDATE SET amount = EXCLUDED.amount WHERE f.amount <> EXCLUDED.amount;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales SELECT * FROM staging ON CONFLICT DO NOTHING;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales SELECT * FROM staging RETURNING id;

-- case: dedup insert reads the target in a subquery (workload 6)
-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales SELECT s.* FROM staging s
WHERE NOT EXISTS (SELECT 1 FROM public.fact_sales t WHERE t.id = s.id);

-- case: reading a target while writing another table is not a write of it
-- expect: INSERT
INSERT INTO reports.summary SELECT region, sum(amount) FROM public.fact_sales GROUP BY 1;

-- expect: UPDATE writes=public.fact_sales
UPDATE public.fact_sales SET amount = amount * 2 WHERE id = 7;

-- expect: UPDATE writes=public.fact_sales
UPDATE public.fact_sales f SET amount = s.amount FROM staging s WHERE f.id = s.id;

-- expect: UPDATE writes=public.fact_sales
UPDATE ONLY public.fact_sales AS f SET amount = 0 RETURNING *;

-- case: UPDATE of a non-target that reads a target
-- expect: UPDATE
UPDATE public.dim SET n = (SELECT count(*) FROM public.fact_sales);

-- expect: DELETE writes=public.fact_sales
DELETE FROM public.fact_sales USING tmp WHERE public.fact_sales.id = tmp.id;

-- expect: DELETE writes=public.fact_sales
DELETE FROM ONLY public.fact_sales WHERE id IN (SELECT id FROM tmp);

-- expect: DELETE writes=analytics.fact_orders
DELETE FROM analytics.fact_orders * WHERE true;

-- expect: DELETE writes=public.manifest
DELETE FROM manifest WHERE run_id = 42 RETURNING run_id;

-- expect: MERGE writes=public.fact_sales
MERGE INTO public.fact_sales t USING staging s ON t.id = s.id
WHEN MATCHED THEN UPDATE SET amount = s.amount
WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (s.id, s.amount);

-- expect: MERGE writes=analytics.fact_orders
MERGE INTO analytics.fact_orders AS t
USING (SELECT * FROM staging_orders) AS s ON t.id = s.id
WHEN MATCHED AND s.deleted THEN DELETE
WHEN MATCHED THEN DO NOTHING;

-- case: SELECT ... FOR UPDATE locks rows but writes nothing
-- expect: SELECT
SELECT * FROM public.fact_sales WHERE id = 1 FOR UPDATE;

-- expect: SELECT
SELECT * FROM public.fact_sales f JOIN analytics.fact_orders o USING (id) FOR NO KEY UPDATE OF f;

-- case: INSERT whose select locks rows
-- expect: INSERT writes=public.manifest
INSERT INTO public.manifest SELECT id FROM public.fact_sales FOR UPDATE;

-- case: VALUES and TABLE are reads
-- expect: SELECT
-- expect: SELECT
VALUES (1), (2); TABLE public.fact_sales;

-- case: catalog-qualified name
-- expect: INSERT writes=public.fact_sales
INSERT INTO warehouse.public.fact_sales VALUES (1);

-- case: both tables written by one transaction (workload 4)
-- expect: BEGIN flags=begin
-- expect: COPY writes=analytics.fact_orders
-- expect: UPDATE writes=public.manifest
-- expect: COMMIT flags=end
BEGIN;
COPY analytics.fact_orders FROM '/data/orders.csv' WITH (FORMAT csv, HEADER true);
UPDATE public.manifest SET loaded = true WHERE name = 'orders';
COMMIT;
