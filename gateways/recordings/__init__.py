"""Loaders of recorded exchange messages: replayable frames, snapshots and reference data.

>>> rec = load_f1(["btcusdt_20240808.gz", "btcusdt_20240809.gz"])    # doctest: +SKIP
>>> rec.frames[0].kind, rec.frames[0].symbol, rec.snapshots["BTCUSDT"].last_update_id   # doctest: +SKIP
('depthUpdate', 'BTCUSDT', 50093239218)

The format descriptions are in :mod:`cryptobot.gateways.recordings.loaders`.
"""

from cryptobot.gateways.recordings.loaders import (
    load_f1,
    load_f2,
    load_recording,
    load_reference,
    parse_seconds_ns,
    parse_stamp_ns,
)
from cryptobot.gateways.recordings.model import (
    AGG_TRADE,
    BINANCE,
    BINANCE_COINM,
    BINANCE_USDM,
    BOOK_SNAPSHOT,
    BOOK_TICKER,
    BOOK_UPDATE,
    DEPTH_UPDATE,
    HEARTBEAT,
    KLINE,
    KRAKEN,
    MARK_PRICE,
    SUBSCRIPTION_STATUS,
    SYSTEM_STATUS,
    TICKER,
    TRADE,
    DepthSnapshot,
    RecordedFrame,
    Recording,
    RecordingError,
    ReferenceData,
)

__all__ = [
    "AGG_TRADE", "BINANCE", "BINANCE_COINM", "BINANCE_USDM", "BOOK_SNAPSHOT", "BOOK_TICKER", "BOOK_UPDATE",
    "DEPTH_UPDATE", "HEARTBEAT", "KLINE", "KRAKEN", "MARK_PRICE", "SUBSCRIPTION_STATUS", "SYSTEM_STATUS", "TICKER",
    "TRADE", "DepthSnapshot", "RecordedFrame", "Recording", "RecordingError", "ReferenceData", "load_f1", "load_f2",
    "load_recording", "load_reference", "parse_seconds_ns", "parse_stamp_ns",
]
