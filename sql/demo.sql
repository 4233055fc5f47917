-- The demo segment: opted-in customers from a table. `npm run demo` loads it from the generated
-- sample (the same rows as demo-data/customers.csv) into whichever warehouse is configured, so this
-- SQL runs unchanged on DuckDB and PostgreSQL. `:min_points` is bound, never spliced into the text.
-- (On DuckDB a segment can also read a CDP's export directly: FROM read_csv('export.csv').)
SELECT customer_id, phone, first_name, points, expires_on, coupon_path, whatsapp_opt_in
FROM demo_customers
WHERE points >= :min_points
ORDER BY ord
