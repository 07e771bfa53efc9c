-- Things that look like writes and are not.
-- target: public.fact_sales
-- target: analytics.fact_*

-- expect: SELECT
SELECT 'INSERT INTO public.fact_sales VALUES (1)';

-- expect: SELECT
SELECT "insert", "delete" FROM public.fact_sales;

-- expect: SELECT
SELECT update FROM public.fact_sales;

-- expect: SELECT
-- INSERT INTO public.fact_sales VALUES (1);
SELECT 1;

-- expect: SELECT
/* DELETE FROM public.fact_sales; */ SELECT 1;

-- expect: SELECT
SELECT 1 AS "INSERT INTO public.fact_sales";

-- expect: SELECT
SELECT count(*) FROM analytics.fact_orders WHERE note = 'UPDATE analytics.fact_orders SET x = 1';

-- expect: EXPLAIN
EXPLAIN DELETE FROM public.fact_sales;

-- expect: EXPLAIN
EXPLAIN (ANALYZE false) DELETE FROM public.fact_sales;

-- expect: EXPLAIN
EXPLAIN (FORMAT JSON, COSTS off) INSERT INTO public.fact_sales SELECT 1;

-- expect: CREATE FUNCTION
CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DELETE FROM public.fact_sales $$;

-- expect: CREATE PROCEDURE
CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO public.fact_sales VALUES (1); END;

-- expect: CREATE FUNCTION
CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql RETURN (SELECT count(*) FROM public.fact_sales);

-- expect: CREATE RULE
CREATE RULE r AS ON INSERT TO public.other DO ALSO INSERT INTO public.fact_sales VALUES (1);

-- expect: CREATE TRIGGER
CREATE TRIGGER t AFTER INSERT ON public.fact_sales FOR EACH ROW EXECUTE FUNCTION f();

-- expect: SELECT
SELECT * FROM public.fact_sales_archive;

-- expect: INSERT
INSERT INTO public.fact_sales_archive SELECT * FROM public.fact_sales;

-- expect: COMMENT
COMMENT ON TABLE public.fact_sales IS 'DELETE FROM public.fact_sales';

-- expect: NOTIFY
NOTIFY loads, 'INSERT INTO public.fact_sales';

-- expect: SHOW
SHOW search_path;

-- expect: DECLARE CURSOR
DECLARE c CURSOR FOR SELECT * FROM public.fact_sales;

-- expect: SELECT
SELECT * FROM public.fact_sales FOR SHARE;

-- expect: SELECT
SELECT public.fact_sales.amount FROM public.fact_sales;

-- expect: CREATE TABLE
CREATE TEMP TABLE fact_sales (LIKE public.fact_sales INCLUDING ALL);

-- expect: CREATE TABLE
CREATE UNLOGGED TABLE public.stage (LIKE public.fact_sales);

-- expect: SELECT
SELECT 'x' FROM public.fact_sales WHERE note LIKE '%; DELETE FROM public.fact_sales%';

-- expect: SELECT
SELECT $q$ ' $$ $q$, $$ INSERT INTO public.fact_sales $$;

-- expect: CREATE VIEW writes=analytics.fact_view
CREATE VIEW analytics.fact_view AS SELECT * FROM public.fact_sales;

-- expect: COPY
COPY (SELECT * FROM analytics.fact_orders) TO STDOUT;

-- case: a procedure that is not mapped writes nothing we know of
-- expect: CALL
CALL etl.something();

-- case: keywords after a dot are names
-- expect: SELECT
SELECT count(*) FROM staging.into i;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales SELECT * FROM s.delete d;

-- case: a keyword-named table qualified by its schema
-- expect: COPY writes=analytics.fact_update
COPY analytics.fact_update FROM STDIN;
