"""Loaders of the recorded captures, checked against counts and oracles of the data set."""

from __future__ import annotations

import gzip
import zlib
from decimal import Decimal

import orjson
import pytest

from cryptobot.gateways.emulator.config import load_tape
from cryptobot.gateways.recordings import (
    RecordingError,
    load_f1,
    load_f2,
    load_recording,
    load_reference,
)


@pytest.fixture(scope="module")
def spot(sample_data):
    # Shared with the emulator tests through the process-wide cache of loaded captures.
    return load_tape(sample_data, ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz"))


@pytest.fixture(scope="module")
def spot_day(spot):
    """The frames of the first day file only."""
    return [frame for frame in spot.frames if frame.source == "btcusdt_20240808.gz"]


def _head(source, target, lines: int):
    """Copy the first lines of a real capture into a smaller gzip file."""
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        head = [next(handle) for _ in range(lines)]
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.writelines(head)
    return target


@pytest.fixture(scope="module")
def kraken(sample_data):
    folder = sample_data / "cryptofeed"
    return load_f2([folder / "KRAKEN.ws.48.0", folder / "KRAKEN.ws.49.0", folder / "KRAKEN.ws.50.0"])


def test_f1_spot_kind_counts(spot, spot_day):
    # Counts from the data set's file table: 9,757 trades, 28,040 bookTicker, 3,451 diffs.
    kinds = [frame.kind for frame in spot_day]
    assert kinds.count("trade") == 9757
    assert kinds.count("bookTicker") == 28040
    assert kinds.count("depthUpdate") == 3451
    assert spot.exchange == "binance"


def test_f1_spot_snapshot_line(spot):
    snapshot = spot.snapshots["BTCUSDT"]
    assert snapshot.last_update_id == 50093239218
    assert snapshot.line == 8
    assert snapshot.position == 7
    assert len(snapshot.bids) == 1000
    assert snapshot.bids[0] == ("61837.63000000", "3.78826000")


def test_f1_nanosecond_stamp_kept(spot_day):
    assert spot_day[0].ts_ns == 1723161253937085768
    assert spot_day[0].line == 1


def test_f1_microsecond_stamps_scaled(sample_data, tmp_path):
    path = _head(sample_data / "hftbacktest/usdm/btcusdt_20230404.dat.gz", tmp_path / "btcusdt_20230404.dat.gz", 30)
    recording = load_f1([path])
    assert recording.frames[0].ts_ns == 1680652700423575 * 1000
    assert recording.snapshots["BTCUSDT"].line == 17
    assert recording.exchange == "binance_usdm"


def test_f1_continuation_in_name_order(sample_data, tmp_path):
    folder = sample_data / "hftbacktest/spot"
    first = _head(folder / "btcusdt_20240808.gz", tmp_path / "btcusdt_20240808.gz", 50)
    second = _head(folder / "btcusdt_20240809.gz", tmp_path / "btcusdt_20240809.gz", 50)
    recording = load_f1([second, first])
    assert recording.frames[0].source == "btcusdt_20240808.gz"
    assert recording.frames[-1].source == "btcusdt_20240809.gz"
    assert len(recording.frames) == 50 - 1 + 50


def test_f1_whole_capture_size(spot):
    assert len(spot.frames) == 41249 - 1 + 58325


def test_f1_payload_is_data_text(spot_day):
    for frame in spot_day[:200]:
        assert orjson.loads(frame.payload) == orjson.loads(frame.text)["data"]
        assert frame.text == f'{{"stream":"{frame.channel}","data":{frame.payload}}}'


def test_f1_coinm_detected(sample_data, tmp_path):
    path = _head(sample_data / "hftbacktest/cm/btcusd_perp_20240808.gz", tmp_path / "btcusd_perp_20240808.gz", 60)
    recording = load_f1([path])
    assert recording.exchange == "binance_coinm"
    assert recording.snapshots["BTCUSD_PERP"].last_update_id == 1007198635033


def _replay_spot(recording):
    """Plain replay from the snapshot: (applied, gaps, ticker matches, ticker mismatches).

    A bookTicker is compared with the book right after the diff carrying
    the same update id, wherever it arrived (bookTicker is real time, the
    diffs come in 100 ms batches).
    """
    tickers = {}
    for frame in recording.frames:
        if frame.kind == "bookTicker":
            data = orjson.loads(frame.payload)
            tickers[data["u"]] = data
    snapshot = recording.snapshots["BTCUSDT"]
    bids = {Decimal(p): q for p, q in snapshot.bids}
    asks = {Decimal(p): q for p, q in snapshot.asks}
    last = snapshot.last_update_id
    applied = gaps = matches = mismatches = 0
    for frame in recording.frames:
        if frame.kind != "depthUpdate":
            continue
        data = orjson.loads(frame.payload)
        if data["u"] <= last:
            continue
        if applied == 0 and not data["U"] <= last + 1 <= data["u"]:
            gaps += 1
        elif applied and data["U"] != last + 1:
            gaps += 1
        for side, levels in ((bids, data["b"]), (asks, data["a"])):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = qty
        last = data["u"]
        applied += 1
        ticker = tickers.get(last)
        if ticker is not None:
            best_bid, best_ask = max(bids), min(asks)
            same = (best_bid == Decimal(ticker["b"]) and Decimal(bids[best_bid]) == Decimal(ticker["B"])
                    and best_ask == Decimal(ticker["a"]) and Decimal(asks[best_ask]) == Decimal(ticker["A"]))
            matches += same
            mismatches += not same
    return applied, gaps, matches, mismatches


def test_f1_replay_oracle_holds(spot):
    # The data set documents 6,493 diffs applied, 0 gaps, 1,072/1,072 bookTicker matches.
    applied, gaps, matches, mismatches = _replay_spot(spot)
    assert applied == 6493
    assert gaps == 0
    assert matches == 1072
    assert mismatches == 0


def _write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


GOOD_DIFF = ('{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":6,'
             '"b":[["1.0","2.0"]],"a":[]}}')
GOOD_SNAPSHOT = '{"lastUpdateId":5,"bids":[["1.0","1.0"]],"asks":[["2.0","1.0"]]}'


def test_f1_reports_malformed_lines(tmp_path):
    path = tmp_path / "bad_20240101.gz"
    _write_gz(path, [f"1723161253937085768 {GOOD_DIFF}", "1723161253937085769 {not json",
                     "no-space-here", f"1723161253937085770 {GOOD_SNAPSHOT}"])
    with pytest.raises(RecordingError) as info:
        load_f1([path])
    assert "line 2" in info.value.message
    assert "line 3" in info.value.message
    assert set(info.value.details["lines"]) == {"bad_20240101.gz:2", "bad_20240101.gz:3"}


def test_f1_non_strict_skips_malformed(tmp_path):
    path = tmp_path / "bad_20240101.gz"
    _write_gz(path, [f"1723161253937085768 {GOOD_DIFF}", "1723161253937085769 {not json",
                     f"1723161253937085770 {GOOD_SNAPSHOT}"])
    recording = load_f1([path], strict=False)
    assert len(recording.frames) == 1
    assert [(source, line) for source, line, _ in recording.skipped] == [("bad_20240101.gz", 2)]


def test_f1_rejects_bad_level(tmp_path):
    path = tmp_path / "level_20240101.gz"
    bad = GOOD_DIFF.replace('["1.0","2.0"]', '["1.0",2.0]')
    _write_gz(path, [f"1723161253937085768 {bad}", f"1723161253937085770 {GOOD_SNAPSHOT}"])
    with pytest.raises(RecordingError, match="line 1: depthUpdate 'b' contains a malformed level"):
        load_f1([path])


def test_f1_rejects_missing_snapshot(tmp_path):
    path = tmp_path / "nosnap_20240101.gz"
    _write_gz(path, [f"1723161253937085768 {GOOD_DIFF}"])
    with pytest.raises(RecordingError, match="expected exactly one depth snapshot line, found 0"):
        load_f1([path])


def test_f1_missing_file_named(tmp_path):
    with pytest.raises(RecordingError, match="file not found"):
        load_f1([tmp_path / "absent.gz"])


def test_f2_binance_snapshots_attached(sample_data):
    folder = sample_data / "cryptofeed"
    recording = load_f2([folder / "BINANCE.ws.1.0", folder / "BINANCE.http.0.0"])
    assert recording.exchange == "binance"
    assert len(recording.frames) == 265
    assert recording.snapshots["NKNUSDT"].last_update_id == 499869752
    assert recording.snapshots["NKNUSDT"].url.endswith("symbol=NKNUSDT&limit=1000")
    assert sorted(recording.snapshots) == ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]


