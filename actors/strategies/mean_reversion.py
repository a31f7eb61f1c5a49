"""``mean_reversion``: buy a z-score far below the mean, exit as it comes back."""

from __future__ import annotations

from cryptobot.actors.strategies.base import Strategy
from cryptobot.actors.strategies.params import Param
from cryptobot.hotpath.signals import Action, MeanReversionKernel

EXIT_REASONS = {Action.EXIT: "exit_signal", Action.STOP_LOSS: "stop_loss", Action.TAKE_PROFIT: "take_profit"}


class SignalStrategy(Strategy):
    """A strategy whose kernel returns Action codes for trades and candles."""

    kernel: MeanReversionKernel

    def on_trade(self, trade) -> None:
        action = self.kernel.on_trade(trade.ts_event, trade.price)
        if action:
            self.act(action, trade.price)

    def on_bar(self, bar) -> None:
        action = self.kernel.on_bar(bar.high, bar.low, bar.close)
        if action:
            self.act(action, bar.close)

    def act(self, action: int, price: float) -> None:
        """Turn a kernel Action into an order intent."""
        self.counters.signals += 1
        if action == Action.ENTER_LONG:
            self.emit("buy", self.entry_quantity(price), "entry")
        elif action == Action.ENTER_SHORT:
            self.emit("sell", self.entry_quantity(price), "entry")
        else:
            self.close_position(EXIT_REASONS.get(action, "exit_signal"))
        self.kernel.pending = bool(self.pending)

    def on_position_changed(self) -> None:
        self.kernel.position = 1 if self.position > 0 else -1 if self.position < 0 else 0
        self.kernel.entry_price = float(self.entry_price)

    def on_order_update(self, update) -> None:
        super().on_order_update(update)
        self.kernel.pending = bool(self.pending)

    def on_rejection(self, rejection) -> None:
        super().on_rejection(rejection)
        self.kernel.pending = bool(self.pending)


class MeanReversion(SignalStrategy):
    type_name = "mean_reversion"
    description = "Enter when the z-score of bar closes passes entry_threshold, exit when it falls back under exit_threshold"
    params = (
        Param("lookback_period", int, 20, "bars in the rolling mean and standard deviation", 2, 10_000),
        Param("entry_threshold", float, 2.0, "absolute z-score that opens a position", 0, 10, exclusive_minimum=True),
        Param("exit_threshold", float, 0.5, "absolute z-score under which the position closes", 0, 10),
        Param("stop_loss", float, 2.0, "loss in percent of the entry price that closes the position (0 disables)", 0, 100),
        Param("take_profit", float, 5.0, "gain in percent of the entry price that closes the position (0 disables)", 0, 1000),
        Param("allow_short", bool, False, "also sell short when the z-score is far above the mean"),
    )

    @classmethod
    def cross_check(cls, values):
        if values["exit_threshold"] >= values["entry_threshold"]:
            return {"exit_threshold": f"must be below entry_threshold ({values['entry_threshold']}), was {values['exit_threshold']}"}
        return {}

    def __init__(self, config, emit, clock, counters=None):
        super().__init__(config, emit, clock, counters)
        p = self.parameters
        self.kernel = MeanReversionKernel(p["lookback_period"], p["entry_threshold"], p["exit_threshold"],
                                          p["stop_loss"], p["take_profit"], self.timeframe_ns, p["allow_short"])

    def state(self):
        return {**super().state(), "z_score": self.kernel.last_z}
