"""A whole TradingSystem on the embedded stores, fed by the emulator replaying real recorded data."""

from __future__ import annotations

import dataclasses

import pytest

from cryptobot.actors.system import TradingSystem


@pytest.fixture
async def make_system(store_settings, ch_store, sample_data):
    """Return a factory of started TradingSystems sharing the test's databases; all are stopped afterwards."""
    started: list[TradingSystem] = []

    async def factory(**overrides) -> TradingSystem:
        emulator = overrides.pop("emulator_options", {"pace": "fast", "loop": False, "rebase_time": False})
        settings = dataclasses.replace(store_settings, sample_data=str(sample_data), engine_market_data="emulator",
                                       **overrides)
        system = TradingSystem(settings, emulator_options=emulator, ticks=ch_store)
        await system.start()
        started.append(system)
        return system

    yield factory
    for system in started:
        await system.stop()
