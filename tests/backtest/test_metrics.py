"""Each backtest metric against a case computed by hand (the arithmetic is in the comments)."""

import math

import numpy as np
import pytest

from cryptobot.actors.backtest import metrics
from cryptobot.core.clock import iso_to_ns

# 100 -> 110 -> 99 -> 108.9: returns +10 %, -10 %, +10 %.
EQUITY = [100.0, 110.0, 99.0, 108.9]


def test_period_returns_simple():
    assert np.allclose(metrics.period_returns(EQUITY), [0.1, -0.1, 0.1])


def test_total_return_percent():
    assert metrics.total_return(100.0, 108.9) == pytest.approx(8.9)


def test_annualized_return_compounds_over_365_days():
    # Half a year: 1.089 ** 2 - 1 = 0.185921.
    half_year = metrics.YEAR_NS // 2
    assert metrics.annualized_return(100.0, 108.9, half_year) == pytest.approx(18.5921)


def test_annualized_return_of_a_wiped_out_account():
    assert metrics.annualized_return(100.0, 0.0, metrics.YEAR_NS) == -100.0


def test_periods_per_year_from_daily_samples():
    assert metrics.periods_per_year(86_400 * 1_000_000_000) == 365.0


def test_sharpe_ratio_hand_computed():
    # mean 1/30, sample std sqrt((2 * (1/15)^2 + (2/15)^2) / 2) = 0.2 / sqrt(3):
    # per period sqrt(3) / 6, times sqrt(4 periods a year) = 1 / sqrt(3).
    returns = metrics.period_returns(EQUITY)
    assert metrics.sharpe_ratio(returns, 4.0) == pytest.approx(1 / math.sqrt(3))


def test_sharpe_ratio_subtracts_risk_free_per_period():
    # 21 % a year over 2 periods is 10 % a period: excess returns 0.1, 0, 0.2,
    # mean 0.1, std 0.1, so sqrt(2).
    returns = np.array([0.2, 0.1, 0.3])
    assert metrics.sharpe_ratio(returns, 2.0, risk_free_rate=0.21) == pytest.approx(math.sqrt(2))


def test_sharpe_ratio_flat_curve_is_zero():
    assert metrics.sharpe_ratio(np.zeros(5), 365.0) == 0.0


def test_sortino_ratio_hand_computed():
    # Downside deviation sqrt((0 + 0.01 + 0) / 3) = 0.1 / sqrt(3); mean 1/30:
    # per period sqrt(3) / 3, times 2 = 2 / sqrt(3).
    returns = metrics.period_returns(EQUITY)
    assert metrics.sortino_ratio(returns, 4.0) == pytest.approx(2 / math.sqrt(3))


def test_sortino_ratio_without_losing_period_is_undefined():
    assert metrics.sortino_ratio(np.array([0.01, 0.02]), 365.0) is None


def test_max_drawdown_peak_to_trough_percent():
    # Peak 110, trough 99: 10 %.  The later 120 -> 90 is 25 %.
    assert metrics.max_drawdown(EQUITY) == pytest.approx(10.0)
    assert metrics.max_drawdown(EQUITY + [120.0, 90.0]) == pytest.approx(25.0)


def test_max_drawdown_rising_curve_is_zero():
    assert metrics.max_drawdown([1.0, 2.0, 3.0]) == 0.0


def test_trade_statistics_hand_computed():
    stats = metrics.trade_statistics([10.0, -5.0, 0.0, 20.0, -15.0], [1.0, -0.5, 0.0, 2.0, -1.5])
    assert stats["trades"] == 5
    assert stats["winning_trades"] == 2
    assert stats["losing_trades"] == 2  # the break-even trade is neither
    assert stats["win_rate"] == pytest.approx(40.0)
    assert stats["profit_factor"] == pytest.approx(30.0 / 20.0)
    assert stats["average_win"] == pytest.approx(1.5)
    assert stats["average_loss"] == pytest.approx(1.0)
    assert stats["largest_win"] == pytest.approx(2.0)
    assert stats["largest_loss"] == pytest.approx(1.5)


def test_profit_factor_without_losses_is_undefined():
    assert metrics.trade_statistics([5.0], [0.5])["profit_factor"] is None


def test_trade_statistics_without_trades():
    stats = metrics.trade_statistics([], [])
    assert stats["trades"] == 0
    assert stats["win_rate"] == 0.0
    assert stats["profit_factor"] == 0.0


def test_monthly_returns_chain_month_ends():
    times = [iso_to_ns(t) for t in ("2024-01-15T00:00:00Z", "2024-01-31T23:00:00Z", "2024-02-10T00:00:00Z",
                                    "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z")]
    equity = [105.0, 110.0, 99.0, 104.5, 114.95]
    months = metrics.monthly_returns(times, equity, 100.0)
    # January 100 -> 110, February 110 -> 104.5, March 104.5 -> 114.95.
    assert [m for m, _ in months] == ["2024-01", "2024-02", "2024-03"]
    assert [r for _, r in months] == pytest.approx([10.0, -5.0, 10.0])
