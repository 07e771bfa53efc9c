-- Comments, strings, dollar quotes, quoted identifiers, case, whitespace,
-- and many statements in one text.
-- target: public.fact_sales
-- target: public."my.table"
-- target: public."fact""sales"
-- target: public.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa

-- expect: INSERT writes=public.fact_sales
/* leading */ INSERT /* a */ INTO /* b */ public /* c */ . /* d */ fact_sales VALUES (1);

-- expect: INSERT writes=public.fact_sales
INSERT INTO public -- a line comment
.fact_sales VALUES (1);

-- expect: INSERT writes=public.fact_sales
INSERT INTO public
	.
	fact_sales VALUES (1);

-- case: nested block comments hide what they hold
-- expect: SELECT
/* outer /* inner */ INSERT INTO public.fact_sales VALUES (1); */ SELECT 1;

-- case: semicolons inside strings do not split
-- expect: SELECT
-- expect: INSERT writes=public.fact_sales
SELECT 'a;b'; INSERT INTO public.fact_sales VALUES ('x;y');

-- expect: SELECT
SELECT $$INSERT INTO public.fact_sales$$;

-- expect: SELECT
SELECT $tag$ ; DELETE FROM public.fact_sales; $tag$ AS s;

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales VALUES (E'it\'s; fine', 'plain '' quote; too');

-- expect: SELECT
-- expect: DELETE writes=public.fact_sales
SELECT E'\\'; DELETE FROM public.fact_sales;

-- expect: INSERT writes=public.my.table
INSERT INTO public."my.table" VALUES (1);

-- expect: INSERT
INSERT INTO "public.my".table VALUES (1);

-- expect: INSERT writes=public.fact"sales
INSERT INTO public."fact""sales" VALUES (1);

-- expect: INSERT writes=public.fact_sales
InSeRt InTo PUBLIC.Fact_Sales VALUES (1);

-- case: quoted names keep their case
-- expect: INSERT
INSERT INTO public."Fact_Sales" VALUES (1);

-- expect: INSERT writes=public.fact_sales
INSERT INTO "public"."fact_sales" VALUES (1);

-- expect: INSERT
-- expect: INSERT writes=public.fact_sales
INSERT INTO public."a;b" VALUES (1); INSERT INTO public.fact_sales VALUES (2);

-- case: empty statements are no statements
-- expect: INSERT writes=public.fact_sales
;;; INSERT INTO public.fact_sales VALUES (1);;

-- case: identifiers are cut to 63 bytes, like the server does
-- expect: INSERT writes=public.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
INSERT INTO public.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa VALUES (1);

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.fact_sales VALUES (U&'d\0061t\+000061', B'101', X'1F', 1.5e3, $1);

-- case: a long text of many statements
-- expect: BEGIN flags=begin
-- expect: SELECT
-- expect: INSERT writes=public.fact_sales
-- expect: UPDATE writes=public.fact_sales
-- expect: SELECT
-- expect: DELETE writes=public.fact_sales
-- expect: INSERT
-- expect: SAVEPOINT flags=savepoint
-- expect: INSERT writes=public.my.table
-- expect: RELEASE flags=savepoint
-- expect: COMMIT flags=end
BEGIN;
SELECT 1;
INSERT INTO public.fact_sales VALUES (1);
UPDATE public.fact_sales SET n = 2 WHERE note = 'a;b';
SELECT $$;$$;
DELETE FROM public.fact_sales WHERE id = 3; -- trailing comment; with semicolon
INSERT INTO public.other VALUES (1);
SAVEPOINT s1;
INSERT INTO public."my.table" VALUES (1);
RELEASE s1;
COMMIT

-- case: a statement spread over lines with comments between every word
-- expect: UPDATE writes=public.fact_sales
UPDATE -- one
  public -- two
  . -- three
  fact_sales /* four */ SET /* five */ n = 1;
