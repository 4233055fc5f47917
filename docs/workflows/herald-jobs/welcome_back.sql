-- The rows Treasure Data exported for this session (td/segment_welcome_back.sql, mode replace):
-- a run whose export did not happen finds no rows instead of sending yesterday's audience again.
SELECT customer_id, phone, first_name, whatsapp_opt_in
FROM td_export.welcome_back
WHERE session_date = :session_date
ORDER BY customer_id
