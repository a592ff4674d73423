-- Prices that follow the table (DESIGN §3). Each record keeps what its
-- price depends on (inference_geo and web fetches join speed and
-- service_tier) and its own exact cost in units of 1e-10 USD (usage.Money),
-- computed in Go from the price table in force. generation.prices holds
-- the fingerprint of the table the stored costs come from: a store opened
-- or written with another table re-prices every record first. The empty
-- fingerprint set here makes the first open after this migration price
-- all history.
ALTER TABLE records ADD COLUMN inference_geo TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN web_fetch_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generation ADD COLUMN prices TEXT NOT NULL DEFAULT '';

-- The rollup loses its long-context flag: no billing rule lives in SQL
-- any more, and the cost of a group is the sum of its records' costs.
DROP TRIGGER records_rollup_update;
DROP TABLE rollup;
CREATE TABLE rollup (
	qh                  INTEGER NOT NULL,
	session_id          TEXT    NOT NULL,
	project             TEXT    NOT NULL,
	user                TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	cost                INTEGER NOT NULL,
	input               INTEGER NOT NULL,
	output              INTEGER NOT NULL,
	cache_creation_5m   INTEGER NOT NULL,
	cache_creation_1h   INTEGER NOT NULL,
	cache_read          INTEGER NOT NULL,
	web_search_requests INTEGER NOT NULL,
	web_fetch_requests  INTEGER NOT NULL,
	entries             INTEGER NOT NULL,
	first_ts            INTEGER NOT NULL,
	last_ts             INTEGER NOT NULL,
	PRIMARY KEY (qh, session_id, project, user, model)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup
SELECT ts / 900000 - (ts % 900000 < 0), session_id, project, user, model, sum(cost),
	sum(input), sum(output), sum(cache_creation_5m), sum(cache_creation_1h), sum(cache_read),
	sum(web_search_requests), sum(web_fetch_requests), count(*), min(ts), max(ts)
FROM records GROUP BY 1, session_id, project, user, model;

-- Replacing a stored record (a preferred copy, see Apply) moves its sums
-- from its old rollup row to its new one, as before. A change of cost
-- alone (re-pricing) does not fire it: re-pricing rebuilds the rollup.
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

-- Snapshots keep exact costs too; the REAL columns stay for databases
-- opened by the previous release and are written alongside.
ALTER TABLE snapshots ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
UPDATE snapshots SET cost = CAST(round(cost_usd * 10000000000) AS INTEGER);
ALTER TABLE snapshot_models ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
UPDATE snapshot_models SET cost = CAST(round(cost_usd * 10000000000) AS INTEGER);

-- The new fields (and the cache-write fallback of DESIGN §3, which moves
-- tokens into 5-minute writes) come from the transcripts: read every file
-- that still exists again. Records are keyed, so nothing is counted twice;
-- records whose file is gone keep what they have.
UPDATE files SET "offset" = 0, size = 0, mtime = NULL, bad_lines = 0;
