-- name: create_token
INSERT INTO noetl.api_token (token_id, role, name, secret_hash)
VALUES (%(token_id)s, %(role)s, %(name)s, %(secret_hash)s)
RETURNING token_id, role, name, created_at;

-- name: revoke_token
-- Revoking twice is a no-op; the row stays, so `token list` shows when it was revoked.
UPDATE noetl.api_token SET revoked_at = COALESCE(revoked_at, now())
 WHERE token_id = %(token_id)s
RETURNING token_id, revoked_at;

-- name: list_tokens
SELECT token_id, role, name, created_at, revoked_at
  FROM noetl.api_token
 ORDER BY created_at, token_id;

-- name: live_token
-- The role and secret hash of a token that is not revoked (the gateway compares the hash).
SELECT role, secret_hash FROM noetl.api_token
 WHERE token_id = %(token_id)s AND revoked_at IS NULL;

-- name: any_live_token
SELECT EXISTS (SELECT 1 FROM noetl.api_token WHERE revoked_at IS NULL) AS any_live;
