"""Id and time offsets for looped and time-rebased replays.

Loop ``k`` of a recording adds ``k`` spans to every update id, trade id and
event time, so they keep increasing across loops:

* update ids (Binance ``U``, ``u``, ``pu``, ``lastUpdateId``, bookTicker
  ``u``) move by one id span: the largest minus the smallest update id of
  the recording, plus one;
* trade ids (``t``, aggTrade ``a``/``f``/``l``, kline ``f``/``L`` when not
  -1) move by one trade span, computed the same way;
* event times (``E``, ``T``, kline ``t``/``T``, markPrice ``T``, Kraken
  level and trade timestamps) move by the recording's duration rounded up
  to whole minutes plus one minute.

Time rebasing adds, on top, the whole minutes between the first recorded
frame and the moment the replay starts, so the first event lands less than
a minute before "now".  Offsets are whole minutes so 1-minute klines keep
their bucket boundaries and bars rebuilt from the trades still equal the
recorded klines.  Kraken checksums and channel ids do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000
_ID_FIELDS = ("U", "u", "pu")


@dataclass(frozen=True, slots=True)
class Offsets:
    """Amounts added to ids and times of one replay pass."""

    update_ids: int = 0
    trade_ids: int = 0
    time_ms: int = 0

    @property
    def active(self) -> bool:
        return bool(self.update_ids or self.trade_ids or self.time_ms)


@dataclass(frozen=True, slots=True)
class Spans:
    """How much one loop moves ids and times (see the module docstring)."""

    update_ids: int
    trade_ids: int
    time_ms: int

    def offsets(self, loop_index: int, rebase_ms: int) -> Offsets:
        return Offsets(self.update_ids * loop_index, self.trade_ids * loop_index, self.time_ms * loop_index + rebase_ms)


def minute_span(first_ms: int, last_ms: int) -> int:
    """Round a duration up to whole minutes and add one minute."""
    return ((max(last_ms - first_ms, 0) + MINUTE_MS - 1) // MINUTE_MS + 1) * MINUTE_MS


def rebase_offset(first_ms: int, now_ms: int) -> int:
    """Whole minutes between the first recorded event and now (never negative)."""
    return max(now_ms - first_ms, 0) // MINUTE_MS * MINUTE_MS


def span(values: list[int]) -> int:
    return max(values) - min(values) + 1 if values else 0


def rewrite_binance(data: dict, kind: str, offsets: Offsets) -> dict:
    """Shift ids and times of one Binance payload in place and return it."""
    dt, did, dtrade = offsets.time_ms, offsets.update_ids, offsets.trade_ids
    if dt:
        if "E" in data:
            data["E"] += dt
        if "T" in data:
            data["T"] += dt
    if kind == "depthUpdate" or kind == "bookTicker":
        for key in _ID_FIELDS:
            if key in data:
                data[key] += did
    elif kind == "trade":
        data["t"] += dtrade
    elif kind == "aggTrade":
        for key in ("a", "f", "l"):
            data[key] += dtrade
    elif kind == "kline":
        bar = data["k"]
        bar["t"] += dt
        bar["T"] += dt
        for key in ("f", "L"):
            if bar[key] >= 0:
                bar[key] += dtrade
    return data


def shift_seconds(stamp: str, seconds: int) -> str:
    """Add whole seconds to a ``seconds.fraction`` string, keeping its decimals."""
    whole, dot, fraction = stamp.partition(".")
    return f"{int(whole) + seconds}{dot}{fraction}"


def rewrite_kraken(message: list, kind: str, offsets: Offsets) -> list:
    """Shift the level and trade timestamps of one Kraken v1 frame in place and return it."""
    seconds = offsets.time_ms // 1000
    if not seconds:
        return message
    if kind == "trade":
        for trade in message[1]:
            trade[2] = shift_seconds(trade[2], seconds)
    elif kind in ("book_snapshot", "book_update"):
        for payload in message[1:-2]:
            for key in ("as", "bs", "a", "b"):
                for level in payload.get(key, ()):
                    level[2] = shift_seconds(level[2], seconds)
    return message
