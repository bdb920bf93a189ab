-- The worker's wait computes min(available_at) over pending commands (retry backoff);
-- keep that an index lookup however long the queue grows.
CREATE INDEX IF NOT EXISTS idx_queue_pending_available
    ON noetl.queue (available_at) WHERE status = 'pending';
