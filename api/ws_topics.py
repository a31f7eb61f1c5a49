"""The WebSocket topics: parsing, their engine bus topics, and the JSON each message carries.

=============================  ==========================================  =============
WebSocket topic                bus topic (``cryptobot.core.topics``)       delivery
=============================  ==========================================  =============
``market.{symbol}.ticker``     ``ticker.{exchange}.{symbol}`` (Ticker)     latest wins
``market.{symbol}.orderbook``  ``book.{exchange}.{symbol}`` (BookTop)      latest wins
``market.{symbol}.trades``     ``trades.{exchange}.{symbol}`` (TradeTick)  every message
``trades.{strategy_id}``       ``orders.{strategy_id}`` (OrderUpdate)      every message
``positions.{strategy_id}``    ``positions.{strategy_id}`` (PositionUpdate)  every message
``system.status``              ``system.status`` (dict)                    every message
=============================  ==========================================  =============

A market topic maps to every exchange this engine serves the symbol on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from cryptobot.api import views
from cryptobot.core import topics
from cryptobot.core.clock import ns_to_iso
from cryptobot.core.errors import ValidationError
from cryptobot.core.ids import is_id
from cryptobot.core.symbols import check_symbol

MARKET_KINDS = ("ticker", "trades", "orderbook")
CONFLATED_KINDS = frozenset({"ticker", "orderbook"})
_MARKET = re.compile(r"market\.(?P<symbol>[^.]{1,41})\.(?P<kind>[a-z]+)")
_STRATEGY = re.compile(r"(?P<kind>trades|positions)\.(?P<strategy_id>[^.]+)")
MAX_TOPIC_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed WebSocket topic.

    ``name`` is the canonical spelling sent back to the client.  ``kind``
    is one of ticker, trades, orderbook, strategy_trades, strategy_positions
    and status.  The strategy topics set ``strategy_id``, the market ones
    ``symbol``.
    """

    name: str
    kind: str
    symbol: str | None = None
    strategy_id: str | None = None

    @property
    def conflated(self) -> bool:
        return self.kind in CONFLATED_KINDS

    def bus_topics(self, exchanges_of: Callable[[str], list[str]]) -> list[str]:
        """Return the bus topics that feed this topic."""
        if self.kind == "ticker":
            return [topics.ticker(exchange, self.symbol) for exchange in exchanges_of(self.symbol)]
        if self.kind == "trades":
            return [topics.trades(exchange, self.symbol) for exchange in exchanges_of(self.symbol)]
        if self.kind == "orderbook":
            return [topics.book(exchange, self.symbol) for exchange in exchanges_of(self.symbol)]
        if self.kind == "strategy_trades":
            return [topics.orders(self.strategy_id)]
        if self.kind == "strategy_positions":
            return [topics.positions(self.strategy_id)]
        return [topics.SYSTEM_STATUS]


def parse_topic(text: object) -> Topic:
    """Parse a topic name; raise ValidationError naming what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise ValidationError(f"a topic must be a non-empty string, was {text!r}", {"topic": "expected a string"})
    if len(text) > MAX_TOPIC_LENGTH:
        raise ValidationError(f"topic longer than {MAX_TOPIC_LENGTH} characters", {text[:MAX_TOPIC_LENGTH]: "too long"})
    if text == "system.status":
        return Topic(text, "status")
    match = _MARKET.fullmatch(text)
    if match is not None:
        kind = match["kind"]
        if kind not in MARKET_KINDS:
            raise ValidationError(f"unknown market topic kind '{kind}' in {text!r}; expected one of {', '.join(MARKET_KINDS)}",
                                  {text: f"expected market.{{symbol}}.{'|'.join(MARKET_KINDS)}"})
        try:
            symbol = check_symbol(match["symbol"])
        except ValidationError:
            raise ValidationError(f"malformed symbol in topic {text!r}; expected BASE/QUOTE such as BTC/USDT",
                                  {text: "malformed symbol"}) from None
        return Topic(f"market.{symbol}.{kind}", kind, symbol=symbol)
    match = _STRATEGY.fullmatch(text)
    if match is not None:
        if not is_id(match["strategy_id"], "strategy"):
            raise ValidationError(f"malformed strategy id in topic {text!r}", {text: "expected a strategy id"})
        kind = "strategy_trades" if match["kind"] == "trades" else "strategy_positions"
        return Topic(text, kind, strategy_id=match["strategy_id"])
    raise ValidationError(
        f"unknown topic {text!r}; expected market.{{symbol}}.ticker|trades|orderbook, trades.{{strategy_id}}, "
        "positions.{strategy_id} or system.status", {text: "unknown topic"})


def envelope(topic: str, ts_ns: int, data: Any) -> dict[str, Any]:
    """Wrap ``data`` in the documented message ``{"topic", "timestamp", "data"}``."""
    return {"topic": topic, "timestamp": ns_to_iso(ts_ns - ts_ns % 1000), "data": data}


def message_for(kind: str, message: Any, now_ns: int) -> tuple[int, Any]:
    """Return (event time, ``data`` object) of a bus message for a topic kind."""
    if kind == "ticker":
        return message.ts_event, {
            "exchange": message.exchange, "symbol": message.symbol, "bid": message.bid, "ask": message.ask,
            "last": message.last, "volume": message.volume, "change": message.change,
            "change_percent": message.change_percent,
        }
    if kind == "orderbook":
        return message.ts_event, {
            "exchange": message.exchange, "symbol": message.symbol, "sequence": message.sequence,
            "bids": views.levels(message.bids), "asks": views.levels(message.asks),
        }
    if kind == "trades":
        return message.ts_event, {
            "exchange": message.exchange, "symbol": message.symbol, "price": message.price,
            "quantity": message.quantity, "side": message.side, "trade_id": message.trade_id,
        }
    if kind == "strategy_trades":
        data = views.order(message.order)
        data["event"] = message.event
        return message.order.updated_at or now_ns, data
    if kind == "strategy_positions":
        return message.ts_event, {
            "position_id": message.position_id, "strategy_id": message.strategy_id, "exchange": message.exchange,
            "symbol": message.symbol, "side": message.side, "quantity": abs(message.quantity),
            "entry_price": message.entry_price, "current_price": message.mark_price,
            "unrealized_pnl": message.unrealized_pnl, "realized_pnl": message.realized_pnl, "fees": message.fees,
            "opened_at": views.iso(message.opened_at), "closed_at": views.iso(message.closed_at),
            "status": "closed" if message.closed_at is not None else "open",
        }
    return now_ns, message
