"""Independent readers of the recorded Binance captures, for checking the store against them."""

from __future__ import annotations

import gzip
import json

import numpy as np

from cryptobot.core.types import BookDeltas

SPOT_0808 = "hftbacktest/spot/btcusdt_20240808.gz"
SPOT_0809 = "hftbacktest/spot/btcusdt_20240809.gz"


def _frames(path):
    with gzip.open(path, "rt") as handle:
        for text in handle:
            stamp, _, payload = text.partition(" ")
            message = json.loads(payload)
            if "stream" in message:
                yield int(stamp), message["data"]


def binance_trades(path) -> dict[str, np.ndarray]:
    """Trade frames of an hftbacktest capture as columns (ts in ns, side 1 buy / 2 sell)."""
    rows = [(d["T"] * 1_000_000, stamp, float(d["p"]), float(d["q"]), 2 if d["m"] else 1, d["t"])
            for stamp, d in _frames(path) if d.get("e") == "trade"]
    names = ("ts_event", "ts_recv", "price", "quantity", "side", "trade_id")
    dtypes = (np.int64, np.int64, np.float64, np.float64, np.int8, np.int64)
    return {name: np.array([row[i] for row in rows], dtype=dtype) for i, (name, dtype) in enumerate(zip(names, dtypes))}


def binance_depth_events(path, symbol="BTC/USDT") -> list[BookDeltas]:
    """Diff-depth frames of an hftbacktest capture as BookDeltas."""
    events = []
    for stamp, d in _frames(path):
        if d.get("e") != "depthUpdate":
            continue
        bids = np.array([[float(p), float(q)] for p, q in d["b"]]).reshape(-1, 2)
        asks = np.array([[float(p), float(q)] for p, q in d["a"]]).reshape(-1, 2)
        events.append(BookDeltas("binance", symbol, d["E"] * 1_000_000, stamp, d["U"], d["u"], d.get("pu", -1), bids, asks))
    return events


def take(columns: dict, start: int, stop: int) -> dict:
    return {name: values[start:stop] for name, values in columns.items()}
