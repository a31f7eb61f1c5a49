"""Names of the engine's event-bus topics, in one place.

Market topics carry the exchange because one engine may watch the same
symbol on two venues; the API edge maps them onto its documented WebSocket
topics (``market.{symbol}.ticker`` ...).
"""


def trades(exchange: str, symbol: str) -> str:
    """TradeTick of one market."""
    return f"trades.{exchange}.{symbol}"


def book(exchange: str, symbol: str) -> str:
    """BookTop after every applied update of one book."""
    return f"book.{exchange}.{symbol}"


def book_status(exchange: str, symbol: str) -> str:
    """BookStatus when a book becomes ready or not ready."""
    return f"book_status.{exchange}.{symbol}"


def ticker(exchange: str, symbol: str) -> str:
    """Ticker (top of book, last price, 24 h change) of one market."""
    return f"ticker.{exchange}.{symbol}"


def bars(exchange: str, symbol: str, timeframe: str) -> str:
    """Closed Bar of one market and timeframe."""
    return f"bars.{exchange}.{symbol}.{timeframe}"


def orders(strategy_id: str | None) -> str:
    """OrderUpdate of one strategy's orders (``orders.manual`` for orders without a strategy)."""
    return f"orders.{strategy_id or 'manual'}"


ALL_ORDERS = "orders"
"""Every OrderUpdate, whatever its strategy."""


def positions(strategy_id: str | None) -> str:
    """PositionUpdate of one strategy."""
    return f"positions.{strategy_id or 'manual'}"


ALL_POSITIONS = "positions"
RISK_REJECTIONS = "risk.rejections"
RISK_DUST = "risk.dust"
KILL_SWITCH = "risk.kill_switch"
BALANCES = "balances"
STRATEGY_EVENTS = "strategies"
"""Strategy lifecycle changes (started, stopped), for webhooks and the API."""
SYSTEM_STATUS = "system.status"
