"""Value types of a loaded recording: frames, depth snapshots and reference data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptobot.core.errors import ValidationError

BINANCE = "binance"
BINANCE_USDM = "binance_usdm"
BINANCE_COINM = "binance_coinm"
KRAKEN = "kraken"
EXCHANGES = (BINANCE, BINANCE_USDM, BINANCE_COINM, KRAKEN)

# Binance frame kinds are the event type ``e`` of the payload; the spot
# bookTicker payload has no ``e`` and gets ``bookTicker``.
DEPTH_UPDATE = "depthUpdate"
TRADE = "trade"
AGG_TRADE = "aggTrade"
BOOK_TICKER = "bookTicker"
KLINE = "kline"
MARK_PRICE = "markPriceUpdate"

# Kraken v1 frame kinds.  Events (``{"event": ...}``) use the event name.
BOOK_SNAPSHOT = "book_snapshot"
BOOK_UPDATE = "book_update"
TICKER = "ticker"
SPREAD = "spread"
OHLC = "ohlc"
HEARTBEAT = "heartbeat"
SYSTEM_STATUS = "systemStatus"
SUBSCRIPTION_STATUS = "subscriptionStatus"


class RecordingError(ValidationError):
    """A recording file is missing, unreadable or contains malformed lines.

    ``details`` maps ``"path"`` to the file and ``"lines"`` to a dict of
    line number -> problem (at most the first 20 problems).
    """

    code = "invalid_recording"


class RecordedFrame(NamedTuple):
    """One WebSocket text frame as the exchange sent it (an immutable named tuple).

    Attributes
    ----------
    ts_ns
        Local receive time of the recorder, nanoseconds since the epoch.
        Recorder clocks were off by up to a few seconds, so use it for
        ordering and pacing only; event times are inside the frame.
    text
        The frame text exactly as recorded.
    kind
        What the frame carries (``depthUpdate``, ``trade``, ``book_update``...).
    symbol
        The exchange's spelling of the instrument (``BTCUSDT``, ``XBT/CHF``),
        empty for Kraken events.
    channel
        Binance stream name (``btcusdt@depth@100ms``) or Kraken channel name
        (``book-1000``, ``trade``); the event name for Kraken events.
    source, line
        File name and 1-based line number the frame came from.
    channel_id
        Kraken v1 channel id of a data frame, -1 otherwise.
    data_offset
        For a Binance combined-stream frame ``{"stream":...,"data":P}``, the
        index where ``P`` starts; 0 for frames that are not wrapped.
    """

    ts_ns: int
    text: str
    kind: str
    symbol: str
    channel: str
    source: str
    line: int
    channel_id: int = -1
    data_offset: int = 0

    @property
    def payload(self) -> str:
        """The raw-stream payload: the ``data`` part of a combined frame, else the whole text."""
        if self.data_offset:
            return self.text[self.data_offset:-1]
        return self.text


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST depth snapshot (Binance ``GET /api/v3/depth``, ``/fapi/v1/depth``).

    ``bids`` are best first (descending price) and ``asks`` best first
    (ascending), as ``(price, quantity)`` strings exactly as recorded.
    ``position`` is how many frames of the recording arrived before it, so a
    consumer replaying the capture can tell which diffs it had to buffer.
    """

    symbol: str
    last_update_id: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    ts_ns: int
    text: str
    source: str
    line: int
    position: int
    event_time: int | None = None
    transaction_time: int | None = None
    url: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """A recorded REST reference body: Binance ``exchangeInfo`` or Kraken ``AssetPairs``."""

    exchange: str
    kind: str
    url: str
    ts_ns: int
    body: dict[str, Any]
    source: str


@dataclass(slots=True)
class Recording:
    """A replayable capture of one exchange connection (or several merged by time).

    Attributes
    ----------
    exchange
        One of ``binance``, ``binance_usdm``, ``binance_coinm``, ``kraken``.
    frames
        Received frames in arrival order (REST snapshots are not frames).
    snapshots
        Depth snapshot per symbol (Binance only).
    sent
        Frames the recorder sent (Kraken subscribe requests), as (ts_ns, text).
    channel_ids
        Kraken ``(channel name, pair) -> channel id`` from the recorded
        subscription acknowledgements and data frames.
    skipped
        ``(source, line, problem)`` of each malformed line skipped by a
        non-strict load; empty after a strict load.
    cache
        Data derived from the frames by consumers (pre-encoded frames),
        kept with the recording so every replay of it shares them.
    """

    exchange: str
    frames: list[RecordedFrame]
    snapshots: dict[str, DepthSnapshot] = field(default_factory=dict)
    sent: list[tuple[int, str]] = field(default_factory=list)
    channel_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def symbols(self) -> list[str]:
        """Instruments with at least one data frame, in order of first appearance."""
        seen: dict[str, None] = {}
        for frame in self.frames:
            if frame.symbol:
                seen.setdefault(frame.symbol, None)
        return list(seen)

    @property
    def channels(self) -> list[str]:
        """Binance stream names or Kraken channel names present, in order of first appearance."""
        seen: dict[str, None] = {}
        for frame in self.frames:
            if frame.symbol:
                seen.setdefault(frame.channel, None)
        return list(seen)

    def count(self, kind: str) -> int:
        """Return the number of frames of one kind."""
        return sum(1 for frame in self.frames if frame.kind == kind)
