-- The in-memory rollup is saved beside the database, in a file (see
-- snapshot.go), for the next process at the same generation: each
-- process used to rebuild it from every rollup row through database/sql,
-- about 2.4 µs a row, most of the time of a report on an unchanged tree.
-- instance names this database, so that a saved copy is never taken for
-- the rollup of another database later created at the same path, whose
-- generation counts from 0 again.
ALTER TABLE generation ADD COLUMN instance BLOB NOT NULL DEFAULT x'';
UPDATE generation SET instance = randomblob(16);
