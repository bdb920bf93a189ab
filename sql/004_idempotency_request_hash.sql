-- An Idempotency-Key names one request. Remember a fingerprint of the request that first
-- used it, so that the key reused for a different request is refused rather than answered
-- with the first request's answer. Keys stored before this column exist match anything.
ALTER TABLE noetl.idempotency ADD COLUMN request_hash TEXT;
