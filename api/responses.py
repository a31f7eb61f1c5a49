"""JSON responses through orjson, and the documented error body.

Money and quantities are ``Decimal`` inside the engine; the API reference
shows them as JSON numbers (``"quantity": 0.1``), so they are written as
numbers: ``Decimal`` values are converted with ``float`` (exact for every
price and size an exchange quotes, since those have at most 15 significant
digits).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from aiohttp import web

from cryptobot.core.errors import CryptobotError

JSON = "application/json"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type=JSON, headers=headers)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(error: CryptobotError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error.to_body(), status=error.http_status, headers=headers)
