"""Messages between a feed actor and its book actors.

Binance diff-depth events travel as
:class:`~cryptobot.hotpath.depth_wire.DepthUpdate` (parsed in C); the rest
are the small dataclasses below.  Level rows are int64 (price_ticks,
size_lots) arrays of shape (n, 2) at the precisions the message names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class SnapshotReady:
    """A full book for one symbol: a Binance REST snapshot or a Kraken WebSocket snapshot.

    ``depth`` is the number of levels per side the snapshot was asked for;
    ``sequence`` is Binance ``lastUpdateId`` (0 for Kraken).
    """

    symbol: str
    sequence: int
    bids: np.ndarray
    asks: np.ndarray
    price_precision: int
    size_precision: int
    depth: int
    ts_event: int
    ts_recv: int


@dataclass(slots=True)
class KrakenBookUpdate:
    """One Kraken book update: level rows and the checksum Kraken computed after them."""

    symbol: str
    bids: np.ndarray
    asks: np.ndarray
    checksum: int
    price_precision: int
    size_precision: int
    ts_event: int
    ts_recv: int


@dataclass(slots=True)
class StreamReset:
    """The feed lost (or replaced) the stream of a book; the book is not ready until a new snapshot."""

    reason: str


@dataclass(slots=True)
class SnapshotFailed:
    """The feed gave up on a snapshot after its retries; the book asks again later."""

    symbol: str
    reason: str


@dataclass(slots=True)
class ResyncRequest:
    """A book asks its feed for a fresh snapshot of one symbol (Binance REST; Kraken resubscribe)."""

    symbol: str
    reason: str


@dataclass(slots=True)
class ExchangeTicker:
    """24-hour figures an exchange computed itself (Kraken ticker), passed along in ``Ticker.extra``."""

    symbol: str
    bid: float
    ask: float
    last: float
    volume_24h: float
    open_24h: float
    ts_recv: int
