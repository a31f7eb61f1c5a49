"""The equity curve of a backtest as a PNG chart (matplotlib, an optional dependency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptobot.core.errors import ConfigError


def write_equity_chart(results: dict[str, Any], path: str) -> None:
    """Draw equity over time, with the drawdown below it, into ``path``.

    Raises
    ------
    ConfigError
        If matplotlib is not installed (the ``chart`` extra: ``pip install -e '.[chart]'`` in the project folder).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("Cannot write the chart: matplotlib is not installed; in the project folder run "
                          ".venv/bin/pip install -e '.[chart]'") from None
    points = results["equity_curve"]
    times = [datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")) for p in points]
    equity = [p["equity"] for p in points]
    peaks, drawdown = [], []
    for value in equity:
        peaks.append(max(value, peaks[-1]) if peaks else value)
        drawdown.append((value / peaks[-1] - 1.0) * 100.0)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=(3, 1))
    top.plot(times, equity, color="tab:blue", linewidth=1.2)
    top.axhline(results["initial_capital"], color="grey", linewidth=0.8, linestyle="--")
    top.set_ylabel("equity")
    top.set_title(f"{results['strategy_type']} {results['symbol']}: return {results['total_return']:.2f} %, "
                  f"max drawdown {results['max_drawdown']:.2f} %, {results['trades']} trades")
    bottom.fill_between(times, drawdown, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
