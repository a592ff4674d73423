-- Records are found by key_hash, a 64-bit hash of key (FNV-1a, computed
-- by the function ctm_key_hash that the store registers), instead of by a
-- unique index of the keys: that index, of 53-byte keys in random order,
-- was the costliest index a first index builds and nearly four times the
-- size of an index of the hashes. The hash decides nothing alone: Apply reads the
-- records of the hashes it looks up and compares their keys, so keys that
-- share a hash stay distinct records. No trigger watches key_hash. The
-- key goes to the function as a blob: as text, the driver would cut it at
-- a NUL byte.
ALTER TABLE record_rows ADD COLUMN key_hash INTEGER NOT NULL DEFAULT 0;

UPDATE record_rows SET key_hash = ctm_key_hash(CAST(key AS BLOB));

DROP INDEX records_key;

CREATE INDEX records_key_hash ON record_rows (key_hash);
