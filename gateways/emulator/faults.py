"""Fault injection: what can go wrong on a connection or a REST call, on request.

A fault targets one venue (or all) and either one connection (by id) or,
when ``connection`` is None, every connection of the venue.  For ``drop``,
``stall``, ``malformed`` and ``unknown_message`` these are the connections
open at that moment.  For ``skip_update`` and ``bad_checksum`` the next
events of the venue are withheld or corrupted for every subscriber at once.

==================  =========================================================
kind                effect
==================  =========================================================
``drop``            cut the TCP connection now, without a close frame
``stall``           send nothing (data, pings, heartbeats) for ``seconds``,
                    or until the faults are cleared; the socket stays open
``malformed``       send ``count`` frames of invalid JSON now
``unknown_message`` send ``count`` frames of a message type the venue never
                    sends (Binance event ``e``, Kraken ``event``/``channel``)
``skip_update``     withhold the next ``count`` depth/book update events
                    (of ``symbol`` if given); the emulator's book still
                    applies them, so the client sees a sequence gap
                    (Binance ``U``/``pu``) or a checksum mismatch (Kraken)
``bad_checksum``    Kraken: the next ``count`` book updates carry a wrong ``c``
                    (v1) or ``checksum`` (v2)
``rest_status``     respond to the next ``count`` REST requests (whose path
                    starts with ``path`` if given) with ``status``
                    (429, 418, 500, 503, ...) in the venue's error shape
``rest_delay``      delay the next ``count`` REST requests by ``seconds``
==================  =========================================================
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptobot.core.errors import ValidationError

IMMEDIATE_KINDS = ("drop", "malformed", "unknown_message")
STREAM_KINDS = ("skip_update", "bad_checksum")
REST_KINDS = ("rest_status", "rest_delay")
KINDS = IMMEDIATE_KINDS + ("stall",) + STREAM_KINDS + REST_KINDS
VENUES = ("binance", "binance_usdm", "kraken")

_ids = itertools.count(1)


@dataclass(slots=True)
class Fault:
    """One requested fault; see the module docstring for each ``kind``.

    ``remaining`` counts down as a counted fault fires.
    """

    kind: str
    venue: str | None = None
    connection: int | None = None
    count: int = 1
    seconds: float | None = None
    status: int | None = None
    path: str | None = None
    symbol: str | None = None
    id: int = field(default_factory=lambda: next(_ids))
    remaining: int = 0

    def __post_init__(self) -> None:
        self.remaining = self.count

    def matches_symbol(self, symbol: str) -> bool:
        return self.symbol is None or self.symbol.upper() == symbol.upper()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fail(field_name: str, message: str) -> ValidationError:
    return ValidationError(message, {field_name: message})


def make_fault(spec: dict[str, Any]) -> Fault:
    """Validate a fault request (from Python keywords or the control endpoint's JSON).

    Raises
    ------
    ValidationError
        Naming the first invalid field, its accepted values and the value given.
    """
    if not isinstance(spec, dict):
        raise _fail("body", f"fault must be a JSON object, was {type(spec).__name__}")
    unknown = set(spec) - {"kind", "venue", "connection", "count", "seconds", "status", "path", "symbol"}
    if unknown:
        raise _fail(sorted(unknown)[0], f"unknown fault field(s) {', '.join(sorted(unknown))}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise _fail("kind", f"'kind' must be one of {', '.join(KINDS)}, was {kind!r}")
    venue = spec.get("venue")
    if venue is not None and venue not in VENUES:
        raise _fail("venue", f"'venue' must be one of {', '.join(VENUES)} or null, was {venue!r}")
    connection = spec.get("connection")
    if connection is not None and (type(connection) is not int or connection < 1):
        raise _fail("connection", f"'connection' must be a connection id (integer >= 1) or null, was {connection!r}")
    count = spec.get("count", 1)
    if type(count) is not int or not 1 <= count <= 1_000_000:
        raise _fail("count", f"'count' out of range [1, 1000000], was {count!r}")
    seconds = spec.get("seconds")
    if seconds is not None and (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
                                or not 0 <= seconds <= 86_400):
        raise _fail("seconds", f"'seconds' out of range [0, 86400], was {seconds!r}")
    if kind == "rest_delay" and seconds is None:
        raise _fail("seconds", "'seconds' is required for a rest_delay fault")
    status = spec.get("status")
    if kind == "rest_status":
        if type(status) is not int or not 400 <= status <= 599:
            raise _fail("status", f"'status' out of range [400, 599], was {status!r}")
    elif status is not None:
        raise _fail("status", f"'status' applies only to rest_status faults, was {status!r}")
    for name in ("path", "symbol"):
        value = spec.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            raise _fail(name, f"'{name}' must be a non-empty string of at most 200 characters, was {value!r}")
    if kind in REST_KINDS and connection is not None:
        raise _fail("connection", "REST faults apply per venue; 'connection' must be null")
    return Fault(kind=kind, venue=venue, connection=connection, count=count,
                 seconds=None if seconds is None else float(seconds), status=status,
                 path=spec.get("path"), symbol=spec.get("symbol"))
