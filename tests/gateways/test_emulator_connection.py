"""Connection rules of the emulator: server pings, pong timeout, lifetime cut, request rate."""

from __future__ import annotations

import asyncio
import time

import pytest
from picows import WSCloseCode

from cryptobot.core.errors import ConfigError
from cryptobot.gateways.emulator import ExchangeEmulator, VenueRecordings
from cryptobot.gateways.emulator.testing import WsClient

SPOT_SMALL = VenueRecordings(tapes=(("cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"),),
                             reference="cryptofeed/BINANCE.0")


def _emulator(sample_data, **settings) -> ExchangeEmulator:
    return ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": SPOT_SMALL}, **settings)


async def test_pings_answered_keep_connection(sample_data):
    async with _emulator(sample_data, ping_interval=0.05, pong_timeout=0.15) as emulator:
        client = await WsClient.connect(f"{emulator.url('binance')}/ws")
        await asyncio.sleep(0.5)
        still_open = client.disconnected_at is None
        await client.close()
    assert client.pings >= 5
    assert still_open


async def test_missing_pong_drops_connection(sample_data):
    async with _emulator(sample_data, ping_interval=0.05, pong_timeout=0.15) as emulator:
        started = time.monotonic()
        client = await WsClient.connect(f"{emulator.url('binance')}/ws", answer_pings=False)
        closed = await client.wait_closed(timeout=2)
    assert closed
    assert client.pings >= 1
    assert 0.15 <= client.disconnected_at - started < 1.0


async def test_connection_cut_at_max_age(sample_data):
    async with _emulator(sample_data, max_connection_age=0.2) as emulator:
        started = time.monotonic()
        client = await WsClient.connect(f"{emulator.url('binance')}/ws/nknusdt@trade")
        closed = await client.wait_closed(timeout=2)
    assert closed
    assert client.close_code == WSCloseCode.GOING_AWAY
    assert 0.2 <= client.disconnected_at - started < 1.0


async def test_default_policy_matches_documentation(sample_data):
    async with ExchangeEmulator(sample_data, venues=["binance", "kraken"],
                                recordings={"binance": SPOT_SMALL,
                                            "kraken": VenueRecordings(tapes=(("cryptofeed/KRAKEN.ws.48.0",),),
                                                                      reference="cryptofeed/KRAKEN.0")}) as emulator:
        spot = emulator.venue("binance").policy
        kraken = emulator.venue("kraken").policy
    assert (spot.ping_interval, spot.pong_timeout, spot.max_age, spot.max_messages_per_second) == (20.0, 60.0, 86400.0, 5)
    assert kraken.ping_interval is None


async def test_message_rate_limit_drops(sample_data):
    async with _emulator(sample_data) as emulator:
        client = await WsClient.connect(f"{emulator.url('binance')}/ws")
        for request_id in range(7):
            client.send({"method": "LIST_SUBSCRIPTIONS", "id": request_id})
        closed = await client.wait_closed(timeout=2)
    assert closed
    assert len(client.frames) == 5


@pytest.mark.parametrize("setting, value", [("pace", "slow"), ("speed", 0), ("ws_port", 70000),
                                            ("venues", ["bitmex"]), ("host", "0.0.0.0"), ("ping_interval", -1)])
def test_invalid_settings_rejected(sample_data, setting, value):
    with pytest.raises(ConfigError) as info:
        ExchangeEmulator(sample_data, **{setting: value})
    assert setting in info.value.details


async def test_stuck_reader_dropped(sample_data):
    spot_btc = VenueRecordings(tapes=(("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz"),),
                               reference="cryptofeed/BINANCE.0")
    async with ExchangeEmulator(sample_data, venues=["binance"], recordings={"binance": spot_btc}, pace="fast",
                                slow_client_timeout=0.3) as emulator:
        reader = await WsClient.connect(f"{emulator.url('binance')}/ws/btcusdt@bookTicker")
        reader.transport.underlying_transport.pause_reading()
        stuck_seen = await reader.wait_until(lambda c: emulator.venue("binance").blocked, timeout=5)
        dropped = await reader.wait_until(lambda c: not emulator.venue("binance").connections, timeout=5)
        reader.transport.underlying_transport.resume_reading()
        await reader.close()
    assert stuck_seen
    assert dropped
