"""Kraken book checksums: a real WebSocket v1 capture, Kraken's documented example, and the v2 rule.

The capture contains ten pairs subscribed at depth 1000.  Each update is applied
as one batch, the book is cut back to the subscribed depth (Kraken sends no
removal for levels that fall out of it), and the CRC32 of the top 10 levels
must equal the ``"c"`` Kraken sent with the update.  (No book of this
capture outgrows 1000 levels, so here the cut never drops a level; the unit
tests cover ``truncate``.)  Levels go in as ticks
and lots: the capture has prices such as 99999997.00000000, whose 8-decimal
ticks exceed what a float carries exactly.
"""

from __future__ import annotations

import zlib

import numpy as np
import orjson
import pytest

from cryptobot.hotpath.book import OrderBook
from cryptobot.hotpath.crc32 import crc32
from cryptobot.hotpath.reference_book import ReferenceBook

CAPTURE = "cryptofeed/KRAKEN.ws.50.0"
CHECKSUMS_IN_CAPTURE = 4_269


def decimals(text: str) -> int:
    return len(text.partition(".")[2])


def raw_rows(levels) -> np.ndarray:
    """Parse [price, volume, timestamp] levels into (ticks, lots) as a feed decoder would.

    The strings of one pair all carry the book's decimals (asserted by the
    test), so dropping the '.' gives the ticks and lots.  A level may carry a
    fourth element "r" when Kraken republishes it after a trade; the flag
    changes nothing here.
    """
    rows = [(int(level[0].replace(".", "")), int(level[1].replace(".", ""))) for level in levels]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def read_book_messages(path):
    """Yield (pair, depth, payloads) for every book message of a cryptofeed capture."""
    with open(path, "rb") as file:
        for line in file:
            if not line[:1].isdigit():
                continue  # connection, subscription and configuration lines
            message = orjson.loads(line[line.index(b": ") + 2 :])
            if isinstance(message, list) and message[-2].startswith("book-"):
                yield message[-1], int(message[-2].removeprefix("book-")), message[1:-2]


def test_kraken_checksums_match_capture(sample_data):
    books = {}
    verified = 0
    for pair, depth, payloads in read_book_messages(sample_data / CAPTURE):
        if "as" in payloads[0] or "bs" in payloads[0]:
            asks, bids = payloads[0].get("as", []), payloads[0].get("bs", [])
            # Kraken v1 writes every price of a pair with the same decimals
            # (which may exceed AssetPairs' pair_decimals) and volumes with 8.
            first = (asks or bids)[0]
            price_precision, size_precision = decimals(first[0]), decimals(first[1])
            books[pair] = [
                book_class(pair, price_precision, size_precision) for book_class in (OrderBook, ReferenceBook)
            ]
            for book in books[pair]:
                book.apply_snapshot_raw(raw_rows(bids), raw_rows(asks), sequence=0)
            continue

        asks = [level for payload in payloads for level in payload.get("a", [])]
        bids = [level for payload in payloads for level in payload.get("b", [])]
        expected = int(payloads[-1]["c"])
        for book in books[pair]:
            assert all(decimals(level[0]) == book.price_precision for level in asks + bids), pair
            assert all(decimals(level[1]) == book.size_precision for level in asks + bids), pair
            book.apply_deltas_raw(raw_rows(bids), raw_rows(asks))
            book.truncate(depth)
            assert book.checksum_kraken() == expected, f"{type(book).__name__} {pair} after update {verified}"
        verified += 1

    assert verified == CHECKSUMS_IN_CAPTURE
    assert len(books) == 10
    for compiled, reference in books.values():
        compiled.check_integrity()
        assert compiled.bid_count <= 1000
        np.testing.assert_array_equal(compiled.top_raw(1000)[0], reference.top_raw(1000)[0])
        np.testing.assert_array_equal(compiled.top_raw(1000)[1], reference.top_raw(1000)[1])


@pytest.mark.parametrize("book_class", [OrderBook, ReferenceBook])
def test_kraken_checksum_documented_v1_example(book_class):
    # Kraken's v1 guide: asks 0.05005..0.05050 and bids 0.05000..0.04950
    # (no 0.04985), each with volume 0.00000500, give the checksum 974947235.
    book = book_class("BTC/USD", 5, 8)
    asks = [[0.05005 + 0.00005 * i, 0.000005] for i in range(10)]
    bids = [[price, 0.000005] for price in (0.05, 0.04995, 0.0499, 0.0498, 0.04975, 0.0497, 0.04965, 0.0496, 0.04955, 0.0495)]
    book.apply_snapshot(bids, asks, sequence=0)
    assert book.checksum_kraken() == 974947235


@pytest.mark.parametrize("book_class", [OrderBook, ReferenceBook])
def test_kraken_checksum_v2_formats_numbers_at_pair_precision(book_class):
    # v2 sends JSON numbers, so 45285.0 arrives as 45285.0 and 1.0 as 1.0;
    # the checksum formats them at the pair's precisions (price 1, qty 8)
    # before removing the '.' and the leading zeros.
    asks = [[45285.0, 1.0], [45285.2, 0.001], [45286.4, 0.25], [45290.1, 12.5]]
    bids = [[45283.5, 0.1], [45280.0, 2.0], [45270.3, 0.00004321]]
    book = book_class("BTC/USD", 1, 8)
    book.apply_snapshot(np.array(bids), np.array(asks), sequence=0)

    def level_text(price, qty):
        return f"{price:.1f}".replace(".", "").lstrip("0") + f"{qty:.8f}".replace(".", "").lstrip("0")

    text = "".join(level_text(p, q) for p, q in asks) + "".join(level_text(p, q) for p, q in bids)
    assert text.startswith("452850100000000" "452852100000")
    assert book.checksum_kraken() == zlib.crc32(text.encode())


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 63, 64, 65, 1000])
def test_crc32_equals_zlib(length):
    data = bytes((i * 37 + 11) % 256 for i in range(length))
    assert crc32(data) == zlib.crc32(data)
    assert crc32(data[length // 2 :], crc32(data[: length // 2])) == zlib.crc32(data)
