import gzip
import shutil

import pytest

from cryptobot.__main__ import main
from cryptobot.core.errors import ValidationError
from cryptobot.storage import tick_queries
from cryptobot.storage.importers import import_file, parse_file

WIDE = (1_500_000_000_000_000_000, 1_900_000_000_000_000_000)

# (file, exchange, symbol, kind, rows, format): counts from the files' descriptions.
FORMATS = [
    ("hftbacktest/spot/btcusdt_20240808.gz", "binance", "BTC/USDT", "trades", 9_757, "hftbacktest"),
    ("hftbacktest/usdm/btcusdt_20230404.dat.gz", "binance_usdm", "BTC/USDT", "trades", 2_197, "hftbacktest"),
    ("hftbacktest/cm/btcusd_perp_20240808.gz", "binance_coinm", "BTCUSD_PERP", "trades", 2_286, "hftbacktest"),
    ("cryptofeed/BINANCE_FUTURES.ws.1.0", "binance_usdm", "SUSHI/USDT", "trades", None, "cryptofeed"),
    ("cryptofeed/KRAKEN.ws.48.0", "kraken", "SC/EUR", "trades", None, "cryptofeed"),
    ("nautilus_trader/tardis/trades.csv", "binance_usdm", "BTC/USDT", "trades", 9_999, "Tardis.dev trades"),
    ("nautilus_trader/kraken/http_trades.json", "kraken", "BTC/USDT", "trades", 1_000, "Kraken REST Trades"),
    ("freqtrade/kraken_trades_csv/BCHEUR.csv", "kraken", "BCH/EUR", "trades", 148, "Kraken trade-history"),
    ("cryptofeed/BINANCE.ws.1.0", "binance", "NKN/USDT", "book", None, "cryptofeed"),
    ("cryptofeed/BINANCE-b38f7c.0", "binance", "BTC/AUD", "book", None, "cryptofeed"),
    ("hftbacktest/usdm/ethusdt_20240808.gz", "binance_usdm", "ETH/USDT", "book", None, "hftbacktest"),
    ("cryptofeed/BINANCE_FUTURES.ws.1.0", "binance_usdm", "SUSHI/USDT", "candles", None, "cryptofeed"),
    ("nautilus_trader/tardis/quotes.csv", "binance_usdm", "BTC/USDT", "book", 9_999, "Tardis.dev quotes"),
    ("nautilus_trader/tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv", "deribit", "BTC-PERPETUAL", "book", 1,
     "incremental_book_L2"),
    ("nautilus_trader/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv", "binance_usdm", "BTC/USDT", "book", 10,
     "book_snapshot"),
    ("nautilus_trader/binance/btcusdt-depth-snap.csv", "binance_usdm", "BTC/USDT", "book", 1, "T_DEPTH"),
    ("nautilus_trader/binance/btcusdt-depth-update.csv", "binance_usdm", "BTC/USDT", "book", 100, "T_DEPTH"),
    ("nautilus_trader/kraken/http_order_book.json", "kraken", "BTC/USDT", "book", 1, "Kraken REST Depth"),
    ("binance_vision_klines/BTCUSDT-1m-2024-08-01.csv", "binance", "BTC/USDT", "candles", 1_440, "klines"),
    ("binance_vision_klines/BTCUSDT-1m-2025-01-01.csv", "binance", "BTC/USDT", "candles", 1_440, "klines"),
    ("nautilus_trader/kraken/http_ohlc.json", "kraken", "BTC/USDT", "candles", 721, "Kraken REST OHLC"),
    ("nautilus_trader/ftx/btc-perp-20211231-20220201_1m.csv", "ftx", "BTC/PERP", "candles", 45_031, "OHLCV"),
]


@pytest.mark.parametrize("name, exchange, symbol, kind, rows, fmt", FORMATS, ids=[f[0].split("/")[-1] for f in FORMATS])
def test_import_each_format(ch_store, sample_data, name, exchange, symbol, kind, rows, fmt):
    summary = import_file(ch_store, sample_data / name, exchange, symbol, kind)
    assert fmt in summary.format
    if rows is not None:
        assert summary.rows_parsed == rows
    assert summary.rows_written == summary.rows_parsed
    assert summary.ts_min <= summary.ts_max


def test_import_binance_book_capture(ch_store, sample_data):
    summary = import_file(ch_store, sample_data / "hftbacktest/spot/btcusdt_20240808.gz", "binance", "BTC/USDT", "book")
    snapshots = ch_store.query_columns(f"SELECT sequence, length(bid_price) AS depth FROM {ch_store.table('book_snapshots')}")
    assert snapshots["sequence"].tolist() == [50093239218]
    assert snapshots["depth"].tolist() == [1000]
    events = ch_store.command(f"SELECT uniqExact(last_id) FROM {ch_store.table('book_deltas')}")
    assert events == 3451
    assert summary.rows_written == ch_store.command(f"SELECT count() FROM {ch_store.table('book_deltas')}") + 1


