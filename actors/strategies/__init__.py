"""The built-in strategy types, by the name the API uses for ``strategy_type``."""

from cryptobot.actors.strategies.base import Strategy, StrategyConfig, StrategyCounters
from cryptobot.actors.strategies.market_making import MarketMaking
from cryptobot.actors.strategies.mean_reversion import MeanReversion
from cryptobot.actors.strategies.momentum import Momentum
from cryptobot.core.errors import ValidationError

STRATEGY_TYPES: dict[str, type[Strategy]] = {cls.type_name: cls for cls in (MeanReversion, Momentum, MarketMaking)}


def strategy_class(name: object) -> type[Strategy]:
    """Return the class of a strategy type; raise ValidationError naming the accepted types."""
    cls = STRATEGY_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        accepted = ", ".join(STRATEGY_TYPES)
        raise ValidationError(f"'strategy_type' must be one of {accepted}, was {name!r}", {"strategy_type": f"expected one of {accepted}"})
    return cls


__all__ = ["STRATEGY_TYPES", "Strategy", "StrategyConfig", "StrategyCounters", "strategy_class"]
