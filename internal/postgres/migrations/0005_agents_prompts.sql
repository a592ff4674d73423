-- Who made each request (the subagent type from its .meta.json) and what
-- newer Claude Code credits it to (a skill, plugin or agent), for the
-- breakdowns of DESIGN §8. '' is unknown or none.
ALTER TABLE records ADD COLUMN agent text NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN attribution text NOT NULL DEFAULT '';

-- The prompts the user typed. Each owns the responses of its session that
-- follow it until the next one; that is worked out when read, from the
-- session and timestamps. key is the session id and the line's uuid.
CREATE TABLE prompts (
	key        text        PRIMARY KEY,
	session_id text        NOT NULL,
	project    text        NOT NULL,
	ts         timestamptz NOT NULL,
	text       text        NOT NULL,
	user_name  text        NOT NULL,
	machine    text        NOT NULL
);
CREATE INDEX prompts_session ON prompts (session_id, ts);
CREATE INDEX prompts_ts ON prompts (ts);

-- Both come from the transcripts: read every file that still exists again;
-- records are keyed, so nothing is counted twice.
UPDATE files SET "offset" = 0, size = 0, mtime = NULL, bad_lines = 0, fingerprint = NULL;
