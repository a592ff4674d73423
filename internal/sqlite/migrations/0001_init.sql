-- Usage records: one row per distinct API response. Timestamps are unix
-- milliseconds (UTC) so that range filters and quarter-hour buckets are
-- integer arithmetic on an index.
CREATE TABLE records (
	id                  INTEGER PRIMARY KEY,
	key                 TEXT    NOT NULL UNIQUE,
	message_id          TEXT    NOT NULL,
	request_id          TEXT    NOT NULL,
	ts                  INTEGER NOT NULL,
	model               TEXT    NOT NULL,
	session_id          TEXT    NOT NULL,
	project             TEXT    NOT NULL,
	cwd                 TEXT    NOT NULL,
	git_branch          TEXT    NOT NULL,
	version             TEXT    NOT NULL,
	is_sidechain        INTEGER NOT NULL,
	service_tier        TEXT    NOT NULL,
	speed               TEXT    NOT NULL,
	user                TEXT    NOT NULL,
	machine             TEXT    NOT NULL,
	input               INTEGER NOT NULL,
	output              INTEGER NOT NULL,
	cache_creation_5m   INTEGER NOT NULL,
	cache_creation_1h   INTEGER NOT NULL,
	cache_read          INTEGER NOT NULL,
	web_search_requests INTEGER NOT NULL
) STRICT;

-- Filters on session, project or model usually come with a time range,
-- so those indexes carry ts too.
CREATE INDEX records_ts ON records (ts);
CREATE INDEX records_session ON records (session_id, ts);
CREATE INDEX records_project ON records (project, ts);
CREATE INDEX records_model ON records (model, ts);

-- rollup holds the records summed per UTC quarter hour (qh = floor(ts /
-- 900000)), session, project, user, model and long-context flag (lc: input +
-- cache writes + cache reads > usage.LongContextThreshold = 200000). SQLite
-- has no hash aggregation: a GROUP BY over every record sorts every record,
-- about a second for 500k of them. Aggregates over whole quarter hours read
-- this table instead, which is many times smaller, and read records only
-- for the partial quarter hours at the ends of a range. The triggers below
-- keep it exact in the same transaction as every change to records.
CREATE TABLE rollup (
	qh                  INTEGER NOT NULL,
	session_id          TEXT    NOT NULL,
	project             TEXT    NOT NULL,
	user                TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	lc                  INTEGER NOT NULL,
	input               INTEGER NOT NULL,
	output              INTEGER NOT NULL,
	cache_creation_5m   INTEGER NOT NULL,
	cache_creation_1h   INTEGER NOT NULL,
	cache_read          INTEGER NOT NULL,
	web_search_requests INTEGER NOT NULL,
	entries             INTEGER NOT NULL,
	first_ts            INTEGER NOT NULL,
	last_ts             INTEGER NOT NULL,
	PRIMARY KEY (qh, session_id, project, user, model, lc)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER records_rollup_insert AFTER INSERT ON records BEGIN
	INSERT INTO rollup (qh, session_id, project, user, model, lc, input, output,
		cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
		entries, first_ts, last_ts)
	VALUES (NEW.ts / 900000 - (NEW.ts % 900000 < 0), NEW.session_id, NEW.project,
		NEW.user, NEW.model,
		NEW.input + NEW.cache_creation_5m + NEW.cache_creation_1h + NEW.cache_read > 200000,
		NEW.input, NEW.output, NEW.cache_creation_5m, NEW.cache_creation_1h,
		NEW.cache_read, NEW.web_search_requests, 1, NEW.ts, NEW.ts)
	ON CONFLICT (qh, session_id, project, user, model, lc) DO UPDATE SET
		input = input + excluded.input,
		output = output + excluded.output,
		cache_creation_5m = cache_creation_5m + excluded.cache_creation_5m,
		cache_creation_1h = cache_creation_1h + excluded.cache_creation_1h,
		cache_read = cache_read + excluded.cache_read,
		web_search_requests = web_search_requests + excluded.web_search_requests,
		entries = entries + 1,
		first_ts = min(first_ts, excluded.first_ts),
		last_ts = max(last_ts, excluded.last_ts);
END;

-- Removing a record from its rollup row: subtract it, drop the row when it
-- was the last one, and when it was the row's first or last record find the
-- new bounds among the records still in that group (a short range scan of
-- records_session). An update runs this for OLD, then adds NEW like an
-- insert; records already holds NEW then, and min/max make adding it twice
-- to the bounds harmless. Records are never deleted (a transcript that
-- disappears keeps its records), so there is no delete trigger.
CREATE TRIGGER records_rollup_update AFTER UPDATE ON records BEGIN
	UPDATE rollup SET
		input = input - OLD.input,
		output = output - OLD.output,
		cache_creation_5m = cache_creation_5m - OLD.cache_creation_5m,
		cache_creation_1h = cache_creation_1h - OLD.cache_creation_1h,
		cache_read = cache_read - OLD.cache_read,
		web_search_requests = web_search_requests - OLD.web_search_requests,
		entries = entries - 1
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0) AND session_id = OLD.session_id
		AND project = OLD.project AND user = OLD.user AND model = OLD.model
		AND lc = (OLD.input + OLD.cache_creation_5m + OLD.cache_creation_1h + OLD.cache_read > 200000);
	DELETE FROM rollup
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0) AND session_id = OLD.session_id
		AND project = OLD.project AND user = OLD.user AND model = OLD.model
		AND lc = (OLD.input + OLD.cache_creation_5m + OLD.cache_creation_1h + OLD.cache_read > 200000)
		AND entries = 0;
	UPDATE rollup SET
		first_ts = (SELECT min(r.ts) FROM records r
			WHERE r.session_id = rollup.session_id AND r.ts >= rollup.qh * 900000
				AND r.ts < (rollup.qh + 1) * 900000 AND r.project = rollup.project
				AND r.user = rollup.user AND r.model = rollup.model
				AND (r.input + r.cache_creation_5m + r.cache_creation_1h + r.cache_read > 200000) = rollup.lc),
		last_ts = (SELECT max(r.ts) FROM records r
			WHERE r.session_id = rollup.session_id AND r.ts >= rollup.qh * 900000
				AND r.ts < (rollup.qh + 1) * 900000 AND r.project = rollup.project
				AND r.user = rollup.user AND r.model = rollup.model
				AND (r.input + r.cache_creation_5m + r.cache_creation_1h + r.cache_read > 200000) = rollup.lc)
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0) AND session_id = OLD.session_id
		AND project = OLD.project AND user = OLD.user AND model = OLD.model
		AND lc = (OLD.input + OLD.cache_creation_5m + OLD.cache_creation_1h + OLD.cache_read > 200000)
		AND (first_ts = OLD.ts OR last_ts = OLD.ts);
	INSERT INTO rollup (qh, session_id, project, user, model, lc, input, output,
		cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
		entries, first_ts, last_ts)
	VALUES (NEW.ts / 900000 - (NEW.ts % 900000 < 0), NEW.session_id, NEW.project,
		NEW.user, NEW.model,
		NEW.input + NEW.cache_creation_5m + NEW.cache_creation_1h + NEW.cache_read > 200000,
		NEW.input, NEW.output, NEW.cache_creation_5m, NEW.cache_creation_1h,
		NEW.cache_read, NEW.web_search_requests, 1, NEW.ts, NEW.ts)
	ON CONFLICT (qh, session_id, project, user, model, lc) DO UPDATE SET
		input = input + excluded.input,
		output = output + excluded.output,
		cache_creation_5m = cache_creation_5m + excluded.cache_creation_5m,
		cache_creation_1h = cache_creation_1h + excluded.cache_creation_1h,
		cache_read = cache_read + excluded.cache_read,
		web_search_requests = web_search_requests + excluded.web_search_requests,
		entries = entries + 1,
		first_ts = min(first_ts, excluded.first_ts),
		last_ts = max(last_ts, excluded.last_ts);
