"""Streaming and batch technical indicators, compiled with Cython.

One import point for Python code.  Cython code cimports the classes (and
their ``update_c``) from the modules that define them:
:mod:`~cryptobot.hotpath.averages`, :mod:`~cryptobot.hotpath.oscillators`,
:mod:`~cryptobot.hotpath.volatility`, :mod:`~cryptobot.hotpath.volume` and
:mod:`~cryptobot.hotpath.extremes`.
"""

from cryptobot.hotpath.averages import EMA, SMA, WMA, ema, sma, wma
from cryptobot.hotpath.extremes import RollingMax, RollingMin, rolling_max, rolling_min
from cryptobot.hotpath.oscillators import MACD, RSI, macd, rsi
from cryptobot.hotpath.volatility import (
    ATR,
    BollingerBands,
    RollingStd,
    ZScore,
    atr,
    bollinger_bands,
    rolling_std,
    zscore,
)
from cryptobot.hotpath.volume import NS_PER_DAY, RollingVWAP, SessionVWAP, rolling_vwap, session_vwap

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "NS_PER_DAY",
    "RSI",
    "SMA",
    "WMA",
    "BollingerBands",
    "RollingMax",
    "RollingMin",
    "RollingStd",
    "RollingVWAP",
    "SessionVWAP",
    "ZScore",
    "atr",
    "bollinger_bands",
    "ema",
    "macd",
    "rolling_max",
    "rolling_min",
    "rolling_std",
    "rolling_vwap",
    "rsi",
    "session_vwap",
    "sma",
    "wma",
    "zscore",
]
