-- Before this release, a state stored from a piece before the end of a
-- file (a run stopped between the batches of a large catch-up) claimed the
-- file's whole size, and later runs skipped the rest of the file until it
-- grew again. Such states now claim the size read so far; this gives the
-- stored ones the same, so that the next run reads each file from its
-- offset to its end once more. Records are keyed: nothing counts twice.
UPDATE files SET size = "offset" WHERE "offset" < size;
