-- The rollup insert trigger upserted one rollup row per inserted record,
-- about 40% of the time of a first index. Apply now inserts new records
-- first (ON CONFLICT DO NOTHING), sums them per rollup row in Go and
-- upserts each row once, in the same transaction. Apply is the only
-- writer of records. The update trigger stays: replacing a stored record
-- is rare and needs its old values.
DROP TRIGGER records_rollup_insert;
