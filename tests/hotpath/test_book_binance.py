"""Replay of real Binance diff-depth captures through BinanceSequencer and OrderBook.

Each capture contains the combined-stream frames of one symbol, one line each as
``<receive ns> <json>``, with the REST depth snapshot a few lines after the
first diffs (the recorder buffered diffs while the snapshot was in flight).
The checks: no sequence gap, the expected number of applied events, the best
bid and ask equal every ``bookTicker`` frame carrying the same update id, and
at checkpoints the top 20 levels equal a plain reconstruction in ``Decimal``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import orjson
import pytest

from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.sequencer import BinanceSequencer, SyncStatus

CHECKPOINT_EVERY = 500
CHECKPOINT_LEVELS = 20


@dataclass(frozen=True)
class Capture:
    files: tuple[str, ...]
    futures: bool
    price_precision: int
    size_precision: int
    applied: int
    ticker_matches: int


# Precisions are the instruments' tick and step decimals, except spot sizes:
# its resting levels include sizes with 6 decimals, older than the current
# 0.00001 step, so the book uses the 8 decimals Binance writes.
CAPTURES = {
    "spot_btcusdt": Capture(
        ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz"), False, 2, 8, 6_493, 1_072
    ),
    "usdm_btcusdt": Capture(("hftbacktest/usdm/btcusdt_20240808.gz",), True, 1, 3, 6_547, 629),
    "usdm_ethusdt": Capture(("hftbacktest/usdm/ethusdt_20240808.gz",), True, 2, 3, 6_580, 551),
    "cm_btcusd_perp": Capture(("hftbacktest/cm/btcusd_perp_20240808.gz",), True, 1, 0, 26_824, 1_124),
}


@dataclass
class Recording:
    snapshot: dict | None = None
    # Diff events in arrival order: (U, u, pu, E, bids, asks) with decimal strings.
    events: list = field(default_factory=list)
    # bookTicker update id -> (bid, bid size, ask, ask size) strings.
    tickers: dict = field(default_factory=dict)


def read_capture(folder, files) -> Recording:
    recording = Recording()
    for name in files:
        with gzip.open(folder / name, "rb") as file:
            lines = file.read().splitlines()
        for line in lines:
            if b"@trade" in line or b"@markPrice" in line:
                continue
            frame = orjson.loads(line[line.index(b" ") + 1 :])
            if "lastUpdateId" in frame:
                assert recording.snapshot is None, "a capture holds one snapshot"
                recording.snapshot = frame
                continue
            stream, data = frame["stream"], frame["data"]
            if "@depth" in stream:
                recording.events.append((data["U"], data["u"], data.get("pu", -1), data["E"], data["b"], data["a"]))
            elif stream.endswith("@bookTicker"):
                recording.tickers[data["u"]] = (data["b"], data["B"], data["a"], data["A"])
    return recording


def to_units(text: str, precision: int) -> int:
    """Parse a decimal string into an integer count of 10**-precision, exactly."""
    value = Decimal(text).scaleb(precision)
    assert value == value.to_integral_value(), f"{text} is not a multiple of 10**-{precision}"
    return int(value)


def float_rows(rows) -> np.ndarray:
    return np.array([(float(price), float(size)) for price, size in rows], dtype=np.float64).reshape(-1, 2)


def raw_rows(rows, capture: Capture) -> np.ndarray:
    return np.array(
        [(to_units(price, capture.price_precision), to_units(size, capture.size_precision)) for price, size in rows],
        dtype=np.int64,
    ).reshape(-1, 2)


class DecimalBook:
    """The plainest possible book: two dicts from price string to size string.

    Binance writes every price of a symbol with the same decimals, so equal
    prices are equal strings; ``Decimal`` orders them at the checkpoints.
    """

    def __init__(self, snapshot):
        self.bids = {}
        self.asks = {}
        self.apply(snapshot["bids"], snapshot["asks"])

    def apply(self, bids, asks):
        for levels, rows in ((self.bids, bids), (self.asks, asks)):
            for price, size in rows:
                if Decimal(size) == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = size

    def top(self, depth):
        bids = sorted(((Decimal(p), Decimal(q)) for p, q in self.bids.items()), reverse=True)[:depth]
        asks = sorted((Decimal(p), Decimal(q)) for p, q in self.asks.items())[:depth]
        return bids, asks


def as_decimal_levels(rows: np.ndarray, capture: Capture):
    return [
        (Decimal(int(price)).scaleb(-capture.price_precision), Decimal(int(size)).scaleb(-capture.size_precision))
        for price, size in rows.tolist()
    ]


@pytest.fixture(scope="module")
def recordings(sample_data):
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = read_capture(sample_data, CAPTURES[name].files)
        return cache[name]

    return load


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("spot_btcusdt", False),
        ("spot_btcusdt", True),
        ("usdm_btcusdt", False),
        ("usdm_ethusdt", False),
        ("cm_btcusd_perp", True),
    ],
)
def test_binance_replay_matches_tickers_and_decimal_book(recordings, name, raw):
    capture = CAPTURES[name]
    recording = recordings(name)
    snapshot = recording.snapshot
    assert snapshot is not None

    book = OrderBook(name, capture.price_precision, capture.size_precision)
    snapshot_ns = snapshot.get("E", 0) * 1_000_000
    if raw:
        book.apply_snapshot_raw(
            raw_rows(snapshot["bids"], capture), raw_rows(snapshot["asks"], capture), snapshot["lastUpdateId"], snapshot_ns
        )
    else:
        book.apply_snapshot(float_rows(snapshot["bids"]), float_rows(snapshot["asks"]), snapshot["lastUpdateId"], snapshot_ns)
    sequencer = BinanceSequencer(book, futures=capture.futures)
    plain = DecimalBook(snapshot)

    applied_ids = []
    ticker_checks = 0
    for first_id, last_id, prev_id, event_ms, bids, asks in recording.events:
        if raw:
            status = sequencer.apply_raw(
                first_id, last_id, prev_id, raw_rows(bids, capture), raw_rows(asks, capture), event_ms * 1_000_000
            )
        else:
            status = sequencer.apply(first_id, last_id, prev_id, float_rows(bids), float_rows(asks), event_ms * 1_000_000)
        if status != SyncStatus.APPLIED:
            continue
        applied_ids.append(last_id)
        plain.apply(bids, asks)

        ticker = recording.tickers.get(last_id)
        if ticker is not None:
            bid, bid_size, ask, ask_size = ticker
            assert (book.best_bid(), book.best_ask()) == (float(bid), float(ask)), f"update id {last_id}"
            assert (book.best_bid_size(), book.best_ask_size()) == (float(bid_size), float(ask_size)), f"update id {last_id}"
            ticker_checks += 1

        if len(applied_ids) % CHECKPOINT_EVERY == 0:
            book.check_integrity()
            bids_top, asks_top = book.top_raw(CHECKPOINT_LEVELS)
            expected_bids, expected_asks = plain.top(CHECKPOINT_LEVELS)
            assert as_decimal_levels(bids_top, capture) == expected_bids, f"bids at update id {last_id}"
            assert as_decimal_levels(asks_top, capture) == expected_asks, f"asks at update id {last_id}"

    assert sequencer.gaps == 0
    assert sequencer.applied == capture.applied
    assert book.sequence == applied_ids[-1]
    assert sum(1 for update_id in applied_ids if update_id in recording.tickers) == capture.ticker_matches
    assert ticker_checks == capture.ticker_matches
    book.check_integrity()
