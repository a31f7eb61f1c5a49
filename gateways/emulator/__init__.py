"""A local Binance and Kraken that replay recorded market data (see :mod:`.server`)."""

from cryptobot.gateways.emulator.config import DEFAULT_RECORDINGS, EmulatorConfig, VenueRecordings
from cryptobot.gateways.emulator.faults import KINDS as FAULT_KINDS
from cryptobot.gateways.emulator.faults import Fault
from cryptobot.gateways.emulator.server import ExchangeEmulator

__all__ = ["DEFAULT_RECORDINGS", "FAULT_KINDS", "EmulatorConfig", "ExchangeEmulator", "Fault", "VenueRecordings"]
