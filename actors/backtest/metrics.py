"""Performance metrics of a backtest, each defined in ``docs/backtesting.md``.

All functions are pure: they take the sampled equity curve (values at
evenly spaced times, the last point at the end of the range) or the
closed trades' net profits, and return plain floats (percent where the
name says so).  A ratio with no defined value is None, which the results
show as JSON ``null``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

YEAR_NS = 365 * 86_400 * 1_000_000_000  # crypto markets trade every day of the year


def total_return(initial: float, final: float) -> float:
    """Percent change from ``initial`` to ``final`` capital."""
    return (final / initial - 1.0) * 100.0


def annualized_return(initial: float, final: float, span_ns: int) -> float:
    """Compound annual growth rate in percent over a range of ``span_ns`` (365-day years)."""
    if final <= 0:
        return -100.0
    return ((final / initial) ** (YEAR_NS / span_ns) - 1.0) * 100.0


def periods_per_year(sample_ns: int) -> float:
    return YEAR_NS / sample_ns


def period_returns(equity: Sequence[float]) -> np.ndarray:
    """Simple returns between consecutive equity samples."""
    values = np.asarray(equity, dtype=np.float64)
    if len(values) < 2:
        return np.empty(0)
    return values[1:] / values[:-1] - 1.0


def _excess(returns: np.ndarray, periods: float, risk_free_rate: float) -> np.ndarray:
    per_period = (1.0 + risk_free_rate) ** (1.0 / periods) - 1.0
    return returns - per_period


def sharpe_ratio(returns: np.ndarray, periods: float, risk_free_rate: float = 0.0) -> float:
    """Annualized Sharpe ratio: mean excess return over its sample standard deviation, times sqrt(periods).

    0.0 with fewer than two returns or when the returns do not vary.
    """
    if len(returns) < 2:
        return 0.0
    excess = _excess(returns, periods, risk_free_rate)
    deviation = float(np.std(excess, ddof=1))
    if deviation == 0.0:
        return 0.0
    return float(np.mean(excess)) / deviation * math.sqrt(periods)


def sortino_ratio(returns: np.ndarray, periods: float, risk_free_rate: float = 0.0) -> float | None:
    """Annualized Sortino ratio: mean excess return over the downside deviation, times sqrt(periods).

    The downside deviation is the root mean square of the negative excess
    returns over all periods.  0.0 with fewer than two returns; None when no
    period returned less than the risk-free rate (the ratio is unbounded).
    """
    if len(returns) < 2:
        return 0.0
    excess = _excess(returns, periods, risk_free_rate)
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return float(np.mean(excess)) / downside * math.sqrt(periods)


def max_drawdown(equity: Sequence[float]) -> float:
    """Largest peak-to-trough fall of the equity curve, in percent of the peak (a positive number)."""
    values = np.asarray(equity, dtype=np.float64)
    if len(values) == 0:
        return 0.0
    peaks = np.maximum.accumulate(values)
    return float(np.max((peaks - values) / peaks)) * 100.0


def trade_statistics(profits: Sequence[float], percents: Sequence[float]) -> dict[str, float | int | None]:
    """Counts, win rate, profit factor and win/loss sizes of closed trades.

    ``profits`` are net of fees in the quote currency, ``percents`` the same
    in percent of the entry value.  A trade wins when its net profit is
    above 0 and loses when below; a trade of exactly 0 counts in
    ``trades`` only.  Average and largest losses are magnitudes.
    """
    wins = [(p, q) for p, q in zip(profits, percents) if p > 0]
    losses = [(p, q) for p, q in zip(profits, percents) if p < 0]
    gross_profit = sum(p for p, _ in wins)
    gross_loss = -sum(p for p, _ in losses)
    if gross_loss > 0:
        factor: float | None = gross_profit / gross_loss
    else:
        factor = None if gross_profit > 0 else 0.0
    count = len(profits)
    return {
        "trades": count,
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "win_rate": len(wins) / count * 100.0 if count else 0.0,
        "profit_factor": factor,
        "average_win": sum(q for _, q in wins) / len(wins) if wins else 0.0,
        "average_loss": -sum(q for _, q in losses) / len(losses) if losses else 0.0,
        "largest_win": max((q for _, q in wins), default=0.0),
        "largest_loss": -min((q for _, q in losses), default=0.0),
    }


def _month(ts_ns: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=timezone.utc)
    return moment.year, moment.month


def monthly_returns(times: Sequence[int], equity: Sequence[float], initial: float) -> list[tuple[str, float]]:
    """Percent return of each calendar month (UTC) the curve covers.

    A month's return compares the last sample before the month began
    (``initial`` for the first month) with the month's last sample.
    """
    result: list[tuple[str, float]] = []
    if len(times) == 0:
        return result
    start_value = initial
    current = _month(int(times[0]))
    last_value = initial
    for ts, value in zip(times, equity):
        month = _month(int(ts))
        if month != current:
            result.append((f"{current[0]:04d}-{current[1]:02d}", (last_value / start_value - 1.0) * 100.0))
            start_value = last_value
            current = month
        last_value = float(value)
    result.append((f"{current[0]:04d}-{current[1]:02d}", (last_value / start_value - 1.0) * 100.0))
    return result
