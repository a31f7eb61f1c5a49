"""Keeping one book in sync with its exchange stream: Binance sequencing, Kraken checksums.

Binance (:class:`BinanceBookSync`) follows the documented procedure: diff
events are buffered until the REST snapshot arrives; buffered events the
snapshot already holds (``u <= lastUpdateId``) are dropped; the first one
after must straddle the snapshot, and each next one must continue the
previous (see :mod:`cryptobot.hotpath.sequencer`).  When the first buffered
event left does not straddle, the snapshot is older than the stream held
("stale snapshot") and a newer one is needed; the buffer is kept.

The snapshot's depth boundary: a REST snapshot lists the best ``limit``
levels per side.  Levels beyond its worst price existed but are unknown,
so a diff that touches a price out there would put a lone level into a
region the book cannot see whole, and it would linger there, stale, when
the market moves towards it.  The book therefore keeps only levels inside
the band the snapshot covered (bids at or above its worst bid, asks at or
below its worst ask): every level it shows is then exact.  When the market
moves so far that a side keeps fewer than :data:`MIN_BAND_LEVELS` levels
inside the band, a new snapshot is needed.  A side the snapshot listed
whole (fewer levels than asked for) has no boundary.

Kraken (:class:`KrakenBookSync`) sends the book for the subscribed depth
and no deletion for a level pushed out of it, so the book is truncated to
that depth after each update; then the top-10 CRC32 must equal the
checksum Kraken sent, or the book is out of sync.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cryptobot.core.errors import BookError, SequenceGap
from cryptobot.gateways.feeds.messages import KrakenBookUpdate, SnapshotReady
from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.depth_wire import BINANCE_SCALE_DIGITS, DepthUpdate, apply_binance
from cryptobot.hotpath.sequencer import BinanceSequencer

APPLIED = 1
STALE = 2
BUFFERED = 3
IGNORED = 4

MIN_BAND_LEVELS = 20
"""Fewest levels a side may keep inside the snapshot's band before a new snapshot is needed
(half the snapshot's depth when that is smaller)."""


class OutOfSync(Exception):
    """The book no longer follows the exchange; ``reason`` says why; it needs a new snapshot."""

    def __init__(self, reason: str, kind: str):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class BinanceBookSync:
    """The book of one Binance symbol and the state of its synchronisation.

    Parameters
    ----------
    symbol
        Unified symbol, for messages.
    futures
        True for USD-M (events chained by ``pu``).
    max_buffered
        Events kept while waiting for a snapshot; the oldest are dropped past it.
    """

    def __init__(self, symbol: str, futures: bool, max_buffered: int):
        self.symbol = symbol
        self.futures = futures
        self.max_buffered = max_buffered
        self.book: OrderBook | None = None
        self.sequencer: BinanceSequencer | None = None
        self.ready = False
        self.buffer: deque[DepthUpdate] = deque()
        self.bid_floor = 0
        self.ask_ceiling = 0
        self.min_levels = MIN_BAND_LEVELS
        self.applied = 0
        self.stale = 0
        self.gaps = 0
        self.stale_snapshots = 0
        self.buffer_overflows = 0
        self.band_exhausted = 0

    def reset(self) -> None:
        """Forget the book; buffer events until the next snapshot."""
        self.ready = False
        self.book = None
        self.sequencer = None
        self.buffer.clear()

    def on_update(self, update: DepthUpdate) -> int:
        """Apply or buffer one event; return APPLIED, STALE or BUFFERED.

        Raises
        ------
        OutOfSync
            On a sequence gap, a rejected event, or a band too thin; the
            event is buffered, the book is no longer ready.
        """
        if not self.ready:
            self._buffer(update)
            return BUFFERED
        try:
            status = apply_binance(self.sequencer, update, self.bid_floor, self.ask_ceiling)
        except SequenceGap as exc:
            self.gaps += 1
            self._fail(update)
            raise OutOfSync(f"sequence gap: {exc.message}", "gap") from None
        except BookError as exc:
            self._fail(update)
            raise OutOfSync(f"rejected depth event: {exc.message}", "rejected") from None
        if status == APPLIED:
            self.applied += 1
            self._check_band()
        else:
            self.stale += 1
        return status

    def on_snapshot(self, snapshot: SnapshotReady) -> None:
        """Start over from ``snapshot`` and replay the buffered events.

        Raises
        ------
        OutOfSync
            If the snapshot is older than the buffered stream (kind
            ``stale_snapshot``) or the buffer holds a gap (kind ``gap``);
            the events from there on stay buffered.
        BookError
            If the snapshot itself is invalid (crossed, duplicate prices).
        """
        digits = BINANCE_SCALE_DIGITS
        book = OrderBook(self.symbol, digits, digits)
        book.apply_snapshot_raw(snapshot.bids, snapshot.asks, snapshot.sequence, snapshot.ts_event)
        self.book = book
        self.sequencer = BinanceSequencer(book, self.futures)
        self.bid_floor = int(snapshot.bids[:, 0].min()) if len(snapshot.bids) >= snapshot.depth else 0
        self.ask_ceiling = int(snapshot.asks[:, 0].max()) if len(snapshot.asks) >= snapshot.depth else 0
        self.min_levels = min(MIN_BAND_LEVELS, max(snapshot.depth // 2, 1))
        joined = False
        while self.buffer:
            update = self.buffer[0]
            try:
                status = apply_binance(self.sequencer, update, self.bid_floor, self.ask_ceiling)
            except SequenceGap as exc:
                if not joined:
                    self.stale_snapshots += 1
                    raise OutOfSync(f"stale snapshot: lastUpdateId {snapshot.sequence} is older than the buffered "
                                    f"stream ({exc.message})", "stale_snapshot") from None
                self.gaps += 1
                raise OutOfSync(f"sequence gap in the buffered events: {exc.message}", "gap") from None
            except BookError as exc:
                self.buffer.popleft()
                raise OutOfSync(f"rejected buffered depth event: {exc.message}", "rejected") from None
            self.buffer.popleft()
            if status == APPLIED:
                joined = True
                self.applied += 1
            else:
                self.stale += 1
        self.ready = True
        self._check_band()

    def _buffer(self, update: DepthUpdate) -> None:
        if len(self.buffer) >= self.max_buffered:
            self.buffer.popleft()
            self.buffer_overflows += 1
        self.buffer.append(update)

    def _fail(self, update: DepthUpdate) -> None:
        self.ready = False
        self.buffer.clear()
        self.buffer.append(update)

    def _check_band(self) -> None:
        book = self.book
        thin = (self.bid_floor and book.bid_count < self.min_levels) or \
               (self.ask_ceiling and book.ask_count < self.min_levels)
        if thin:
            self.band_exhausted += 1
            self.ready = False
            self.buffer.clear()
            raise OutOfSync(f"fewer than {self.min_levels} levels left inside the snapshot's price band "
                            f"({book.bid_count} bids, {book.ask_count} asks)", "band")


class KrakenBookSync:
    """The book of one Kraken pair, truncated to the subscribed depth and checked against Kraken's checksums."""

    def __init__(self, symbol: str):
        self.symbol = symbol
        self.book: OrderBook | None = None
        self.depth = 0
        self.ready = False
        self.applied = 0
        self.verified = 0
        self.checksum_failures = 0
        self.ignored = 0

    def reset(self) -> None:
        self.ready = False
        self.book = None

    def on_snapshot(self, snapshot: SnapshotReady) -> None:
        """Replace the book with ``snapshot``; raise BookError if it is invalid."""
        book = OrderBook(self.symbol, snapshot.price_precision, snapshot.size_precision)
        book.apply_snapshot_raw(snapshot.bids, snapshot.asks, 0, snapshot.ts_event)
        book.truncate(snapshot.depth)
        self.book = book
        self.depth = snapshot.depth
        self.ready = True

    def on_update(self, update: KrakenBookUpdate) -> int:
        """Apply one update and verify its checksum; return APPLIED or IGNORED (no snapshot yet).

        Raises
        ------
        OutOfSync
            On a checksum mismatch or a rejected update; the book is then
            not ready.
        """
        if not self.ready:
            self.ignored += 1
            return IGNORED
        book = self.book
        try:
            book.apply_deltas_raw(update.bids, update.asks, 0, update.ts_event)
        except BookError as exc:
            self.ready = False
            raise OutOfSync(f"rejected book update: {exc.message}", "rejected") from None
        book.truncate(self.depth)
        self.applied += 1
        computed = book.checksum_kraken()
        if computed != update.checksum:
            self.checksum_failures += 1
            self.ready = False
            raise OutOfSync(f"checksum mismatch: computed {computed}, Kraken sent {update.checksum}", "checksum")
        self.verified += 1
        return APPLIED


def empty_rows() -> np.ndarray:
    return np.empty((0, 2), dtype=np.int64)
