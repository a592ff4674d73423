-- Before this release, a state stored from a piece before the end of a
-- file (a run stopped between the batches of a large catch-up: Ctrl-C, a
-- kill, an error) claimed the file's whole size. The next run took the
-- file, at that size and mtime, for read to its stored offset and skipped
-- the rest until the file grew again, which a finished session never does.
-- Such states now claim the size read so far; this gives the stored ones
-- the same, so that the next run reads every file from its offset to its
-- end once more. Records are keyed, so a tail read again (at most a torn
-- last line, for a file that was read whole) counts nothing twice.
UPDATE files SET size = "offset" WHERE "offset" < size;

-- The file states saved beside the database copy files_gen (0110).
UPDATE generation SET files_gen = random();
