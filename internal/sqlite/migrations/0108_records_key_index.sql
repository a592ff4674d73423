-- records loses the UNIQUE constraint on key in favour of the same
-- uniqueness as a named index, records_key. An inline constraint's index
-- cannot be dropped; a named one can, and a first index (see bulk.go)
-- drops it, appends every record without it, and builds it once at the
-- end by one sort instead of inserting each key at a random place. The
-- table is copied as it is, ids included; upserts on key find the named
-- index as they found the constraint's.
CREATE TABLE records_new (
	id                  INTEGER PRIMARY KEY,
	key                 TEXT    NOT NULL,
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
	web_search_requests INTEGER NOT NULL,
	inference_geo       TEXT    NOT NULL DEFAULT '',
	web_fetch_requests  INTEGER NOT NULL DEFAULT 0,
	cost                INTEGER NOT NULL DEFAULT 0,
	agent               TEXT    NOT NULL DEFAULT '',
	attribution         TEXT    NOT NULL DEFAULT ''
) STRICT;

INSERT INTO records_new (id, key, message_id, request_id, ts, model, session_id, project, cwd,
	git_branch, version, is_sidechain, service_tier, speed, user, machine, input, output,
	cache_creation_5m, cache_creation_1h, cache_read, web_search_requests, inference_geo,
	web_fetch_requests, cost, agent, attribution)
SELECT id, key, message_id, request_id, ts, model, session_id, project, cwd,
	git_branch, version, is_sidechain, service_tier, speed, user, machine, input, output,
	cache_creation_5m, cache_creation_1h, cache_read, web_search_requests, inference_geo,
	web_fetch_requests, cost, agent, attribution
FROM records ORDER BY id;

-- Dropping records drops its indexes and its rollup trigger too.
DROP TABLE records;
ALTER TABLE records_new RENAME TO records;

CREATE UNIQUE INDEX records_key ON records (key);
CREATE INDEX records_ts ON records (ts);
CREATE INDEX records_session ON records (session_id, ts);

-- The rollup trigger of 0104, unchanged.
CREATE TRIGGER records_rollup_update AFTER UPDATE OF ts, session_id, project, user, model,
	input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
	web_fetch_requests ON records BEGIN
	UPDATE rollup SET
		cost = cost - OLD.cost,
		input = input - OLD.input,
		output = output - OLD.output,
		cache_creation_5m = cache_creation_5m - OLD.cache_creation_5m,
		cache_creation_1h = cache_creation_1h - OLD.cache_creation_1h,
		cache_read = cache_read - OLD.cache_read,
		web_search_requests = web_search_requests - OLD.web_search_requests,
		web_fetch_requests = web_fetch_requests - OLD.web_fetch_requests,
		entries = entries - 1
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0) AND session_id = OLD.session_id
		AND project = OLD.project AND user = OLD.user AND model = OLD.model;
	DELETE FROM rollup
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0) AND session_id = OLD.session_id
		AND project = OLD.project AND user = OLD.user AND model = OLD.model AND entries = 0;
	UPDATE rollup SET
		first_ts = (SELECT min(r.ts) FROM records r
			WHERE r.session_id = rollup.session_id AND r.ts >= rollup.qh * 900000
				AND r.ts < (rollup.qh + 1) * 900000 AND r.project = rollup.project
				AND r.user = rollup.user AND r.model = rollup.model),
		last_ts = (SELECT max(r.ts) FROM records r
			WHERE r.session_id = rollup.session_id AND r.ts >= rollup.qh * 900000
				AND r.ts < (rollup.qh + 1) * 900000 AND r.project = rollup.project
				AND r.user = rollup.user AND r.model = rollup.model)
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0) AND session_id = OLD.session_id
		AND project = OLD.project AND user = OLD.user AND model = OLD.model
		AND (first_ts = OLD.ts OR last_ts = OLD.ts);
	INSERT INTO rollup (qh, session_id, project, user, model, cost, input, output,
		cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
		web_fetch_requests, entries, first_ts, last_ts)
	VALUES (NEW.ts / 900000 - (NEW.ts % 900000 < 0), NEW.session_id, NEW.project,
		NEW.user, NEW.model, NEW.cost, NEW.input, NEW.output, NEW.cache_creation_5m,
		NEW.cache_creation_1h, NEW.cache_read, NEW.web_search_requests,
		NEW.web_fetch_requests, 1, NEW.ts, NEW.ts)
	ON CONFLICT (qh, session_id, project, user, model) DO UPDATE SET
		cost = cost + excluded.cost,
		input = input + excluded.input,
		output = output + excluded.output,
		cache_creation_5m = cache_creation_5m + excluded.cache_creation_5m,
		cache_creation_1h = cache_creation_1h + excluded.cache_creation_1h,
		cache_read = cache_read + excluded.cache_read,
		web_search_requests = web_search_requests + excluded.web_search_requests,
		web_fetch_requests = web_fetch_requests + excluded.web_fetch_requests,
		entries = entries + 1,
		first_ts = min(first_ts, excluded.first_ts),
		last_ts = max(last_ts, excluded.last_ts);
END;
