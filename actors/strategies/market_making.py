"""``market_making``: post-only quotes on both sides of mid, skewed against inventory."""

from __future__ import annotations

from decimal import Decimal

from cryptobot.actors.strategies.base import Strategy
from cryptobot.actors.strategies.params import Param
from cryptobot.core.messages import CancelRequest
from cryptobot.hotpath.signals import MarketMakingKernel


class MarketMaking(Strategy):
    """Keeps one bid and one ask resting; replaces both when the kernel says REQUOTE.

    Quotes are post-only limit orders of ``order_size`` base units (or, when
    0, ``capital_allocation / max_positions`` worth at mid).  When the
    inventory reaches ``max_inventory`` the side that would add to it is not
    quoted.  Cancels go to the execution actor through ``cancel``.
    """

    type_name = "market_making"
    description = "Quote a bid and an ask around mid with a spread, a size and an inventory skew"
    params = (
        Param("spread_bps", float, 10.0, "quoted spread, bid to ask, in basis points of mid", 0, 10_000, exclusive_minimum=True),
        Param("order_size", float, 0.0, "base units per quote; 0 sizes from capital_allocation / max_positions", 0, 1e9),
        Param("max_inventory", float, 0.0, "base units held at which quoting the adding side stops; 0 = two order sizes", 0, 1e9),
        Param("inventory_skew", float, 0.5, "how far inventory shifts the quotes, 0 (none) to 1 (half a spread at max)", 0, 1),
        Param("requote_bps", float, 2.0, "mid move in basis points that replaces the quotes", 0, 10_000),
    )

    def __init__(self, config, emit, clock, counters=None, cancel=None):
        super().__init__(config, emit, clock, counters)
        p = self.parameters
        self.cancel = cancel or (lambda request: None)
        self.kernel = MarketMakingKernel(p["spread_bps"], p["requote_bps"], p["inventory_skew"], p["max_inventory"])
        self.quotes: dict[str, str] = {}  # side -> client order id
        self.order_ids: dict[str, str] = {}  # client order id -> order id
        self.stale: set[str] = set()  # replaced quotes whose order id is not known yet

    def on_book(self, top) -> None:
        if not self.book_ready:
            return
        if self.kernel.max_inventory == 0:
            self._size_inventory(top.mid)
        if self.kernel.on_book(top.bid, top.ask):
            self._requote(top.mid)

    def _size_inventory(self, mid: float) -> None:
        size = self._order_size(mid)
        self.kernel = MarketMakingKernel(self.parameters["spread_bps"], self.parameters["requote_bps"],
                                         self.parameters["inventory_skew"], float(size) * 2)
        self.kernel.inventory = float(self.position)

    def _order_size(self, mid: float) -> Decimal:
        if self.parameters["order_size"] > 0:
            return Decimal(repr(self.parameters["order_size"]))
        return self.entry_quantity(mid)

    def _requote(self, mid: float) -> None:
        for side in list(self.quotes):
            self._cancel_quote(side)
        size = self._order_size(mid)
        inventory = float(self.position)
        limit = self.kernel.max_inventory
        if inventory < limit:
            self.quotes["buy"] = self.emit("buy", size, "quote", "limit", Decimal(repr(self.kernel.bid_price)), post_only=True)
        if inventory > -limit and self.position > 0:
            quantity = min(size, self.position)
            self.quotes["sell"] = self.emit("sell", quantity, "quote", "limit", Decimal(repr(self.kernel.ask_price)),
                                            post_only=True, reduce_only=True)

    def _cancel_quote(self, side: str) -> None:
        client_id = self.quotes.pop(side, None)
        order_id = self.order_ids.get(client_id) if client_id else None
        if order_id is not None:
            self.cancel(CancelRequest(order_id, reason="requote"))
        elif client_id is not None:
            self.stale.add(client_id)

    def on_order_update(self, update) -> None:
        order = update.order
        self.order_ids[order.client_order_id] = order.order_id
        super().on_order_update(update)
        if order.status.is_terminal:
            self.order_ids.pop(order.client_order_id, None)
            for side, client_id in list(self.quotes.items()):
                if client_id == order.client_order_id:
                    del self.quotes[side]
        if order.client_order_id in self.stale:
            # A quote replaced before its order id was known: cancel it now.
            self.stale.discard(order.client_order_id)
            if not order.status.is_terminal:
                self.cancel(CancelRequest(order.order_id, reason="requote"))

    def on_position_changed(self) -> None:
        self.kernel.inventory = float(self.position)

    def state(self):
        return {**super().state(), "bid": self.kernel.bid_price, "ask": self.kernel.ask_price,
                "inventory": float(self.position)}
