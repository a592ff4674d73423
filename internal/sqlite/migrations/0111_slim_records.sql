-- A records row held 27 columns, most of them strings that repeat from
-- row to row (a session id of 36 characters, the project, the cwd, the
-- model...), and message_id and request_id again inside key. Binding,
-- storing and copying them was most of the single writer's work in a
-- first index. The rows now live in record_rows, which stores each of
-- those strings as the id of its row in interned, and message_id and
-- request_id only when key is not message_id ":" request_id (with no ':'
-- in message_id), since they can then be cut from the key (as bytes:
-- SQLite's text functions stop at a NUL and count characters). The view
-- records gives the rows back under the old column names and values, so
-- every query that reads records reads it unchanged; writes go to
-- record_rows.
--
-- interned holds each string once. Rows are only ever added, so an id,
-- once seen in a transaction, means the same string for as long as the
-- database exists. Id 0 is the empty string, which most of a record's
-- optional fields are, so that writers bind 0 without a lookup.
CREATE TABLE interned (
	id    INTEGER PRIMARY KEY,
	value TEXT    NOT NULL UNIQUE
) STRICT;

INSERT INTO interned (id, value) VALUES (0, '');
INSERT OR IGNORE INTO interned (value)
	SELECT model FROM records UNION SELECT session_id FROM records
	UNION SELECT project FROM records UNION SELECT cwd FROM records
	UNION SELECT git_branch FROM records UNION SELECT version FROM records
	UNION SELECT service_tier FROM records UNION SELECT speed FROM records
	UNION SELECT inference_geo FROM records UNION SELECT user FROM records
	UNION SELECT machine FROM records UNION SELECT agent FROM records
	UNION SELECT attribution FROM records;

-- The columns named as in records hold ids of interned, and message_id
-- and request_id are NULL when key tells them.
CREATE TABLE record_rows (
	id                  INTEGER PRIMARY KEY,
	key                 TEXT    NOT NULL,
	message_id          TEXT,
	request_id          TEXT,
	ts                  INTEGER NOT NULL,
	model               INTEGER NOT NULL,
	session_id          INTEGER NOT NULL,
	project             INTEGER NOT NULL,
	cwd                 INTEGER NOT NULL,
	git_branch          INTEGER NOT NULL,
	version             INTEGER NOT NULL,
	is_sidechain        INTEGER NOT NULL,
	service_tier        INTEGER NOT NULL,
	speed               INTEGER NOT NULL,
	user                INTEGER NOT NULL,
	machine             INTEGER NOT NULL,
	input               INTEGER NOT NULL,
	output              INTEGER NOT NULL,
	cache_creation_5m   INTEGER NOT NULL,
	cache_creation_1h   INTEGER NOT NULL,
	cache_read          INTEGER NOT NULL,
	web_search_requests INTEGER NOT NULL,
	inference_geo       INTEGER NOT NULL,
	web_fetch_requests  INTEGER NOT NULL,
	cost                INTEGER NOT NULL,
	agent               INTEGER NOT NULL,
	attribution         INTEGER NOT NULL
) STRICT;

INSERT INTO record_rows (id, key, message_id, request_id, ts, model, session_id, project, cwd,
	git_branch, version, is_sidechain, service_tier, speed, user, machine, input, output,
	cache_creation_5m, cache_creation_1h, cache_read, web_search_requests, inference_geo,
	web_fetch_requests, cost, agent, attribution)
SELECT r.id, r.key,
	CASE WHEN r.key = r.message_id || ':' || r.request_id AND instr(r.message_id, ':') = 0
		THEN NULL ELSE r.message_id END,
	CASE WHEN r.key = r.message_id || ':' || r.request_id AND instr(r.message_id, ':') = 0
		THEN NULL ELSE r.request_id END,
	r.ts,
	(SELECT id FROM interned WHERE value = r.model),
	(SELECT id FROM interned WHERE value = r.session_id),
	(SELECT id FROM interned WHERE value = r.project),
	(SELECT id FROM interned WHERE value = r.cwd),
	(SELECT id FROM interned WHERE value = r.git_branch),
	(SELECT id FROM interned WHERE value = r.version),
	r.is_sidechain,
	(SELECT id FROM interned WHERE value = r.service_tier),
	(SELECT id FROM interned WHERE value = r.speed),
	(SELECT id FROM interned WHERE value = r.user),
	(SELECT id FROM interned WHERE value = r.machine),
	r.input, r.output, r.cache_creation_5m, r.cache_creation_1h, r.cache_read,
	r.web_search_requests,
	(SELECT id FROM interned WHERE value = r.inference_geo),
	r.web_fetch_requests, r.cost,
	(SELECT id FROM interned WHERE value = r.agent),
	(SELECT id FROM interned WHERE value = r.attribution)
FROM records r ORDER BY r.id;

-- Dropping records drops its indexes and its rollup trigger too; they
-- come back on record_rows under the same names.
DROP TABLE records;

CREATE UNIQUE INDEX records_key ON record_rows (key);
CREATE INDEX records_ts ON record_rows (ts);
CREATE INDEX records_session ON record_rows (session_id, ts);

-- LEFT JOIN on interned's primary key: SQLite leaves out the join of
-- every column a query does not read, so a count or a scan of ts costs
-- what it cost on the old table. A filter on a string (session_id = ?)
-- turns its join into an inner one, which SQLite may start from: the
-- string's id by the unique index of interned, then records_session.
CREATE VIEW records AS SELECT r.id AS id, r.key AS key,
	coalesce(r.message_id, CAST(substr(CAST(r.key AS BLOB), 1, instr(CAST(r.key AS BLOB), x'3a') - 1) AS TEXT)) AS message_id,
	coalesce(r.request_id, CAST(substr(CAST(r.key AS BLOB), instr(CAST(r.key AS BLOB), x'3a') + 1) AS TEXT)) AS request_id,
	r.ts AS ts, model.value AS model, session_id.value AS session_id, project.value AS project,
	cwd.value AS cwd, git_branch.value AS git_branch, version.value AS version,
	r.is_sidechain AS is_sidechain, service_tier.value AS service_tier, speed.value AS speed,
	user.value AS user, machine.value AS machine, r.input AS input, r.output AS output,
	r.cache_creation_5m AS cache_creation_5m, r.cache_creation_1h AS cache_creation_1h,
	r.cache_read AS cache_read, r.web_search_requests AS web_search_requests,
	inference_geo.value AS inference_geo, r.web_fetch_requests AS web_fetch_requests,
	r.cost AS cost, agent.value AS agent, attribution.value AS attribution
FROM record_rows r
	LEFT JOIN interned model ON model.id = r.model
	LEFT JOIN interned session_id ON session_id.id = r.session_id
	LEFT JOIN interned project ON project.id = r.project
	LEFT JOIN interned cwd ON cwd.id = r.cwd
	LEFT JOIN interned git_branch ON git_branch.id = r.git_branch
	LEFT JOIN interned version ON version.id = r.version
	LEFT JOIN interned service_tier ON service_tier.id = r.service_tier
	LEFT JOIN interned speed ON speed.id = r.speed
	LEFT JOIN interned user ON user.id = r.user
	LEFT JOIN interned machine ON machine.id = r.machine
	LEFT JOIN interned inference_geo ON inference_geo.id = r.inference_geo
	LEFT JOIN interned agent ON agent.id = r.agent
	LEFT JOIN interned attribution ON attribution.id = r.attribution;

-- The rollup trigger of 0108 on record_rows: the rollup keeps its
-- strings, so the trigger looks up those of OLD and NEW, and finds the
-- records of OLD's row by their ids through records_session. A copy read
-- again replaces the stored one with the same values (see Apply), which
-- would take a record out of its rollup row and put it back unchanged:
-- the WHEN clause skips that, and with it sixteen string lookups.
CREATE TRIGGER records_rollup_update AFTER UPDATE OF ts, session_id, project, user, model,
	input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
	web_fetch_requests ON record_rows
	WHEN OLD.ts <> NEW.ts OR OLD.session_id <> NEW.session_id OR OLD.project <> NEW.project
		OR OLD.user <> NEW.user OR OLD.model <> NEW.model OR OLD.cost <> NEW.cost
		OR OLD.input <> NEW.input OR OLD.output <> NEW.output
		OR OLD.cache_creation_5m <> NEW.cache_creation_5m OR OLD.cache_creation_1h <> NEW.cache_creation_1h
		OR OLD.cache_read <> NEW.cache_read OR OLD.web_search_requests <> NEW.web_search_requests
		OR OLD.web_fetch_requests <> NEW.web_fetch_requests
BEGIN
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
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0)
		AND session_id = (SELECT value FROM interned WHERE id = OLD.session_id)
		AND project = (SELECT value FROM interned WHERE id = OLD.project)
		AND user = (SELECT value FROM interned WHERE id = OLD.user)
		AND model = (SELECT value FROM interned WHERE id = OLD.model);
	DELETE FROM rollup
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0)
		AND session_id = (SELECT value FROM interned WHERE id = OLD.session_id)
		AND project = (SELECT value FROM interned WHERE id = OLD.project)
		AND user = (SELECT value FROM interned WHERE id = OLD.user)
		AND model = (SELECT value FROM interned WHERE id = OLD.model) AND entries = 0;
	UPDATE rollup SET
		first_ts = (SELECT min(r.ts) FROM record_rows r
			WHERE r.session_id = OLD.session_id AND r.ts >= rollup.qh * 900000
				AND r.ts < (rollup.qh + 1) * 900000 AND r.project = OLD.project
				AND r.user = OLD.user AND r.model = OLD.model),
		last_ts = (SELECT max(r.ts) FROM record_rows r
			WHERE r.session_id = OLD.session_id AND r.ts >= rollup.qh * 900000
				AND r.ts < (rollup.qh + 1) * 900000 AND r.project = OLD.project
				AND r.user = OLD.user AND r.model = OLD.model)
	WHERE qh = OLD.ts / 900000 - (OLD.ts % 900000 < 0)
		AND session_id = (SELECT value FROM interned WHERE id = OLD.session_id)
		AND project = (SELECT value FROM interned WHERE id = OLD.project)
		AND user = (SELECT value FROM interned WHERE id = OLD.user)
		AND model = (SELECT value FROM interned WHERE id = OLD.model)
		AND (first_ts = OLD.ts OR last_ts = OLD.ts);
	INSERT INTO rollup (qh, session_id, project, user, model, cost, input, output,
		cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
		web_fetch_requests, entries, first_ts, last_ts)
	VALUES (NEW.ts / 900000 - (NEW.ts % 900000 < 0),
		(SELECT value FROM interned WHERE id = NEW.session_id),
		(SELECT value FROM interned WHERE id = NEW.project),
		(SELECT value FROM interned WHERE id = NEW.user),
		(SELECT value FROM interned WHERE id = NEW.model),
		NEW.cost, NEW.input, NEW.output, NEW.cache_creation_5m,
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
