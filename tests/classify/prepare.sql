-- PREPARE, EXECUTE, DEALLOCATE and EXPLAIN.
-- target: public.fact_sales
-- target: analytics.fact_*

-- expect: PREPARE writes=public.fact_sales prepare=ins
PREPARE ins(int) AS INSERT INTO public.fact_sales VALUES ($1);

-- expect: PREPARE prepare=sel
PREPARE sel AS SELECT * FROM public.fact_sales WHERE id = $1;

-- expect: PREPARE writes=public.fact_sales prepare=del
PREPARE del AS WITH d AS (DELETE FROM public.fact_sales RETURNING *) SELECT count(*) FROM d;

-- expect: EXECUTE execute=ins
EXECUTE ins(1);

-- expect: EXECUTE execute=MixedCase
EXECUTE "MixedCase";

-- expect: EXECUTE execute=upper_folded
EXECUTE UPPER_Folded(2, 'x');

-- expect: DEALLOCATE deallocate=ins
DEALLOCATE ins;

-- expect: DEALLOCATE deallocate=ins
DEALLOCATE PREPARE ins;

-- expect: DEALLOCATE deallocate=ALL
DEALLOCATE ALL;

-- expect: EXPLAIN writes=public.fact_sales
EXPLAIN ANALYZE DELETE FROM public.fact_sales WHERE id = 1;

-- expect: EXPLAIN writes=public.fact_sales
EXPLAIN (ANALYZE, BUFFERS) UPDATE public.fact_sales SET n = 1;

-- expect: EXPLAIN writes=public.fact_sales
EXPLAIN (ANALYZE true, VERBOSE) INSERT INTO public.fact_sales SELECT 1;

-- expect: EXPLAIN writes=public.fact_sales
EXPLAIN (ANALYZE 1) INSERT INTO public.fact_sales SELECT 1;

-- expect: EXPLAIN
EXPLAIN (ANALYZE off) INSERT INTO public.fact_sales SELECT 1;

-- expect: EXPLAIN
EXPLAIN (ANALYZE 0) INSERT INTO public.fact_sales SELECT 1;

-- case: the last ANALYZE option wins, as on the server
-- expect: EXPLAIN writes=public.fact_sales
EXPLAIN (ANALYZE off, ANALYZE on) INSERT INTO public.fact_sales SELECT 1;

-- expect: EXPLAIN
EXPLAIN ANALYZE SELECT * FROM public.fact_sales;

-- expect: EXPLAIN writes=public.fact_sales
EXPLAIN ANALYSE VERBOSE WITH x AS (SELECT 1) INSERT INTO public.fact_sales SELECT * FROM x;

-- expect: EXPLAIN execute=ins
EXPLAIN ANALYZE EXECUTE ins(1);

-- expect: EXPLAIN
EXPLAIN EXECUTE ins(1);

-- expect: CREATE TABLE AS writes=analytics.fact_x execute=sel
CREATE TABLE analytics.fact_x AS EXECUTE sel(1);

-- expect: EXPLAIN writes=analytics.fact_y
EXPLAIN ANALYZE CREATE TABLE analytics.fact_y AS SELECT 1;

-- case: a PREPARE the parser cannot read (Redshift #temp) is decided by tokens
-- expect: PREPARE writes=public.fact_sales flags=guessed prepare=p
PREPARE p AS INSERT INTO public.fact_sales SELECT * FROM #stage;
