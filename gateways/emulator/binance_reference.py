"""Binance reference data and request weights served by the emulator.

exchangeInfo is the recorded body.  A symbol replayed by a recording but
absent from it (a recording newer than the reference capture) gets an
entry synthesized from the recording, with status ``TRADING``.  Its base
and quote assets are split at the longest quote asset the reference lists.
``PRICE_FILTER.tickSize`` and ``LOT_SIZE.stepSize`` are 10**-d, where d is
the largest number of significant decimals among the recorded snapshot's
prices (sizes), and there are no other filters.  Such entries carry
``"emulatorSynthesized": true`` so a reader can tell them apart.

Request weights follow the schedule of the recorded reference's era
(``weight_schedule="recorded"``: spot depth 1/5/10/50 for limits up to
100/500/1000/5000, exchangeInfo 10, limit 1200 per minute from the
recorded ``rateLimits``) or today's documented spot schedule
(``"current"``: depth 5/25/50/250, exchangeInfo 20, 6000 per minute).
USD-M: depth limit 5-50 weight 2, 100 weight 5, 500 weight 10, 1000 weight
20; exchangeInfo 1; limit 2400 per minute.
"""

from __future__ import annotations

from decimal import Decimal

from cryptobot.gateways.recordings import Recording, ReferenceData

SPOT_DEPTH_LIMIT_MAX = 5000
FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_SPOT_WEIGHTS = {
    "recorded": {"depth": ((100, 1), (500, 5), (1000, 10), (5000, 50)), "exchangeInfo": 10, "limit": 1200},
    "current": {"depth": ((100, 5), (500, 25), (1000, 50), (5000, 250)), "exchangeInfo": 20, "limit": 6000},
}
_FUTURES_WEIGHTS = {"depth": ((50, 2), (100, 5), (500, 10), (1000, 20)), "exchangeInfo": 1, "limit": 2400}


def depth_weight(limit: int, futures: bool, schedule: str) -> int:
    """Return the request weight of a depth request for ``limit`` levels."""
    table = _FUTURES_WEIGHTS["depth"] if futures else _SPOT_WEIGHTS[schedule]["depth"]
    for upper, weight in table:
        if limit <= upper:
            return weight
    return table[-1][1]


def endpoint_weight(endpoint: str, futures: bool, schedule: str) -> int:
    """Weight of exchangeInfo, ping and time requests."""
    if endpoint == "exchangeInfo":
        return _FUTURES_WEIGHTS["exchangeInfo"] if futures else _SPOT_WEIGHTS[schedule]["exchangeInfo"]
    return 1


def default_weight_limit(exchange_info: dict, futures: bool, schedule: str) -> int:
    """Return the REQUEST_WEIGHT per minute: from the served exchangeInfo unless the schedule is ``current``."""
    if not futures and schedule == "current":
        return _SPOT_WEIGHTS["current"]["limit"]
    for limit in exchange_info.get("rateLimits", ()):
        if limit.get("rateLimitType") == "REQUEST_WEIGHT" and limit.get("interval") == "MINUTE":
            return int(limit["limit"])
    return _FUTURES_WEIGHTS["limit"] if futures else _SPOT_WEIGHTS[schedule]["limit"]


def _decimals(values) -> int:
    places = 0
    for value in values:
        exponent = Decimal(value).normalize().as_tuple().exponent
        places = max(places, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return places


def _increment(places: int, futures: bool) -> str:
    if futures:
        return str(Decimal(1).scaleb(-places)) if places else "1"
    return f"{Decimal(1).scaleb(-places):.8f}"


def _split(symbol: str, quotes: list[str]) -> tuple[str, str]:
    for quote in sorted(quotes, key=len, reverse=True):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-4], symbol[-4:]


def synthesize_symbol(recording: Recording, symbol: str, quotes: list[str], futures: bool) -> dict:
    """Build an exchangeInfo entry for a recorded symbol the reference does not list."""
    snapshot = recording.snapshots.get(symbol)
    levels = (snapshot.bids + snapshot.asks) if snapshot else ()
    tick = _increment(_decimals(p for p, _ in levels), futures)
    step = _increment(_decimals(q for _, q in levels), futures)
    base, quote = _split(symbol, quotes)
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "0", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000000", "stepSize": step},
    ]
    entry = {"symbol": symbol, "status": "TRADING", "baseAsset": base, "quoteAsset": quote}
    if futures:
        entry.update({"pair": symbol, "contractType": "PERPETUAL", "marginAsset": quote,
                      "pricePrecision": _decimals([tick]), "quantityPrecision": _decimals([step])})
    else:
        entry.update({"baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8,
                      "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "isSpotTradingAllowed": True,
                      "permissions": ["SPOT"]})
    entry["filters"] = filters
    entry["emulatorSynthesized"] = True
    return entry


def build_exchange_info(reference: ReferenceData | None, recordings: list[Recording], futures: bool) -> dict:
    """Return the exchangeInfo body to serve: the recorded one plus synthesized entries."""
    if reference is not None:
        # A shallow copy: the recorded entries are shared and never modified.
        body = dict(reference.body)
        body["symbols"] = list(body["symbols"])
    else:
        body = {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "symbols": []}
    listed = {entry["symbol"] for entry in body["symbols"]}
    quotes = sorted({entry.get("quoteAsset", "") for entry in body["symbols"]} - {""}) or ["USDT", "BTC", "ETH", "BUSD"]
    for recording in recordings:
        for symbol in recording.symbols:
            if symbol not in listed:
                body["symbols"].append(synthesize_symbol(recording, symbol, quotes, futures))
                listed.add(symbol)
    return body
