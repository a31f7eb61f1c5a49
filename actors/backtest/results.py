"""The results object of a backtest, in the shape the API returns, and its exact bytes.

:func:`build_results` turns a :class:`~cryptobot.actors.backtest.run.RunOutput`
into the metrics, the sampled equity curve, the monthly returns and the
trades list.  Nothing in it depends on the wall clock or on random ids,
so the same inputs give the same dict, and :func:`results_bytes` the same
bytes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from cryptobot.actors.backtest import metrics
from cryptobot.actors.backtest.run import RunOutput
from cryptobot.core.clock import ns_to_iso
from cryptobot.core.ids import new_id

HUNDRED = Decimal(100)


def trade_rows(output: RunOutput) -> list[dict[str, Any]]:
    """Return the closed round trips, oldest first, with net profit and deterministic ids."""
    rows = []
    for index, trade in enumerate(output.closed_trades):
        net = trade.profit_loss - trade.fees
        cost = trade.entry_price * trade.quantity
        rows.append({
            "id": new_id("trade", trade.exit_time // 1_000_000, low_bits=index),
            "symbol": trade.symbol,
            "side": trade.side,
            "entry_price": float(trade.entry_price),
            "exit_price": float(trade.exit_price),
            "entry_time": ns_to_iso(trade.entry_time),
            "exit_time": ns_to_iso(trade.exit_time),
            "quantity": float(trade.quantity),
            "profit_loss": float(net),
            "profit_loss_percent": float(net / cost * HUNDRED) if cost else 0.0,
            "fees": float(trade.fees),
            "exit_reason": trade.exit_reason,
        })
    return rows


def build_results(output: RunOutput) -> dict[str, Any]:
    """Compute every metric and list of the API's backtest results (the caller adds ids and status)."""
    spec = output.spec
    initial = float(spec.initial_capital)
    final = float(output.final_capital)
    periods = metrics.periods_per_year(output.sample_ns)
    returns = metrics.period_returns(output.equity)
    trades = trade_rows(output)
    stats = metrics.trade_statistics([t["profit_loss"] for t in trades], [t["profit_loss_percent"] for t in trades])
    return {
        "strategy_type": spec.strategy_type,
        "exchange": spec.exchange,
        "symbol": spec.symbol,
        "start_date": ns_to_iso(spec.start_ns),
        "end_date": ns_to_iso(spec.end_ns),
        "initial_capital": initial,
        "final_capital": final,
        "total_return": metrics.total_return(initial, final),
        "annualized_return": metrics.annualized_return(initial, final, spec.end_ns - spec.start_ns),
        "sharpe_ratio": metrics.sharpe_ratio(returns, periods, spec.risk_free_rate),
        "sortino_ratio": metrics.sortino_ratio(returns, periods, spec.risk_free_rate),
        "max_drawdown": metrics.max_drawdown(output.equity),
        **stats,
        "equity_curve": [{"timestamp": ns_to_iso(int(ts)), "equity": float(value)}
                         for ts, value in zip(output.equity_ts.tolist(), output.equity.tolist())],
        "monthly_returns": [{"month": month, "return": value} for month, value in
                            metrics.monthly_returns(output.equity_ts.tolist(), output.equity.tolist(), initial)],
        "trades_list": trades,
        "parameters": dict(spec.parameters),
        "settings": {
            "timeframe": spec.timeframe, "bars": spec.bars, "maker_fee": str(spec.maker_fee),
            "taker_fee": str(spec.taker_fee), "fee_mode": spec.fee_mode, "latency_ns": spec.latency_ns,
            "slippage_bps": str(spec.slippage_bps), "position_size": str(spec.position_size),
            "risk_free_rate": spec.risk_free_rate, "equity_interval_seconds": output.sample_ns // 1_000_000_000,
        },
        "events": output.events,
    }


def results_bytes(results: dict[str, Any]) -> bytes:
    """Serialize results with sorted keys: equal results give equal bytes."""
    return orjson.dumps(results, option=orjson.OPT_SORT_KEYS)