def test_import_kraken_book_keeps_checksums(ch_store, sample_data):
    path = sample_data / "cryptofeed/KRAKEN.ws.50.0"
    import_file(ch_store, path, "kraken", "SC/EUR", "book")
    updates = [line for line in path.read_text().splitlines() if line.endswith('"book-1000","SC/EUR"]') and '"c":"' in line]
    expected = sorted(int(line.rsplit('"c":"', 1)[1].split('"', 1)[0]) for line in updates)
    stored = ch_store.query_columns(
        f"SELECT any(checksum) AS c FROM {ch_store.table('book_deltas')} GROUP BY ts_recv, last_id ORDER BY c")
    assert stored["c"].tolist() == expected
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('book_snapshots')}") == 1


def test_import_cryptofeed_depth_events(ch_store, sample_data):
    import_file(ch_store, sample_data / "cryptofeed/BINANCE.ws.1.0", "binance", "NKN/USDT", "book")
    assert ch_store.command(f"SELECT uniqExact(last_id) FROM {ch_store.table('book_deltas')}") == 150


def test_import_cryptofeed_snapshot_from_rest_line(ch_store, sample_data):
    import_file(ch_store, sample_data / "cryptofeed/BINANCE.http.0.0", "binance", "BLZ/ETH", "book")
    assert ch_store.command(f"SELECT sequence FROM {ch_store.table('book_snapshots')}") == 281916627


def test_import_tardis_trades_keep_ids_and_sides(ch_store, sample_data):
    import_file(ch_store, sample_data / "nautilus_trader/tardis/trades.csv", "binance_usdm", "BTC/USDT", "trades")
    stored = tick_queries.trades(ch_store, "binance_usdm", "BTC/USDT", *WIDE)
    assert sorted(stored["trade_id"].tolist()) == list(range(42377944, 42387943))
    assert int((stored["side"] == 1).sum()) == 5267
    assert int((stored["side"] == 2).sum()) == 4732


def test_import_kraken_rest_trades_sides(ch_store, sample_data):
    import_file(ch_store, sample_data / "nautilus_trader/kraken/http_trades.json", "kraken", "BTC/USDT", "trades")
    stored = tick_queries.trades(ch_store, "kraken", "BTC/USDT", *WIDE)
    assert int((stored["side"] == 1).sum()) == 578
    assert int((stored["side"] == 2).sum()) == 422


def test_import_kraken_csv_side_unknown_and_ids_unique(ch_store, sample_data):
    import_file(ch_store, sample_data / "freqtrade/kraken_trades_csv/BCHEUR.csv", "kraken", "BCH/EUR", "trades")
    stored = tick_queries.trades(ch_store, "kraken", "BCH/EUR", *WIDE)
    assert set(stored["side"].tolist()) == {0}
    assert len(set(stored["trade_id"].tolist())) == 148


def test_import_twice_writes_nothing(ch_store, sample_data):
    path = sample_data / "nautilus_trader/tardis/trades.csv"
    first = import_file(ch_store, path, "binance_usdm", "BTC/USDT", "trades")
    second = import_file(ch_store, path, "binance_usdm", "BTC/USDT", "trades")
    assert first.rows_written == 9999
    assert second.already_imported
    assert second.rows_written == 0
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('trades')}") == 9999
    candles = tick_queries.trade_candles(ch_store, "binance_usdm", "BTC/USDT", "1d", *WIDE)
    assert candles.trades.tolist() == [9999]


def test_import_overlapping_file_skips_stored_trades(ch_store, sample_data, tmp_path):
    source = sample_data / "nautilus_trader/tardis/trades.csv"
    lines = source.read_text().splitlines(keepends=True)
    head = tmp_path / "head.csv"
    head.write_text("".join(lines[:5001]))
    import_file(ch_store, head, "binance_usdm", "BTC/USDT", "trades")
    summary = import_file(ch_store, source, "binance_usdm", "BTC/USDT", "trades")
    assert summary.duplicates_skipped == 5000
    assert summary.rows_written == 4999
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('trades')}") == 9999


def test_import_kline_repeat_is_skipped(ch_store, sample_data):
    path = sample_data / "binance_vision_klines/BTCUSDT-1m-2024-08-02.csv"
    import_file(ch_store, path, "binance", "BTC/USDT", "candles")
    again = import_file(ch_store, path, "binance", "BTC/USDT", "candles")
    assert again.already_imported
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('klines')}") == 1440


def _corrupt(source, target, line, replace):
    lines = source.read_text().splitlines(keepends=True)
    lines[line - 1] = replace(lines[line - 1])
    target.write_text("".join(lines))
    return target


def test_malformed_kline_names_line_and_imports_nothing(ch_store, sample_data, tmp_path):
    path = _corrupt(sample_data / "binance_vision_klines/BTCUSDT-1m-2024-08-01.csv",
                    tmp_path / "BTCUSDT-1m-2024-08-01.csv", 7, lambda text: text.replace(",", ",abc", 1))
    with pytest.raises(ValidationError, match=r"line 7: 'open' is not a number, was 'abc.*nothing was imported"):
        import_file(ch_store, path, "binance", "BTC/USDT", "candles")
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('klines')}") == 0


