"""State-store cost per call against the embedded PostgreSQL, next to plain asyncpg.

Each group pairs a repository call with the bare SQL it boils down to, run
on the same server and pool, so the ratio of the two is the cost of
validation, row mapping and locking.  Run it by path::

    .venv/bin/python -m pytest benchmarks/bench_state.py --benchmark-only -p no:randomly
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import uvloop

from cryptobot.core.config import load_settings
from cryptobot.core.ids import new_id
from cryptobot.core.orders import Fill, Order
from cryptobot.storage import Database
from cryptobot.storage.testing import FAST_PASSWORDS

ROUNDS = 300


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    loop = uvloop.new_event_loop()
    settings = load_settings(environ={}, data_dir=str(tmp_path_factory.mktemp("bench")))
    db = loop.run_until_complete(Database.open(settings, passwords=FAST_PASSWORDS))
    owner = loop.run_until_complete(db.users.create("bench", "correct horse"))
    yield loop, db, owner
    loop.run_until_complete(db.close())
    loop.close()


def _order(owner_id: str) -> Order:
    return Order(new_id("order"), new_id("order")[-20:], None, "binance", "BTC/USDT", "buy", "limit", Decimal("0.1"),
                 price=Decimal("50000"), owner_id=owner_id)


@pytest.mark.benchmark(group="order insert")
def test_bench_order_insert_repository(benchmark, store):
    loop, db, owner = store
    benchmark.pedantic(lambda: loop.run_until_complete(db.orders.insert(_order(owner.id))), rounds=ROUNDS)


@pytest.mark.benchmark(group="order insert")
def test_bench_order_insert_plain_asyncpg(benchmark, store):
    loop, db, owner = store

    async def insert():
        order = _order(owner.id)
        async with db.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO orders (id, client_order_id, owner_id, exchange, symbol, side, type, quantity, price,
                                       time_in_force, status, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'GTC', 'new', $10, $10)""",
                order.order_id, order.client_order_id, order.owner_id, order.exchange, order.symbol, order.side, order.type,
                order.quantity, order.price, time.time_ns(),
            )

    benchmark.pedantic(lambda: loop.run_until_complete(insert()), rounds=ROUNDS)


@pytest.mark.benchmark(group="fill")
def test_bench_record_fill_repository(benchmark, store):
    # One fill per order: lock the order, run the state machine, insert the
    # fill, update the order and the position, in one transaction.
    loop, db, owner = store

    def setup():
        stored, _ = loop.run_until_complete(db.orders.insert(_order(owner.id)))
        fill = Fill(new_id("fill"), stored.order_id, None, "", "", "", Decimal("50000"), Decimal("0.1"), Decimal("0.5"), "USDT",
                    "taker", time.time_ns())
        return (fill,), {}

    benchmark.pedantic(lambda fill: loop.run_until_complete(db.orders.record_fill(fill)), setup=setup, rounds=ROUNDS)


@pytest.mark.benchmark(group="fill")
def test_bench_record_fill_plain_asyncpg(benchmark, store):
    # The same writes without locks or checks: insert the fill, update the order.
    loop, db, owner = store

    def setup():
        stored, _ = loop.run_until_complete(db.orders.insert(_order(owner.id)))
        return (stored.order_id,), {}

    async def write(order_id):
        async with db.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO fills (id, order_id, exchange, symbol, side, price, quantity, fee, fee_asset, liquidity,
                                      ts_event, recorded_at)
                   VALUES ($1, $2, 'binance', 'BTC/USDT', 'buy', 50000, 0.1, 0.5, 'USDT', 'taker', $3, $3)""",
                new_id("fill"), order_id, time.time_ns(),
            )
            await conn.execute("UPDATE orders SET status = 'filled', filled = 0.1, average_price = 50000 WHERE id = $1", order_id)

    benchmark.pedantic(lambda order_id: loop.run_until_complete(write(order_id)), setup=setup, rounds=ROUNDS)


@pytest.fixture(scope="module")
def issued_key(store):
    loop, db, owner = store
    return loop.run_until_complete(db.api_keys.create(owner.id))


@pytest.mark.benchmark(group="api key lookup")
def test_bench_api_key_authenticate(benchmark, store, issued_key):
    loop, db, _ = store
    benchmark.pedantic(lambda: loop.run_until_complete(db.api_keys.authenticate(issued_key.key)), rounds=ROUNDS)


@pytest.mark.benchmark(group="api key lookup")
def test_bench_api_key_plain_select(benchmark, store, issued_key):
    loop, db, _ = store
    digest = db._ctx.keyring.hash_api_key(issued_key.key)

    async def select():
        async with db.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM api_keys WHERE key_hash = $1", digest)

    benchmark.pedantic(lambda: loop.run_until_complete(select()), rounds=ROUNDS)
