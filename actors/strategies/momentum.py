"""``momentum``: follow a fast/slow moving-average cross of bar closes."""

from __future__ import annotations

from cryptobot.actors.strategies.mean_reversion import SignalStrategy
from cryptobot.actors.strategies.params import Param
from cryptobot.hotpath.signals import MomentumKernel


class Momentum(SignalStrategy):
    type_name = "momentum"
    description = "Go long when the fast moving average crosses above the slow one, exit on the cross back"
    params = (
        Param("fast_period", int, 10, "bars in the fast moving average", 1, 10_000),
        Param("slow_period", int, 30, "bars in the slow moving average", 2, 10_000),
        Param("average", str, "sma", "kind of moving average", choices=("sma", "ema")),
        Param("stop_loss", float, 0.0, "loss in percent of the entry price that closes the position (0 disables)", 0, 100),
        Param("take_profit", float, 0.0, "gain in percent of the entry price that closes the position (0 disables)", 0, 1000),
        Param("allow_short", bool, False, "also sell short on a cross downwards"),
    )

    @classmethod
    def cross_check(cls, values):
        if values["fast_period"] >= values["slow_period"]:
            return {"fast_period": f"must be below slow_period ({values['slow_period']}), was {values['fast_period']}"}
        return {}

    def __init__(self, config, emit, clock, counters=None):
        super().__init__(config, emit, clock, counters)
        p = self.parameters
        self.kernel = MomentumKernel(p["fast_period"], p["slow_period"], p["average"], p["stop_loss"],
                                     p["take_profit"], self.timeframe_ns, p["allow_short"])

    def state(self):
        return {**super().state(), "fast": self.kernel.last_fast, "slow": self.kernel.last_slow}