def test_f2_combined_file(sample_data):
    recording = load_recording(sample_data / "cryptofeed/BINANCE-b38f7c.0")
    assert len(recording.snapshots) == 10
    assert recording.count("depthUpdate") == 4709
    assert recording.count("aggTrade") == 1240


def test_f2_kraken_kind_counts(kraken):
    assert kraken.exchange == "kraken"
    assert kraken.count("book_snapshot") == 10
    assert kraken.count("book_update") == 4269
    assert kraken.count("trade") == 8
    assert kraken.count("ticker") == 18


def test_f2_kraken_merged_in_time_order(kraken):
    stamps = [frame.ts_ns for frame in kraken.frames]
    assert stamps == sorted(stamps)
    assert kraken.channel_ids[("book-1000", "WAVES/EUR")] == 1664
    assert kraken.channel_ids[("ticker", "ADA/XBT")] == 1364


def _crc(asks, bids):
    text = "".join(p.replace(".", "").lstrip("0") + v.replace(".", "").lstrip("0")
                   for p, v in list(asks) + list(bids))
    return zlib.crc32(text.encode())


def test_f2_kraken_checksums_reproduced(kraken):
    books: dict[str, dict[str, dict]] = {}
    checked = 0
    for frame in kraken.frames:
        if frame.kind not in ("book_snapshot", "book_update"):
            continue
        message = orjson.loads(frame.text)
        pair = message[-1]
        if frame.kind == "book_snapshot":
            books[pair] = {"a": {Decimal(l[0]): l for l in message[1]["as"]},
                           "b": {Decimal(l[0]): l for l in message[1]["bs"]}}
            continue
        book = books[pair]
        for payload in message[1:-2]:
            for side in ("a", "b"):
                for level in payload.get(side, []):
                    if Decimal(level[1]) == 0:
                        book[side].pop(Decimal(level[0]), None)
                    else:
                        book[side][Decimal(level[0])] = level
        asks = [(book["a"][k][0], book["a"][k][1]) for k in sorted(book["a"])[:10]]
        bids = [(book["b"][k][0], book["b"][k][1]) for k in sorted(book["b"], reverse=True)[:10]]
        assert _crc(asks, bids) == int(message[-3]["c"])
        checked += 1
    assert checked == 4269


