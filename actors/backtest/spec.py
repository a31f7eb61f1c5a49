"""What one backtest runs: the strategy, the market, the range and the simulated venue's terms.

A :class:`BacktestSpec` is plain data.  It crosses into a worker process as
JSON (:meth:`BacktestSpec.to_json`), so every field is a number, a string
or a dict of those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from cryptobot.actors.strategies import strategy_class
from cryptobot.core.errors import ValidationError
from cryptobot.core.instruments import Instrument, to_decimal
from cryptobot.core.symbols import check_exchange, check_symbol, split_symbol
from cryptobot.core.types import TIMEFRAMES_NS

# Strategy types whose kernel the trade replay loop drives in C.
TICK_STRATEGIES = ("mean_reversion", "momentum")
FEE_MODES = ("received", "quote")
FINEST_GRID = Decimal("0.00000001")


@dataclass(frozen=True)
class BacktestSpec:
    """One backtest; see ``docs/backtesting.md`` for what each term means.

    ``parameters`` are the strategy's full, validated parameters.
    ``position_size`` is the fraction of the equity one entry spends, the
    equity taken when the account was last flat (at first the initial
    capital); the rest pays fees and absorbs the move between the signal
    and the fill, since an order the account cannot pay for is rejected.
    """

    strategy_type: str
    exchange: str
    symbol: str
    start_ns: int
    end_ns: int
    initial_capital: Decimal
    parameters: dict[str, Any]
    timeframe: str = "1m"
    bars: bool = False
    strategy_id: str = "backtest"
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    fee_mode: str = "quote"
    latency_ns: int = 1_000_000
    slippage_bps: Decimal = Decimal(0)
    position_size: Decimal = Decimal("0.95")
    risk_free_rate: float = 0.0
    max_equity_points: int = 2000
    owner_id: str | None = None
    instrument: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if self.strategy_type not in TICK_STRATEGIES:
            problems["strategy_type"] = (f"backtests run {', '.join(TICK_STRATEGIES)}; "
                                         f"{self.strategy_type!r} needs an order-book replay")
        if self.timeframe not in TIMEFRAMES_NS:
            problems["timeframe"] = f"expected one of {', '.join(TIMEFRAMES_NS)}, was {self.timeframe!r}"
        if not isinstance(self.start_ns, int) or not isinstance(self.end_ns, int) or self.end_ns <= self.start_ns:
            problems["end_date"] = f"must be after start_date, was start={self.start_ns} end={self.end_ns}"
        if not self.initial_capital > 0:
            problems["initial_capital"] = f"must be > 0, was {self.initial_capital}"
        if self.fee_mode not in FEE_MODES:
            problems["fee_mode"] = f"expected one of {', '.join(FEE_MODES)}, was {self.fee_mode!r}"
        for name in ("maker_fee", "taker_fee"):
            rate = getattr(self, name)
            if not Decimal("-0.1") <= rate < Decimal("0.1"):
                problems[name] = f"out of range [-0.1, 0.1), was {rate}"
        if self.latency_ns < 0:
            problems["latency_ns"] = f"must be >= 0, was {self.latency_ns}"
        if not 0 <= self.slippage_bps <= 10_000:
            problems["slippage_bps"] = f"out of range [0, 10000], was {self.slippage_bps}"
        if not 0 < self.position_size <= 1:
            problems["position_size"] = f"out of range (0, 1], was {self.position_size}"
        if not 2 <= self.max_equity_points <= 1_000_000:
            problems["max_equity_points"] = f"out of range [2, 1000000], was {self.max_equity_points}"
        if problems:
            first = next(iter(problems))
            raise ValidationError(f"invalid backtest '{first}': {problems[first]}", problems)

    @classmethod
    def build(cls, strategy_type: str, exchange: str, symbol: str, start_ns: int, end_ns: int,
              initial_capital: Any, parameters: dict | None = None, base: dict | None = None,
              **terms: Any) -> "BacktestSpec":
        """Validate the inputs and return a spec; raise ValidationError naming each bad field.

        ``parameters`` override ``base`` (the stored strategy's parameters)
        for this run only; both are checked by the strategy class.
        """
        cls_ = strategy_class(strategy_type)
        full = cls_.validate_parameters(parameters or {}, cls_.validate_parameters(base) if base else None)
        decimals = {name: to_decimal(terms[name], name) for name in
                    ("maker_fee", "taker_fee", "slippage_bps", "position_size") if name in terms}
        return cls(strategy_type, check_exchange(exchange), check_symbol(symbol), int(start_ns), int(end_ns),
                   to_decimal(initial_capital, "initial_capital"), full, **{**terms, **decimals})

    @property
    def timeframe_ns(self) -> int:
        return TIMEFRAMES_NS[self.timeframe]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for f in fields(self):
            if isinstance(data[f.name], Decimal):
                data[f.name] = str(data[f.name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BacktestSpec":
        values = dict(data)
        for f in fields(cls):
            if f.type in ("Decimal",) and f.name in values:
                values[f.name] = Decimal(values[f.name])
        return cls(**values)

    def with_instrument(self, instrument: Instrument) -> "BacktestSpec":
        """Return a copy carrying ``instrument``'s filters (as strings, for the worker)."""
        data = self.to_json()
        data["instrument"] = {"exchange_symbol": instrument.exchange_symbol, "base": instrument.base,
                              "quote": instrument.quote, "tick_size": str(instrument.tick_size),
                              "step_size": str(instrument.step_size), "min_qty": str(instrument.min_qty),
                              "max_qty": str(instrument.max_qty), "min_notional": str(instrument.min_notional),
                              "market_step_size": str(instrument.market_step_size)}
        return BacktestSpec.from_json(data)

    def make_instrument(self) -> Instrument:
        """The instrument the run trades: its filters when known, else a grid of 1e-8 and no minimums.

        NOTE: without the exchange's reference data the only filter is the
        1e-8 grid (the finest exchanges use), which keeps a quantity sized
        as capital / price from rounding above the capital.
        """
        base, quote = split_symbol(self.symbol)
        data = self.instrument
        if not data:
            return Instrument(self.exchange, self.symbol, self.symbol.replace("/", ""), base, quote,
                              tick_size=FINEST_GRID, step_size=FINEST_GRID)
        return Instrument(self.exchange, self.symbol, data["exchange_symbol"], data["base"], data["quote"],
                          tick_size=Decimal(data["tick_size"]), step_size=Decimal(data["step_size"]),
                          min_qty=Decimal(data["min_qty"]), max_qty=Decimal(data["max_qty"]),
                          min_notional=Decimal(data["min_notional"]),
                          market_step_size=Decimal(data["market_step_size"]))
