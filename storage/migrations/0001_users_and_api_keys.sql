-- Key-value facts about this database, e.g. the check value of the storage secret key.
CREATE TABLE storage_meta (
    name text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id text PRIMARY KEY CHECK (id ~ '^user_[0-9a-z]{26}$'),
    username text NOT NULL CHECK (username ~ '^[A-Za-z0-9._@-]{3,64}$'),
    password_hash text NOT NULL,
    roles text[] NOT NULL CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['user', 'trader', 'admin']),
    is_active boolean NOT NULL DEFAULT true,
    failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until timestamptz,
    last_login_at timestamptz,
    password_changed_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Usernames are unique regardless of case: "Alice" and "alice" are one user.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE api_keys (
    id text PRIMARY KEY CHECK (id ~ '^key_[0-9a-z]{26}$'),
    owner_id text NOT NULL REFERENCES users (id),
    -- HMAC-SHA256 of the key under the server pepper; the key itself is never stored.
    key_hash bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    description text NOT NULL DEFAULT '',
    exchange text,  -- NULL: valid on every exchange
    is_test boolean NOT NULL DEFAULT false,
    permissions text[] NOT NULL CHECK (permissions <@ ARRAY['read', 'trade', 'admin']),
    status text NOT NULL CHECK (status IN ('active', 'rotating', 'revoked', 'compromised', 'expired')),
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    previous_key_id text REFERENCES api_keys (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    revoke_reason text,
    grace_ends_at timestamptz,  -- a rotating key stops working at this time
    last_used_at timestamptz,
    -- An automatically rotated key, AES-GCM encrypted for its owner until claimed once.
    sealed_key bytea,
    CHECK (status <> 'rotating' OR grace_ends_at IS NOT NULL)
);

CREATE INDEX api_keys_owner ON api_keys (owner_id, created_at);
-- A key has at most one successor, even when two rotations race.
CREATE UNIQUE INDEX api_keys_one_successor ON api_keys (previous_key_id) WHERE previous_key_id IS NOT NULL;
CREATE INDEX api_keys_live ON api_keys (status, expires_at) WHERE status IN ('active', 'rotating');
