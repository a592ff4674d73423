-- Who made each request (the subagent type from its .meta.json) and what
-- newer Claude Code credits it to (a skill, plugin or agent), for the
-- breakdowns of DESIGN §8. '' is unknown or none.
ALTER TABLE records ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN attribution TEXT NOT NULL DEFAULT '';

-- The prompts the user typed. Each owns the responses of its session that
-- follow it until the next one; that is worked out when read, from the
-- session and timestamps, so it does not depend on the order in which
-- files are read. key is the session id and the line's uuid.
CREATE TABLE prompts (
	key        TEXT    PRIMARY KEY,
	session_id TEXT    NOT NULL,
	project    TEXT    NOT NULL,
	ts         INTEGER NOT NULL,
	text       TEXT    NOT NULL,
	user       TEXT    NOT NULL,
	machine    TEXT    NOT NULL
) STRICT;
CREATE INDEX prompts_session ON prompts (session_id, ts);
CREATE INDEX prompts_ts ON prompts (ts);

-- Both come from the transcripts: read every file that still exists
-- again. Records are keyed, and an equal copy read again replaces the
-- stored one, so nothing is counted twice and each record gains its new
-- fields; records whose file is gone keep what they have.
UPDATE files SET "offset" = 0, size = 0, mtime = NULL, bad_lines = 0, fingerprint = NULL;
