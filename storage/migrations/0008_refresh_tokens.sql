-- Refresh tokens of the API's JWT login.  Only a SHA-256 digest of each token is kept.
-- Every token descends from one login: the login starts a family, and each refresh
-- marks the presented token used and issues its successor in the same family.  A used
-- token presented again means a copy leaked, so the whole family is revoked.
CREATE TABLE refresh_tokens (
    id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),  -- the token's jti claim
    family_id text NOT NULL CHECK (family_id ~ '^[0-9a-f]{32}$'),
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,  -- exchanged for its successor
    revoked_at timestamptz,  -- the family was revoked (reuse detected or logout)
    CHECK (expires_at > issued_at)
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id, issued_at);
-- Lets a cleanup job find expired tokens without a full scan.
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
