-- Account value over time, sampled by the portfolio, for the daily, weekly,
-- monthly and yearly change the API reports.
CREATE TABLE equity_snapshots (
    account text NOT NULL,
    at timestamptz NOT NULL,
    equity numeric NOT NULL,
    currency text NOT NULL,
    PRIMARY KEY (account, at)
);
