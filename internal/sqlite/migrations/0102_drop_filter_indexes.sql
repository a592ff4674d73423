-- Every aggregate now reads the rollup (or its in-memory copy) and only
-- the partial quarter hours at the ends of a range from records, through
-- records_ts. The project and model indexes served only Records and
-- CountRecords filtered by project or model, which run rarely and are
-- fast enough on records_ts or a scan, while every ingested record paid
-- for two more random-order index inserts: about a sixth of the database
-- and a third of the index writes of a first index. records_session stays:
-- the rollup update trigger recomputes a group's bounds through it, and
-- session detail pages read a session's records.
DROP INDEX records_project;
DROP INDEX records_model;
