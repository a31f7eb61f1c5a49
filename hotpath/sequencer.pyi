"""Type stubs of the Binance diff-depth sequencer (see sequencer.pyx for the documentation)."""

import enum

import numpy.typing as npt

from cryptobot.hotpath.book import OrderBook

class SyncStatus(enum.IntEnum):
    APPLIED = 1
    STALE = 2

class BinanceSequencer:
    @property
    def book(self) -> OrderBook: ...
    @property
    def futures(self) -> bool: ...
    @property
    def applied(self) -> int: ...
    @property
    def stale(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    def __init__(self, book: OrderBook, futures: bool = False) -> None: ...
    def apply(
        self, first_id: int, last_id: int, prev_id: int, bids: npt.ArrayLike, asks: npt.ArrayLike, ts_event: int = 0
    ) -> SyncStatus: ...
    def apply_raw(
        self, first_id: int, last_id: int, prev_id: int, bids: npt.ArrayLike, asks: npt.ArrayLike, ts_event: int = 0
    ) -> SyncStatus: ...
