"""Kraken REST reference endpoints and the emulator's control endpoint.

Kraken: ``GET /0/public/AssetPairs[?pair=A,B]`` (the recorded body) and
``GET /0/public/Time``; errors follow Kraken's ``{"error":[...]}`` shape.

Control (``/_emulator``), with errors in this project's shape
``{"error":{"code","message","details"}}``:

* ``POST /_emulator/faults`` with a fault as JSON (see :mod:`faults`):
  201 and ``{"fault": {...}, "connections": [ids it applied to]}``;
* ``GET /_emulator/faults``: pending faults; ``DELETE /_emulator/faults``:
  clear them all (and end stalls);
* ``GET /_emulator/connections``: open connections per venue;
* ``GET /_emulator/status``: tapes, their state, position and loop.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from cryptobot.core.errors import ValidationError

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.server import ExchangeEmulator


def _json(body, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class KrakenRest:
    """Kraken public reference endpoints under ``/0/public``."""

    def __init__(self, body: dict | None):
        self.body = body or {"error": [], "result": {}}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/0/public/AssetPairs", self.asset_pairs), web.get("/0/public/Time", self.server_time)]

    async def asset_pairs(self, request: web.Request) -> web.Response:
        result = self.body["result"]
        wanted = request.query.get("pair")
        if wanted is None:
            return _json(self.body)
        selected = {}
        for name in wanted.split(","):
            match = next((key for key, entry in result.items()
                          if name in (key, entry.get("altname"), entry.get("wsname"))), None)
            if match is None:
                return _json({"error": ["EQuery:Unknown asset pair"]})
            selected[match] = result[match]
        return _json({"error": [], "result": selected})

    async def server_time(self, request: web.Request) -> web.Response:
        now = time.time()
        return _json({"error": [], "result": {"unixtime": int(now), "rfc1123": formatdate(now, usegmt=True)}})


class ControlRest:
    """The ``/_emulator`` endpoints that drive faults when the emulator runs as its own process."""

    def __init__(self, emulator: ExchangeEmulator):
        self.emulator = emulator

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_emulator/faults", self.add_fault),
            web.get("/_emulator/faults", self.list_faults),
            web.delete("/_emulator/faults", self.clear_faults),
            web.get("/_emulator/connections", self.connections),
            web.get("/_emulator/status", self.status),
        ]

    async def add_fault(self, request: web.Request) -> web.Response:
        try:
            try:
                spec = orjson.loads(await request.read())
            except orjson.JSONDecodeError as exc:
                raise ValidationError(f"request body is not valid JSON: {exc}", {"body": "invalid JSON"}) from None
            if not isinstance(spec, dict):
                raise ValidationError("request body must be a JSON object describing one fault", {"body": "expected an object"})
            fault, applied = self.emulator.inject(spec)
        except ValidationError as exc:
            return _json(exc.to_body(), exc.http_status)
        return _json({"fault": fault.to_dict(), "connections": applied}, 201)

    async def list_faults(self, request: web.Request) -> web.Response:
        return _json({"faults": [fault.to_dict() for fault in self.emulator.pending_faults()]})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.emulator.clear_faults()
        return _json({"faults": []})

    async def connections(self, request: web.Request) -> web.Response:
        return _json({"connections": self.emulator.connections()})

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.emulator.status())
