CREATE TABLE backtests (
    id text PRIMARY KEY CHECK (id ~ '^backtest_[0-9a-z]{26}$'),
    strategy_id text NOT NULL REFERENCES strategies (id),
    owner_id text REFERENCES users (id),
    status text NOT NULL CHECK (status IN ('created', 'running', 'completed', 'failed', 'cancelled')),
    progress double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),  -- percent
    parameters jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    start_date timestamptz NOT NULL,
    end_date timestamptz NOT NULL,
    initial_capital numeric NOT NULL CHECK (initial_capital > 0),
    error text,
    results jsonb CHECK (results IS NULL OR jsonb_typeof(results) = 'object'),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,  -- when it completed, failed or was cancelled
    estimated_completion_at timestamptz,
    CHECK (end_date > start_date),
    CHECK (status <> 'completed' OR results IS NOT NULL)
);

CREATE INDEX backtests_owner ON backtests (owner_id, created_at DESC);
CREATE INDEX backtests_strategy ON backtests (strategy_id, created_at DESC);
CREATE INDEX backtests_unfinished ON backtests (created_at) WHERE status IN ('created', 'running');
