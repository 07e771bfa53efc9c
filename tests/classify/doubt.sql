-- When in doubt, queue: text no rule understands counts as a write of
-- every target it names.
-- target: public.fact_sales
-- target: analytics.fact_*

-- expect: UNKNOWN writes=public.fact_sales flags=guessed
FROBNICATE public.fact_sales;

-- expect: UNKNOWN flags=guessed
FROBNICATE public.other;

-- expect: UNKNOWN writes=public.fact_sales flags=guessed
UPSERT INTO public.fact_sales VALUES (1);

-- expect: UNKNOWN writes=public.fact_sales flags=guessed
REPLACE INTO fact_sales VALUES (1);

-- case: a statement without a single keyword
-- expect: UNKNOWN writes=analytics.fact_orders flags=guessed
foo bar analytics.fact_orders;

-- case: a broken INSERT still names its table
-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales VALUES (1;

-- expect: SELECT
SELECT * FROM public.fact_sales WHERE (;

-- case: an unterminated string: the names before it count
-- expect: UNKNOWN writes=public.fact_sales flags=guessed
SELECT * FROM public.fact_sales WHERE note = 'unterminated

-- case: an unterminated comment hides everything after it
-- expect: UNKNOWN flags=guessed
SELECT 1; /* unterminated INSERT INTO public.fact_sales

-- expect: UNKNOWN writes=public.fact_sales flags=guessed
\copy public.fact_sales from 'x.csv' csv

-- expect: BEGIN flags=begin
-- expect: UNKNOWN writes=public.fact_sales flags=guessed
-- expect: COMMIT flags=end
BEGIN; FROBNICATE public.fact_sales; COMMIT;

-- case: a writable CTE in a text the parser rejects
-- expect: SELECT writes=analytics.fact_orders flags=guessed
WITH d AS (DELETE FROM analytics.fact_orders RETURNING *) SELECT * FROM d WHERE ((;

-- case: a qualified column names its table
-- expect: UNKNOWN writes=public.fact_sales flags=guessed
GARBLE fact_sales.amount;

-- expect: UNKNOWN flags=guessed
GARBLE 'public.fact_sales';
