"""The simulated exchange: fills paper and backtest orders by one set of rules.

Market data drives it.  An order reaches the simulated venue ``latency_ns``
after it was created, and is processed on the first market event at or
after that time, against the prices of that event: an order never fills on
information from before it could have arrived, nor on the event that made a
strategy send it.

Rules, by the data available for the symbol:

book (``on_book``)
    A market order walks the ask (buy) or bid (sell) levels of the latest
    book top; liquidity taken is remembered until the next book update, so
    two orders cannot take the same level twice.  A marketable limit order
    takes levels up to its price, then rests (GTC), expires (IOC), or, for
    FOK, fills completely or not at all.  A post-only order that would take
    liquidity is rejected.
trades (``on_trade``)
    A resting buy limit fills when a trade prints strictly below its price
    (a sell limit: strictly above), at the limit price, as maker, for at
    most the trade's size: a smaller trade fills it partially.  With no
    book for the symbol, market orders fill at the last trade price moved
    against the order by ``slippage_bps``.
bars (``on_bar``)
    Market orders fill at the bar's open moved by ``slippage_bps``; a buy
    limit fills when the bar's low goes below its price, at the lower of
    the open and the limit; stops trigger on the bar's range.

Stops trigger when a trade (or a bar's range) reaches the stop price, then
behave as a market (``stop``) or limit (``stop_limit``) order.

Fees: ``maker_fee``/``taker_fee`` are rates.  With ``fee_mode="received"``
the fee is taken from the asset received (the base asset on a buy, the
quote asset on a sell, as on Binance spot); with ``"quote"`` always in the
quote asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from cryptobot.core.errors import InsufficientFunds
from cryptobot.core.instruments import Instrument, to_decimal
from cryptobot.core.messages import BookTop
from cryptobot.core.orders import Order
from cryptobot.core.types import Bar, TradeTick
from cryptobot.gateways.base import ACCEPTED, CANCELED, EXPIRED, FILL, REJECTED, Balance, ExecutionReport, Listener
from cryptobot.gateways.sim_account import SimulatedAccount

ZERO = Decimal(0)
BPS = Decimal("0.0001")


@dataclass(slots=True)
class _Working:
    order_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    remaining: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    post_only: bool
    active_at: int
    triggered: bool = False
    reserved: Decimal = ZERO
    reserve_asset: str = ""


class SimulatedExchange:
    """A deterministic exchange for paper trading and backtests.

    Parameters
    ----------
    exchange
        The venue it stands in for (``binance``); reports carry its name.
    instruments
        Unified symbol to instrument; orders for other symbols are rejected.
    account
        Balances the orders are paid from.
    maker_fee, taker_fee
        Fee rates as Decimal (0.001 = 0.1 %).
    latency_ns
        Time from order creation to arrival at the venue (and for cancels).
    slippage_bps
        Adverse price move applied to market fills without a book.
    fee_mode
        ``received`` or ``quote``, see the module docstring.
    """

    def __init__(self, exchange: str, instruments: dict[str, Instrument], account: SimulatedAccount, *,
                 maker_fee: Decimal = Decimal("0.001"), taker_fee: Decimal = Decimal("0.001"), latency_ns: int = 0,
                 slippage_bps: Decimal = ZERO, fee_mode: str = "received"):
        if fee_mode not in ("received", "quote"):
            raise ValueError(f"'fee_mode' must be 'received' or 'quote', was {fee_mode!r}")
        if latency_ns < 0:
            raise ValueError(f"'latency_ns' must be >= 0, was {latency_ns}")
        self.exchange = exchange
        self.instruments = dict(instruments)
        self.account = account
        self.maker_fee = Decimal(maker_fee)
        self.taker_fee = Decimal(taker_fee)
        self.latency_ns = latency_ns
        self.slippage = Decimal(slippage_bps) * BPS
        self.fee_mode = fee_mode
        self.now = 0
        self._listener: Listener = lambda report: None
        self._pending: list[_Working] = []
        self._cancels: list[tuple[int, str]] = []
        self._resting: dict[str, list[_Working]] = {}
        self._books: dict[str, BookTop] = {}
        self._taken: dict[str, dict[float, float]] = {}
        self._last_trade: dict[str, Decimal] = {}
        self._sequence = 0

    # -- gateway interface ----------------------------------------------

    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    async def load_instruments(self) -> dict[str, Instrument]:
        return dict(self.instruments)

    async def submit(self, order: Order) -> None:
        self.submit_now(order)

    async def cancel(self, order: Order) -> None:
        self.cancel_now(order.order_id, order.updated_at or self.now)

    async def fetch_order(self, order: Order) -> ExecutionReport | None:
        return None

    async def fetch_balances(self) -> dict[str, Balance]:
        return self.account.balances()

    async def close(self) -> None:
        return None

    # -- orders -----------------------------------------------------------

    def submit_now(self, order: Order) -> None:
        """Queue ``order`` to arrive ``latency_ns`` after it was sent.

        "Sent" is measured on the market-data clock: the time of the latest
        event this exchange has seen, which is when a strategy reacting to
        that event decided.  A replay faster or slower than real time (or an
        exchange clock apart from ours) then keeps the same latency; before
        any event the order's creation time is used.
        """
        sent = self._sent_at(order.created_at)
        if order.symbol not in self.instruments:
            self._report(REJECTED, order.order_id, sent, reason=f"unknown symbol {order.symbol}")
            return
        self._pending.append(_Working(
            order.order_id, order.symbol, order.side, order.type, order.quantity, order.quantity, order.price,
            order.stop_price, order.time_in_force, order.post_only, sent + self.latency_ns,
        ))

    def _sent_at(self, ts_ns: int) -> int:
        return self.now if self.now else ts_ns

    def restore(self, order: Order) -> None:
        """Put back an order that was open before a restart, without reporting it accepted again.

        Its funds are reserved anew (the caller starts from balances with
        nothing reserved); an order the account can no longer pay for is
        reported rejected.
        """
        working = _Working(
            order.order_id, order.symbol, order.side, order.type, order.quantity, order.remaining, order.price,
            order.stop_price, order.time_in_force, order.post_only, self.now,
        )
        instrument = self.instruments.get(order.symbol)
        if instrument is None:
            self._report(CANCELED, order.order_id, self.now, reason=f"unknown symbol {order.symbol} after restart")
            return
        if order.side == "sell":
            asset, amount = instrument.base, order.remaining
        else:
            asset, amount = instrument.quote, order.remaining * (order.price or order.stop_price or ZERO) * (1 + self.taker_fee)
        try:
            self.account.reserve(asset, amount)
        except InsufficientFunds as exc:
            self._report(CANCELED, order.order_id, self.now, reason=exc.message)
            return
        working.reserve_asset, working.reserved = asset, amount
        self._resting.setdefault(order.symbol, []).append(working)

    def cancel_now(self, order_id: str, ts_ns: int) -> None:
        """Queue a cancel to arrive ``latency_ns`` after it was sent (on the market-data clock, as orders)."""
        self._cancels.append((self._sent_at(ts_ns) + self.latency_ns, order_id))

    def wake_conditions(self, symbol: str) -> tuple[int | None, float, float, float, float]:
        """Return when the next market event in ``symbol`` can change an order, for a replay loop.

        The tuple is (time at or after which a queued order or cancel is
        due, or None; highest resting buy limit; lowest resting sell limit;
        lowest buy stop; highest sell stop), with -inf or +inf where there
        is no such order.  A trade that is before the due time, not
        strictly through a limit and not at or through a stop changes
        nothing here, so a backtest may skip calling :meth:`on_trade` for it.
        """
        due = [w.active_at for w in self._pending if w.symbol == symbol]
        due.extend(ts for ts, _ in self._cancels)
        buy_limit, sell_limit = float("-inf"), float("inf")
        buy_stop, sell_stop = float("inf"), float("-inf")
        for working in self._resting.get(symbol, ()):
            if working.type in ("stop", "stop_limit") and not working.triggered:
                stop = float(working.stop_price)
                if working.side == "buy":
                    buy_stop = min(buy_stop, stop)
                else:
                    sell_stop = max(sell_stop, stop)
            elif working.price is not None:
                if working.side == "buy":
                    buy_limit = max(buy_limit, float(working.price))
                else:
                    sell_limit = min(sell_limit, float(working.price))
        return (min(due) if due else None), buy_limit, sell_limit, buy_stop, sell_stop

    def open_order_ids(self) -> list[str]:
        ids = [w.order_id for w in self._pending]
        for orders in self._resting.values():
            ids.extend(w.order_id for w in orders)
        return ids

    # -- market data ------------------------------------------------------

    def on_book(self, top: BookTop) -> None:
        self._advance(top.ts_event)
        self._books[top.symbol] = top
        self._taken[top.symbol] = {}
        self._arrive(top.symbol, top.ts_event)

    def on_trade(self, trade: TradeTick) -> None:
        self._advance(trade.ts_event)
        price = to_decimal(trade.price, "price")
        self._last_trade[trade.symbol] = price
        self._arrive(trade.symbol, trade.ts_event)
        self._trade_crosses(trade.symbol, price, to_decimal(trade.quantity, "quantity"), trade.ts_event)

    def on_bar(self, bar: Bar) -> None:
        self._advance(bar.ts_open)
        open_ = to_decimal(bar.open, "open")
        self._last_trade[bar.symbol] = open_
        self._arrive(bar.symbol, bar.ts_open, bar_open=open_)
        self._bar_crosses(bar, open_)
        self._last_trade[bar.symbol] = to_decimal(bar.close, "close")

    def observe(self, ts: int) -> None:
        """Note that market time reached ``ts`` on an event this exchange was not shown (a replay skipping idle trades)."""
        self._advance(ts)

    def _advance(self, ts: int) -> None:
        if ts > self.now:
            self.now = ts
        if self._cancels:
            due = [c for c in self._cancels if c[0] <= self.now]
            if due:
                self._cancels = [c for c in self._cancels if c[0] > self.now]
                for _, order_id in due:
                    self._cancel_working(order_id)

    def _cancel_working(self, order_id: str) -> None:
        for collection in (self._pending, *self._resting.values()):
            for working in collection:
                if working.order_id == order_id:
                    collection.remove(working)
                    self._release(working)
                    self._report(CANCELED, order_id, self.now)
                    return

    def _arrive(self, symbol: str, ts: int, bar_open: Decimal | None = None) -> None:
        if not self._pending:
            return
        due = [w for w in self._pending if w.symbol == symbol and w.active_at <= ts]
        if not due:
            return
        self._pending = [w for w in self._pending if not (w.symbol == symbol and w.active_at <= ts)]
        for working in due:
            if not self._reserve(working, bar_open):
                continue
            self._report(ACCEPTED, working.order_id, ts, exchange_order_id=f"sim-{working.order_id}")
            if working.type in ("stop", "stop_limit"):
                self._resting.setdefault(symbol, []).append(working)
            else:
                self._execute(working, ts, bar_open)

    # -- funds --------------------------------------------------------------

    def _reference_price(self, working: _Working, bar_open: Decimal | None) -> Decimal | None:
        if working.price is not None:
            return working.price
        if working.stop_price is not None and working.type == "stop":
            return working.stop_price
        if bar_open is not None:
            return bar_open
        top = self._books.get(working.symbol)
        if top is not None:
            return to_decimal(top.ask if working.side == "buy" else top.bid, "price")
        return self._last_trade.get(working.symbol)

    def _reserve(self, working: _Working, bar_open: Decimal | None) -> bool:
        instrument = self.instruments[working.symbol]
        if working.side == "sell":
            asset, amount = instrument.base, working.quantity
        else:
            price = self._reference_price(working, bar_open)
            if price is None:
                self._report(REJECTED, working.order_id, self.now, reason="no market price to value the order")
                return False
            if working.price is None and bar_open is None and working.symbol in self._books:
                # A market buy may walk the book: keep a margin for slippage and fees.
                margin = Decimal("1.05")
            elif working.price is None:
                # Without a book it fills at exactly this price moved by the slippage.
                margin = (Decimal(1) + self.slippage) * (Decimal(1) + self.taker_fee)
            else:
                margin = Decimal(1) + self.taker_fee
            asset, amount = instrument.quote, working.quantity * price * margin
        try:
            self.account.reserve(asset, amount)
        except InsufficientFunds as exc:
            self._report(REJECTED, working.order_id, self.now, reason=exc.message)
            return False
        working.reserve_asset, working.reserved = asset, amount
        return True

    def _release(self, working: _Working) -> None:
        if working.reserved > 0:
            self.account.release(working.reserve_asset, working.reserved)
            working.reserved = ZERO

    # -- matching -------------------------------------------------------------

    def _execute(self, working: _Working, ts: int, bar_open: Decimal | None) -> None:
        """Match an arriving (or just triggered) order; rest, expire or finish it."""
        top = self._books.get(working.symbol)
        limit = working.price if working.type in ("limit", "stop_limit") else None
        if bar_open is not None or top is None:
            price = bar_open if bar_open is not None else self._last_trade.get(working.symbol)
            levels = [] if price is None else [(self._slipped(price, working.side, limit is None), None)]
        else:
            levels = self._book_levels(top, working.side)
        available = self._available(levels, limit, working.remaining, working.side)
        if working.post_only and available > 0:
            self._finish(working, REJECTED, ts, reason="post-only order would take liquidity")
            return
        if working.time_in_force == "FOK" and available < working.remaining:
            self._finish(working, EXPIRED, ts, reason="fill-or-kill order could not fill completely")
            return
        for price, size in levels:
            if working.remaining <= 0:
                break
            if limit is not None and not self._within(price, limit, working.side):
                break
            quantity = working.remaining if size is None else min(working.remaining, size)
            if quantity <= 0:
                continue
            if size is not None:
                self._take(working.symbol, price, quantity)
            self._fill(working, quantity, price, maker=False, ts=ts)
        if working.remaining <= 0:
            self._release(working)
            return
        if limit is None or working.time_in_force == "IOC":
            reason = "no liquidity left" if limit is None else "immediate-or-cancel remainder"
            self._finish(working, EXPIRED, ts, reason=reason)
            return
        self._resting.setdefault(working.symbol, []).append(working)

    def _book_levels(self, top: BookTop, side: str) -> list[tuple[Decimal, Decimal]]:
        rows = top.asks if side == "buy" else top.bids
        taken = self._taken.get(top.symbol, {})
        levels = []
        for price, size in rows:
            left = size - taken.get(float(price), 0.0)
            if left > 0:
                levels.append((to_decimal(float(price), "price"), to_decimal(float(left), "size")))
        return levels

    def _take(self, symbol: str, price: Decimal, quantity: Decimal) -> None:
        taken = self._taken.setdefault(symbol, {})
        key = float(price)
        taken[key] = taken.get(key, 0.0) + float(quantity)

    @staticmethod
    def _within(price: Decimal, limit: Decimal, side: str) -> bool:
        return price <= limit if side == "buy" else price >= limit

    def _available(self, levels: list, limit: Decimal | None, wanted: Decimal, side: str) -> Decimal:
        """Return how much of ``wanted`` the levels can fill within ``limit``."""
        total = ZERO
        for price, size in levels:
            if limit is not None and not self._within(price, limit, side):
                break
            total += wanted if size is None else size
            if total >= wanted:
                return wanted
        return total

    def _slipped(self, price: Decimal, side: str, market: bool) -> Decimal:
        if not market or self.slippage == 0:
            return price
        return price * (1 + self.slippage) if side == "buy" else price * (1 - self.slippage)

    def _trade_crosses(self, symbol: str, price: Decimal, size: Decimal, ts: int) -> None:
        resting = self._resting.get(symbol)
        if not resting:
            return
        for working in list(resting):
            if working.type in ("stop", "stop_limit") and not working.triggered:
                if (working.side == "buy" and price >= working.stop_price) or (working.side == "sell" and price <= working.stop_price):
                    working.triggered = True
                    resting.remove(working)
                    self._execute(working, ts, None)
                continue
            if working.price is None or size <= 0:
                continue
            crossed = price < working.price if working.side == "buy" else price > working.price
            if crossed:
                quantity = min(working.remaining, size)
                size -= quantity
                self._fill(working, quantity, working.price, maker=True, ts=ts)
                if working.remaining <= 0:
                    resting.remove(working)
                    self._release(working)

    def _bar_crosses(self, bar: Bar, open_: Decimal) -> None:
        resting = self._resting.get(bar.symbol)
        if not resting:
            return
        high, low = to_decimal(bar.high, "high"), to_decimal(bar.low, "low")
        for working in list(resting):
            if working.type in ("stop", "stop_limit") and not working.triggered:
                stop = working.stop_price
                if (working.side == "buy" and high >= stop) or (working.side == "sell" and low <= stop):
                    working.triggered = True
                    resting.remove(working)
                    trigger = max(open_, stop) if working.side == "buy" else min(open_, stop)
                    self._execute(working, bar.ts_open, trigger)
                continue
            limit = working.price
            if (working.side == "buy" and low < limit) or (working.side == "sell" and high > limit):
                price = min(open_, limit) if working.side == "buy" else max(open_, limit)
                self._fill(working, working.remaining, price, maker=True, ts=bar.ts_open)
                resting.remove(working)
                self._release(working)

    # -- settlement and reports ---------------------------------------------------

    def _fill(self, working: _Working, quantity: Decimal, price: Decimal, maker: bool, ts: int) -> None:
        instrument = self.instruments[working.symbol]
        price = price.quantize(instrument.tick_size, rounding=ROUND_HALF_EVEN) if instrument.tick_size > 0 else price
        rate = self.maker_fee if maker else self.taker_fee
        notional = quantity * price
        if working.side == "buy":
            fee_asset = instrument.base if self.fee_mode == "received" else instrument.quote
            fee = quantity * rate if self.fee_mode == "received" else notional * rate
            cost = notional + (fee if fee_asset == instrument.quote else ZERO)
            spend = min(cost, working.reserved)
            self.account.spend_reserved(instrument.quote, spend)
            working.reserved -= spend
            if cost > spend:
                # The walk cost more than the reservation: pay the rest from free funds.
                self.account.reserve(instrument.quote, cost - spend)
                self.account.spend_reserved(instrument.quote, cost - spend)
            self.account.credit(instrument.base, quantity - (fee if fee_asset == instrument.base else ZERO))
        else:
            fee_asset = instrument.quote
            fee = notional * rate
            self.account.spend_reserved(instrument.base, quantity)
            working.reserved -= quantity
            self.account.credit(instrument.quote, notional - fee)
        working.remaining -= quantity
        self._sequence += 1
        self._report(FILL, working.order_id, ts, quantity=quantity, price=price, fee=fee, fee_asset=fee_asset,
                     maker=maker, trade_id=f"sim-{self._sequence}")

    def _finish(self, working: _Working, kind: str, ts: int, reason: str) -> None:
        self._release(working)
        self._report(kind, working.order_id, ts, reason=reason)

    def _report(self, kind: str, order_id: str, ts: int, **fields) -> None:
        self._listener(ExecutionReport(kind, order_id, ts, **fields))
