"""The ``cryptobot`` command: ``run``, ``users``, ``data``, ``backtest``, ``config``, ``emulator``."""

from __future__ import annotations

import argparse
import sys

from cryptobot.actors.backtest.cli import add_backtest_command
from cryptobot.core.config import describe_settings, load_settings
from cryptobot.core.errors import CryptobotError
from cryptobot.storage.importers.cli import add_data_commands


def _cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.defaults:
        for name, env_name, default, help_text in describe_settings():
            print(f"{env_name:45} {default!r:20} {help_text}")
    else:
        print(repr(settings))
    return 0


def _cmd_emulator(args: argparse.Namespace) -> int:
    from cryptobot.gateways.emulator import cli

    return cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cryptobot", description="Low-latency crypto trading engine")
    parser.add_argument("--config", help="TOML configuration file (default: $CRYPTOBOT_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    config.add_argument("--defaults", action="store_true", help="list every setting with its variable and default")
    config.set_defaults(handler=_cmd_config)

    from cryptobot.gateways.emulator.cli import add_arguments as add_emulator_arguments

    emulator = sub.add_parser("emulator", help="serve recorded Binance and Kraken market data on local sockets")
    add_emulator_arguments(emulator)
    emulator.set_defaults(handler=_cmd_emulator)
    add_data_commands(sub)
    add_backtest_command(sub)

    from cryptobot.api.run import add_run_command
    from cryptobot.api.users_cli import add_user_commands

    add_run_command(sub)
    add_user_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CryptobotError as exc:
        print(f"cryptobot: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
