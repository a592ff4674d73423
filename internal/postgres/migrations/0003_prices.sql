-- Prices that follow the table (DESIGN §3), as in the SQLite store: each
-- record keeps what its price depends on and its own exact cost in units
-- of 1e-10 USD, computed in Go; prices.fingerprint names the table the
-- stored costs come from, and the empty one set here makes the first open
-- price all history.
ALTER TABLE records ADD COLUMN inference_geo text NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN web_fetch_requests bigint NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN cost bigint NOT NULL DEFAULT 0;

CREATE TABLE prices (
	id          integer PRIMARY KEY CHECK (id = 1),
	fingerprint text    NOT NULL
);
INSERT INTO prices (id, fingerprint) VALUES (1, '');

ALTER TABLE snapshots ADD COLUMN cost bigint NOT NULL DEFAULT 0;
UPDATE snapshots SET cost = round(cost_usd * 10000000000)::bigint;
ALTER TABLE snapshot_models ADD COLUMN cost bigint NOT NULL DEFAULT 0;
UPDATE snapshot_models SET cost = round(cost_usd * 10000000000)::bigint;

-- Read every transcript that still exists again, for the new fields;
-- records are keyed, so nothing is counted twice.
UPDATE files SET "offset" = 0, size = 0, mtime = NULL, bad_lines = 0;
