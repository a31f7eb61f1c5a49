"""``cryptobot emulator``: run the exchange emulator as its own process until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from cryptobot.gateways.emulator.config import PACES, VENUES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--venue", action="append", choices=VENUES,
                        help="venue to serve; repeat for several (default: all)")
    parser.add_argument("--port", type=int, default=0, help="WebSocket port (default: any free port)")
    parser.add_argument("--rest-port", type=int, default=0, help="REST and control port (default: any free port)")
    parser.add_argument("--pace", choices=PACES, default="recorded",
                        help="replay at the recorded pace or as fast as the sockets take it")
    parser.add_argument("--speed", type=float, default=1.0, help="recorded-pace multiplier (2 = twice as fast)")
    parser.add_argument("--loop", action="store_true", help="replay again at the end, with ids and times moved on")
    parser.add_argument("--rebase-time", action="store_true", help="shift event times so the replay starts now")
    parser.add_argument("--data", help="folder of recorded data (default: the sample_data setting)")


async def _serve(args: argparse.Namespace) -> None:
    from cryptobot.gateways.emulator.server import ExchangeEmulator

    emulator = ExchangeEmulator(args.data, venues=tuple(args.venue or VENUES), ws_port=args.port,
                                rest_port=args.rest_port, pace=args.pace, speed=args.speed, loop=args.loop,
                                rebase_time=args.rebase_time)
    await emulator.start()
    for venue in emulator.venues:
        kinds = ("v1", "v2", "rest") if venue == "kraken" else ("ws", "rest")
        print(f"{venue:13} " + "  ".join(f"{kind}={emulator.url(venue, kind)}" for kind in kinds), flush=True)
    print(f"{'control':13} {emulator.url('binance', 'control')}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await emulator.stop()


def run(args: argparse.Namespace) -> int:
    """Entry point of the subcommand; returns the exit status."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("cryptobot.gateways.emulator.picows").setLevel(logging.WARNING)
    uvloop.run(_serve(args))
    return 0
