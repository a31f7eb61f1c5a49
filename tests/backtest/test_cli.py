"""``cryptobot data import`` then ``cryptobot backtest`` on real recorded data, as a user runs them."""

import json

import pytest

from cryptobot.__main__ import main


@pytest.fixture
def cli_env(monkeypatch, clickhouse_data_dir, clickhouse_admin, ch_database):
    # The session's embedded engine lives in <clickhouse_data_dir>/clickhouse; the commands open the same one.
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(clickhouse_data_dir))
    monkeypatch.delenv("CRYPTOBOT_CLICKHOUSE_URL", raising=False)
    return ch_database


def run(*argv):
    return main(list(argv))


def test_cli_backtest_on_imported_trades(cli_env, sample_data, tmp_path, capsys):
    for name in ("btcusdt_20240808.gz", "btcusdt_20240809.gz"):
        assert run("data", "import", str(sample_data / "hftbacktest" / "spot" / name), "--exchange", "binance",
                   "--symbol", "BTC/USDT", "--kind", "trades", "--database", cli_env) == 0
    out_json = tmp_path / "results.json"
    code = run("backtest", "--strategy-type", "mean_reversion", "--exchange", "binance", "--symbol", "BTC/USDT",
               "--start", "2024-08-08T23:50:00Z", "--end", "2024-08-09T00:10:00Z", "--capital", "10000",
               "--param", "lookback_period=3", "--param", "entry_threshold=1.0", "--param", "exit_threshold=0.1",
               "--step-size", "0.00001", "--tick-size", "0.01", "--database", cli_env, "--json", str(out_json))
    assert code == 0
    printed = capsys.readouterr().out
    assert "19904 trades replayed" in printed  # 9,757 + 10,147 recorded trades
    results = json.loads(out_json.read_text())
    assert results["parameters"]["lookback_period"] == 3
    total = sum(t["profit_loss"] for t in results["trades_list"])
    assert results["initial_capital"] + total == pytest.approx(results["final_capital"], abs=1e-6)


def test_cli_backtest_on_candles_writes_chart(cli_env, sample_data, tmp_path, capsys):
    for day in ("2024-08-01", "2024-08-02"):
        assert run("data", "import", str(sample_data / "binance_vision_klines" / f"BTCUSDT-1m-{day}.csv"),
                   "--exchange", "binance", "--symbol", "BTC/USDT", "--kind", "candles", "--database", cli_env) == 0
    chart = tmp_path / "equity.png"
    code = run("backtest", "--strategy-type", "momentum", "--exchange", "binance", "--symbol", "BTC/USDT",
               "--start", "2024-08-01T00:00:00Z", "--end", "2024-08-03T00:00:00Z", "--capital", "10000", "--bars",
               "--param", "fast_period=10", "--param", "slow_period=30", "--database", cli_env, "--chart", str(chart))
    assert code == 0
    printed = capsys.readouterr().out
    assert "2880 candles replayed" in printed
    assert "sharpe_ratio" in printed
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_backtest_rejects_bad_parameter(cli_env, capsys):
    code = run("backtest", "--strategy-type", "momentum", "--exchange", "binance", "--symbol", "BTC/USDT",
               "--start", "2024-08-01T00:00:00Z", "--end", "2024-08-02T00:00:00Z", "--capital", "10000",
               "--param", "fast_period=0", "--database", cli_env)
    assert code == 2
    assert "fast_period" in capsys.readouterr().err
