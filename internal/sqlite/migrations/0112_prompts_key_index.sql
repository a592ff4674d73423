-- prompts loses the PRIMARY KEY on key in favour of the same uniqueness
-- as a named index, prompts_key, as records did in 0108: the index of an
-- inline constraint cannot be dropped, a named one can, and a first index
-- (see bulk.go) drops it, appends every prompt without it, and builds it
-- once at the end by one sort instead of inserting each key at a random
-- place. The table is copied as it is, rowids included; the upsert of
-- Apply finds the named index as it found the constraint's.
CREATE TABLE prompts_new (
	key        TEXT    NOT NULL,
	session_id TEXT    NOT NULL,
	project    TEXT    NOT NULL,
	ts         INTEGER NOT NULL,
	text       TEXT    NOT NULL,
	user       TEXT    NOT NULL,
	machine    TEXT    NOT NULL
) STRICT;

INSERT INTO prompts_new (rowid, key, session_id, project, ts, text, user, machine)
SELECT rowid, key, session_id, project, ts, text, user, machine FROM prompts ORDER BY rowid;

-- Dropping prompts drops its indexes too.
DROP TABLE prompts;
ALTER TABLE prompts_new RENAME TO prompts;

CREATE UNIQUE INDEX prompts_key ON prompts (key);
CREATE INDEX prompts_session ON prompts (session_id, ts);
CREATE INDEX prompts_ts ON prompts (ts);
