-- The audience, computed in Treasure Data (Presto/Trino) and exported to herald's PostgreSQL as
-- td_export.welcome_back (mode replace). Column names are the ones herald-jobs/welcome_back.yaml
-- maps; session_date ties the rows to the session that exported them.
SELECT
  customer_id,
  phone,
  first_name,
  whatsapp_opt_in,
  '${session_date}' AS session_date
FROM customers
WHERE last_order_at < TD_TIME_ADD(TD_SCHEDULED_TIME(), '-90d')
  AND whatsapp_opt_in
