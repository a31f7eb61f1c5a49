CREATE TABLE strategies (
    id text PRIMARY KEY CHECK (id ~ '^strategy_[0-9a-z]{26}$'),
    owner_id text REFERENCES users (id),  -- NULL: configured by the operator, not owned by a user
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    strategy_type text NOT NULL,
    exchange text NOT NULL,
    symbol text NOT NULL,
    timeframe text NOT NULL,
    parameters jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    status text NOT NULL DEFAULT 'inactive' CHECK (status IN ('active', 'inactive')),
    capital_allocation numeric CHECK (capital_allocation > 0),
    max_positions integer CHECK (max_positions > 0),
    started_at timestamptz,
    stopped_at timestamptz,
    -- Performance figures in percent (total_return, win_rate, drawdown) and as a ratio (sharpe_ratio).
    total_return double precision,
    win_rate double precision,
    sharpe_ratio double precision,
    drawdown double precision,
    trades integer NOT NULL DEFAULT 0 CHECK (trades >= 0),
    winning_trades integer NOT NULL DEFAULT 0 CHECK (winning_trades >= 0),
    losing_trades integer NOT NULL DEFAULT 0 CHECK (losing_trades >= 0),
    -- Counters and state the strategy actor restores after an engine restart.
    state jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(state) = 'object'),
    version bigint NOT NULL DEFAULT 1,  -- optimistic concurrency: every write increments it
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz  -- deleted strategies stay for the orders and backtests that refer to them
);

CREATE INDEX strategies_owner ON strategies (owner_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX strategies_active ON strategies (status) WHERE deleted_at IS NULL AND status = 'active';
