-- Rate-limit samples that Claude Code passed to `ctm statusline`:
-- Anthropic's own usage percentages, kept so that block views can show them
-- beside the blocks ctm computes from transcripts. A window Claude Code did
-- not send is NULL. Times are unix milliseconds (UTC).
CREATE TABLE rate_limits (
	id                  INTEGER PRIMARY KEY,
	ts                  INTEGER NOT NULL,
	session_id          TEXT    NOT NULL,
	five_hour_used      REAL,
	five_hour_resets_at INTEGER,
	seven_day_used      REAL,
	seven_day_resets_at INTEGER
) STRICT;

CREATE INDEX rate_limits_ts ON rate_limits (ts);
