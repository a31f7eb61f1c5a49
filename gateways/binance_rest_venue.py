"""Orders, trades and balances of the Binance spot REST emulator.

The venue matches against one reference price per symbol that a test sets
(:meth:`SpotVenue.set_price`); it keeps no order book.  Market orders and
marketable limit orders fill at once at that price as taker.  Other limit
orders rest until a test fills them (:meth:`SpotVenue.fill`, as maker).
Stop orders trigger when the reference price reaches their stop price.
Commissions are taken from the asset received, as on a Binance account that
does not pay fees in BNB.

No real order responses were recorded, so the response shapes follow
Binance's spot REST documentation, not captures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Mapping

from cryptobot.gateways.binance_rest_records import (
    WITH_STOP, VenueOrder, VenueTrade, new_order_response, order_view, result_view, trade_view,
)
from cryptobot.gateways.binance_rest_rules import ZERO, BinanceApiError, SymbolRules, fmt, missing, parse_decimal

KNOWN_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
TYPE_NAMES = {"MARKET": "Market", "STOP_LOSS": "Stop loss", "STOP_LOSS_LIMIT": "Stop loss limit",
              "TAKE_PROFIT": "Take profit", "TAKE_PROFIT_LIMIT": "Take profit limit", "LIMIT_MAKER": "Limit maker"}
WITH_TIME_IN_FORCE = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
WITH_PRICE = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
CLIENT_ID_PATTERN = r"^[a-zA-Z0-9-_]{1,36}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."


@dataclass
class SpotVenue:
    """Balances, orders and trades of one emulated spot account.

    Parameters
    ----------
    rules
        Exchange symbol (``BTCUSDT``) to its trading rules.
    clock_ms
        The venue's time in milliseconds since the epoch.
    maker_commission, taker_commission
        Commission rates (0.001 is 0.1 %).
    """

    rules: Mapping[str, SymbolRules]
    clock_ms: Callable[[], int]
    maker_commission: Decimal = Decimal("0.001")
    taker_commission: Decimal = Decimal("0.001")
    prices: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[int, VenueOrder] = field(default_factory=dict)
    trades: list[VenueTrade] = field(default_factory=list)
    _free: dict[str, Decimal] = field(default_factory=dict)
    _locked: dict[str, Decimal] = field(default_factory=dict)
    _next_order_id: int = 100_000
    _next_trade_id: int = 5_000_000

    # -- test controls ---------------------------------------------------------

    def set_balance(self, asset: str, free: Decimal) -> None:
        self._free[asset] = Decimal(free)

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """Return (free, locked) of ``asset``."""
        return self._free.get(asset, ZERO), self._locked.get(asset, ZERO)

    def set_price(self, symbol: str, price: Decimal) -> list[VenueTrade]:
        """Set the reference price of ``symbol`` and trigger the stop orders it reaches."""
        self.prices[symbol] = Decimal(price)
        fills: list[VenueTrade] = []
        for order in [o for o in self.orders.values() if o.symbol == symbol and not o.working and o.status == "NEW"]:
            if self._stop_reached(order, Decimal(price)):
                order.working = True
                fills += self._execute(order)
        return fills

    def fill(self, reference: int | str, quantity: Decimal | None = None, price: Decimal | None = None) -> VenueTrade:
        """Fill a resting limit order as maker, by order id or client order id.

        ``quantity`` defaults to what remains, ``price`` to the limit price.
        """
        order = self._find(reference)
        if order is None or order.status not in OPEN_STATUSES or not order.working or order.price <= 0:
            raise ValueError(f"cannot fill {reference!r}: no resting limit order with that id")
        quantity = order.quantity - order.executed if quantity is None else Decimal(quantity)
        price = order.price if price is None else Decimal(price)
        if not 0 < quantity <= order.quantity - order.executed:
            raise ValueError(f"fill quantity out of range (0, {order.quantity - order.executed}], was {quantity}")
        if (order.side == "BUY" and price > order.price) or (order.side == "SELL" and price < order.price):
            raise ValueError(f"fill price {price} is worse than the limit {order.price} of order {order.order_id}")
        trade = self._trade(order, quantity, price, maker=True)
        self._settle_if_done(order)
        return trade

    def expire(self, reference: int | str) -> None:
        """Expire an open order as the exchange would (for example after a self-trade prevention)."""
        order = self._find(reference)
        if order is None or order.status not in OPEN_STATUSES:
            raise ValueError(f"cannot expire {reference!r}: no open order with that id")
        self._finish(order, "EXPIRED")

    # -- endpoints ---------------------------------------------------------------

    def new_order(self, params: Mapping[str, str]) -> dict:
        """Handle ``POST /api/v3/order``: validate, reserve funds, match, respond (ACK, RESULT or FULL)."""
        rules = self._rules(params)
        side = params.get("side") or ""
        if not side:
            raise missing("side")
        if side not in ("BUY", "SELL"):
            raise BinanceApiError(400, -1117, "Invalid side.")
        kind = params.get("type") or ""
        if not kind:
            raise missing("type")
        if kind not in KNOWN_TYPES:
            raise BinanceApiError(400, -1116, "Invalid orderType.")
        if kind not in rules.order_types:
            raise BinanceApiError(400, -2010, f"{TYPE_NAMES[kind]} orders are not supported for this symbol.")
        if rules.status != "TRADING":
            raise BinanceApiError(400, -1013, "Market is closed.")
        time_in_force = self._time_in_force(params, kind)
        price = self._price_param(params, "price", kind in WITH_PRICE, rules)
        stop = self._price_param(params, "stopPrice", kind in WITH_STOP, rules)
        quantity = self._quantity(params, kind, rules)
        client_id = self._client_id(params)
        response_type = params.get("newOrderRespType") or ("FULL" if kind in ("MARKET", "LIMIT") else "ACK")
        if response_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceApiError(400, -1136, "Invalid newOrderRespType.")

        market_price = self.prices.get(rules.symbol)
        if kind == "MARKET" and market_price is None:
            raise BinanceApiError(400, -1112, "No orders on book for symbol.")
        self._check_filters(rules, kind, side, quantity, price, stop, market_price)
        if kind in WITH_STOP and market_price is not None and self._would_trigger(kind, side, stop, market_price):
            raise BinanceApiError(400, -2010, "Order would trigger immediately.")
        if kind == "LIMIT_MAKER" and market_price is not None and self._crosses(side, price, market_price):
            raise BinanceApiError(400, -2010, "Order would immediately match and take.")

        now = self.clock_ms()
        self._next_order_id += 1
        order = VenueOrder(self._next_order_id, client_id, rules.symbol, side, kind, time_in_force, quantity,
                           price or ZERO, stop or ZERO, now, update_time=now, working=kind not in WITH_STOP)
        self._reserve(order, rules, market_price)
        self.orders[order.order_id] = order
        fills = self._execute(order) if order.working else []
        return new_order_response(order, fills, response_type, now)

    def query_order(self, params: Mapping[str, str]) -> dict:
        """Handle ``GET /api/v3/order`` by orderId or origClientOrderId."""
        order = self._lookup(params)
        if order is None:
            raise BinanceApiError(400, -2013, "Order does not exist.")
        return order_view(order)

    def cancel_order(self, params: Mapping[str, str]) -> dict:
        """Handle ``DELETE /api/v3/order``: cancel an open order and release its reservation."""
        order = self._lookup(params)
        if order is None or order.status not in OPEN_STATUSES:
            raise BinanceApiError(400, -2011, "Unknown order sent.")
        cancel_id = params.get("newClientOrderId") or f"cancel-{order.order_id}"
        self._finish(order, "CANCELED")
        view = result_view(order)
        view["origClientOrderId"] = order.client_order_id
        view["clientOrderId"] = cancel_id
        return view

    def open_orders(self, params: Mapping[str, str]) -> list[dict]:
        """Handle ``GET /api/v3/openOrders``, for one symbol or all."""
        symbol = params.get("symbol")
        if symbol is not None and symbol not in self.rules:
            raise BinanceApiError(400, -1121, "Invalid symbol.")
        return [order_view(o) for o in self.orders.values()
                if o.status in OPEN_STATUSES and (symbol is None or o.symbol == symbol)]

    def my_trades(self, params: Mapping[str, str]) -> list[dict]:
        """Handle ``GET /api/v3/myTrades``: trades of one symbol, filtered by orderId, fromId or time."""
        rules = self._rules(params)
        limit = self._int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise BinanceApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        order_id = self._int_param(params, "orderId", None)
        from_id = self._int_param(params, "fromId", None)
        start, end = self._int_param(params, "startTime", None), self._int_param(params, "endTime", None)
        rows = [t for t in self.trades if t.symbol == rules.symbol
                and (order_id is None or t.order_id == order_id)
                and (from_id is None or t.trade_id >= from_id)
                and (start is None or t.time >= start) and (end is None or t.time <= end)]
        rows = rows[:limit] if from_id is not None else rows[-limit:]
        return [trade_view(t) for t in rows]

    def account(self) -> dict:
        """Handle ``GET /api/v3/account``: commissions in basis points and every balance the venue has."""
        assets = sorted(set(self._free) | set(self._locked))
        return {
            "makerCommission": int(self.maker_commission * 10_000), "takerCommission": int(self.taker_commission * 10_000),
            "buyerCommission": 0, "sellerCommission": 0, "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "updateTime": self.clock_ms(), "accountType": "SPOT",
            "balances": [{"asset": a, "free": fmt(self._free.get(a, ZERO)), "locked": fmt(self._locked.get(a, ZERO))}
                         for a in assets],
            "permissions": ["SPOT"],
        }

    # -- validation --------------------------------------------------------------------

    def _rules(self, params: Mapping[str, str]) -> SymbolRules:
        symbol = params.get("symbol")
        if not symbol:
            raise missing("symbol")
        rules = self.rules.get(symbol)
        if rules is None:
            raise BinanceApiError(400, -1121, "Invalid symbol.")
        return rules

    @staticmethod
    def _time_in_force(params: Mapping[str, str], kind: str) -> str:
        value = params.get("timeInForce")
        if kind not in WITH_TIME_IN_FORCE:
            if value:
                raise BinanceApiError(400, -1106, "Parameter 'timeInForce' sent when not required.")
            return "GTC"
        if not value:
            raise missing("timeInForce")
        if value not in ("GTC", "IOC", "FOK"):
            raise BinanceApiError(400, -1115, "Invalid timeInForce.")
        return value

    @staticmethod
    def _price_param(params: Mapping[str, str], name: str, required: bool, rules: SymbolRules) -> Decimal | None:
        value = parse_decimal(params, name, rules.quote_precision)
        if required and value is None:
            raise missing(name)
        if not required and value is not None:
            raise BinanceApiError(400, -1106, f"Parameter '{name}' sent when not required.")
        return value

    def _quantity(self, params: Mapping[str, str], kind: str, rules: SymbolRules) -> Decimal:
        quantity = parse_decimal(params, "quantity", rules.base_precision)
        quote_quantity = parse_decimal(params, "quoteOrderQty", rules.quote_precision)
        if kind == "MARKET" and quantity is None and quote_quantity is not None:
            price = self.prices.get(rules.symbol)
            if price is None:
                raise BinanceApiError(400, -1112, "No orders on book for symbol.")
            return rules.step_floor(quote_quantity / price)
        if quantity is None:
            if kind == "MARKET":
                raise BinanceApiError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            raise missing("quantity")
        return quantity

    def _client_id(self, params: Mapping[str, str]) -> str:
        client_id = params.get("newClientOrderId")
        if not client_id:
            return f"emulator-{self._next_order_id + 1}"
        if not _CLIENT_ID.match(client_id):
            raise BinanceApiError(400, -1100,
                                  f"Illegal characters found in parameter 'newClientOrderId'; legal range is '{CLIENT_ID_PATTERN}'.")
        if any(o.client_order_id == client_id and o.status in OPEN_STATUSES for o in self.orders.values()):
            raise BinanceApiError(400, -2010, "Duplicate order sent.")
        return client_id

    def _check_filters(self, rules: SymbolRules, kind: str, side: str, quantity: Decimal, price: Decimal | None,
                       stop: Decimal | None, market_price: Decimal | None) -> None:
        market = kind in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
        for value in (price, stop):
            if value is not None:
                rules.check_price(value)
        if price is not None:
            rules.check_percent_price(price, market_price)
        rules.check_quantity(quantity, market)
        reference = price if price is not None else (stop if stop is not None else market_price)
        if reference is not None:
            rules.check_notional(quantity * reference, market)
        open_orders = [o for o in self.orders.values() if o.symbol == rules.symbol and o.status in OPEN_STATUSES]
        rules.check_open_order_counts(len(open_orders), sum(o.type in WITH_STOP for o in open_orders), kind in WITH_STOP)
        if side == "BUY" and "MAX_POSITION" in rules.filters:
            free, locked = self.balance(rules.base)
            open_buys = sum(o.quantity - o.executed for o in open_orders if o.side == "BUY")
            rules.check_max_position(free + locked + open_buys + quantity)

    @staticmethod
    def _crosses(side: str, price: Decimal, market_price: Decimal) -> bool:
        return price >= market_price if side == "BUY" else price <= market_price

    @staticmethod
    def _would_trigger(kind: str, side: str, stop: Decimal, price: Decimal) -> bool:
        # A stop loss buys above the market and sells below it; a take profit the reverse.
        rising = (side == "BUY") == kind.startswith("STOP_LOSS")
        return price >= stop if rising else price <= stop

    def _stop_reached(self, order: VenueOrder, price: Decimal) -> bool:
        return self._would_trigger(order.type, order.side, order.stop_price, price)

    # -- matching and settlement ------------------------------------------------------------

    def _reserve(self, order: VenueOrder, rules: SymbolRules, market_price: Decimal | None) -> None:
        if order.side == "SELL":
            asset, amount = rules.base, order.quantity
        else:
            unit = order.price if order.price > 0 else (order.stop_price if order.stop_price > 0 else market_price)
            asset, amount = rules.quote, order.quantity * unit
        if self._free.get(asset, ZERO) < amount:
            raise BinanceApiError(400, -2010, INSUFFICIENT_BALANCE)
        self._free[asset] = self._free.get(asset, ZERO) - amount
        self._locked[asset] = self._locked.get(asset, ZERO) + amount
        order.reserve_asset, order.reserved = asset, amount

    def _execute(self, order: VenueOrder) -> list[VenueTrade]:
        """Match a working order against the reference price: fill, rest or expire."""
        market_price = self.prices.get(order.symbol)
        taker = order.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") or (
            market_price is not None and order.price > 0 and self._crosses(order.side, order.price, market_price))
        fills: list[VenueTrade] = []
        if taker and market_price is not None:
            fills.append(self._trade(order, order.quantity - order.executed, market_price, maker=False))
            self._settle_if_done(order)
        elif order.time_in_force in ("IOC", "FOK"):
            self._finish(order, "EXPIRED")
        return fills

    def _trade(self, order: VenueOrder, quantity: Decimal, price: Decimal, maker: bool) -> VenueTrade:
        rules = self.rules[order.symbol]
        rate = self.maker_commission if maker else self.taker_commission
        quote_amount = quantity * price
        if order.side == "BUY":
            self._spend(order, quote_amount)
            commission, commission_asset = quantity * rate, rules.base
            self._free[rules.base] = self._free.get(rules.base, ZERO) + quantity - commission
        else:
            self._spend(order, quantity)
            commission, commission_asset = quote_amount * rate, rules.quote
            self._free[rules.quote] = self._free.get(rules.quote, ZERO) + quote_amount - commission
        now = self.clock_ms()
        order.executed += quantity
        order.cumulative_quote += quote_amount
        order.status = "FILLED" if order.executed == order.quantity else "PARTIALLY_FILLED"
        order.update_time = now
        self._next_trade_id += 1
        trade = VenueTrade(self._next_trade_id, order.order_id, order.symbol, price, quantity, commission,
                           commission_asset, now, order.side == "BUY", maker)
        self.trades.append(trade)
        return trade

    def _spend(self, order: VenueOrder, amount: Decimal) -> None:
        # A market buy reserved at the reference price of its arrival; if the
        # fill costs more, the difference comes from free funds.
        from_reserve = min(amount, order.reserved)
        order.reserved -= from_reserve
        self._locked[order.reserve_asset] -= from_reserve
        self._free[order.reserve_asset] = self._free.get(order.reserve_asset, ZERO) - (amount - from_reserve)

    def _settle_if_done(self, order: VenueOrder) -> None:
        if order.status == "FILLED":
            self._release(order)
        elif order.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") or order.time_in_force == "IOC":
            self._finish(order, "EXPIRED")

    def _finish(self, order: VenueOrder, status: str) -> None:
        order.status = status
        order.update_time = self.clock_ms()
        self._release(order)

    def _release(self, order: VenueOrder) -> None:
        if order.reserved > 0:
            self._locked[order.reserve_asset] -= order.reserved
            self._free[order.reserve_asset] = self._free.get(order.reserve_asset, ZERO) + order.reserved
            order.reserved = ZERO

    # -- lookups and views ------------------------------------------------------------------------

    def _find(self, reference: int | str) -> VenueOrder | None:
        if isinstance(reference, int):
            return self.orders.get(reference)
        matches = [o for o in self.orders.values() if o.client_order_id == reference]
        return matches[-1] if matches else None

    def _lookup(self, params: Mapping[str, str]) -> VenueOrder | None:
        rules = self._rules(params)
        order_id = self._int_param(params, "orderId", None)
        client_id = params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise BinanceApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        order = self.orders.get(order_id) if order_id is not None else self._find(client_id)
        return order if order is not None and order.symbol == rules.symbol else None

    @staticmethod
    def _int_param(params: Mapping[str, str], name: str, default: int | None) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.lstrip("-").isdigit():
            raise BinanceApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
        return int(raw)
