-- Prompts are found by key_hash, as records are since 0114, instead of
-- by a unique index of their keys (a session id, a colon and a line's
-- uuid: 73 bytes in random order), the costliest index of the prompts in
-- a first index. Apply reads the prompts of the hashes it looks up and
-- compares their keys, so keys that share a hash stay distinct prompts.
ALTER TABLE prompts ADD COLUMN key_hash INTEGER NOT NULL DEFAULT 0;

UPDATE prompts SET key_hash = ctm_key_hash(CAST(key AS BLOB));

DROP INDEX prompts_key;

CREATE INDEX prompts_key_hash ON prompts (key_hash);
