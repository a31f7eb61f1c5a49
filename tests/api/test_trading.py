"""Orders through the API: submit, fill, look up, cancel, list; positions and the portfolio they change.

The engine trades on paper: the simulated exchange fills against the top
of book the test publishes (bid 50000, ask 50010 unless a test sets
others), with a 0.1 % fee taken in the bought asset.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

V1 = "/api/v1"
BID, ASK = 50_000.0, 50_010.0
FEE_RATE = Decimal("0.001")


@pytest.fixture
async def market(engine):
    await engine.set_market(BID, ASK)


async def call(engine, http, method, path, headers, body=None, params=None):
    async with http.request(method, f"{engine.url}{V1}{path}", headers=headers, json=body, params=params) as response:
        return response.status, await response.json()


def order_body(**changes):
    body = {"exchange": "binance", "symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": 0.01}
    body.update(changes)
    return body


async def wait_for_status(engine, http, user, order_id, status, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _, body = await call(engine, http, "GET", f"/trade/order/{order_id}", user.key())
        if body["status"] == status or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.05)


async def test_execute_market_order_fills(engine, http, market):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/trade/execute", user.key(), order_body())
    assert status == 201
    assert body["side"] == "buy"
    assert body["type"] == "market"
    assert body["quantity"] == 0.01
    assert body["status"] in ("open", "filled")
    filled = await wait_for_status(engine, http, user, body["order_id"], "filled")
    assert filled["status"] == "filled"
    assert filled["filled"] == 0.01
    assert filled["remaining"] == 0.0
    assert filled["average_price"] == ASK


async def test_execute_limit_order_rests(engine, http, market):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/trade/execute", user.key(),
                              order_body(type="limit", price=49_000.0, time_in_force="GTC"))
    assert status == 201
    assert body["status"] == "open"
    assert body["price"] == 49_000.0
    _, listing = await call(engine, http, "GET", "/trade/orders/open", user.key())
    assert [o["order_id"] for o in listing["data"]] == [body["order_id"]]
    assert listing["pagination"] == {"total": 1, "page": 1, "limit": 10, "pages": 1}


async def test_cancel_open_order(engine, http, market):
    user = await engine.new_user()
    _, order = await call(engine, http, "POST", "/trade/execute", user.key(), order_body(type="limit", price=49_000.0))
    status, body = await call(engine, http, "DELETE", f"/trade/order/{order['order_id']}", user.key())
    assert status == 200
    assert body["order_id"] == order["order_id"]
    assert body["status"] == "canceled"
    assert body["canceled_at"].endswith("Z")
    _, listing = await call(engine, http, "GET", "/trade/orders/open", user.key())
    assert listing["data"] == []
    status, body = await call(engine, http, "DELETE", f"/trade/order/{order['order_id']}", user.key())
    assert status == 409
    assert body["error"]["details"] == {"status": "canceled"}


async def test_order_history_filters(engine, http, market):
    user = await engine.new_user()
    _, first = await call(engine, http, "POST", "/trade/execute", user.key(), order_body(type="limit", price=48_000.0))
    _, second = await call(engine, http, "POST", "/trade/execute", user.key(), order_body(type="limit", price=48_500.0))
    _, all_orders = await call(engine, http, "GET", "/trade/orders/history", user.key())
    assert [o["order_id"] for o in all_orders["data"]] == [second["order_id"], first["order_id"]]
    _, later = await call(engine, http, "GET", "/trade/orders/history", user.key(), params={"start": second["created_at"]})
    assert [o["order_id"] for o in later["data"]] == [second["order_id"]]
    _, earlier = await call(engine, http, "GET", "/trade/orders/history", user.key(), params={"end": second["created_at"]})
    assert [o["order_id"] for o in earlier["data"]] == [first["order_id"]]
    _, other_symbol = await call(engine, http, "GET", "/trade/orders/history", user.key(), params={"symbol": "ETH/USDT"})
    assert other_symbol["data"] == []


async def test_order_history_bad_time(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "GET", "/trade/orders/history", user.key(),
                              params={"start": "yesterday", "end": "2025-01-01T00:00:00"})
    assert status == 400
    assert set(body["error"]["details"]) == {"start", "end"}


async def test_execute_validation(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/trade/execute", user.key(),
                              order_body(type="limit", side="hold", quantity=-1))
    assert status == 400
    assert set(body["error"]["details"]) == {"side", "quantity", "price"}


async def test_execute_unserved_market(engine, http):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/trade/execute", user.key(), order_body(symbol="ETH/USDT"))
    assert status == 400
    assert body["error"]["details"] == {"symbol": "market not traded by this engine"}


async def test_read_key_cannot_trade(engine, http, market):
    user = await engine.new_user(permissions=("read",))
    status, body = await call(engine, http, "POST", "/trade/execute", user.key(), order_body())
    assert status == 403
    assert body["error"]["details"] == {"permission": "'trade' required"}


async def test_exchange_scoped_key(engine, http, market):
    user = await engine.new_user(exchange="kraken")
    status, body = await call(engine, http, "POST", "/trade/execute", user.key(), order_body())
    assert status == 403
    assert body["error"]["details"] == {"exchange": "key limited to kraken"}


async def test_other_users_order_not_found(engine, http, market):
    owner, other = await engine.new_user(), await engine.new_user()
    status, order = await call(engine, http, "POST", "/trade/execute", owner.key(), order_body(type="limit", price=48_200.0))
    assert status == 201, order
    assert (await call(engine, http, "GET", f"/trade/order/{order['order_id']}", other.key()))[0] == 404
    assert (await call(engine, http, "DELETE", f"/trade/order/{order['order_id']}", other.key()))[0] == 404
    _, listing = await call(engine, http, "GET", "/trade/orders/open", other.key())
    assert listing["data"] == []


async def test_kill_switch_rejects_orders(engine, http, admin, market):
    user = await engine.new_user()
    status, body = await call(engine, http, "POST", "/system/kill-switch", admin, {"engaged": True, "reason": "test"})
    assert status == 200
    assert body["engaged"] is True
    try:
        await asyncio.sleep(0.05)
        status, body = await call(engine, http, "POST", "/trade/execute", user.key(), order_body())
        assert status == 400
        assert body["error"]["code"] == "order_rejected"
        assert body["error"]["details"]["reason"] == "kill_switch"
    finally:
        await call(engine, http, "POST", "/system/kill-switch", admin, {"engaged": False})
    entries = await engine.run(lambda: engine.system.db.audit.list(action="system.kill_switch"))
    assert entries.items[0].details["engaged"] is False
    assert entries.items[1].details["engaged"] is True


async def test_kill_switch_needs_admin(engine, http):
    user = await engine.new_user()
    status, _ = await call(engine, http, "POST", "/system/kill-switch", user.bearer(), {"engaged": True})
    assert status == 403


async def test_order_submit_audited(engine, http, market):
    user = await engine.new_user()
    _, order = await call(engine, http, "POST", "/trade/execute", user.key(), order_body(type="limit", price=48_100.0))
    entries = await engine.run(lambda: engine.system.db.audit.list(action="order.submit", target_id=order["order_id"]))
    assert entries.total == 1
    assert entries.items[0].details["price"] == "48100.0"


async def test_position_and_close(engine, http, market):
    user = await engine.new_user()
    _, order = await call(engine, http, "POST", "/trade/execute", user.key(), order_body(quantity=0.02))
    await wait_for_status(engine, http, user, order["order_id"], "filled")
    position_quantity = Decimal("0.02") * (1 - FEE_RATE)  # the buy's fee is taken in BTC
    _, positions = await call(engine, http, "GET", "/portfolio/positions", user.key())
    assert len(positions["data"]) == 1
    position = positions["data"][0]
    mid = (Decimal(str(BID)) + Decimal(str(ASK))) / 2
    assert position["side"] == "long"
    assert Decimal(str(position["quantity"])) == position_quantity
    assert position["entry_price"] == ASK
    assert position["current_price"] == float(mid)
    assert Decimal(str(position["unrealized_pnl"])) == (mid - Decimal(str(ASK))) * position_quantity

    status, closed = await call(engine, http, "POST", f"/portfolio/positions/{position['position_id']}/close", user.key())
    assert status == 200
    assert closed["status"] == "closed"
    assert closed["close_price"] == BID
    expected_pnl = (Decimal(str(BID)) - Decimal(str(ASK))) * position_quantity
    assert Decimal(str(closed["realized_pnl"])) == expected_pnl
    assert closed["realized_pnl_percent"] == pytest.approx(float(expected_pnl / (Decimal(str(ASK)) * position_quantity) * 100))
    _, positions = await call(engine, http, "GET", "/portfolio/positions", user.key())
    assert positions["data"] == []


async def test_close_other_users_position_not_found(engine, http, market):
    owner, other = await engine.new_user(), await engine.new_user()
    _, order = await call(engine, http, "POST", "/trade/execute", owner.key(), order_body())
    await wait_for_status(engine, http, owner, order["order_id"], "filled")
    _, positions = await call(engine, http, "GET", "/portfolio/positions", owner.key())
    position_id = positions["data"][0]["position_id"]
    status, _ = await call(engine, http, "POST", f"/portfolio/positions/{position_id}/close", other.key())
    assert status == 404
    await call(engine, http, "POST", f"/portfolio/positions/{position_id}/close", owner.key())


async def test_portfolio_values_assets(engine, http, market):
    user = await engine.new_user()
    status, body = await call(engine, http, "GET", "/portfolio", user.key())
    assert status == 200
    assert body["base_currency"] == "USDT"
    mid = (BID + ASK) / 2
    assets = {a["asset"]: a for a in body["assets"]}
    for asset in assets.values():
        assert asset["total"] == pytest.approx(asset["free"] + asset["used"])
    expected = {"USDT": assets["USDT"]["total"]}
    if "BTC" in assets:
        expected["BTC"] = assets["BTC"]["total"] * mid
    for name, value in expected.items():
        assert assets[name]["value_usd"] == pytest.approx(value)
    assert body["total_value"] == pytest.approx(sum(expected.values()))
    assert set(body["performance"]) == {"daily_change", "weekly_change", "monthly_change", "yearly_change"}
