-- DO blocks, CALL of mapped procedures, function definitions.
-- target: public.fact_sales
-- target: public.manifest
-- target: analytics.fact_*
-- procedure: etl.load_sales = public.fact_sales, public.manifest
-- procedure: cleanup = analytics.fact_orders

-- expect: DO writes=public.fact_sales flags=guessed
DO $$ BEGIN INSERT INTO public.fact_sales VALUES (1); END $$;

-- expect: DO
DO $$ BEGIN RAISE NOTICE 'hello'; END $$;

-- case: when in doubt: a DO body that names a target counts as writing it
-- expect: DO writes=public.fact_sales flags=guessed
DO LANGUAGE plpgsql $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM public.fact_sales; END $$;

-- case: dynamic SQL in a literal inside the body
-- expect: DO writes=public.fact_sales flags=guessed
DO $body$ BEGIN EXECUTE 'TRUNCATE ' || 'public.fact_sales'; END $body$;

-- expect: DO writes=analytics.fact_orders flags=guessed
DO 'BEGIN UPDATE analytics.fact_orders SET x = 1; END';

-- expect: DO writes=public.fact_sales flags=guessed
DO $$ BEGIN INSERT INTO fact_sales VALUES (1); END $$;

-- expect: DO writes=public.manifest flags=guessed
DO $x$ BEGIN EXECUTE $q$ UPDATE public.manifest SET done = true $q$; END $x$;

-- case: known limit: a table name built at run time is invisible
-- expect: DO
DO $$ BEGIN EXECUTE format('DELETE FROM %I.%I', 'public', 'fact' || '_sales'); END $$;

-- case: a Redshift #temp inside a body is no target
-- expect: DO
DO $$ BEGIN INSERT INTO #stage SELECT 1; END $$;

-- expect: CALL writes=public.fact_sales,public.manifest
CALL etl.load_sales();

-- case: an unqualified CALL resolves through the path (etl is $user)
-- expect: CALL writes=public.fact_sales,public.manifest
CALL load_sales(1, 'x');

-- expect: CALL writes=public.fact_sales,public.manifest
call ETL.Load_Sales();

-- expect: CALL
CALL public.load_sales();

-- case: a procedure configured without schema matches in any schema
-- expect: CALL writes=analytics.fact_orders
CALL maintenance.cleanup();

-- expect: CALL
CALL other_proc();

-- expect: CREATE PROCEDURE
CREATE OR REPLACE PROCEDURE etl.load_sales() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fact_sales SELECT * FROM staging;
END $$;

-- expect: CREATE FUNCTION
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM public.manifest; RETURN NEW; END $$;

-- case: known limit: functions called from SELECT are not followed
-- expect: SELECT
SELECT etl.load_sales_fn();
