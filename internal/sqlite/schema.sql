-- through 0115_prompts_key_hash.sql
-- The schema and rows that the migrations up to the one named above
-- build, in one script that a new database runs instead (see migrate.go).
-- Written by: go test ./internal/sqlite -run TestSchemaScript -update
-- Do not edit: add a migration, then write this file again.

CREATE TABLE files (
	path      TEXT    PRIMARY KEY,
	device    INTEGER NOT NULL,
	inode     INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	mtime     INTEGER,
	"offset"  INTEGER NOT NULL,
	bad_lines INTEGER NOT NULL
, fingerprint INTEGER) STRICT, WITHOUT ROWID;

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
, cost INTEGER NOT NULL DEFAULT 0) STRICT;

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
	entries             INTEGER NOT NULL, cost INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (snapshot_id, pos)
) STRICT, WITHOUT ROWID;

CREATE TABLE rate_limits (
	id                  INTEGER PRIMARY KEY,
	ts                  INTEGER NOT NULL,
	session_id          TEXT    NOT NULL,
	five_hour_used      REAL,
	five_hour_resets_at INTEGER,
	seven_day_used      REAL,
	seven_day_resets_at INTEGER
) STRICT;

CREATE TABLE generation (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
, prices TEXT NOT NULL DEFAULT '', instance BLOB NOT NULL DEFAULT x'', files_gen INTEGER NOT NULL DEFAULT 0) STRICT;

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

CREATE TABLE budget_alerts (
	budget_id    TEXT    NOT NULL,
	period_start INTEGER NOT NULL,
	threshold    INTEGER NOT NULL,
	target       TEXT    NOT NULL,
	sent_at      INTEGER NOT NULL,
	PRIMARY KEY (budget_id, period_start, threshold, target)
) STRICT, WITHOUT ROWID;

CREATE TABLE interned (
	id    INTEGER PRIMARY KEY,
	value TEXT    NOT NULL UNIQUE
) STRICT;

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
, key_hash INTEGER NOT NULL DEFAULT 0) STRICT;

CREATE TABLE "prompts" (
	key        TEXT    NOT NULL,
	session_id TEXT    NOT NULL,
	project    TEXT    NOT NULL,
	ts         INTEGER NOT NULL,
	text       TEXT    NOT NULL,
	user       TEXT    NOT NULL,
	machine    TEXT    NOT NULL
, key_hash INTEGER NOT NULL DEFAULT 0) STRICT;

CREATE INDEX snapshots_ts ON snapshots (ts);

CREATE INDEX rate_limits_ts ON rate_limits (ts);

CREATE INDEX budget_alerts_period ON budget_alerts (period_start);

CREATE INDEX records_ts ON record_rows (ts);

CREATE INDEX records_session ON record_rows (session_id, ts);

CREATE INDEX prompts_session ON prompts (session_id, ts);

CREATE INDEX prompts_ts ON prompts (ts);

CREATE INDEX records_key_hash ON record_rows (key_hash);

CREATE INDEX prompts_key_hash ON prompts (key_hash);

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

INSERT INTO generation (id, gen, prices, instance, files_gen) VALUES (1, 0, '', x'', 0);
INSERT INTO interned (id, value) VALUES (0, '');
UPDATE generation SET instance = randomblob(16), files_gen = random();
