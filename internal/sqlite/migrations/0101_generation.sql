-- generation counts the write transactions that changed records (and so
-- the rollup). Every Apply with records bumps it in its own transaction,
-- in this process or any other, so a reader that sees the same value
-- twice knows the rollup did not change in between: the store keeps an
-- in-memory copy of the rollup and reloads it only when the value moves.
CREATE TABLE generation (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
) STRICT;

INSERT INTO generation (id, gen) VALUES (1, 0);
