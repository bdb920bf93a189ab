-- API tokens with roles (docs/security.md). Only a SHA-256 of each secret is kept; the
-- secret is shown once, when `noetl-pg token create` makes it.
CREATE TABLE noetl.api_token (
    token_id    text PRIMARY KEY,
    role        text NOT NULL CHECK (role IN ('admin', 'client', 'worker', 'reader')),
    name        text NOT NULL DEFAULT '',
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE INDEX api_token_live ON noetl.api_token (token_id) WHERE revoked_at IS NULL;
