"""``cryptobot emulator``: the emulator as its own process, driven over the control endpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp

from cryptobot.__main__ import build_parser


def test_cli_arguments_parsed():
    args = build_parser().parse_args(["emulator", "--venue", "binance", "--venue", "kraken", "--port", "9000",
                                      "--pace", "fast", "--loop", "--speed", "2"])
    assert args.venue == ["binance", "kraken"]
    assert (args.port, args.pace, args.loop, args.speed, args.rebase_time) == (9000, "fast", True, 2.0, False)


async def test_cli_serves_until_terminated(sample_data):
    environment = {**os.environ, "CRYPTOBOT_SAMPLE_DATA": str(sample_data)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptobot", "emulator", "--venue", "kraken", "--pace", "fast",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=environment)
    try:
        lines = {}
        while "control" not in lines:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, "the emulator exited before printing its addresses"
            name, _, rest = line.partition(" ")
            lines[name] = rest.strip()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{lines['control']}/status") as response:
                status = await response.json()
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    assert list(status["venues"]) == ["kraken"]
    assert "v2=ws://127.0.0.1:" in lines["kraken"]
    assert code == 0
