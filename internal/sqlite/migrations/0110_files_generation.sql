-- files_gen counts the write transactions that changed file states, as
-- gen does for records: the file states are saved beside the database (see
-- filestates.go) so that a report on an unchanged tree decodes them instead
-- of reading every row through database/sql, and a saved copy is used only
-- at the files_gen it was taken at. A later migration that changes rows of
-- files must bump it too.
ALTER TABLE generation ADD COLUMN files_gen INTEGER NOT NULL DEFAULT 0;
