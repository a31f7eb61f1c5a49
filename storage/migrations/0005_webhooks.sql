CREATE TABLE webhooks (
    id text PRIMARY KEY CHECK (id ~ '^webhook_[0-9a-z]{26}$'),
    owner_id text REFERENCES users (id),
    url text NOT NULL,
    -- The signing secret, AES-GCM encrypted with the storage key: deliveries need it in plain text.
    secret_sealed bytea NOT NULL,
    events text[] NOT NULL CHECK (cardinality(events) > 0),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX webhooks_owner ON webhooks (owner_id, created_at);
CREATE INDEX webhooks_events ON webhooks USING gin (events) WHERE active;

CREATE TABLE webhook_deliveries (
    id text PRIMARY KEY CHECK (id ~ '^delivery_[0-9a-z]{26}$'),
    webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event text NOT NULL,
    payload jsonb NOT NULL,
    -- pending: waits for next_attempt_at; sending: claimed by a sender until next_attempt_at (its lease);
    -- delivered and failed are final.
    status text NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    response_code integer,
    error text,
    next_attempt_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    delivered_at timestamptz,
    CHECK ((status IN ('pending', 'sending')) = (next_attempt_at IS NOT NULL))
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);
