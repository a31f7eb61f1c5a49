"""Book updates for a subscribed depth, derived from the recorded depth-1000 updates.

Kraken streams a book at the depth a client asked for (10, 25, 100, 500 or
1000 levels per side) and sends no deletion for a level that an insert
pushes below that depth: the client truncates.  When a deletion frees a
place, Kraken republishes the level that comes into view (v1 marks it with
a fourth field ``"r"``).  The recording contains depth 1000 only, so for a
smaller depth N the emulator computes, for each recorded update:

* the update's levels whose price is in the new top N (inserts and changes),
* deletions of levels that were in the old top N,
* levels in the new top N that were neither in the old top N nor in the
  update: they came into view and are republished.

Applying these to a depth-N book and truncating to N gives exactly the
emulator's top N, so the top-10 checksum of the recorded update holds.
"""

from __future__ import annotations

from cryptobot.gateways.emulator.books import KrakenBook, is_zero


def top_keys(book: KrakenBook, depth: int) -> tuple[set[float], set[float]]:
    """Return the price keys of the best ``depth`` asks and bids."""
    asks = set(book.asks.keys()[:depth])
    size = len(book.bids)
    bids = set(book.bids.keys()[max(size - depth, 0):])
    return asks, bids


def derive_side(levels: list[list[str]], old_top: set[float], new_top: set[float],
                book_side) -> tuple[list[list[str]], list[tuple[str, str, str]]]:
    """Return (levels of the update to send, levels to republish) for one side."""
    sent: list[list[str]] = []
    mentioned: set[float] = set()
    for level in levels:
        key = float(level[0])
        mentioned.add(key)
        if key in new_top or (is_zero(level[1]) and key in old_top):
            sent.append(level)
    republished = [book_side[key] for key in sorted(new_top - old_top - mentioned)]
    return sent, republished


def derive_update(book: KrakenBook, update: dict[str, list[list[str]]],
                  before: tuple[set[float], set[float]], depth: int) -> dict[str, list]:
    """Return ``{"a": [...], "b": [...]}`` (sides may be missing) for subscribers at ``depth``.

    ``update`` contains the recorded levels per side; ``book`` has them applied
    already; ``before`` is :func:`top_keys` taken before applying.
    Republished levels carry ``"r"`` as a fourth field.
    """
    after = top_keys(book, depth)
    derived: dict[str, list] = {}
    for index, side in enumerate(("a", "b")):
        book_side = book.asks if side == "a" else book.bids
        sent, republished = derive_side(update.get(side, []), before[index], after[index], book_side)
        if side == "b":
            republished.reverse()
        levels = list(sent) + [[p, v, t, "r"] for p, v, t in republished]
        if levels:
            derived[side] = levels
    return derived