END;

-- Ingest state of each source file. Device and inode are uint64 stored
-- bit for bit in a signed INTEGER; mtime is unix nanoseconds so that the
-- ingester's equality check sees exactly what it saved (NULL = unknown).
CREATE TABLE files (
	path      TEXT    PRIMARY KEY,
	device    INTEGER NOT NULL,
	inode     INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	mtime     INTEGER,
	"offset"  INTEGER NOT NULL,
	bad_lines INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Snapshots of the all-time totals. AUTOINCREMENT so that an id is never
-- reused after pruning: API clients page by id and time.
CREATE TABLE snapshots (
	id                  INTEGER PRIMARY KEY AUTOINCREMENT,
	ts                  INTEGER NOT NULL,
	input               INTEGER NOT NULL,
	output              INTEGER NOT NULL,
	cache_creation_5m   INTEGER NOT NULL,
	cache_creation_1h   INTEGER NOT NULL,
	cache_read          INTEGER NOT NULL,
	web_search_requests INTEGER NOT NULL,
	cost_usd            REAL    NOT NULL,
	entries             INTEGER NOT NULL
) STRICT;

CREATE INDEX snapshots_ts ON snapshots (ts);

-- Per-model rows of a snapshot, in the order they were saved (pos).
-- Deleting a snapshot deletes its rows (needs PRAGMA foreign_keys).
CREATE TABLE snapshot_models (
	snapshot_id         INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
	pos                 INTEGER NOT NULL,
	model               TEXT    NOT NULL,
	input               INTEGER NOT NULL,
	output              INTEGER NOT NULL,
	cache_creation_5m   INTEGER NOT NULL,
	cache_creation_1h   INTEGER NOT NULL,
	cache_read          INTEGER NOT NULL,
	web_search_requests INTEGER NOT NULL,
	cost_usd            REAL    NOT NULL,
	entries             INTEGER NOT NULL,
	PRIMARY KEY (snapshot_id, pos)
) STRICT, WITHOUT ROWID;
