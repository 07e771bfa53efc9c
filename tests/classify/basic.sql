-- Corpus format: file directives (-- target:, -- procedure:) set up the
-- configuration for the whole file. Each case is one or more header lines
-- (-- case:, -- search_path:, -- user:, one -- expect: per statement) and
-- the SQL after them, up to the next header. An expect line reads
--   KIND [writes=a.b,c.d] [flags=begin,end,savepoint,implicit_commit,
--        search_path,local,guessed] [prepare=N] [execute=N] [deallocate=N|ALL]
--        [path=stored search_path, to the end of the line]
-- "-- expect: none" means no statement at all. Unless a case says
-- otherwise, search_path is the server default ("$user", public) and the
-- user is etl, so unqualified names resolve in etl and public.
-- target: public.fact_sales
-- target: analytics.fact_*
-- target: etl.checkpoints

-- case: the runbook's job, one string
-- expect: BEGIN flags=begin
-- expect: INSERT writes=public.fact_sales
-- expect: COMMIT flags=end
BEGIN; INSERT INTO public.fact_sales SELECT * FROM public.staging_sales; COMMIT;

-- case: a plain read of a target
-- expect: SELECT
SELECT count(*) FROM public.fact_sales;

-- case: unqualified target resolves through the default path
-- expect: INSERT writes=public.fact_sales
INSERT INTO fact_sales VALUES (1, 'x');

-- case: a pattern target
-- expect: DELETE writes=analytics.fact_orders
DELETE FROM analytics.fact_orders WHERE order_date < '2024-01-01';

-- case: a non-target table
-- expect: INSERT
INSERT INTO public.dim_customer VALUES (1);

-- case: $user resolves to the session user
-- expect: UPDATE writes=etl.checkpoints
UPDATE checkpoints SET loaded_at = now() WHERE job = 'orders';

-- case: empty text
-- expect: none

-- case: only comments
-- expect: none
-- nothing here
/* nor here */
