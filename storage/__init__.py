"""Stores: PostgreSQL (asyncpg) for state, ClickHouse (clickhouse-connect) for ticks and candles."""
