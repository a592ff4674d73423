-- Transcript records are no longer merged by request id: one request id can
-- carry more than one message id, and each (message.id, requestId) pair is
-- its own response. A telemetry record (key otel:<request id>) is instead
-- deleted when a transcript record with its request id is stored; the
-- request_id index finds them.
ALTER TABLE records DROP COLUMN response_key;
CREATE INDEX records_request ON records (request_id) WHERE request_id <> '';