def test_f2_reports_bad_line(tmp_path):
    path = tmp_path / "KRAKEN.ws.1.0"
    path.write_text("wss://ws.kraken.com <-> 1618678132.3858151\n"
                    '1618678132.8258188: {"event":"heartbeat"}\n'
                    "1618678133.1: [1,{\"x\":1},\"book-10\",\"XBT/USD\"]\n"
                    "garbage line\n")
    with pytest.raises(RecordingError) as info:
        load_f2([path])
    assert "KRAKEN.ws.1.0:3" in info.value.details["lines"]
    assert "KRAKEN.ws.1.0:4" in info.value.details["lines"]


def test_reference_exchange_info(sample_data):
    reference = load_reference(sample_data / "cryptofeed/BINANCE.0")
    assert reference.kind == "exchangeInfo"
    symbols = {entry["symbol"]: entry for entry in reference.body["symbols"]}
    price_filter = next(f for f in symbols["BTCUSDT"]["filters"] if f["filterType"] == "PRICE_FILTER")
    assert price_filter["tickSize"] == "0.01000000"


def test_reference_asset_pairs(sample_data):
    reference = load_reference(sample_data / "cryptofeed/KRAKEN.0")
    assert reference.kind == "AssetPairs"
    assert reference.body["result"]["XBTCHF"]["pair_decimals"] == 1


def test_reference_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(RecordingError, match="neither exchangeInfo nor AssetPairs"):
        load_reference(path)
