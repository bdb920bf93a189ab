-- name: claim_idempotency_key
-- The first request with this key claims it; a concurrent duplicate waits on the key's
-- index entry until the first commits, then finds it taken.
INSERT INTO noetl.idempotency (key, response, status_code, request_hash)
VALUES (%(key)s, '{}'::jsonb, 0, %(request_hash)s)
ON CONFLICT (key) DO NOTHING
RETURNING key;

-- name: save_idempotent_answer
-- The answer a retry with this key will get.
UPDATE noetl.idempotency
   SET response = %(response)s, status_code = %(status_code)s
 WHERE key = %(key)s;

-- name: find_idempotent_answer
-- The stored answer of an earlier request with this key.
SELECT response, status_code, request_hash FROM noetl.idempotency WHERE key = %(key)s;