def test_malformed_tardis_side_names_line(ch_store, sample_data, tmp_path):
    path = _corrupt(sample_data / "nautilus_trader/tardis/trades.csv", tmp_path / "trades.csv", 3,
                    lambda text: text.replace(",buy,", ",long,").replace(",sell,", ",long,"))
    with pytest.raises(ValidationError, match="trades.csv line 3: 'side' must be buy, sell or unknown, was 'long'"):
        import_file(ch_store, path, "binance_usdm", "BTC/USDT", "trades")
    assert ch_store.command(f"SELECT count() FROM {ch_store.table('trades')}") == 0


def test_malformed_capture_json_names_line(ch_store, sample_data, tmp_path):
    with gzip.open(sample_data / "hftbacktest/spot/btcusdt_20240808.gz", "rt") as handle:
        lines = handle.readlines()[:200]
    lines[149] = lines[149][:60] + "\n"
    path = tmp_path / "cut.gz"
    with gzip.open(path, "wt") as handle:
        handle.writelines(lines)
    with pytest.raises(ValidationError, match=r"cut.gz line 150: invalid JSON"):
        import_file(ch_store, path, "binance", "BTC/USDT", "trades")


def test_malformed_kraken_rest_row_names_line(ch_store, sample_data, tmp_path):
    text = (sample_data / "nautilus_trader/kraken/http_trades.json").read_text()
    first_side = text.index('"b"')
    path = tmp_path / "trades.json"
    path.write_text(text[:first_side] + '"x"' + text[first_side + 3:])
    # Errors in pretty-printed JSON point at the line that opens the row.
    row_start = text.rindex("[", 0, first_side)
    line = text[:row_start].count("\n") + 1
    with pytest.raises(ValidationError, match=f"line {line}: 'side' must be 'b' or 's', was 'x'"):
        import_file(ch_store, path, "kraken", "BTC/USDT", "trades")


def test_malformed_candle_bounds_rejected(ch_store, sample_data, tmp_path):
    def swap(text):
        cells = text.split(",")
        cells[2], cells[3] = cells[3], cells[2]  # high below low
        return ",".join(cells)
    path = _corrupt(sample_data / "nautilus_trader/ftx/btc-perp-20211231-20220201_1m.csv", tmp_path / "ohlcv.csv", 4, swap)
    with pytest.raises(ValidationError, match="ohlcv.csv line 4: candle is inconsistent"):
        parse_file(path, "ftx", "BTC/PERP", "candles")


def test_import_wrong_symbol_lists_symbols(ch_store, sample_data):
    with pytest.raises(ValidationError, match="has no trades for symbol ETH/USDT; it contains BTCUSDT"):
        import_file(ch_store, sample_data / "hftbacktest/spot/btcusdt_20240808.gz", "binance", "ETH/USDT", "trades")


def test_import_wrong_kind_is_rejected(ch_store, sample_data):
    with pytest.raises(ValidationError, match=r"contains no candles for BCH/EUR"):
        import_file(ch_store, sample_data / "freqtrade/kraken_trades_csv/BCHEUR.csv", "kraken", "BCH/EUR", "candles")


def test_import_rejects_bad_arguments(ch_store, sample_data, tmp_path):
    with pytest.raises(ValidationError, match="'kind' must be one of trades, book, candles, was 'ticks'"):
        parse_file(sample_data / "freqtrade/kraken_trades_csv/BCHEUR.csv", "kraken", "BCH/EUR", "ticks")
    with pytest.raises(ValidationError, match="'exchange' must be lower-case"):
        parse_file(sample_data / "freqtrade/kraken_trades_csv/BCHEUR.csv", "Kraken!", "BCH/EUR", "trades")
    with pytest.raises(ValidationError, match="file not found"):
        parse_file(tmp_path / "missing.csv", "kraken", "BCH/EUR", "trades")


def test_cli_import_prints_summary(clickhouse_data_dir, ch_database, sample_data, monkeypatch, capsys):
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(clickhouse_data_dir))
    path = sample_data / "freqtrade/kraken_trades_csv/BCHEUR.csv"
    argv = ["data", "import", str(path), "--exchange", "kraken", "--symbol", "BCH/EUR", "--kind", "trades",
            "--database", ch_database]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "rows parsed 148, written 148" in out
    assert "time span 2023-01-01T00:03:56.000000000Z -> 2023-01-01T23:19:47.000000000Z" in out
    assert main(argv) == 0
    assert "already imported earlier: all 148 rows are stored, nothing written" in capsys.readouterr().out


def test_cli_import_bad_file_exits_2(clickhouse_data_dir, ch_database, sample_data, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(clickhouse_data_dir))
    path = tmp_path / "bad.csv"
    shutil.copy(sample_data / "freqtrade/kraken_trades_csv/BCHEUR.csv", path)
    path.write_text(path.read_text() + "1672531436,-5,1\n")
    argv = ["data", "import", str(path), "--exchange", "kraken", "--symbol", "BCH/EUR", "--kind", "trades",
            "--database", ch_database]
    assert main(argv) == 2
    assert "bad.csv line 149: 'price' must be > 0, was '-5'" in capsys.readouterr().err
