import asyncio
from decimal import Decimal

import pytest

from cryptobot.core.errors import InsufficientFunds, NotFound, ValidationError

D = Decimal


async def test_balance_seed_creates_missing_assets_only(db):
    created = await db.balances.seed("paper", {"USDT": 100000, "BTC": "0.5"})
    assert sorted(b.asset for b in created) == ["BTC", "USDT"]
    await db.balances.adjust("paper", "USDT", free_delta=-1000)
    again = await db.balances.seed("paper", {"USDT": 100000, "ETH": 5})
    assert [b.asset for b in again] == ["ETH"]
    assert (await db.balances.get("paper", "USDT")).free == D("99000")


async def test_balance_reserve_moves_free_to_used(db):
    await db.balances.seed("paper", {"BTC": "0.6"})
    balance = await db.balances.adjust("paper", "BTC", free_delta="-0.1", used_delta="0.1")
    assert (balance.free, balance.used, balance.total) == (D("0.5"), D("0.1"), D("0.6"))


async def test_balance_overdraft_refused_and_unchanged(db):
    await db.balances.seed("paper", {"USDT": 10})
    with pytest.raises(InsufficientFunds, match="Cannot change USDT balance of paper: free 10 \\+ \\(-10.5\\)"):
        await db.balances.adjust("paper", "USDT", free_delta="-10.5")
    assert (await db.balances.get("paper", "USDT")).free == D("10")


async def test_balance_adjust_creates_row_for_credit(db):
    balance = await db.balances.adjust("paper", "ETH", free_delta="2.5")
    assert (balance.free, balance.used) == (D("2.5"), D("0"))


async def test_balance_debit_of_missing_asset_refused(db):
    with pytest.raises(InsufficientFunds, match="free 0 \\+ \\(-1\\)"):
        await db.balances.adjust("paper", "DOGE", free_delta=-1)
    with pytest.raises(NotFound, match="no DOGE balance in account paper"):
        await db.balances.get("paper", "DOGE")


async def test_balance_concurrent_adjustments_all_count(db, open_store):
    other = await open_store()
    await db.balances.seed("paper", {"USDT": 1000})
    deltas = [D("1.5"), D("-2.25")] * 10
    await asyncio.gather(*(store.balances.adjust("paper", "USDT", free_delta=d) for store, d in zip([db, other] * 10, deltas)))
    # 1000 + 10 * 1.5 - 10 * 2.25 = 992.5
    assert (await db.balances.get("paper", "USDT")).free == D("992.50")


async def test_balance_concurrent_first_credits_all_count(db, open_store):
    other = await open_store()
    await asyncio.gather(*(store.balances.adjust("paper", "SOL", free_delta=1) for store in [db, other] * 5))
    assert (await db.balances.get("paper", "SOL")).free == D("10")


async def test_balance_list_by_asset(db):
    await db.balances.seed("paper", {"USDT": 1, "BTC": 2, "ETH": 3})
    await db.balances.seed("other", {"BTC": 9})
    assert [(b.asset, b.total) for b in await db.balances.list("paper")] == [("BTC", D(2)), ("ETH", D(3)), ("USDT", D(1))]


async def test_balance_rejects_malformed_names(db):
    for account, asset, message in [("Paper!", "USDT", "'account' must be 1 to 64 of"),
                                    ("paper", "usdt", "'asset' must be an upper-case asset code")]:
        with pytest.raises(ValidationError, match=message):
            await db.balances.adjust(account, asset, free_delta=1)
