CREATE TABLE orders (
    id text PRIMARY KEY CHECK (id ~ '^order_[0-9a-z]{26}$'),
    client_order_id text NOT NULL CHECK (char_length(client_order_id) BETWEEN 1 AND 64),
    owner_id text REFERENCES users (id),
    strategy_id text REFERENCES strategies (id),
    exchange text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    type text NOT NULL CHECK (type IN ('market', 'limit', 'stop', 'stop_limit')),
    quantity numeric NOT NULL CHECK (quantity > 0),
    price numeric CHECK (price > 0),
    stop_price numeric CHECK (stop_price > 0),
    time_in_force text NOT NULL CHECK (time_in_force IN ('GTC', 'IOC', 'FOK')),
    post_only boolean NOT NULL DEFAULT false,
    reduce_only boolean NOT NULL DEFAULT false,
    status text NOT NULL CHECK (status IN ('new', 'open', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')),
    filled numeric NOT NULL DEFAULT 0 CHECK (filled >= 0 AND filled <= quantity),
    average_price numeric CHECK (average_price > 0),
    filled_value numeric NOT NULL DEFAULT 0 CHECK (filled_value >= 0),  -- sum of price * quantity of the fills
    fee numeric NOT NULL DEFAULT 0,  -- negative for maker rebates
    exchange_order_id text,
    reject_reason text,
    tags jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- Submitting the same client_order_id twice is one order (idempotent submission).
    CONSTRAINT orders_client_order_id_key UNIQUE NULLS NOT DISTINCT (owner_id, exchange, client_order_id)
);

CREATE INDEX orders_open ON orders (exchange, symbol) WHERE status IN ('new', 'open', 'partially_filled');
CREATE INDEX orders_owner_created ON orders (owner_id, created_at DESC);
CREATE INDEX orders_strategy_created ON orders (strategy_id, created_at DESC);
CREATE INDEX orders_created ON orders (created_at DESC);
CREATE UNIQUE INDEX orders_exchange_order_id ON orders (exchange, exchange_order_id) WHERE exchange_order_id IS NOT NULL;

CREATE TABLE fills (
    id text PRIMARY KEY CHECK (id ~ '^fill_[0-9a-z]{26}$'),
    order_id text NOT NULL REFERENCES orders (id),
    strategy_id text REFERENCES strategies (id),
    exchange text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    price numeric NOT NULL CHECK (price > 0),
    quantity numeric NOT NULL CHECK (quantity > 0),
    fee numeric NOT NULL,
    fee_asset text NOT NULL,
    liquidity text NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    ts_event timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL
);

CREATE INDEX fills_order ON fills (order_id, ts_event);
CREATE INDEX fills_strategy ON fills (strategy_id, ts_event);

CREATE TABLE positions (
    id text PRIMARY KEY CHECK (id ~ '^position_[0-9a-z]{26}$'),
    owner_id text REFERENCES users (id),
    strategy_id text REFERENCES strategies (id),
    exchange text NOT NULL,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('long', 'short')),
    quantity numeric NOT NULL CHECK (quantity >= 0),  -- still open
    entry_price numeric NOT NULL CHECK (entry_price > 0),  -- average price of the open quantity (entry_cost / quantity, 12 decimals)
    entry_cost numeric NOT NULL DEFAULT 0 CHECK (entry_cost >= 0),  -- entry value of the open quantity, exact for additions
    realized_pnl numeric NOT NULL DEFAULT 0,  -- in the quote currency, before fees
    fees numeric NOT NULL DEFAULT 0,  -- fees charged in the quote currency
    closed_quantity numeric NOT NULL DEFAULT 0 CHECK (closed_quantity >= 0),
    closed_cost numeric NOT NULL DEFAULT 0 CHECK (closed_cost >= 0),  -- entry value of the closed quantity
    exit_price numeric CHECK (exit_price > 0),  -- average price of the closing fills (exit_value / closed_quantity)
    exit_value numeric NOT NULL DEFAULT 0 CHECK (exit_value >= 0),  -- sum of price * quantity of the closing fills
    dust numeric NOT NULL DEFAULT 0 CHECK (dust >= 0),  -- quantity written off as too small to sell when closed
    status text NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    updated_at timestamptz NOT NULL,
    CHECK ((status = 'open') = (quantity > 0)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- One open position per owner, strategy, exchange and symbol.
CREATE UNIQUE INDEX positions_one_open ON positions (owner_id, strategy_id, exchange, symbol) NULLS NOT DISTINCT
    WHERE status = 'open';
CREATE INDEX positions_strategy ON positions (strategy_id, opened_at DESC);
CREATE INDEX positions_owner ON positions (owner_id, opened_at DESC);

-- Balances of the paper (simulated) accounts, one row per account and asset.
CREATE TABLE balances (
    account text NOT NULL,
    asset text NOT NULL,
    free numeric NOT NULL CHECK (free >= 0),
    used numeric NOT NULL CHECK (used >= 0),
    total numeric GENERATED ALWAYS AS (free + used) STORED,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account, asset)
);
