-- Name resolution: folding, quoting, search_path, $user, temporary schemas.
-- target: public.fact_sales
-- target: analytics.fact_*
-- target: "Sales"."Daily Totals"

-- search_path: etl, public
-- expect: INSERT writes=public.fact_sales
INSERT INTO fact_sales VALUES (1);

-- case: a pattern target reached through the path
-- search_path: analytics
-- expect: INSERT writes=analytics.fact_orders
INSERT INTO fact_orders VALUES (1);

-- case: with several schemas a name counts in every schema where it would be a target
-- search_path: analytics, public
-- expect: INSERT writes=analytics.fact_sales,public.fact_sales
INSERT INTO fact_sales VALUES (1);

-- search_path: "$user", public
-- user: analytics
-- expect: DELETE writes=analytics.fact_x
DELETE FROM fact_x;

-- case: no user: $user is skipped
-- search_path: "$user"
-- user:
-- expect: DELETE
DELETE FROM fact_x;

-- search_path: pg_catalog, public
-- expect: INSERT writes=public.fact_sales
INSERT INTO fact_sales VALUES (1);

-- case: pg_temp in the path is skipped, the rest still counts
-- search_path: pg_temp, public
-- expect: INSERT writes=public.fact_sales
INSERT INTO fact_sales VALUES (1);

-- case: an empty path resolves nothing
-- search_path:
-- expect: INSERT
INSERT INTO fact_sales VALUES (1);

-- case: bare names in the path fold to lower case
-- search_path: Analytics
-- expect: INSERT writes=analytics.fact_orders
INSERT INTO fact_orders VALUES (1);

-- case: quoted names in the path stay exact
-- search_path: "Analytics"
-- expect: INSERT
INSERT INTO fact_orders VALUES (1);

-- expect: SET flags=search_path path=etl, public
-- expect: INSERT writes=public.fact_sales
SET search_path = etl, public; INSERT INTO fact_sales VALUES (1);

-- case: a SET earlier in the same text changes how later names resolve
-- expect: SET flags=search_path path=analytics
-- expect: INSERT writes=analytics.fact_sales
SET search_path TO analytics; INSERT INTO fact_sales VALUES (1);

-- expect: SET flags=search_path,local path=analytics
SET LOCAL search_path = analytics;

-- expect: SET flags=search_path path="$user", public
SET search_path = "$user", public;

-- expect: SET flags=search_path path="$user", public
SET SESSION search_path TO '$user', public;

-- expect: SET flags=search_path path=analytics
SET search_path TO 'analytics';

-- case: one string holding a comma is one schema name, as on the server
-- expect: SET flags=search_path path="a,b"
SET search_path = 'a,b';

-- expect: SET flags=search_path path=analytics
SET SCHEMA 'analytics';

-- expect: SET flags=search_path path=analytics, "Sales", "my schema", "select", "int"
SET search_path = Analytics, "Sales", "my schema", "select", "int";

-- expect: RESET flags=search_path
RESET search_path;

-- expect: SET flags=search_path
SET search_path TO DEFAULT;

-- expect: RESET flags=search_path
RESET ALL;

-- case: RESET goes back to the default path
-- expect: SET flags=search_path path=analytics
-- expect: RESET flags=search_path
-- expect: INSERT writes=public.fact_sales
SET search_path = analytics; RESET search_path; INSERT INTO fact_sales VALUES (1);

-- expect: DISCARD flags=search_path deallocate=ALL
DISCARD ALL;

-- expect: DISCARD
DISCARD TEMP;

-- case: other settings do not touch the path
-- expect: SET
SET statement_timeout = '5min';

-- expect: SELECT flags=search_path path=analytics
SELECT set_config('search_path', 'analytics', false);

-- case: pg_dump's preamble empties the path
-- expect: SELECT flags=search_path path=
-- expect: INSERT
SELECT pg_catalog.set_config('search_path', '', false); INSERT INTO fact_sales VALUES (1);

-- expect: SELECT flags=search_path,local path=analytics, public
SELECT set_config('search_path', 'analytics, public', true);

-- case: pg_temp-qualified names are temporary tables
-- expect: INSERT
INSERT INTO pg_temp.fact_sales VALUES (1);

-- expect: INSERT
INSERT INTO pg_temp_3.fact_sales VALUES (1);

-- expect: INSERT writes=Sales.Daily Totals
INSERT INTO "Sales"."Daily Totals" VALUES (1);

-- expect: INSERT
INSERT INTO sales."Daily Totals" VALUES (1);

-- expect: INSERT
INSERT INTO "Sales".daily_totals VALUES (1);

-- search_path: "Sales"
-- expect: UPDATE writes=Sales.Daily Totals
UPDATE "Daily Totals" SET n = 1;

-- search_path: public, analytics
-- expect: TRUNCATE writes=analytics.fact_orders flags=implicit_commit
TRUNCATE fact_orders;

-- case: unicode escapes in identifiers, decoded by the parser
-- expect: INSERT writes=public.fact_sales
INSERT INTO U&"public".U&"fact\005fsales" VALUES (1);

-- expect: INSERT writes=public.fact_sales
INSERT INTO public.U&"fact!005fsales" UESCAPE '!' VALUES (1);
