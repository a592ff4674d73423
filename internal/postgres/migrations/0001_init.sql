-- Usage records: one row per distinct API response. Timestamps are kept
-- to the millisecond (the precision every store keeps), in timestamptz so
-- that people querying the team database see real times.
--
-- key is the record's own identity (message.id:requestId, line:<uuid>,
-- otel:<request id>); response_key (usage.ResponseKey) is the identity the
-- team server merges on, so that a response pushed from a transcript and
-- reported again by telemetry is one row. Both are unique.
CREATE TABLE records (
	id                  bigserial   PRIMARY KEY,
	key                 text        NOT NULL UNIQUE,
	response_key        text        NOT NULL UNIQUE,
	message_id          text        NOT NULL,
	request_id          text        NOT NULL,
	ts                  timestamptz NOT NULL,
	model               text        NOT NULL,
	session_id          text        NOT NULL,
	project             text        NOT NULL,
	cwd                 text        NOT NULL,
	git_branch          text        NOT NULL,
	version             text        NOT NULL,
	is_sidechain        boolean     NOT NULL,
	service_tier        text        NOT NULL,
	speed               text        NOT NULL,
	user_name           text        NOT NULL,
	machine             text        NOT NULL,
	telemetry           boolean     NOT NULL,
	input               bigint      NOT NULL,
	output              bigint      NOT NULL,
	cache_creation_5m   bigint      NOT NULL,
	cache_creation_1h   bigint      NOT NULL,
	cache_read          bigint      NOT NULL,
	web_search_requests bigint      NOT NULL
);

CREATE INDEX records_ts ON records (ts, id);
CREATE INDEX records_session ON records (session_id);
CREATE INDEX records_project ON records (project);
CREATE INDEX records_model ON records (model);
CREATE INDEX records_user ON records (user_name, ts);

-- Ingest state of each source file (used when a machine runs on
-- PostgreSQL itself). Device and inode are uint64 stored bit for bit in a
-- bigint; mtime is unix nanoseconds so that the ingester's equality check
-- sees exactly what it saved (NULL = unknown).
CREATE TABLE files (
	path      text   PRIMARY KEY,
	device    bigint NOT NULL,
	inode     bigint NOT NULL,
	size      bigint NOT NULL,
	mtime     bigint,
	"offset"  bigint NOT NULL,
	bad_lines bigint NOT NULL
);

-- Snapshots of the all-time totals. bigserial ids are never reused after
-- pruning: API clients page by id and time.
CREATE TABLE snapshots (
	id                  bigserial        PRIMARY KEY,
	ts                  timestamptz      NOT NULL,
	input               bigint           NOT NULL,
	output              bigint           NOT NULL,
	cache_creation_5m   bigint           NOT NULL,
	cache_creation_1h   bigint           NOT NULL,
	cache_read          bigint           NOT NULL,
	web_search_requests bigint           NOT NULL,
	cost_usd            double precision NOT NULL,
	entries             bigint           NOT NULL
);

CREATE INDEX snapshots_ts ON snapshots (ts);

-- Per-model rows of a snapshot, in the order they were saved (pos).
CREATE TABLE snapshot_models (
	snapshot_id         bigint           NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
	pos                 integer          NOT NULL,
	model               text             NOT NULL,
	input               bigint           NOT NULL,
	output              bigint           NOT NULL,
	cache_creation_5m   bigint           NOT NULL,
	cache_creation_1h   bigint           NOT NULL,
	cache_read          bigint           NOT NULL,
	web_search_requests bigint           NOT NULL,
	cost_usd            double precision NOT NULL,
	entries             bigint           NOT NULL,
	PRIMARY KEY (snapshot_id, pos)
);

-- Push tokens of team users. Only the SHA-256 of a token is stored: a
-- token is 32 random bytes, so a fast hash is enough (there is nothing to
-- brute-force), and a leaked database grants no access.
CREATE TABLE tokens (
	id         bigserial   PRIMARY KEY,
	user_name  text        NOT NULL,
	hash       bytea       NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

CREATE INDEX tokens_user ON tokens (user_name);
