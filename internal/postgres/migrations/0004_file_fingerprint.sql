-- The hash of the bytes just before a file's stored offset, so that a
-- file rewritten in place (same inode, same or larger size) is noticed
-- and read again. NULL, as in rows of earlier releases, means unknown:
-- the ingester then falls back to its newline check.
ALTER TABLE files ADD COLUMN fingerprint bigint;
