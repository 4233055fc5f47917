-- The demo segment: opted-in customers from a CSV a CDP exported. DuckDB reads the file directly;
-- `:file` is bound as a parameter, never spliced into the text. Phones stay text (leading zeros).
SELECT customer_id, phone, first_name, points, expires_on, coupon_path, whatsapp_opt_in
FROM read_csv(:file, header = true, columns = {
  'customer_id': 'VARCHAR', 'phone': 'VARCHAR', 'first_name': 'VARCHAR', 'points': 'INTEGER',
  'expires_on': 'DATE', 'coupon_path': 'VARCHAR', 'whatsapp_opt_in': 'VARCHAR', 'planted': 'VARCHAR'
})
