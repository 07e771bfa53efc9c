-- COPY: FROM writes, TO reads.
-- target: public.fact_sales
-- target: analytics.fact_*

-- expect: COPY writes=public.fact_sales
COPY public.fact_sales FROM STDIN;

-- expect: COPY writes=public.fact_sales
COPY public.fact_sales (id, amount) FROM '/tmp/sales.csv' WITH (FORMAT csv, HEADER);

-- expect: COPY writes=public.fact_sales
copy fact_sales from program 'gunzip -c /data/s.gz' csv;

-- expect: COPY
COPY public.fact_sales TO STDOUT WITH (FORMAT csv);

-- expect: COPY
COPY (SELECT * FROM public.fact_sales WHERE day = current_date) TO '/tmp/out.csv';

-- case: COPY of a query that writes
-- expect: COPY writes=analytics.fact_orders
COPY (INSERT INTO analytics.fact_orders VALUES (1) RETURNING *) TO STDOUT;

-- expect: COPY writes=public.fact_sales
COPY public.fact_sales FROM STDIN WHERE amount > 0;

-- case: Redshift, S3 with a role
-- expect: COPY writes=analytics.fact_orders
COPY analytics.fact_orders FROM 's3://bucket/orders/' IAM_ROLE 'arn:aws:iam::123456789012:role/Load' FORMAT AS PARQUET;

-- case: Redshift, credentials and CSV options
-- expect: COPY writes=public.fact_sales
COPY public.fact_sales FROM 's3://bucket/sales/part' CREDENTIALS 'aws_access_key_id=A;aws_secret_access_key=B' CSV IGNOREHEADER 1 GZIP REGION 'us-east-1';

-- case: Redshift, column list and JSON
-- expect: COPY writes=public.fact_sales
COPY public.fact_sales (id, amount) FROM 's3://b/x.json' IAM_ROLE default FORMAT AS JSON 'auto' TIMEFORMAT 'auto' TRUNCATECOLUMNS;

-- case: Redshift, manifest and delimiter
-- expect: COPY writes=analytics.fact_events
copy analytics.fact_events from 's3://b/manifest' iam_role 'arn:x' manifest delimiter '|' dateformat 'YYYY-MM-DD' maxerror 10;

-- case: COPY into a temporary staging table (workload 1)
-- expect: COPY
COPY pg_temp.stage FROM STDIN;

-- case: Redshift COPY into #temp
-- expect: COPY
COPY #stage FROM 's3://b/k' IAM_ROLE 'arn:r' CSV;
