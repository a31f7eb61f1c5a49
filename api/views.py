"""The documented JSON shapes of the engine's records.

Times leave as ISO 8601 with ``Z`` and money as JSON numbers (Decimal is
written by :func:`cryptobot.api.responses.dumps`).  Each view carries every
field of the reference's example.  Some add fields the reference does not
show (``strategy_type``, ``client_order_id``, ``is_test``), and the OpenAPI
document lists them all.
"""

from __future__ import annotations

from typing import Any

from cryptobot.core.clock import ns_to_iso
from cryptobot.core.orders import Order


def iso(ts_ns: int | None) -> str | None:
    """Engine time as ISO 8601 with Z to the microsecond (what PostgreSQL keeps), or None."""
    return None if ts_ns is None or ts_ns == 0 else ns_to_iso(ts_ns - ts_ns % 1000)


def number(value: Any) -> float | None:
    """Return a Decimal (or other number) as a JSON number, or None."""
    if value is None:
        return None
    return float(value)


def api_key(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "description": key.description,
        "exchange": key.exchange,
        "status": key.status,
        "version": key.version,
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "permissions": list(key.permissions),
        "is_test": key.is_test,
        "previous_key_id": key.previous_key_id,
        "grace_ends_at": iso(key.grace_ends_at),
        "last_used_at": iso(key.last_used_at),
        "rotated_key_waiting": key.rotated_key_waiting,
    }


def issued_key(issued: Any) -> dict[str, Any]:
    """Show a created or rotated key with its plain text, the only time the key is shown."""
    view = api_key(issued.record)
    view["key"] = issued.key
    return view


def performance(strategy: Any, detailed: bool) -> dict[str, Any]:
    figures = {
        "total_return": strategy.total_return,
        "win_rate": strategy.win_rate,
        "sharpe_ratio": strategy.sharpe_ratio,
        "drawdown": strategy.drawdown,
    }
    if detailed:
        figures.update(trades=strategy.trades, winning_trades=strategy.winning_trades, losing_trades=strategy.losing_trades)
    return figures


def strategy(record: Any, *, parameters: bool, figures: str | None) -> dict[str, Any]:
    """Show a strategy; ``figures`` is None (no performance), ``summary`` or ``detailed``."""
    view = {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "status": record.status,
        "exchange": record.exchange,
        "symbol": record.symbol,
        "timeframe": record.timeframe,
        "strategy_type": record.strategy_type,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    if parameters:
        view["parameters"] = record.parameters
        # What the last start gave it (kept while stopped, so a restart can reuse it); null before any start.
        allocation = record.capital_allocation
        view["capital_allocation"] = None if allocation is None else float(allocation)
        view["max_positions"] = record.max_positions
    if figures is not None:
        view["performance"] = performance(record, figures == "detailed")
    return view


def order(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "strategy_id": o.strategy_id,
        "exchange": o.exchange,
        "symbol": o.symbol,
        "side": o.side,
        "type": o.type,
        "time_in_force": o.time_in_force,
        "quantity": o.quantity,
        "price": o.price,
        "stop_price": o.stop_price,
        "status": o.status.value,
        "filled": o.filled,
        "remaining": o.quantity - o.filled,
        "average_price": o.average_price,
        "fee": o.fee,
        "reject_reason": o.reject_reason,
        "created_at": iso(o.created_at),
        "updated_at": iso(o.updated_at),
    }


def position(row: dict[str, Any]) -> dict[str, Any]:
    """Show an open position as the portfolio actor reports it; prices and PnL stay null until the book marks it."""
    marked = bool(row.get("current_price"))
    return {
        "position_id": row["position_id"],
        "exchange": row["exchange"],
        "symbol": row["symbol"],
        "side": row["side"],
        "quantity": row["quantity"],
        "entry_price": row["entry_price"],
        "current_price": row["current_price"] if marked else None,
        "unrealized_pnl": row["unrealized_pnl"] if marked else None,
        "unrealized_pnl_percent": row["unrealized_pnl_percent"] if marked else None,
        "strategy_id": row.get("strategy_id"),
        "opened_at": iso(row.get("opened_at")),
    }


def ticker(t: Any) -> dict[str, Any]:
    return {
        "exchange": t.exchange,
        "symbol": t.symbol,
        "timestamp": iso(t.ts_event),
        "bid": t.bid,
        "ask": t.ask,
        "last": t.last,
        "volume": t.volume,
        "change": t.change,
        "change_percent": t.change_percent,
    }


def levels(rows: Any) -> list[list[float]]:
    """Book levels (a (n, 2) array or a list of pairs) as ``[[price, size], ...]``."""
    if hasattr(rows, "tolist"):
        return rows.tolist()
    return [[float(price), float(size)] for price, size in rows]
